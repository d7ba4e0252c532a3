"""UTC days: the partitions' window (the one definition of it) and ranges of consecutive days."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone

from adtech_assets.settings import partitions_start

# The days ClickHouse's ``Date`` holds: it stores a day outside as the nearest bound (1969-07-20 as
# 1970-01-01), so no day outside is ever written to ClickHouse, as data or as bookkeeping.
CLICKHOUSE_DAYS = (date(1970, 1, 1), date(2149, 6, 6))


def clickhouse_holds(day: date) -> bool:
    return CLICKHOUSE_DAYS[0] <= day <= CLICKHOUSE_DAYS[1]


def day_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Consecutive days grouped as [first, last] ranges, so each range is one Postgres read."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and day == ranges[-1][1] + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def partition_window() -> tuple[date, date]:
    """[first day, last day + 1) of the daily partitions as they stand now: from
    ``ADTECH_PARTITIONS_START`` (1970-01-01 at the earliest: ClickHouse's first day) through today
    (UTC); ``defs.keys.daily_partitions`` is built from it. Loads write only days inside it, so
    ClickHouse holds no row on any other day (the planner removes such rows)."""
    first = max(partitions_start(), CLICKHOUSE_DAYS[0])
    return first, max(first, datetime.now(timezone.utc).date() + timedelta(days=1))
