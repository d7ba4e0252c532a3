"""The bounds of a fact read: a window of UTC days and ids, as the read queries' literals
(``read_<table>.sql``), and which of them no row crosses."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any


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
