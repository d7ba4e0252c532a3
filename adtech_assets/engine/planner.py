"""The planner: what one pass must reload so that ClickHouse equals Postgres.

The sensor, the schedules, the reconciliation sweep and ``adtech sync`` all plan through
``plan_pass``; it needs only Postgres and ClickHouse, never Dagster's run history. A pass:

1. drops staging tables that a killed load left behind;
2. **drift in ClickHouse**, on every pass and without touching Postgres: every daily table's
   data parts per day are compared with the load manifest; a day whose parts changed since its
   load (a crash mid-swap, tampering, a dropped part, a mutation; not a merge) is fingerprinted in
   ClickHouse, and differs if its content is no longer what was loaded;
3. **new rows in Postgres**, when a table's insert counter moved: the days of rows that the
   previous look's snapshot could not see (``engine.snapshots``, index-bound);
4. **updates and deletes in Postgres**, when a table's update or delete counter moved, its file
   node changed (TRUNCATE), its counters were reset, the partitions' start moved, or on the
   first pass and when asked (``full``): every day's fingerprint in Postgres compared with the
   manifest (one scan of the table, so it is gated);
5. **dims**: the whole (small) source tables compared with ClickHouse;
   and ``agg_campaign_totals`` with the rollup's sums, rebuilt here when it differs and no
   rollup day is due (a rollup rebuild rebuilds it);
6. what was found is marked pending in ClickHouse, per daily table and day, *before* the
   cursor advances; it stays pending until a load of that table that began after the mark has
   been recorded, so a run that fails or dies leaves it to the next pass, whoever makes it. A
   fact day's rollup day is marked with it.

The plan is the pending days inside the partitions with the tables each must reload (days
outside stay pending until the partitions reach them) and whether the dims differ.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import psycopg

from adtech_assets.catalog import DAILY_TABLES, DIMS, FACTS, ROLLUP_TABLE
from adtech_assets.db.clickhouse.client import ClickHouseSession
from adtech_assets.db.postgres.client import Postgres
from adtech_assets.engine.days import day_ranges, days_between, partition_window
from adtech_assets.engine.dim_diff import dimension_changes
from adtech_assets.engine.fingerprints import (
    FACT_COLUMNS,
    ROLLUP_COLUMNS,
    Fingerprint,
    clickhouse_day_fingerprints,
    postgres_day_fingerprints,
    rollup_day_fingerprints,
)
from adtech_assets.engine.ledger import (
    Found,
    Manifest,
    clickhouse_now,
    drop_stale_staging,
    mark_pending,
    parts_signatures,
    pending_days,
    read_cursor,
    read_manifest,
    record_loads,
    write_cursor,
)
from adtech_assets.engine.loads.rollup import repair_campaign_totals
from adtech_assets.engine.snapshots import (
    ChangeCursor,
    advance,
    changed_days_since,
    take_snapshot,
)
from adtech_assets.engine.write_counters import Counters, read_counters

# A fingerprint pass covers every day Postgres can hold, so that days outside the partitions
# (before the start, in the future) are pending until the partitions reach them.
EVERY_DAY = (date(1, 1, 1), date(9999, 12, 31))
# Rows a run may reload that no pending day needed, to spare a run of its own: a run costs more of
# Dagster's own work than reloading this many rows (docs/benchmarks.md).
MERGE_ROWS = 500_000


@dataclass
class PlannerCursor:
    """What the planner keeps between passes, in ClickHouse (``load_state``, one row)."""

    changes: ChangeCursor = field(default_factory=ChangeCursor)
    counters: Counters = field(default_factory=dict)  # at the last look
    fingerprinted: Counters = field(default_factory=dict)  # at the last Postgres fingerprint pass
    partitions_start: str | None = None  # of the last Postgres fingerprint pass

    def to_json(self) -> str:
        return json.dumps({"changes": self.changes.to_dict(), "counters": self.counters,
                           "fingerprinted": self.fingerprinted, "partitions_start": self.partitions_start},
                          sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> "PlannerCursor":
        if not text:
            return cls()
        raw = json.loads(text)
        if "changes" not in raw:  # a cursor of an older release: start over with a full pass
            return cls()
        return cls(ChangeCursor.from_dict(raw["changes"]), raw["counters"], raw["fingerprinted"],
                   raw["partitions_start"])


@dataclass
class PassPlan:
    days: list[date]  # pending days inside the partitions: reload facts and rollup
    outside_partitions: list[date]  # pending days no partition holds yet
    reasons: dict[date, str]  # why each pending day is pending
    tables: dict[date, tuple[str, ...]]  # which daily tables each pending day must reload
    found: Found  # what this pass found (a subset of what is pending)
    dims_changed: list[str]  # dims whose ClickHouse table differs from the source
    fingerprinted: bool  # whether Postgres was fingerprinted in this pass
    fingerprint_owed: bool  # a fingerprint pass is due but was not allowed (rate limit)
    counters: Counters = field(default_factory=dict)
    totals_repaired: bool = False  # agg_campaign_totals differed from the rollup: rebuilt
    loaded_rows: dict[tuple[str, date], int] = field(default_factory=dict)  # the pending days' rows, as loaded

    @property
    def idle(self) -> bool:
        return not self.days and not self.dims_changed

    def load_ranges(self, days: Iterable[date] | None = None) -> list[tuple[date, date, list[str]]]:
        """Runs for the pending ``days`` (default: all of them): ranges of consecutive days,
        each with the daily tables it reloads. A run reloads every one of its tables
        on every one of its days, so a day joins the range before it when the union of their
        tables reloads at most ``MERGE_ROWS`` rows that neither needed (as loaded: an empty day
        costs nothing): a run costs about a second of Dagster's own work, more than that."""
        ranges: list[tuple[date, date, tuple[str, ...]]] = []
        for first, last in day_ranges(self.days if days is None else days):
            for day in days_between(first, last):
                tables = self.tables[day]
                if ranges and ranges[-1][1] == day - timedelta(days=1):
                    start, end, before = ranges[-1]
                    union = tuple(t for t in DAILY_TABLES if t in before or t in tables)
                    added = [t for t in union if t not in before]  # to reload on the range's days too
                    extra = sum(self.loaded_rows.get((t, day), 0) for t in union if t not in tables)
                    if added:
                        extra += sum(self.loaded_rows.get((t, d), 0) for d in days_between(start, end) for t in added)
                    if extra <= MERGE_ROWS:
                        ranges[-1] = (start, day, union)
                        continue
                ranges.append((day, day, tuple(t for t in DAILY_TABLES if t in tables)))
        return [(start, end, list(tables)) for start, end, tables in ranges]


def _fingerprint_for(table: str):
    """The ClickHouse fingerprint function of a daily table."""
    for spec in FACTS:
        if spec.table == table:
            return lambda ch, start, end: clickhouse_day_fingerprints(ch, table, spec.id_column, start, end)
    return lambda ch, start, end: rollup_day_fingerprints(ch, table, start, end)


def _add(found: Found, table: str, day: date, reason: str) -> None:
    """``table`` must reload ``day``; a fact day's rollup day with it (it sums the facts)."""
    for name in (table, ROLLUP_TABLE):
        found.setdefault((name, day), reason)


def _stale_rollups(manifest: Manifest, busy_days: set[date]) -> Found:
    """Rollup days built before their facts' last load began (the facts loaded alone, from the
    UI or a backfill), except days that a run is loading right now. (Load starts, not record
    times: a manifest entry re-recorded after a merge keeps its load's start.)"""
    found: Found = {}
    for (table, day), entry in manifest.items():
        if table == ROLLUP_TABLE or day in busy_days:
            continue
        rollup = manifest.get((ROLLUP_TABLE, day))
        if rollup is None or rollup.started_at < entry.started_at:
            found.setdefault((ROLLUP_TABLE, day), f"{ROLLUP_TABLE} {day}: older than {table}")
    return found


def clickhouse_drift(ch: ClickHouseSession, manifest: Manifest, busy_days: set[date] = frozenset()) -> Found:
    """Days whose ClickHouse content is not what the manifest says was loaded, and rollup days
    older than their facts. Days whose parts changed but whose content did not (a mutation
    that changed nothing, a manifest of another version) get their new parts recorded."""
    signatures = parts_signatures(ch, DAILY_TABLES)
    found = _stale_rollups(manifest, busy_days)
    suspects: dict[str, set[date]] = {}
    for (table, day), signature in signatures.items():
        entry = manifest.get((table, day))
        if entry is None or entry.parts_signature != signature or not Fingerprint.is_current(entry.fingerprint):
            suspects.setdefault(table, set()).add(day)
    for (table, day), entry in manifest.items():
        if (table, day) in signatures:
            continue
        if entry.rows:
            _add(found, table, day, f"{table} {day}: partition missing in ClickHouse ({entry.rows} rows loaded)")
        elif not Fingerprint.is_current(entry.fingerprint):
            suspects.setdefault(table, set()).add(day)  # a day loaded empty, recorded by another version
    for table, days in suspects.items():
        width = len(ROLLUP_COLUMNS if table == ROLLUP_TABLE else FACT_COLUMNS)
        live = _fingerprint_for(table)(ch, min(days), max(days) + timedelta(days=1))
        unchanged: dict[date, Fingerprint] = {}
        for day in sorted(days):
            fingerprint, entry = live.get(day, Fingerprint.empty(width)), manifest.get((table, day))
            if entry is None:
                _add(found, table, day, f"{table} {day}: {fingerprint.rows} rows that no load recorded")
            elif not Fingerprint.is_current(entry.fingerprint):
                unchanged[day] = fingerprint  # recorded by another fingerprint version: re-derived
            elif fingerprint.text != entry.fingerprint:
                _add(found, table, day, f"{table} {day}: content differs from what was loaded "
                                        f"({fingerprint.rows} rows, {entry.rows} loaded)")
            else:
                unchanged[day] = fingerprint
        # one manifest write for all of them, each day keeping its load's start
        record_loads(ch, table, unchanged, {day: manifest[(table, day)].started_at for day in unchanged}, signatures)
    return found


def _postgres_differences(
    conn: psycopg.Connection, source: str, table: str, manifest: Manifest, start: date, end: date
) -> dict[date, str]:
    """Days in [start, end) whose Postgres fingerprint differs from what was loaded."""
    current = postgres_day_fingerprints(conn, source, start, end)
    loaded = {day for (name, day) in manifest if name == table and start <= day < end}
    found = {}
    for day in sorted(set(current) | loaded):
        fingerprint, entry = current.get(day, Fingerprint.empty()), manifest.get((table, day))
        if entry is None:
            if fingerprint.rows:
                found[day] = f"{source} {day}: {fingerprint.rows} rows not loaded yet"
        elif fingerprint.text != entry.fingerprint:
            found[day] = f"{source} {day}: changed in Postgres ({entry.rows} rows loaded, {fingerprint.rows} now)"
    return found


def _needs_fingerprint(cursor: PlannerCursor, counters: Counters, source: str, start: date) -> bool:
    now = counters.get(source, [0, 0, 0, 0])
    if not any(now[:3]):  # statistics off or never written: counters tell nothing
        return True
    return cursor.partitions_start != start.isoformat() or cursor.fingerprinted.get(source, [])[1:] != now[1:]


def plan_pass(
    postgres: Postgres,
    ch: ClickHouseSession,
    *,
    full: bool = False,
    lookback_days: int | None = None,
    fingerprint_allowed: bool = True,
    counters: Counters | None = None,
    busy_days: set[date] = frozenset(),
) -> PassPlan:
    """Find what differs, mark it pending, advance the cursor; returns the pending days.

    ``full`` fingerprints Postgres whatever the counters say (over the last ``lookback_days``
    days, or the whole history); ``fingerprint_allowed=False`` defers a fingerprint pass that
    the counters call for (the sensor's rate limit), keeping it owed. ``busy_days`` are being
    loaded by runs in flight: their rollup is not judged older than their facts yet.
    """
    drop_stale_staging(ch)
    cursor = PlannerCursor.from_json(read_cursor(ch))
    before = cursor.to_json()
    counters = counters if counters is not None else read_counters(postgres)
    manifest = read_manifest(ch)
    start, end = partition_window()
    found = clickhouse_drift(ch, manifest, busy_days)
    manifest = read_manifest(ch)  # with what the drift scan re-recorded (merged parts, versions)

    fingerprinted, owed = False, False
    for spec in FACTS:
        source, table_cursor = spec.source, cursor.changes.tables.get(spec.source)
        now = counters.get(source, [0, 0, 0, 0])
        due = full or table_cursor is None or _needs_fingerprint(cursor, counters, source, start)
        if due and not (fingerprint_allowed or full or table_cursor is None):
            due, owed = False, True
        inserted = table_cursor is not None and (not now[0] or cursor.counters.get(source, [None])[0] != now[0])
        if not due and not inserted:
            continue
        with postgres.connect() as conn:
            if table_cursor is None:
                # a first look also takes a checkpoint just before its own, so that the next look
                # already has a low-water mark (with one checkpoint it would scan every id)
                with conn.transaction():
                    table_cursor_before = advance(None, *take_snapshot(conn, source))
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with conn.transaction():
                snapshot, xmax, max_id = take_snapshot(conn, source)
                if inserted:
                    for day in changed_days_since(conn, source, table_cursor):
                        _add(found, spec.table, day, f"{source} {day}: new rows")
                if due:
                    first = EVERY_DAY[0] if not lookback_days else end - timedelta(days=lookback_days)
                    differences = _postgres_differences(conn, source, spec.table, manifest, first, EVERY_DAY[1])
                    for day, reason in differences.items():
                        _add(found, spec.table, day, reason)
        previous = table_cursor if table_cursor is not None else table_cursor_before
        cursor.changes.tables[source] = advance(previous, snapshot, xmax, max_id)
        if due:
            fingerprinted = True
            cursor.fingerprinted[source] = now
    cursor.counters = counters
    if fingerprinted and not owed:
        cursor.partitions_start = start.isoformat()

    dims_changed = [spec.table for spec in DIMS if not dimension_changes(spec, postgres, ch).empty]
    if found:
        mark_pending(ch, found, clickhouse_now(ch))  # before the cursor moves past what was found
    if cursor.to_json() != before:
        write_cursor(ch, cursor.to_json())
    pending = pending_days(ch, DAILY_TABLES)
    inside = sorted(d for d in pending if start <= d < end)
    # a rollup day this pass rebuilds rebuilds the totals too; otherwise they must equal it now
    rollup_due = any(ROLLUP_TABLE in pending[day].tables for day in inside)
    totals_repaired = not rollup_due and repair_campaign_totals(ch)
    return PassPlan(
        days=inside,
        outside_partitions=sorted(set(pending) - set(inside)),
        reasons={day: p.reason for day, p in pending.items()},
        tables={day: p.tables for day, p in pending.items()},
        found=found,
        dims_changed=dims_changed,
        fingerprinted=fingerprinted,
        fingerprint_owed=owed,
        counters=counters,
        totals_repaired=totals_repaired,
        loaded_rows={key: entry.rows for key, entry in manifest.items() if key[1] in pending},
    )
