"""Alert rules (issue 12, item 3): "hot leads ≥ 20", notified when it becomes true.

A rule names a number the app computes (`METRICS`, with its options as a query string),
a comparison (`>=`, `>`, `<=`, `<`) and either a threshold or none, meaning "compared with
the same number for the period before" ("confirmed payments over the last 7 days < the 7
days before"). The numbers come from the same functions the pages use.

Edge-triggered: `check` fires a rule when its condition is true now and was not at the
previous check (never checked, or false); it stays quiet while the condition stays true and
fires again only after it has been false. Each rule is decided in its own transaction with
its row locked and re-read (SQLite: BEGIN IMMEDIATE; PostgreSQL: SELECT … FOR UPDATE), so
two workers checking at once fire it once. A check older than the rule's last one changes
nothing.

Who: everyone may make rules of their own; the owner or an admin pauses and deletes them;
`rules` lists one's own (an admin's: everyone's). A rule goes to a Telegram chat: any
positive id is a person's chat; a group (negative id) must be one an admin has allowed
(`allow_chat`, shared with the digests).
"""

from __future__ import annotations

import html
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import delete as sql_delete
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from hsl import subscriptions, views
from hsl.auth import Actor, Permission, require
from hsl.db import is_postgres, reading, writing
from hsl.errors import NotFoundError, PermissionDenied, ValidationError
from hsl.filters import PRESETS, Period
from hsl.messaging.template import inert
from hsl.metrics.leads import LeadRules, tier_counts
from hsl.metrics.lessons import lesson_registrations
from hsl.metrics.overview import kpis
from hsl.schema import alert_firings, alert_rules, allowed_chats

MAX_NAME = views.MAX_NAME
MAX_PARAMS = 500
MAX_DAYS = 366
MAX_THRESHOLD = 1e12
DEFAULT_PRESET = "last-7-days"
DEFAULT_DAYS = 7

OPS: dict[str, str] = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}  # as stored → as read
_TESTS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
# A preset of whole months or years is compared with the same dates a month / year earlier
# (this month so far with last month's same days); the others with the period just before.
_COMPARED = {"this-month": "month", "last-month": "month", "year-to-date": "year",
             "last-year": "year"}

allow_chat = subscriptions.allow_chat  # one list of group chats for digests and alerts


# ---------------------------------------------------------------- the metrics


@dataclass(frozen=True)
class Metric:
    """A number a rule can watch: its label, noun, options (name → default) and how it is
    computed: `compute(engine, options, now, tz, before)` → the value now, or for the
    period before when `before`."""

    label: str
    noun: str  # "23 hot leads"
    options: dict[str, str]
    compute: Callable[[Engine, dict[str, str], datetime, str, bool], float]
    percent: bool = False


def _preset_period(options: dict[str, str], now: datetime, tz: str, before: bool) -> Period:
    period = Period.from_preset(options["dates"], tz, now)
    return period.compared(_COMPARED.get(options["dates"], "previous")) if before else period


def _kpi(column: str) -> Callable[[Engine, dict[str, str], datetime, str, bool], float]:
    def compute(engine: Engine, options: dict[str, str], now: datetime, tz: str,
                before: bool) -> float:
        return float(kpis(engine, _preset_period(options, now, tz, before))[column].iloc[0])
    return compute


def _hot_leads(engine: Engine, options: dict[str, str], now: datetime, tz: str,
               before: bool) -> float:
    """Hot-tier candidates (default lead rules) in the window of `window_days` before now
    (before: the window before that one)."""
    days = int(options["window_days"])
    at = now - timedelta(days=days) if before else now
    counts = tier_counts(engine, Period.last_days(days, tz, at), LeadRules(window_days=days))
    return float(counts.loc[counts["tier"] == "hot", "users"].iloc[0])


def _attendance_rate(engine: Engine, options: dict[str, str], now: datetime, tz: str,
                     before: bool) -> float:
    """Percent (0–100) of the registrants of the last `days` local days who attended."""
    days = int(options["days"])
    period = Period.last_days(days, tz, now)
    period = period.previous() if before else period
    frame = lesson_registrations(engine, period, (), options["lesson_type"] or None)
    return round(100 * float(frame["attendance_rate"].iloc[0]), 1)


_DATES = {"dates": DEFAULT_PRESET}
METRICS: dict[str, Metric] = {  # the keys are what a rule stores and the command line's names
    "hot-leads": Metric("Hot leads", "hot leads", {"window_days": "7"}, _hot_leads),
    "new-users": Metric("New users", "new users", _DATES, _kpi("new_users")),
    "registrations": Metric("Free-lesson registrations", "registrations", _DATES,
                            _kpi("registrations")),
    "confirmed-payments": Metric("Confirmed payments", "confirmed payments", _DATES,
                                 _kpi("confirmed_payments")),
    "active-bookings": Metric("Active bookings", "active bookings", _DATES,
                              _kpi("active_bookings")),
    "attendance-rate": Metric("Attendance rate", "attendance",
                              {"lesson_type": "", "days": str(DEFAULT_DAYS)},
                              _attendance_rate, percent=True),
}


def _whole(text: str, key: str, most: int) -> str:
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 6
            and 1 <= int(digits) <= most):
        raise ValidationError(f"The option {key} must be a whole number from 1 to {most}.")
    return str(int(digits))


def clean_params(metric: str, text: str) -> dict[str, str]:
    """The metric's options from a query string, defaults filled in; one sentence when an
    option is unknown, given twice or out of range."""
    spec = _metric(metric)
    text = str(text or "").strip().removeprefix("?")
    if len(text) > MAX_PARAMS or "\x00" in text:
        raise ValidationError(f"A rule's options can be at most {MAX_PARAMS} characters of "
                              "text.")
    given: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key not in spec.options:
            known = ", ".join(spec.options)
            raise ValidationError(f"“{key[:40]}” is not an option of {metric}; its options "
                                  f"are {known}.")
        if key in given:
            raise ValidationError(f"The option {key} is given twice.")
        given[key] = value
    options = spec.options | given
    if "dates" in options and options["dates"] not in PRESETS:
        raise ValidationError(f"“{options['dates'][:40]}” is not a date preset; the presets "
                              f"are {', '.join(PRESETS)}.")
    if "window_days" in options:
        options["window_days"] = _whole(options["window_days"], "window_days", MAX_DAYS)
    if "days" in options:
        options["days"] = _whole(options["days"], "days", MAX_DAYS)
    if "lesson_type" in options:
        options["lesson_type"] = " ".join(options["lesson_type"].split())[:100]
    return options


def _metric(name: str) -> Metric:
    if name not in METRICS:
        raise ValidationError(f"“{str(name)[:40]}” is not a number alerts can watch; the "
                              f"numbers are {', '.join(METRICS)}.")
    return METRICS[name]


def metric_label(metric: str, options: dict[str, str]) -> str:
    """How the watched number reads: "Confirmed payments (last 7 days)", "Hot leads"."""
    spec = _metric(metric)
    if "dates" in options:
        return f"{spec.label} ({PRESETS[options['dates']].lower()})"
    if "days" in options:
        of = f" of {options['lesson_type']}" if options.get("lesson_type") else ""
        return f"{spec.label}{of} over the last {options['days']} days"
    if options.get("window_days", "7") != "7":
        return f"{spec.label} ({options['window_days']}-day window)"
    return spec.label


# ---------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    id: int
    owner: str
    name: str
    metric: str
    params: str  # the metric's options, urlencoded, defaults filled in
    op: str
    threshold: float | None  # None: compared with the period before
    chat_id: int
    paused: bool
    is_true: bool | None
    last_checked_at: datetime | None
    last_value: float | None
    last_fired_at: datetime | None
    last_outcome: str | None

    @property
    def options(self) -> dict[str, str]:
        return dict(parse_qsl(self.params, keep_blank_values=True))

    @property
    def condition(self) -> str:
        """The condition as a person reads it: "Hot leads ≥ 20"."""
        spec = METRICS.get(self.metric)
        if spec is None:  # a number this version no longer watches
            return f"{self.metric} {self.op} {self.threshold}"
        than = "the period before" if self.threshold is None else _number(self.threshold,
                                                                         spec.percent)
        return f"{metric_label(self.metric, self.options)} {OPS[self.op]} {than}"


def _rule(row) -> Rule:
    return Rule(int(row.id), row.owner, row.name, row.metric, row.params, row.op,
                None if row.threshold is None else float(row.threshold), int(row.chat_id),
                bool(row.paused), None if row.is_true is None else bool(row.is_true),
                row.last_checked_at, row.last_value, row.last_fired_at, row.last_outcome)


def _number(value: float, percent: bool = False) -> str:
    """23.0 → "23"; 38.46 → "38.5"; with " %" for a rate."""
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return text + (" %" if percent else "")


def clean_name(text: str) -> str:
    """The rule's name as kept, by the rules of a saved view's name (hsl.views.clean_name)."""
    return views.clean_name(text, "alert rule")


def _threshold(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or abs(value) > MAX_THRESHOLD:
        raise ValidationError("A rule's threshold must be a number (or none, to compare with "
                              "the period before).")
    return float(value)


def _check_chat(conn, chat: int) -> None:
    if isinstance(chat, bool) or not isinstance(chat, int) or chat == 0 \
            or abs(chat) >= subscriptions.MAX_CHAT_ID:
        raise ValidationError(f"“{str(chat)[:20]}” is not a Telegram chat id.")
    if chat < 0 and conn.execute(select(allowed_chats.c.chat_id)
                                 .where(allowed_chats.c.chat_id == chat)).first() is None:
        raise PermissionDenied(f"The group chat {chat} is not one an admin has allowed for "
                               "alerts.")


def create(engine: Engine, actor: Actor, *, name: str, metric: str, params: str = "",
           op: str, threshold: float | None, chat_id: int, now: datetime) -> int:
    """Make a rule owned by `actor`; return its id.

    Raises ValidationError (bad name, metric, option, comparison, threshold or chat id) and
    PermissionDenied (a group chat no admin has allowed).
    """
    require(actor, Permission.VIEW_DASHBOARDS)
    row = {"owner": actor.name, "name": clean_name(name), "metric": metric,
           "params": urlencode(clean_params(metric, params))}
    if op not in OPS:
        raise ValidationError(f"“{str(op)[:10]}” is not a comparison; use one of "
                              f"{', '.join(OPS)}.")
    with writing(engine) as conn:
        _check_chat(conn, chat_id)
        result = conn.execute(insert(alert_rules).values(
            **row, op=op, threshold=_threshold(threshold), chat_id=chat_id, paused=False,
            created_at=now).returning(alert_rules.c.id))
        return int(result.scalar_one())


def rules(engine: Engine, actor: Actor) -> list[Rule]:
    """The actor's rules (an admin's: everyone's), by owner, name and id."""
    stmt = select(alert_rules).order_by(alert_rules.c.owner, alert_rules.c.name,
                                        alert_rules.c.id)
    if actor.role != "admin":
        stmt = stmt.where(alert_rules.c.owner == actor.name)
    with reading(engine) as conn:
        return [_rule(r) for r in conn.execute(stmt)]


def get(engine: Engine, rule_id: int) -> Rule:
    """The rule `rule_id`; NotFoundError when there is none."""
    with reading(engine) as conn:
        row = conn.execute(select(alert_rules).where(alert_rules.c.id == rule_id)).first()
    if row is None:
        raise NotFoundError(f"There is no alert rule #{rule_id}.")
    return _rule(row)


def _changeable(engine: Engine, actor: Actor, rule_id: int) -> Rule:
    rule = get(engine, rule_id)
    if rule.owner != actor.name and actor.role != "admin":
        raise PermissionDenied(f"Only its owner or an admin may change the alert rule "
                               f"“{rule.name}”.")
    return rule


def pause(engine: Engine, actor: Actor, rule_id: int, paused: bool = True) -> Rule:
    """Pause (or resume) a rule (its owner or an admin); return it as saved. A resumed rule
    keeps its last condition: one paused while true fires only after being false again."""
    _changeable(engine, actor, rule_id)
    with writing(engine) as conn:
        conn.execute(update(alert_rules).where(alert_rules.c.id == rule_id)
                     .values(paused=bool(paused)))
    return get(engine, rule_id)


def delete(engine: Engine, actor: Actor, rule_id: int) -> Rule:
    """Delete a rule and its firings (its owner or an admin); return what was deleted."""
    rule = _changeable(engine, actor, rule_id)
    with writing(engine) as conn:
        conn.execute(sql_delete(alert_firings).where(alert_firings.c.rule_id == rule_id))
        conn.execute(sql_delete(alert_rules).where(alert_rules.c.id == rule_id))
    return rule


# ---------------------------------------------------------------- evaluating and checking


@dataclass(frozen=True)
class Evaluation:
    value: float
    compared_with: float | None  # the threshold, or the number for the period before
    is_true: bool
    text: str  # Telegram HTML, for when the rule fires


def evaluate(engine: Engine, rule: Rule, *, now: datetime, tz: str,
             public_url: str = "") -> Evaluation:
    """The rule's number at `now` in timezone `tz`, what it is compared with, whether the
    condition holds, and the message that says so. ValidationError when the rule no longer
    applies (its number or an option is gone)."""
    spec = _metric(rule.metric)
    options = clean_params(rule.metric, rule.params)
    value = spec.compute(engine, options, now, tz, False)
    than = rule.threshold
    if than is None:
        than = spec.compute(engine, options, now, tz, True)
    holds = _TESTS[rule.op](value, than)
    shown = _number(value, spec.percent)
    said = f"{shown} {spec.noun}" if not spec.percent else f"{spec.noun} {shown}"
    if rule.threshold is None:
        said += f", {_number(than, spec.percent)} the period before"
    # The rule's name is a person's text: inert (no link, mention or command in Telegram).
    text = (f"<b>{html.escape(rule.condition)}</b> is now true: {html.escape(said)} "
            f"(rule “{inert(rule.name)}”)")
    if public_url:
        text += f'\n<a href="{html.escape(public_url, quote=True)}">Open the app</a>'
    return Evaluation(value, than, holds, text)


@dataclass(frozen=True)
class CheckResult:
    rule_id: int
    name: str
    condition: str
    value: float
    compared_with: float | None
    is_true: bool
    fired: bool  # dry run: would fire
    text: str


# (the rule's open transaction, rule_id, chat_id, text) → the campaign id of its message:
# queued on that connection, so the firing and its message commit together or not at all.
Notify = Callable[[Connection, int, int, str], int | None]


def check(engine: Engine, *, now: datetime, tz: str, dry_run: bool, public_url: str = "",
          notify: Notify | None = None) -> list[CheckResult]:
    """Check every rule that is not paused at `now`, by id; return what each one did.

    A rule fires when its condition holds and did not at its last check. `dry_run` writes
    nothing (`fired` then says whether it would fire). Otherwise each rule is decided in
    one transaction with its row locked; `notify(conn, rule_id, chat_id, text)` is called in
    it when the rule fires and what it returns (a campaign id or None) is kept with the
    firing; when `notify` raises, that rule's check is rolled back (it fires at the next
    check) and the error goes on. A rule that no longer applies (ValidationError) is
    reported with `is_true` False and its reason as `text`, kept as its last outcome.
    """
    with reading(engine) as conn:
        listed = [_rule(r) for r in conn.execute(
            select(alert_rules).where(~alert_rules.c.paused).order_by(alert_rules.c.id))]
    results = []
    for rule in listed:
        try:
            found = evaluate(engine, rule, now=now, tz=tz, public_url=public_url)
        except ValidationError as err:
            if not dry_run:
                with writing(engine) as conn:
                    conn.execute(update(alert_rules).where(alert_rules.c.id == rule.id)
                                 .values(last_checked_at=now, last_outcome=f"error: {err}"))
            results.append(CheckResult(rule.id, rule.name, rule.condition, math.nan, None,
                                       False, False, str(err)))
            continue
        fired = found.is_true and not rule.is_true
        if not dry_run:
            fired = _record(engine, rule.id, found, now, notify)
        results.append(CheckResult(rule.id, rule.name, rule.condition, found.value,
                                   found.compared_with, found.is_true, fired, found.text))
    return results


def _record(engine: Engine, rule_id: int, found: Evaluation, now: datetime,
            notify: Notify | None) -> bool:
    """Write one check of a rule with its row locked; return whether it fired."""
    stmt = select(alert_rules).where(alert_rules.c.id == rule_id)
    with writing(engine) as conn:
        row = conn.execute(stmt.with_for_update() if is_postgres(conn) else stmt).first()
        if row is None or row.paused or (row.last_checked_at is not None
                                         and row.last_checked_at > now):
            return False  # deleted or paused meanwhile, or a later check came first
        fires = found.is_true and not row.is_true
        values: dict[str, object] = {"is_true": found.is_true, "last_checked_at": now,
                                     "last_value": found.value,
                                     "last_outcome": "fired" if fires else
                                     ("true" if found.is_true else "false")}
        if fires:
            campaign = notify(conn, rule_id, int(row.chat_id), found.text) if notify else None
            conn.execute(insert(alert_firings).values(rule_id=rule_id, fired_at=now,
                                                      value=found.value, campaign_id=campaign))
            values["last_fired_at"] = now
        conn.execute(update(alert_rules).where(alert_rules.c.id == rule_id).values(**values))
        return fires


def firings(engine: Engine, rule_id: int) -> list[tuple[datetime, float | None, int | None]]:
    """The rule's firings, oldest first: (fired_at, value, campaign_id)."""
    f = alert_firings.c
    with reading(engine) as conn:
        return [(r.fired_at, r.value, r.campaign_id) for r in conn.execute(
            select(f.fired_at, f.value, f.campaign_id).where(f.rule_id == rule_id)
            .order_by(f.id))]
