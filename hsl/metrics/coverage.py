"""Which dates the data covers: the first and last local day with anything in the bot's tables."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import func, select, type_coerce
from sqlalchemy.engine import Engine

from hsl.db import reading, utc
from hsl.metrics.common import SEEN_AT
from hsl.schema import UTCDateTime


def _local_day(moment: datetime | None, tz: str) -> date | None:
    return moment.astimezone(ZoneInfo(tz)).date() if moment is not None else None


def data_days(engine: Engine, tz: str) -> pd.DataFrame:
    """One row: `first_day` and `last_day`, the earliest and latest local dates (in `tz`)
    of any timestamp in the four bot tables (both empty when they hold nothing).

    Each table's minimum and maximum is its own small query (on PostgreSQL an index lookup
    where the column has an index), never a scan joined over all four.
    """
    bounds = [
        type_coerce(agg(utc(ts)), UTCDateTime)
        for _, ts in SEEN_AT for agg in (func.min, func.max)
    ]
    with reading(engine) as conn:
        row = conn.execute(select(*[select(b).scalar_subquery() for b in bounds])).one()
    firsts = [m for m in row[0::2] if m is not None]
    lasts = [m for m in row[1::2] if m is not None]
    return pd.DataFrame([{
        "first_day": _local_day(min(firsts), tz) if firsts else None,
        "last_day": _local_day(max(lasts), tz) if lasts else None,
    }])
