"""The content fingerprint means the same in Postgres and in ClickHouse: per column, on edge
values (NULL campaign_id, midnight, the last microsecond of a day, epochs before 1970, negative
and largest ids), both engines give the same numbers, and the change each column is there to
see moves it on both sides alike."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from adtech_assets.db.sql_files import postgres_sql
from adtech_assets.engine.fingerprints import (
    FACT_COLUMNS,
    Fingerprint,
    _by_day,
    clickhouse_day_fingerprints,
)

EDGE_ROWS = [
    (1, None, datetime(1969, 12, 31, 23, 59, 59, 999999)),
    (2, 7, datetime(1969, 12, 31)),
    (2147483647, 2147483647, datetime(2026, 11, 30)),
    (-5, -3, datetime(2026, 11, 30, 23, 59, 59, 999999)),
    (10, None, datetime(2026, 11, 30, 12, 34, 56, 1)),
    (11, 3, datetime(2000, 2, 29, 0, 0, 0, 500000)),
    (12, 4, datetime(2000, 2, 29, 0, 0, 0, 500001)),
]
# Per column, a change that this column sees (and the columns before it may not).
CHANGES = {
    "rows": [(13, 3, datetime(2000, 2, 29, 0, 0, 0, 500000))],  # one more row
    "id_sum": [(14, 3, datetime(2000, 2, 29, 0, 0, 0, 500000)) if r[0] == 11 else r for r in EDGE_ROWS],
    "campaign_sum": [(10, 5, r[2]) if r[0] == 10 else r for r in EDGE_ROWS],
    "time_sum": [(1, None, datetime(1969, 12, 31, 23, 59, 59, 999998)) if r[0] == 1 else r for r in EDGE_ROWS],
    # campaigns swapped between two rows of a day: counts and plain sums stay, the mixed sum moves
    "mix_sum": [(11, 4, r[2]) if r[0] == 11 else (12, 3, r[2]) if r[0] == 12 else r for r in EDGE_ROWS],
}
START, END = date(1960, 1, 1), date(2100, 1, 1)


def postgres_fingerprints(pg_url: str, rows, days: list[date] | None = None) -> dict[date, Fingerprint]:
    """Over [START, END) in one query, or each of ``days`` in a query of its own (the one-day form)."""
    with psycopg.connect(pg_url, options="-c TimeZone=UTC") as conn:
        conn.execute("CREATE TEMP TABLE edge (id int, campaign_id int, created_at timestamp)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO edge VALUES (%s, %s, %s)", rows)
        query = sql.SQL(postgres_sql("day_fingerprints")).format(table=sql.Identifier("edge"))
        ranges = [(START, END)] if days is None else [(d, d + timedelta(days=1)) for d in days]
        found = []
        for start, end in ranges:
            cur = conn.execute(query, {"start": start, "end": end, "max_id": 2**31 - 1})
            names = [d.name for d in cur.description]
            found += [dict(zip(names, row)) for row in cur.fetchall()]
        return _by_day(found, FACT_COLUMNS)


def clickhouse_fingerprints(clickhouse, rows) -> dict[date, Fingerprint]:
    with clickhouse.session() as ch:
        ch.client.command("CREATE DATABASE IF NOT EXISTS analytics")
        ch.client.command("DROP TABLE IF EXISTS analytics.edge")
        ch.client.command("CREATE TABLE analytics.edge (edge_id Int32, campaign_id Nullable(Int32), "
                          "created_at DateTime64(6, 'UTC'), event_date Date32 DEFAULT toDate32(created_at)) "
                          "ENGINE = MergeTree ORDER BY edge_id")
        ch.client.insert("analytics.edge", [list(r) for r in rows], column_names=["edge_id", "campaign_id", "created_at"])
        return clickhouse_day_fingerprints(ch, "edge", "edge_id", START, END)


def column(fingerprints: dict[date, Fingerprint], name: str) -> dict[date, int]:
    index = FACT_COLUMNS.index(name)
    return {day: f.values[index] for day, f in fingerprints.items()}


@pytest.mark.parametrize("name", FACT_COLUMNS)
def test_each_column_agrees_on_edge_values_and_moves_alike(name, pg_url, clickhouse):
    pg_before, ch_before = postgres_fingerprints(pg_url, EDGE_ROWS), clickhouse_fingerprints(clickhouse, EDGE_ROWS)
    assert sorted(pg_before) == [date(1969, 12, 31), date(2000, 2, 29), date(2026, 11, 30)]
    assert column(pg_before, name) == column(ch_before, name)

    changed = CHANGES[name] if name != "rows" else EDGE_ROWS + CHANGES[name]
    pg_after, ch_after = postgres_fingerprints(pg_url, changed), clickhouse_fingerprints(clickhouse, changed)
    assert column(pg_after, name) == column(ch_after, name)
    assert column(pg_after, name) != column(pg_before, name), f"{name} does not see its change"
    assert pg_after != pg_before and ch_after != ch_before


def test_one_day_asked_alone_has_the_fingerprint_of_a_longer_range(pg_url):
    """The one-day form (the day a constant, no hashing per row) gives each day what the
    range's grouping gives it, and no day where there are no rows."""
    every = postgres_fingerprints(pg_url, EDGE_ROWS)
    alone = postgres_fingerprints(pg_url, EDGE_ROWS, days=[*every, date(2001, 1, 1)])
    assert alone == every
