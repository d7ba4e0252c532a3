"""UTC days: the partitions' window and ranges of consecutive days."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from adtech_assets.settings import partitions_start


def day_window(first: date, last: date, after_id: int | None = None) -> dict[str, datetime | int | None]:
    """[first, last + 1), and ids above ``after_id`` (every id: None), as the fact read
    queries' bounds."""
    return {"window_start": datetime.combine(first, datetime.min.time()),
            "window_end": datetime.combine(last + timedelta(days=1), datetime.min.time()),
            "after_id": after_id}


def uncrossed_bounds_dropped(window: Mapping[str, Any], lowest: datetime | None, highest: datetime | None,
                             undated: bool) -> dict[str, Any]:
    """``window`` with each time bound that no row crosses set to None, given the creation times
    the table spans (``lowest`` .. ``highest``; None when it is empty) and whether a row has
    none (which only a bound keeps out). The read is then the same rows without testing them:
    a whole-history backfill reads the table straight."""
    window = dict(window)
    if undated or lowest is None or highest is None:
        return window
    if lowest >= window["window_start"]:
        window["window_start"] = None
    if highest < window["window_end"]:
        window["window_end"] = None
    return window


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
