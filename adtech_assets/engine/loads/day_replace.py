"""Replacing whole days of a daily table: the one path of every fact reload and rollup rebuild.

Days are taken as ranges of consecutive days; each range is staged into a private copy of the
table, then swapped in day by day with ``REPLACE PARTITION``, so readers see a day's old rows
or its new ones, never a mix; a day that became empty is dropped. Re-running a day never
duplicates. The load manifest records each day's fingerprint after the swaps, stamped with
when the range's read began, so pending marks made before it resolve (``ledger``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from adtech_assets.db.clickhouse.client import ClickHouseSession
from adtech_assets.engine.days import day_ranges, days_between
from adtech_assets.engine.fingerprints import Fingerprint
from adtech_assets.engine.ledger import clickhouse_now, record_loads

# (staging table, first day, last day) -> the staged rows' fingerprints per day
Stage = Callable[[str, date, date], dict[date, Fingerprint]]


def replace_days(ch: ClickHouseSession, table: str, days: list[date], stage: Stage,
                 empty: Fingerprint) -> dict[date, Fingerprint]:
    """Make each of ``days`` of ``table`` what ``stage`` writes into a staging copy, and record
    them in the load manifest; returns each day's fingerprint (``empty`` for a day with none)."""
    replaced: dict[date, Fingerprint] = {}
    for first, last in day_ranges(days):
        started_at = clickhouse_now(ch)  # before the read: pending days marked earlier resolve
        with ch.staging_table(table) as staging:
            staged = stage(staging, first, last)
            fingerprints = {day: staged.get(day, empty) for day in days_between(first, last)}
            for day, fingerprint in fingerprints.items():
                ch.replace_partition(table, day, staging, fingerprint.rows)
        record_loads(ch, table, fingerprints, started_at)
        replaced.update(fingerprints)
    return replaced
