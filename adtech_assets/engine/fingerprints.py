"""Content fingerprints per (table, UTC day), with the same semantics in Postgres and ClickHouse.

A fact day's fingerprint is (rows, sum of ids, sum of campaign_ids with NULL as 0, sum of
microseconds since midnight, a sum mixing each row's three values): inserting, deleting or
duplicating a row, or changing its id, campaign_id or created_at, moves it. Both sides compute
it in SQL (``adtech_assets/db/sql/day_fingerprints.sql``, ``clickhouse_ddl/checks/
day_fingerprints.sql``); the unit tests hold them equal on edge values. A rollup day's
fingerprint is its totals in the same terms (events and their campaign_id sums per fact table),
so it can be compared with the fingerprints of its facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import psycopg

from adtech_assets.db.clickhouse.client import ClickHouseSession
from adtech_assets.db.postgres.client import table_query

FACT_COLUMNS = ("rows", "id_sum", "campaign_sum", "time_sum", "mix_sum")
ROLLUP_COLUMNS = ("rows", "impressions", "impressions_campaign_sum", "clicks", "clicks_campaign_sum")
NO_ID_BOUND = 2**31 - 1  # ids are int4: every row
# Bumped whenever either SQL side changes what it computes: a manifest entry of another version
# is re-derived from ClickHouse's live rows instead of being read as a difference.
VERSION = "f1"


@dataclass(frozen=True)
class Fingerprint:
    """One day's fingerprint: integers named by FACT_COLUMNS or ROLLUP_COLUMNS."""

    values: tuple[int, ...]

    @property
    def rows(self) -> int:
        return self.values[0]

    @property
    def text(self) -> str:
        """The form kept in ``analytics.load_manifest`` and shown in metadata."""
        return ":".join([VERSION, *(str(v) for v in self.values)])

    @staticmethod
    def is_current(text: str) -> bool:
        return text.startswith(f"{VERSION}:")

    @classmethod
    def from_text(cls, text: str) -> "Fingerprint":
        """The fingerprint of ``text`` (as ``text`` gives it, of the current version)."""
        if not cls.is_current(text):
            raise ValueError(f"not a fingerprint of version {VERSION}: {text!r}")
        return cls(tuple(int(v) for v in text.split(":")[1:]))

    def __add__(self, other: "Fingerprint") -> "Fingerprint":
        """The fingerprint of two disjoint sets of rows taken together: every column is a sum."""
        return Fingerprint(tuple(a + b for a, b in zip(self.values, other.values, strict=True)))

    @classmethod
    def empty(cls, width: int = len(FACT_COLUMNS)) -> "Fingerprint":
        return cls((0,) * width)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


def _by_day(rows: list[dict], columns: tuple[str, ...]) -> dict[date, Fingerprint]:
    return {row["day"]: Fingerprint(tuple(int(row[c]) for c in columns)) for row in rows}


def postgres_day_fingerprints(
    conn: psycopg.Connection, source: str, start: date, end: date, max_id: int = NO_ID_BOUND
) -> dict[date, Fingerprint]:
    """Fingerprints of ``source`` per day in [start, end), ids up to ``max_id``, on ``conn``
    (so a caller can read them in the same snapshot as other queries)."""
    cur = conn.execute(
        table_query("day_fingerprints", source),
        {"start": _midnight(start), "end": _midnight(end), "max_id": max_id},
    )
    names = [d.name for d in cur.description]
    return _by_day([dict(zip(names, row)) for row in cur.fetchall()], FACT_COLUMNS)


def clickhouse_day_fingerprints(
    ch: ClickHouseSession, table: str, id_column: str, start: date, end: date
) -> dict[date, Fingerprint]:
    """Fingerprints of a fact table (or a staging copy of one) per day in [start, end)."""
    rows = ch.rows("checks/day_fingerprints", table=table, id_column=id_column, start=start, end=end)
    return _by_day(rows, FACT_COLUMNS)


def rollup_day_fingerprints(ch: ClickHouseSession, table: str, start: date, end: date) -> dict[date, Fingerprint]:
    """What the rollup (or a staging copy) holds per day in [start, end), as ROLLUP_COLUMNS."""
    rows = ch.rows("checks/rollup_day_fingerprints", table=table, start=start, end=end)
    return _by_day(rows, ROLLUP_COLUMNS)


def rollup_expected_from_facts(impressions: Fingerprint, clicks: Fingerprint) -> dict[str, int]:
    """The rollup totals that a day's fact fingerprints imply (every column but ``rows``)."""
    return {
        "impressions": impressions.values[0],
        "impressions_campaign_sum": impressions.values[2],
        "clicks": clicks.values[0],
        "clicks_campaign_sum": clicks.values[2],
    }


def rollup_totals(rollup: Fingerprint) -> dict[str, int]:
    return dict(zip(ROLLUP_COLUMNS[1:], rollup.values[1:]))
