"""The alerts part of the Subscriptions & alerts page: one's alert rules (admins: everyone's)
with their last check, pause / resume and delete, and a form for a new rule (hsl.alerts)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from hsl import alerts, subscriptions
from hsl.auth import Actor
from hsl.errors import HslError, ValidationError
from hsl.filters import PRESETS
from hsl_ui import banners, state, tables
from hsl_ui import format as fmt

VS_BEFORE = "the period before"


def done(sentence: str) -> None:
    """After a change on the Subscriptions & alerts page: say so at the top and redraw."""
    banners.leave("success", sentence)
    st.rerun()


def _state(rule: alerts.Rule) -> str:
    if rule.paused:
        return "Paused"
    if rule.is_true is None:
        return "Not checked yet"
    return "True" if rule.is_true else "False"


def section(actor: Actor, tz: str, now: datetime) -> None:
    """The rules, their controls, and the form for a new one."""
    rules = alerts.rules(state.engine(), actor)
    if not rules:
        st.info("No alerts yet: add a rule below. The send-worker checks them every minute "
                "and sends a message when one becomes true (not again until it has been "
                "false).", icon=":material/notifications_off:")
    else:
        table = pd.DataFrame([{
            "#": r.id, "Name": r.name, **({"Owner": r.owner} if actor.role == "admin" else {}),
            "Condition": r.condition, "Telegram chat": str(r.chat_id), "Now": _state(r),
            "Last value": "" if r.last_value is None else f"{r.last_value:g}",
            "Last checked": fmt.moment(r.last_checked_at, tz),
            "Last sent": fmt.moment(r.last_fired_at, tz),
        } for r in rules])
        text = st.column_config.TextColumn
        tables.draw(table, {"#": st.column_config.NumberColumn(width=40),
                            "Condition": text(width=220), "Telegram chat": text(width=120)})
        by_id = {r.id: r for r in rules}
        pick, pause_box, delete_box = st.columns([3, 1, 1], vertical_alignment="bottom")
        chosen = pick.selectbox("Alert rule", list(by_id), key="hsl_alert_pick",
                                format_func=lambda i: fmt.plain(f"#{i} · {by_id[i].name}"))
        rule = by_id[chosen]
        try:
            if pause_box.button("Resume" if rule.paused else "Pause", width="stretch",
                                key="hsl_alert_pause",
                                icon=":material/play_arrow:" if rule.paused
                                else ":material/pause:"):
                alerts.pause(state.engine(), actor, rule.id, not rule.paused)
                done(f"{'Resumed' if rule.paused else 'Paused'} the alert “{rule.name}”.")
            if delete_box.button("Delete", width="stretch", key="hsl_alert_delete",
                                 icon=":material/delete:"):
                alerts.delete(state.engine(), actor, rule.id)
                done(f"Deleted the alert “{rule.name}”.")
        except HslError as err:
            st.error(fmt.md(str(err)))
    with st.expander("Add an alert", icon=":material/add_alert:", expanded=not rules):
        _form(actor)
    if actor.role == "admin":
        with st.expander("Allow a group chat (admins)", icon=":material/group_add:"):
            _group_form(actor)


def _form(actor: Actor) -> None:
    with st.form("hsl_new_alert", border=False):
        name = st.text_input("Name *", max_chars=80, placeholder="e.g. Many hot leads")
        metric_box, op_box, value_box = st.columns([3, 1, 2])
        metric = metric_box.selectbox("Number *", list(alerts.METRICS),
                                      format_func=lambda m: alerts.METRICS[m].label)
        op = op_box.selectbox("Is *", list(alerts.OPS), format_func=alerts.OPS.get)
        against = value_box.text_input("Than *", value="20",
                                       help=f"A number, or “{VS_BEFORE}” to compare with the "
                                            "same number for the period before.")
        dates_box, days_box, type_box = st.columns(3)
        dates = dates_box.selectbox("Dates (counts)", list(PRESETS), index=2,
                                    format_func=PRESETS.get,
                                    help="New users, registrations, payments and bookings "
                                         "are counted over these rolling dates.")
        days = days_box.number_input("Days (attendance, hot-lead window)", min_value=1,
                                     max_value=366, value=7)
        lesson_type = type_box.text_input("Lesson type (attendance)", placeholder="all",
                                          help="A lesson type code, e.g. python_basics.")
        chat = st.text_input("Telegram chat *", placeholder="e.g. 123456789",
                             help="A person's Telegram id, or a group chat id (negative) "
                                  "that an admin has allowed.")
        st.caption("Fields marked * are required.")
        if not st.form_submit_button("Add the alert", icon=":material/add_alert:"):
            return
    options = {"hot-leads": {"window_days": days},
               "attendance-rate": {"days": days, **({"lesson_type": lesson_type.strip()}
                                                    if lesson_type.strip() else {})}
               }.get(metric, {"dates": dates})
    try:
        threshold = None if against.strip().lower() == VS_BEFORE else _number(against)
        new_id = alerts.create(state.engine(), actor, name=name, metric=metric,
                               params=urlencode(options), op=op, threshold=threshold,
                               chat_id=subscriptions.chat_id(chat), now=state.period().now)
    except HslError as err:
        st.error(fmt.md(str(err)))
        return
    done(f"Added the alert #{new_id} “{alerts.clean_name(name)}”.")


def _number(text: str) -> float:
    try:
        return float(text.strip().replace(",", ""))
    except ValueError:
        raise ValidationError(f"“{text.strip()[:20]}” is not a number; write one, or "
                                     f"“{VS_BEFORE}”.") from None


def _group_form(actor: Actor) -> None:
    with st.form("hsl_allow_chat", border=False):
        chat = st.text_input("Group chat id *", placeholder="-1001234567890")
        title = st.text_input("Name *", placeholder="Sales team")
        if not st.form_submit_button("Allow this group"):
            return
    try:
        subscriptions.allow_chat(state.engine(), actor, subscriptions.chat_id(chat), title)
    except HslError as err:
        st.error(fmt.md(str(err)))
        return
    done(f"Digests and alerts may now go to the group “{' '.join(title.split())}”.")
