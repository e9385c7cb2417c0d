"""Widgets of the Messages page: compose a campaign, follow campaigns while they send, one
campaign's recipients and its actions.

Campaign state changes by the second while a worker sends, so nothing here is cached: the
list and a campaign's progress are redrawn by fragments (`st.fragment(run_every=…)`),
never by full-page reruns. Every write goes through hsl.messaging.campaigns, which checks
the role and writes the audit log; the page only enqueues, the worker delivers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from hsl import export
from hsl.audience import AudienceFilter
from hsl.auth import Actor, Permission, can
from hsl.config import Settings
from hsl.errors import HslError, NotFoundError
from hsl.filters import utc_now
from hsl.messaging import audience, campaigns, template
from hsl.worker import worker_seen
from hsl_ui import banners, state, tables
from hsl_ui import format as fmt

REFRESH_SECONDS = 2  # how often the list and a sending campaign are redrawn
WORKER_SILENT_SECONDS = 60
SOURCES = {"audience": "Audience builder filters", "stream": "A stream", "ids": "Pasted IDs"}
LIST_COUNTS = ("recipients", "sent", "failed", "blocked")  # the rest: in the campaign itself
ACTIONS = {  # campaign status → the buttons an admin gets
    "draft": ("queue", "cancel"), "scheduled": ("pause", "cancel"),
    "sending": ("pause", "cancel"), "paused": ("resume", "cancel"),
    "done": ("retry_failed", "retry_unknown"), "cancelled": (),
}
ACTION_LABELS = {"queue": "Send now", "pause": "Pause", "resume": "Resume",
                 "cancel": "Cancel", "retry_failed": "Retry failed",
                 "retry_unknown": "Retry unknown"}
_NOTICE = "_hsl_message_notice"  # session key: the sentence shown after a rerun


def audience_link(flt: AudienceFilter) -> str:
    """The Messages page's address for "Message these people" from the Audience page."""
    return "messages?" + urlencode({"audience": flt.to_query()})


# ---------------------------------------------------------------- banners


def sending_note(settings: Settings) -> bool:
    """Say how sending works here (dry run, or how to add a token); True when it can send."""
    if settings.is_demo:
        st.info("**Dry run** — this is the demo database: messages go through a built-in "
                "dry-run transport and reach nobody.", icon=":material/science:")
        return True
    if not settings.telegram_token:
        st.warning("Sending needs a Telegram bot token: set HSL_TELEGRAM_BOT_TOKEN, or "
                   "bot\\_token under \\[telegram\\] in .streamlit/secrets.toml. Drafts can "
                   "be written meanwhile.", icon=":material/key_off:")
        return False
    return True


def worker_warning() -> None:
    """A warning when no send-worker has been seen for a minute (nothing would go out)."""
    seen = worker_seen(state.engine(), now=utc_now(), within=WORKER_SILENT_SECONDS)
    if seen is None:
        st.warning("No send-worker has been seen in the last minute, so queued messages "
                   "wait. Start one next to the app: `python -m hsl send-worker`.",
                   icon=":material/warning:")


def notice() -> None:
    """The sentence an action left for the rerun that follows it."""
    if message := st.session_state.pop(_NOTICE, None):
        st.success(message, icon=":material/check_circle:")


# ---------------------------------------------------------------- compose


def compose(actor: Actor, settings: Settings, can_send: bool) -> None:
    """Audience, text with live preview for three recipients, the count, when; save or send."""
    tz = settings.timezone
    carried = st.query_params.get("audience")
    sources = list(SOURCES) if carried is not None else ["stream", "ids"]
    source = st.radio("Send to", sources, format_func=SOURCES.get, horizontal=True)
    if source == "audience":
        spec = carried or ""
        st.caption("The people the Audience page's filters pick, frozen when sent: "
                   f"{fmt.md(spec) if spec else 'everyone the bot knows'}.")
    elif source == "stream":
        spec = st.selectbox("Stream", state.stream_names(), index=None, format_func=fmt.human,
                            placeholder="Choose a stream") or ""
    else:
        spec = st.text_area("User IDs", height=80,
                            placeholder="Paste IDs separated by spaces, commas or lines")
    text = st.text_area("Message", height=160,
                        placeholder="Hi {first_name|there}! The <b>Python basics</b> lesson …")
    st.caption(template.placeholders_help())
    if not text.strip() or (source != "audience" and not spec.strip()):
        st.caption("Choose who gets it and write the text to see a preview.")
        return
    try:
        template.parse(text)
        found = audience.resolve(state.engine(), source, spec, tz=tz, now=utc_now())
        previews = campaigns.preview(state.engine(), text, source, spec, tz=tz, now=utc_now())
    except HslError as err:
        banners.error(err)
        return
    _show_count(found)
    for user_id, first_name, _username, rendered in previews:
        with st.container(border=True):
            st.caption(f"Preview for {fmt.md(first_name or f'user {user_id}')} "
                       f"(user {user_id})")
            st.text(template.plain_preview(rendered))
    when = _when(tz)
    sendable = found.sendable
    left, right = st.columns(2)
    if left.button("Save draft", icon=":material/save:"):
        _act(lambda: campaigns.create_draft(
            state.engine(), actor, text, source, spec, now=utc_now(), dry_run=settings.is_demo,
            scheduled_at=when), "Saved draft #{result}.")
    if can(actor, Permission.SEND_MESSAGES) and can_send and sendable > 0:
        sure = right.checkbox(f"I confirm sending to {fmt.people(sendable)}")
        if right.button(f"Send to {fmt.people(sendable)}", type="primary",
                        icon=":material/send:", disabled=not sure):
            _act(lambda: _create_and_queue(actor, settings, text, source, spec, when),
                 "Queued campaign #{result}; the worker sends it.")
    elif not can(actor, Permission.SEND_MESSAGES):
        right.caption(f"Your role ({actor.role}) saves drafts; an admin sends them.")
    if can(actor, Permission.SEND_MESSAGES) and can_send:
        _test_message(actor, settings, text)


def _show_count(found: audience.Resolved) -> None:
    total, blocked = len(found.recipients), len(found.blocked)
    parts = [f"**{fmt.people(total - blocked)}** will get it"]
    if blocked:
        parts.append(f"{fmt.people(blocked)} skipped: they blocked the bot last time")
    for tokens, what in ((found.malformed, "not user IDs"), (found.unknown, "unknown IDs")):
        if tokens:
            listed = ", ".join(fmt.code(t, 40) for t in tokens[:10])
            parts.append(f"left out, {what}: {listed}" + (" …" if len(tokens) > 10 else ""))
    st.markdown("; ".join(parts) + ".")


_LATER_DEFAULT = "messages_send_later_default"


def _when(tz: str) -> datetime | None:
    """None for "now", else the chosen local date and time in the reporting timezone (UTC)."""
    later = st.toggle("Send at a later time", help=f"A local time in {tz}.")
    if not later:
        return None
    zone = ZoneInfo(tz)
    local_now = utc_now().astimezone(zone)
    # The next whole hour, local: never a time already past. Kept for the session, so the
    # widgets keep the person's choice when the clock passes an hour.
    soon = st.session_state.setdefault(
        _LATER_DEFAULT, (local_now + timedelta(hours=1)).replace(minute=0, second=0,
                                                                 microsecond=0))
    day_box, time_box = st.columns(2)
    day = day_box.date_input("Day", value=soon.date(), min_value=local_now.date(),
                             format="YYYY-MM-DD")
    at = time_box.time_input(f"Time ({fmt.md(tz)})", value=soon.time(), step=300)
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _create_and_queue(actor: Actor, settings: Settings, text: str, source: str, spec: str,
                      when: datetime | None) -> int:
    return campaigns.create_and_queue(
        state.engine(), actor, text, source, spec, now=utc_now(), tz=settings.timezone,
        dry_run=settings.is_demo, scheduled_at=when).campaign_id


def _test_message(actor: Actor, settings: Settings, text: str) -> None:
    with st.expander("Send me a test"):
        typed = st.text_input("Your Telegram ID", placeholder="e.g. 123456789",
                              help="Your own numeric Telegram id; the test goes only there.")
        chat = int(typed) if typed.isascii() and typed.isdigit() and int(typed) > 0 else None
        if typed and chat is None:
            st.caption("A Telegram ID is a whole number.")
        if st.button("Send the test", icon=":material/outgoing_mail:", disabled=chat is None):
            _act(lambda: campaigns.send_test(state.engine(), actor, text, chat,
                                             now=utc_now(), dry_run=settings.is_demo),
                 "Queued a test to your Telegram ID (campaign #{result}).")


def _act(action, success: str) -> None:
    """Run a campaign write; its typed error is one sentence, its success survives a rerun."""
    try:
        result = action()
    except HslError as err:
        banners.error(err)
        return
    st.session_state[_NOTICE] = success.format(result=result)
    st.rerun()


# ---------------------------------------------------------------- the list and one campaign


@st.fragment(run_every=REFRESH_SECONDS)
def campaign_list() -> None:
    """Every campaign with its progress, newest first; a click opens one (redrawn live)."""
    with banners.no_traceback():
        overview = campaigns.campaign_overview(state.engine(), state.settings().timezone)
        if overview.empty:
            st.caption("No campaigns yet.")
            return
        draft = overview["status"] == "draft"  # nobody is frozen yet: no count to show
        recipients = overview["recipients"].astype("Int64").mask(draft)
        # The numbers first and the message last: on a narrow screen only the text (already
        # cut to 80 characters) goes past the edge, and the ID stays pinned on the left.
        shown = pd.DataFrame({
            "id": overview["id"].astype("string"),
            "status": overview["status"].map(fmt.human),
            "kind": overview["audience_kind"].map(SENT_AS).fillna("Message"),
            "progress": (overview["sent"] / overview["recipients"].where(
                overview["recipients"] > 0)).fillna(0.0).mask(draft),
            "recipients": recipients,
            **{c: overview[c] for c in LIST_COUNTS if c != "recipients"},
            "created_at": pd.to_datetime(overview["created_at"], utc=True).dt.tz_convert(
                state.settings().timezone).dt.tz_localize(None),
            # As written: placeholders stay, a literal brace ({{) reads as one.
            "text": overview["text"].map(lambda t: template.plain_preview(
                t.replace("{{", "{").replace("}}", "}"))[:80]),
        })
        shown["status"] = [f"{s} (dry run)" if dry else s
                           for s, dry in zip(shown["status"], overview["dry_run"], strict=True)]
        display, config = tables.for_display(shown)
        config[fmt.label("id")] = st.column_config.TextColumn(width=48, pinned=True)
        config[fmt.label("text")] = st.column_config.TextColumn(width=160)
        config[fmt.label("progress")] = st.column_config.ProgressColumn(
            min_value=0, max_value=1, format="percent", width=90,
            help="Sent so far, of the people the campaign was frozen for")
        config[fmt.label("recipients")] = st.column_config.NumberColumn(
            format="localized", help="People on the frozen list (a draft has none yet)")
        picked = tables.draw(display, config, on_select="rerun", selection_mode="single-row",
                             key="campaigns")
        if picked.selection.rows:
            st.query_params["campaign"] = shown["id"].iloc[picked.selection.rows[0]]
            st.rerun(scope="app")


def campaign_detail(campaign_id: int, actor: Actor, tz: str) -> None:
    """One campaign: its text, progress, actions (admins) and recipients (CSV: analysts+)."""
    try:
        found = campaigns.campaign(state.engine(), campaign_id)
    except NotFoundError as err:  # a link to a campaign that is not (or no longer) there
        st.info(fmt.sentence(err), icon=":material/link_off:")
        return
    st.subheader(f"Campaign #{campaign_id}" + (" · dry run" if found.dry_run else ""))
    _progress(campaign_id, actor, tz)


SENT_AS = {"test": "Test", "digest": "Digest", "alert": "Alert"}  # the history's Kind column
AUDIENCE_KINDS = {"audience": "the Audience builder's filters", "stream": "a stream",
                  "ids": "pasted IDs", "test": "a test to one Telegram ID",
                  "digest": "a digest to one chat", "alert": "an alert to one chat"}


def _about(found: campaigns.Campaign, tz: str) -> str:
    """One line: who wrote it when, for whom, and when it was (or will be) sent."""
    def at(moment: datetime) -> str:
        local = moment.astimezone(ZoneInfo(tz))
        return f"{fmt.day(local.date())}, {local:%H:%M}"

    kind = AUDIENCE_KINDS.get(found.audience_kind) or fmt.md(fmt.human(found.audience_kind))
    if found.audience_kind == "stream":
        kind = f"the stream {fmt.md(fmt.human(found.audience))}"
    parts = [f"Written by {fmt.md(found.created_by)} on {at(found.created_at)}", f"to {kind}"]
    if found.status == "cancelled" and found.finished_at is not None:
        parts.append(f"cancelled {at(found.finished_at)}")
    elif found.started_at is not None and found.finished_at is not None:
        start, end = at(found.started_at), at(found.finished_at)
        if end == start:
            parts.append(f"sent {start}")
        else:  # "12 Nov 2026, 13:00–13:05", the day once when it is the same
            parts.append(f"sent {start}–{end[-5:] if start[:-5] == end[:-5] else end}")
    elif found.started_at is not None:
        parts.append(f"sending since {at(found.started_at)}")
    elif found.scheduled_at is not None:
        parts.append(f"to send at {at(found.scheduled_at)} ({fmt.md(tz)})")
    return " · ".join(parts)


@st.fragment(run_every=REFRESH_SECONDS)
def _progress(campaign_id: int, actor: Actor, tz: str) -> None:
    with banners.no_traceback():
        engine = state.engine()
        found = campaigns.campaign(engine, campaign_id)
        recipients = campaigns.campaign_status(engine, campaign_id, tz)
        st.caption(_about(found, tz))  # here, so "sending since" turns into "sent" live
        with st.container(border=True):
            st.caption("Message, as written ({first_name} and {username} are filled in for "
                       "each person)")
            st.text(template.plain_preview(found.text))
        counts = recipients["status"].value_counts()
        total = len(recipients)
        # Two rows of three: six cards side by side are cut off on a narrow screen.
        cards = [*st.columns(3), *st.columns(3)]
        cards[0].metric("Status", fmt.human(found.status), border=True)
        for card, word in zip(cards[1:], ("sent", "failed", "blocked", "skipped", "unknown"),
                              strict=True):
            card.metric(fmt.human(word), fmt.count(counts.get(word, 0)), border=True)
        if total:
            st.progress(counts.get("sent", 0) / total,
                        text=f"{fmt.count(counts.get('sent', 0))} of {fmt.people(total)} sent")
        if can(actor, Permission.SEND_MESSAGES):
            _actions(found, actor, tz, counts)
        if recipients.empty:
            st.info("No recipients yet: the list is frozen when the campaign is sent."
                    if found.status == "draft" else "This campaign has no recipients.",
                    icon=":material/group_off:")
            return
        # On screen the error comes right after the status, where a narrow screen still
        # shows it; the CSV keeps the `message status` columns and order.
        on_screen = recipients.astype({"user_id": "string", "telegram_message_id": "string"})[
            ["user_id", "status", "error", "attempts", "sent_at", "telegram_message_id"]]
        display, config = tables.for_display(on_screen)
        config[fmt.label("user_id")] = st.column_config.TextColumn(pinned=True)
        config[fmt.label("status")] = st.column_config.TextColumn(width=90)  # + a sort arrow
        config[fmt.label("error")] = st.column_config.TextColumn(width=320)
        config[fmt.label("telegram_message_id")] = st.column_config.TextColumn(
            help="The message's number in the person's chat with the bot")
        tables.draw(display, config)
        if can(actor, Permission.EXPORT):
            tables.csv_button(recipients,
                              export.file_name("campaign", number=str(campaign_id)))


def _actions(found: campaigns.Campaign, actor: Actor, tz: str, counts: pd.Series) -> None:
    """The admin's buttons for the campaign's status; a retry only when there is something
    to retry."""
    buttons = [a for a in ACTIONS.get(found.status, ())
               if not a.startswith("retry_") or counts.get(a.removeprefix("retry_"), 0)]
    if not buttons:
        return
    row = st.container(horizontal=True)  # side by side, and wrapped on a narrow screen
    for action in buttons:
        if row.button(ACTION_LABELS[action], key=f"{action}:{found.id}"):
            _act(lambda a=action: _run_action(a, found.id, actor, tz),
                 f"{ACTION_LABELS[action]}: done for campaign #{found.id}.")


def _run_action(action: str, campaign_id: int, actor: Actor, tz: str) -> object:
    engine, now = state.engine(), utc_now()
    if action == "queue":
        return campaigns.queue(engine, actor, campaign_id, now=now, tz=tz).campaign_id
    if action.startswith("retry_"):
        return campaigns.retry(engine, actor, campaign_id, which=action.removeprefix("retry_"),
                               now=now)
    return getattr(campaigns, action)(engine, actor, campaign_id, now=now)
