"""What ClickHouse keeps about the loads, next to the data it describes.

- ``load_manifest``: per (daily table, day), the fingerprint of what the last load swapped in and
  the day's data parts right after; drift inside ClickHouse shows as parts that changed since.
- ``pending_days``: days found to need a reload and not yet reloaded by a load that began after
  they were found; a failed or killed run leaves them for the next pass, whoever makes it.
- ``load_state``: the one cursor store of the change planner (sensor, schedules, ``adtech sync``).

Every path reads and writes these through this module, so no Dagster run history is needed to
know what ClickHouse holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from adtech_assets.db.clickhouse.client import ClickHouseSession
from adtech_assets.engine.fingerprints import Fingerprint

PLANNER_CURSOR = "planner"
# A staging table older than this on a server belongs to a dead process (loads take minutes).
# On the embedded engine every staging table seen under the lock is dead: one process at a time.
STALE_STAGING_SECONDS = 6 * 3600


@dataclass(frozen=True)
class ManifestEntry:
    rows: int
    fingerprint: str
    parts_signature: int
    started_at: datetime  # when that load began reading its source


Manifest = dict[tuple[str, date], ManifestEntry]


def clickhouse_now(ch: ClickHouseSession) -> datetime:
    """ClickHouse's clock: the one clock that orders pending marks and load starts."""
    return ch.scalar("state/now")


def read_manifest(ch: ClickHouseSession) -> Manifest:
    return {
        (row["table_name"], row["day"]): ManifestEntry(
            row["rows"], row["fingerprint"], row["parts_signature"], row["started_at"]
        )
        for row in ch.rows("state/manifest")
    }


def parts_signatures(ch: ClickHouseSession, tables: Iterable[str]) -> dict[tuple[str, date], int]:
    rows = ch.rows("state/parts_signatures", tables=list(tables))
    return {(row["table_name"], row["day"]): row["parts_signature"] for row in rows}


def record_loads(
    ch: ClickHouseSession, table: str, fingerprints: Mapping[date, Fingerprint], started_at: datetime | Mapping[date, datetime],
    signatures: Mapping[tuple[str, date], int] | None = None,
) -> None:
    """Record what a load swapped into ``table`` per day (called after the swaps): a crash
    before this leaves the manifest behind the data, which the next pass detects.
    ``started_at``: when the load began, or per day; ``signatures``: the parts signatures if the
    caller has just read them (system.parts is a slow read)."""
    if not fingerprints:
        return
    days = sorted(fingerprints)
    signatures = parts_signatures(ch, [table]) if signatures is None else signatures
    starts = started_at if isinstance(started_at, Mapping) else dict.fromkeys(days, started_at)
    ch.insert_rows("load_manifest", [
        {"table_name": table, "day": d, "rows": fingerprints[d].rows, "fingerprint": fingerprints[d].text,
         "parts_signature": signatures.get((table, d), 0), "started_at": starts[d]}
        for d in days
    ])


Found = dict[tuple[str, date], str]  # (daily table, day) -> why it must be reloaded


def mark_pending(ch: ClickHouseSession, found: Mapping[tuple[str, date], str], since: datetime) -> None:
    if not found:
        return
    keys = sorted(found)
    ch.insert_rows("pending_loads", [
        {"table_name": table, "day": day, "since": since, "reason": found[(table, day)]} for table, day in keys
    ])


@dataclass(frozen=True)
class Pending:
    reason: str
    since: datetime  # the oldest unresolved mark of the day
    tables: tuple[str, ...]  # the daily tables to reload, in load order


def pending_days(ch: ClickHouseSession, daily_tables: Iterable[str]) -> dict[date, Pending]:
    """Days with a daily table marked pending and not reloaded since the mark (a mark without
    a table, as schema versions before V10 wrote them, holds for every table)."""
    manifest = read_manifest(ch)
    tables = list(daily_tables)
    marks: dict[date, dict[str, tuple[datetime, str]]] = {}
    for row in ch.rows("state/pending_days"):
        for table in [row["table_name"]] if row["table_name"] else tables:
            entry = manifest.get((table, row["day"]))
            if entry is None or entry.started_at < row["since"]:
                marked = marks.setdefault(row["day"], {})
                if table not in marked or row["since"] < marked[table][0]:
                    marked[table] = (row["since"], row["reason"])
    pending = {}
    for day, marked in marks.items():
        since, reason = min(marked.values())
        pending[day] = Pending(reason, since, tuple(t for t in tables if t in marked))
    return pending


def read_cursor(ch: ClickHouseSession, name: str = PLANNER_CURSOR) -> str | None:
    return ch.scalar("state/cursor_get", source=name)


def write_cursor(ch: ClickHouseSession, text: str, name: str = PLANNER_CURSOR) -> None:
    ch.command("state/cursor_set", source=name, snapshot=text)


def drop_stale_staging(ch: ClickHouseSession) -> list[str]:
    """Drop staging tables that a killed load left behind; returns their names."""
    age = 0 if ch.target.is_embedded else STALE_STAGING_SECONDS
    stale = [row["name"] for row in ch.rows("state/stale_staging_tables", age_seconds=age)]
    for name in stale:
        ch.command("ops/drop_table", table=name)
    return stale
