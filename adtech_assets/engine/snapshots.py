"""Which fact days changed since the last look, without missing late commits.

A watermark like ``created_at > last_max`` or ``id > last_max`` loses rows of transactions that
were still open when a later row was seen, and rows inserted today for a past day. Instead each
pass keeps the Postgres snapshot it ran under: the rows that changed since are exactly those
written by transactions that snapshot could not see (``pg_visible_in_snapshot`` on the row's
xmin), whatever their created_at, so late rows reload their own past day.

To stay index-bound the pass only looks at ids above a low-water mark: the highest id seen at an
earlier pass taken before every transaction the previous snapshot could not see had started
(checked on xids: such a transaction's xid is at or above that pass's xmax, and ids are drawn
from the sequence as it inserts). In steady state that is the id range of the last two passes;
a transaction left open for a long time holds the mark back until it ends.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

import psycopg

from adtech_assets.db.postgres.client import table_query

MAX_CHECKPOINTS = 64


@dataclass(frozen=True)
class Checkpoint:
    max_id: int
    xmax: int  # xid8 horizon of that pass's snapshot


@dataclass
class TableCursor:
    snapshot: str
    checkpoints: list[Checkpoint] = field(default_factory=list)


@dataclass
class ChangeCursor:
    """Per event table, the snapshot and checkpoints of the last look (kept by the planner in
    ClickHouse, ``analytics.load_state``)."""

    tables: dict[str, TableCursor] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {name: asdict(cursor) for name, cursor in self.tables.items()}

    @classmethod
    def from_dict(cls, raw: dict) -> "ChangeCursor":
        return cls(tables={
            name: TableCursor(snapshot=value["snapshot"], checkpoints=[Checkpoint(**c) for c in value["checkpoints"]])
            for name, value in raw.items()
        })


def snapshot_bounds(snapshot: str) -> tuple[int, int]:
    """(xmin, xmax) of a ``pg_snapshot`` text ``xmin:xmax:xip,...``: xmin is the oldest xid it
    could not see; xmax only grows from one snapshot to the next."""
    xmin, xmax, _ = snapshot.split(":", 2)
    return int(xmin), int(xmax)


def low_water_id(cursor: TableCursor) -> int:
    """The highest id that every transaction invisible to ``cursor.snapshot`` inserted above.

    Checkpoints are (max id seen, xmax) of earlier passes, oldest first. A transaction the
    previous snapshot could not see has an xid >= that snapshot's xmin; a checkpoint whose
    xmax is <= that xmin was taken before it started, so its rows have higher ids. One more
    checkpoint of margin covers a sequence value drawn just before the xid was assigned.
    """
    floor, _ = snapshot_bounds(cursor.snapshot)
    eligible = [i for i, c in enumerate(cursor.checkpoints) if c.xmax <= floor]
    if not eligible or eligible[-1] == 0:
        return 0
    return cursor.checkpoints[eligible[-1] - 1].max_id


def take_snapshot(conn: psycopg.Connection, table: str) -> tuple[str, int, int]:
    """(snapshot, xmax, the id sequence's high water) of the caller's REPEATABLE READ
    transaction: run it first, so every later query of the transaction sees exactly this
    snapshot."""
    snapshot, _xmin, xmax, max_id = conn.execute(table_query("detect_snapshot", table),
                                                 {"relation": f"public.{table}"}).fetchone()
    return snapshot, xmax, max_id


def changed_days_since(conn: psycopg.Connection, table: str, cursor: TableCursor, max_id: int) -> dict[date | None, int]:
    """Rows per day (None: without created_at) of ``table`` written by transactions
    ``cursor``'s snapshot could not see. ``max_id``: the sequence's high water now; below a
    checkpoint's, the sequence was reset (TRUNCATE ... RESTART IDENTITY, setval) and every id
    is looked at."""
    sequence_reset = any(c.max_id > max_id for c in cursor.checkpoints)
    rows = conn.execute(
        table_query("days_changed_since", table),
        {"low_id": 0 if sequence_reset else low_water_id(cursor), "previous_snapshot": cursor.snapshot},
    ).fetchall()
    return dict(rows)


def advance(cursor: TableCursor | None, snapshot: str, xmax: int, max_id: int) -> TableCursor:
    """The cursor after a look under ``snapshot`` (checkpoints above a reset sequence dropped)."""
    kept = [c for c in (cursor.checkpoints if cursor else []) if c.max_id <= max_id]
    checkpoints = [*kept, Checkpoint(max_id=max_id, xmax=xmax)]
    return TableCursor(snapshot=snapshot, checkpoints=_prune(checkpoints, snapshot))


def _prune(checkpoints: list[Checkpoint], snapshot: str) -> list[Checkpoint]:
    """Keep what the next pass may need: from the checkpoint before the last eligible one on."""
    floor, _ = snapshot_bounds(snapshot)
    eligible = [i for i, c in enumerate(checkpoints) if c.xmax <= floor]
    start = max(0, eligible[-1] - 1) if eligible else 0
    return checkpoints[start:][-MAX_CHECKPOINTS:]
