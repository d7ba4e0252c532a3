"""UTC days: the partitions' window and ranges of consecutive days."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone

from adtech_assets.settings import partitions_start

BELOW_EVERY_ID = -(2**31) - 1  # ids are int4: a read of whole days


def day_window(first: date, last: date, after_id: int = BELOW_EVERY_ID) -> dict[str, datetime | int]:
    """[first, last + 1), and ids above ``after_id``, as the fact read queries' bounds."""
    return {"window_start": datetime.combine(first, datetime.min.time()),
            "window_end": datetime.combine(last + timedelta(days=1), datetime.min.time()),
            "after_id": after_id}


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
    ``ADTECH_PARTITIONS_START`` through today (UTC), as ``partitions.daily_partitions`` has them."""
    first = partitions_start()
    return first, max(first, datetime.now(timezone.utc).date() + timedelta(days=1))
