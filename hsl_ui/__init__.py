"""Streamlit-only helpers for the pages: caching, URL filters, sidebar, charts, formats, auth.

- state:   the one caching module (engine, `report(...)`, `@cached`, Refresh)
- params:  filters kept in the URL query string
- sidebar: the shared date range, timezone note, Refresh and "data loaded at"
- charts:  Altair builders (DataFrame in, chart out) and the no-data notice
- tables:  tables with human column names and their CSV and Excel downloads
- downloads: page files shaped as the page reads (labels, words, local times, % rates)
- format:  the one rename map and number/date formats
- banners: demo, database-down and error banners
- auth:    `current_user(settings)`: sign-in (OIDC or passwords) → an hsl.auth.Actor
- people:  widgets of the Users, Audience and Audit log pages (pager, stream-change form…)
"""
