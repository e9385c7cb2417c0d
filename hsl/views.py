"""Saved views (issue 12): a dashboard page and its filters under a name.

A view keeps the page's query string without the dates, and its dates either as a rolling
preset (`hsl.filters.PRESETS`: "last-month" means last month on the day it is opened) or
as fixed dates. It is personal to its owner (the signed-in name) unless shared with
everyone, which analysts and admins may do. Anyone may open their own and the shared
views; admins may open, rename and delete any. A view that cannot be opened reads the
same as one that does not exist, so an id says nothing about someone's personal views.

A view whose filters no longer apply (a stream renamed, a lesson type gone) still opens:
its page drops the stale value with its usual "Ignored … from the link" notice.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from hsl.auth import Actor, Permission, can, require
from hsl.db import reading
from hsl.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from hsl.filters import DEFAULT_PRESET, PRESETS, preset_dates, utc_now
from hsl.schema import saved_views


@dataclass(frozen=True)
class ViewPage:
    """A page a view can open: its file, title and whether it uses the shared dates."""

    file: str
    title: str
    dates: bool


PAGES: dict[str, ViewPage] = {  # the keys are the command line's --page names
    "overview": ViewPage("pages/overview.py", "Overview", True),
    "free-lessons": ViewPage("pages/free_lessons.py", "Free lessons", True),
    "funnel": ViewPage("pages/funnel.py", "Funnel", True),
    "activity": ViewPage("pages/activity.py", "Activity", True),
    "streams": ViewPage("pages/streams.py", "Streams", False),
    "leads": ViewPage("pages/leads.py", "Leads", False),
}
DATE_KEYS = ("dates", "start", "end")
NOT_KEPT = (*DATE_KEYS, "view", "page")  # the dates are kept apart; a pager's page is not kept
MAX_NAME = 80
MAX_QUERY = 2_000
MAX_KEY = 40


@dataclass(frozen=True)
class SavedView:
    id: int
    owner: str
    name: str
    page: str  # a key of PAGES
    query: str  # the page's filters, urlencoded, without dates
    dates_preset: str | None
    start_date: date | None
    end_date: date | None
    shared: bool

    @property
    def page_file(self) -> str:
        return PAGES[self.page].file

    def dates_on(self, today: date) -> tuple[date, date] | None:
        """The dates the view shows on `today` (a preset rolls); None: its page has none."""
        if self.dates_preset:
            return preset_dates(self.dates_preset, today)
        if self.start_date and self.end_date:
            return self.start_date, self.end_date
        return None

    def query_params(self, today: date) -> list[tuple[str, str]]:
        """The page's query string that opens the view on `today` (repeated keys kept)."""
        params = parse_qsl(self.query, keep_blank_values=True)
        dates = self.dates_on(today)
        if dates is not None:
            if self.dates_preset:
                params.append(("dates", self.dates_preset))
            params += [("start", dates[0].isoformat()), ("end", dates[1].isoformat())]
        return params


# ---------------------------------------------------------------- checking what is given


_NAMED = {"view": ("A saved view", "A view's"), "alert rule": ("An alert rule",
                                                                 "An alert rule's")}


def clean_name(text: str, kind: str = "view") -> str:
    """The name of a view (or an alert rule, `kind`) as kept: spaces collapsed; one
    sentence when it is empty, too long or holds control or invisible characters."""
    needs, whose = _NAMED[kind]
    name = " ".join(str(text).split())
    if not name:
        raise ValidationError(f"{needs} needs a name.")
    if len(name) > MAX_NAME:
        raise ValidationError(f"{whose} name can be at most {MAX_NAME} characters long.")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in name):
        raise ValidationError(f"{whose} name cannot hold control or invisible characters.")
    return name


def clean_query(text: str) -> str:
    """The page's filters from a query string (a leading `?` allowed), without the dates,
    the `view` key and a pager's `page`; keys must be short words."""
    text = str(text or "").strip().removeprefix("?")
    if len(text) > MAX_QUERY:
        raise ValidationError(f"A view's filters can be at most {MAX_QUERY:,} characters long.")
    if "\x00" in text:
        raise ValidationError("A view's filters cannot hold a NUL character.")
    pairs = parse_qsl(text, keep_blank_values=True)
    for key, _ in pairs:
        if not (key.isascii() and key.replace("_", "").isalnum() and len(key) <= MAX_KEY):
            raise ValidationError(f"“{key[:MAX_KEY]}” is not a filter of any page.")
    return urlencode([(k, v) for k, v in pairs if k not in NOT_KEPT])


def _page(page: str) -> ViewPage:
    if page not in PAGES:
        raise ValidationError(f"“{str(page)[:MAX_KEY]}” is not a page a view can open; the "
                              f"pages are {', '.join(PAGES)}.")
    return PAGES[page]


def _dates(page: ViewPage, preset: str | None, start: date | None,
           end: date | None) -> tuple[str | None, date | None, date | None]:
    """(preset, start, end) as kept: a page without dates keeps none; a dated page keeps a
    preset (the default one when nothing is given) or both fixed dates."""
    if preset is not None and (start is not None or end is not None):
        raise ValidationError("A view's dates are either a preset or fixed dates, not both.")
    if not page.dates:
        return None, None, None
    if preset is not None:
        if preset not in PRESETS:
            raise ValidationError(f"“{str(preset)[:MAX_KEY]}” is not a date preset; the "
                                  f"presets are {', '.join(PRESETS)}.")
        return preset, None, None
    if start is None and end is None:
        return DEFAULT_PRESET, None, None
    if start is None or end is None:
        raise ValidationError("Fixed dates need both a start and an end.")
    if start > end:
        raise ValidationError("The start date is after the end date.")
    return None, start, end


def _may_change(actor: Actor, view: SavedView) -> None:
    if view.owner != actor.name and actor.role != "admin":
        raise PermissionDenied(
            f"Only its owner or an admin may change the saved view “{view.name}”.")


# ---------------------------------------------------------------- reading and writing


def _view(row) -> SavedView:
    return SavedView(int(row.id), row.owner, row.name, row.page, row.query, row.dates_preset,
                     row.start_date, row.end_date, bool(row.shared))


def create(engine: Engine, actor: Actor, *, name: str, page: str, query: str = "",
           preset: str | None = None, start: date | None = None, end: date | None = None,
           shared: bool = False, now: datetime | None = None) -> int:
    """Save a view owned by `actor`; return its id.

    Raises ValidationError (bad name, page, filters or dates), PermissionDenied (sharing
    takes an analyst), ConflictError (the owner already has a view of that name).
    """
    require(actor, Permission.VIEW_DASHBOARDS)
    if shared and not can(actor, Permission.EXPORT):
        raise PermissionDenied(f"Your role ({actor.role}) may not share views with everyone; "
                               "it takes the analyst role.")
    where = _page(page)
    row = {"owner": actor.name, "name": clean_name(name), "page": page,
           "query": clean_query(query), "shared": bool(shared)}
    row["dates_preset"], row["start_date"], row["end_date"] = _dates(where, preset, start, end)
    moment = now or utc_now()
    try:
        with engine.begin() as conn:
            result = conn.execute(insert(saved_views).values(
                **row, created_at=moment, updated_at=moment).returning(saved_views.c.id))
            return int(result.scalar_one())
    except IntegrityError:
        raise ConflictError(f"You already have a saved view named “{row['name']}”.") from None


def visible(engine: Engine, actor: Actor) -> list[SavedView]:
    """The views `actor` can open from the sidebar: their own by name, then the shared ones
    of others by name."""
    mine = saved_views.c.owner == actor.name
    stmt = (select(saved_views).where(or_(mine, saved_views.c.shared))
            .order_by(~mine, saved_views.c.name, saved_views.c.id))
    with reading(engine) as conn:
        return [_view(r) for r in conn.execute(stmt)]


def every(engine: Engine) -> list[SavedView]:
    """Every saved view, by owner then name (the command line's `views list`)."""
    stmt = select(saved_views).order_by(saved_views.c.owner, saved_views.c.name,
                                        saved_views.c.id)
    with reading(engine) as conn:
        return [_view(r) for r in conn.execute(stmt)]


def get(engine: Engine, actor: Actor, view_id: int) -> SavedView:
    """The view `view_id` if `actor` may open it (their own, a shared one, or any for an
    admin); else NotFoundError, the same sentence whether it exists or not."""
    allowed = saved_views.c.id == view_id
    if actor.role != "admin":
        allowed = and_(allowed, or_(saved_views.c.owner == actor.name, saved_views.c.shared))
    with reading(engine) as conn:
        row = conn.execute(select(saved_views).where(allowed)).first()
    if row is None:
        raise NotFoundError(f"There is no saved view #{view_id} that you can open.")
    return _view(row)


def change(engine: Engine, actor: Actor, view_id: int, *, name: str | None = None,
           shared: bool | None = None, now: datetime | None = None) -> SavedView:
    """Rename a view and/or share or unshare it (its owner or an admin); return it as saved."""
    view = get(engine, actor, view_id)
    _may_change(actor, view)
    values: dict[str, object] = {"updated_at": now or utc_now()}
    if name is not None:
        values["name"] = clean_name(name)
    if shared is not None:
        if shared and not can(actor, Permission.EXPORT):
            raise PermissionDenied(f"Your role ({actor.role}) may not share views with "
                                   "everyone; it takes the analyst role.")
        values["shared"] = bool(shared)
    try:
        with engine.begin() as conn:
            conn.execute(update(saved_views).where(saved_views.c.id == view_id).values(**values))
    except IntegrityError:
        raise ConflictError(
            f"{'You' if view.owner == actor.name else view.owner} already "
            f"{'have' if view.owner == actor.name else 'has'} a saved view named "
            f"“{values['name']}”.") from None
    return get(engine, actor, view_id)


def remove(engine: Engine, actor: Actor, view_id: int) -> SavedView:
    """Delete a view (its owner or an admin); return what was deleted."""
    view = get(engine, actor, view_id)
    _may_change(actor, view)
    with engine.begin() as conn:
        conn.execute(delete(saved_views).where(saved_views.c.id == view_id))
    return view


def view_id(text: str) -> int:
    """A view id from a link or the command line; one sentence when it is not one."""
    digits = str(text).strip()
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18 or int(digits) == 0:
        raise ValidationError(f"“{digits[:20]}” is not a saved view's number.")
    return int(digits)
