"""A bulk fetch (COPY and pyarrow on PostgreSQL) gives the frame a row-by-row fetch gives,
hostile text, empty text, NULLs and extreme values included."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    select,
)

from hsl.db import make_engine, reading
from hsl.errors import QueryTimeout
from hsl.metrics.common import _copied, fetch
from hsl.schema import UTCDateTime, users
from tests.hostile import CORPUS, MAX_ID

# Texts a CSV round trip could change: empty vs NULL, words pyarrow would read as NULL or
# as booleans by default, delimiters, quotes, line breaks, backslashes, edge spaces.
TRICKY = ["", "NULL", "NA", "nan", "N/A", "t", "f", "true", "a,b", 'q"uote', "line\nbreak",
          "cr\r\nlf", "back\\slash", "\\N", " padded ", "тест", *CORPUS.values()]
U = users.c


@pytest.fixture
def texts(engine) -> list[str]:
    """TRICKY as the database can hold it (PostgreSQL's text cannot hold NUL)."""
    if engine.dialect.name == "postgresql":
        return [text.replace("\x00", "") for text in TRICKY]
    return TRICKY


@pytest.fixture
def db(engine, texts):
    rows = [{"user_id": i + 1, "username": text, "first_name": None if i % 3 else text,
             "last_name": "x", "first_seen_at": datetime(2026, 1, 1 + i % 28, i % 24, 30, 15,
                                                         123456, tzinfo=UTC)}
            for i, text in enumerate(texts)]
    rows.append({"user_id": MAX_ID, "username": None, "first_name": None, "last_name": None,
                 "first_seen_at": None})
    with engine.begin() as conn:
        conn.execute(insert(users), rows)
    return engine


def statement():
    since = datetime(2026, 1, 10, tzinfo=UTC)
    return (
        select(U.user_id, U.username, U.first_name, U.first_seen_at,
               (U.first_seen_at > bindparam("since", since, type_=UTCDateTime)).label("later"),
               case((U.user_id < 5, U.user_id), else_=None).label("small"),
               cast(func.coalesce(func.length(U.username), 0), Integer).label("length"),
               literal(date(2026, 12, 4), Date).label("day"))
        .order_by(U.user_id)
    )


def test_a_bulk_fetch_gives_the_frame_a_row_fetch_gives(db, texts):
    bulk, rows = fetch(db, statement(), bulk=True), fetch(db, statement())
    assert_frame_equal(bulk, rows)
    by_id = bulk.set_index("user_id")
    assert [by_id.at[i + 1, "username"] for i in range(len(texts))] == texts
    assert by_id["first_name"].isna().tolist()[:4] == [False, True, True, False]
    assert pd.isna(by_id.at[MAX_ID, "first_seen_at"]) and bulk["first_seen_at"].isna().sum() == 1
    assert by_id.at[2, "first_seen_at"] == datetime(2026, 1, 2, 1, 30, 15, 123456, tzinfo=UTC)
    assert by_id["later"].tolist()[:12] == [False] * 9 + [True] * 3
    assert by_id.at[3, "small"] == 3 and by_id["small"].isna().sum() == len(texts) + 1 - 4
    assert by_id.at[11, "length"] == len("line\nbreak")


def test_on_postgresql_the_bulk_fetch_reads_through_copy(db, texts):
    if db.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's: on SQLite a bulk fetch reads rows")
    with reading(db) as conn:
        copied = _copied(conn, statement())
    assert copied is not None and len(copied) == len(texts) + 1


def test_a_bulk_fetch_of_no_rows_is_the_empty_frame_a_row_fetch_gives(db):
    none = statement().where(U.user_id < 0)
    assert_frame_equal(fetch(db, none, bulk=True), fetch(db, none))


def test_a_bulk_fetch_past_the_statement_timeout_is_the_timeout_sentence(db):
    if db.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's: on SQLite a bulk fetch reads rows")
    slow = select(cast(func.count(), BigInteger).label("n")).select_from(
        func.generate_series(1, 10**9).alias("g"))
    impatient = make_engine(db.url.render_as_string(hide_password=False),
                            statement_timeout_ms=100)
    try:
        with pytest.raises(QueryTimeout, match="took too long"):
            fetch(impatient, slow, bulk=True)
        assert fetch(impatient, statement(), bulk=True)["user_id"].iloc[0] == 1  # still usable
    finally:
        impatient.dispose()
