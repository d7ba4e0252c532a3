"""The planner: what one pass must reload so that ClickHouse equals Postgres.

The sensor, the schedules, the reconciliation sweep and ``adtech sync`` all plan through
``plan_pass``; it needs only Postgres and ClickHouse, never Dagster's run history. A pass:

1. drops staging tables that a killed load left behind;
2. **drift in ClickHouse**, on every pass and without touching Postgres: every daily table's
   data parts per day are compared with the load manifest; a day whose parts changed since its
   load (a crash mid-swap, tampering, a dropped part, a mutation; not a merge) is fingerprinted in
   ClickHouse, and differs if its content is no longer what was loaded. Days outside the
   partitions are not judged but removed: loads write only days inside, so ClickHouse must hold
   no row on another day (rows written there by hand, days loaded before the start moved later);
3. **changes in Postgres** (``engine.change_source``): from the change log, the days each
   committed insert, update and delete touched; or, by scans, the days of rows that the
   previous look's snapshot could not see (``engine.snapshots``, index-bound), weighed against
   the insert counter;
4. **a fingerprint of every day in Postgres** compared with the manifest (one scan of the table,
   so it is gated): on the first pass, when asked (``full``), when the change source changed or
   the change log's slot was (re)created, after a TRUNCATE or a column dropped and added back
   (the table's layout), when the partitions' start moved; by scans also when an update or delete
   counter moved, the counters were reset or report inserts the id scan did not find;
5. **dims**: the whole (small) source tables compared with ClickHouse;
   and ``agg_campaign_totals`` with the rollup's sums, rebuilt here when it differs and no
   rollup day is due (a rollup rebuild rebuilds it);
6. what was found is marked pending in ClickHouse, per daily table and day, *before* the
   cursor advances; it stays pending until a load of that table that began after the mark has
   been recorded, so a run that fails or dies leaves it to the next pass, whoever makes it. A
   fact day's rollup day is marked with it. A day ClickHouse's ``Date`` cannot hold (before
   1970, after 2149-06-06) is never marked: no partition can ever load it.

The plan is the pending days inside the partitions with the tables each must reload (days
outside stay pending while Postgres has rows on them, until the partitions reach them), the
source rows outside the partitions (counted when the planner looks at a table, or the window
moves), and whether the dims differ.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import psycopg

from adtech_assets.catalog import DAILY_TABLES, DIMS, FACTS, ROLLUP_TABLE
from adtech_assets.db.clickhouse.client import ClickHouseSession
from adtech_assets.db.postgres.change_log import SlotStatus
from adtech_assets.db.postgres.client import Postgres, table_query
from adtech_assets.engine.change_source import LOG, SCAN, change_source
from adtech_assets.engine.days import (
    clickhouse_holds,
    day_ranges,
    days_between,
    partition_window,
)
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
    Pending,
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
from adtech_assets.settings import retain_before

# A fingerprint pass covers every day Postgres can hold, so that days outside the partitions
# (before the start, in the future) are pending until the partitions reach them.
EVERY_DAY = (date(1, 1, 1), date(9999, 12, 31))
# Rows a run may reload that no pending day needed, to spare a run of its own: a run costs more of
# Dagster's own work than reloading this many rows (docs/benchmarks.md).
MERGE_ROWS = 500_000

Window = tuple[date, date]  # [first day, last day + 1) of the partitions
# Per fact table, what this pass read of its days in Postgres: the first day of a fingerprint
# (``date.max``: none), the days with rows, and single days counted (outside the partitions).
Covered = dict[str, tuple[date, set[date], set[date]]]


@dataclass
class PlannerCursor:
    """What the planner keeps between passes, in ClickHouse (``load_state``, one row)."""

    changes: ChangeCursor = field(default_factory=ChangeCursor)
    counters: Counters = field(default_factory=dict)  # at the last look
    fingerprinted: Counters = field(default_factory=dict)  # at the last Postgres fingerprint pass
    partitions_start: str | None = None  # of the last Postgres fingerprint pass
    # per source, its rows [without created_at, before the window, after it] at the last count,
    # and the window counted against (a count is a scan of those rows: made when a pass looks)
    outside: dict[str, list[int]] = field(default_factory=dict)
    outside_window: list[str] = field(default_factory=list)
    source: str | None = None  # the change source of the last pass (LOG or SCAN)
    read_to: str | None = None  # the change log's position the last pass read to
    layout: dict[str, str] = field(default_factory=dict)  # per event table: columns, numbers, identity
    # scans: per event table, inserts the counters reported beyond the rows the scans found
    unfound_inserts: dict[str, int] = field(default_factory=dict)
    history_fingerprinted: dict[str, str] = field(default_factory=dict)  # per event table: last whole fingerprint

    def to_json(self) -> str:
        return json.dumps({"changes": self.changes.to_dict(), "counters": self.counters,
                           "fingerprinted": self.fingerprinted, "partitions_start": self.partitions_start,
                           "outside": self.outside, "outside_window": self.outside_window,
                           "source": self.source, "read_to": self.read_to, "layout": self.layout,
                           "unfound_inserts": self.unfound_inserts,
                           "history_fingerprinted": self.history_fingerprinted},
                          sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> "PlannerCursor":
        if not text:
            return cls()
        raw = json.loads(text)
        if "changes" not in raw:  # a cursor of an older release: start over with a full pass
            return cls()
        return cls(ChangeCursor.from_dict(raw["changes"]), raw["counters"], raw["fingerprinted"],
                   raw["partitions_start"], raw.get("outside", {}), raw.get("outside_window", []),
                   raw.get("source"), raw.get("read_to"), raw.get("layout", {}), raw.get("unfound_inserts", {}),
                   raw.get("history_fingerprinted", {}))


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
    # per source: rows (without created_at, before the first day, after the last) no partition holds
    rows_outside: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    removed_outside: list[tuple[str, date]] = field(default_factory=list)  # ClickHouse days dropped
    loaded_rows: dict[tuple[str, date], int] = field(default_factory=dict)  # the pending days' rows, as loaded
    fingerprinted_history: bool = False  # every event table's whole history, in this pass
    change_source: str = SCAN  # what this pass read its changes from (LOG or SCAN)
    why_scans: str | None = None  # why not the change log
    restart: str | None = None  # why the change log's reader fingerprinted the whole history
    history_fingerprinted_at: datetime | None = None  # the last fingerprint of the whole history
    slot: SlotStatus | None = None  # the change log's slot, as this pass found it
    frozen: list[date] = field(default_factory=list)  # pending days before ADTECH_RETAIN_BEFORE: kept, reported
    frozen_before: date | None = None

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


def _inside(day: date, window: Window) -> bool:
    return window[0] <= day < window[1]


def remove_days_outside(ch: ClickHouseSession, signatures: dict[tuple[str, date], int],
                        window: Window) -> list[tuple[str, date]]:
    """Drop each daily table's partitions on days outside ``window`` (rows written there by hand,
    days loaded before the partitions' start moved later): no load writes them, so they are
    rows the checks never judge and the all-time KPIs would count. Their manifest entries stay:
    a day the window reaches again is then found missing and reloaded."""
    outside = sorted(key for key in signatures if not _inside(key[1], window))
    for table, day in outside:
        ch.command("ops/drop_partition", table=table, day=day)
    return outside


def clickhouse_drift(ch: ClickHouseSession, manifest: Manifest, busy_days: set[date] = frozenset(),
                     window: Window | None = None,
                     signatures: dict[tuple[str, date], int] | None = None) -> Found:
    """Days whose ClickHouse content is not what the manifest says was loaded, and rollup days
    older than their facts. Days whose parts changed but whose content did not (a mutation
    that changed nothing, a manifest of another version) get their new parts recorded.
    With ``window``, only its days are judged (the planner removes the others);
    ``signatures``: the parts signatures if the caller has just read them."""
    signatures = parts_signatures(ch, DAILY_TABLES) if signatures is None else signatures
    if window is not None:
        signatures = {key: value for key, value in signatures.items() if _inside(key[1], window)}
        manifest = {key: entry for key, entry in manifest.items() if _inside(key[1], window)}
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
    current: dict[date, Fingerprint], source: str, table: str, manifest: Manifest, start: date, end: date,
    frozen_before: date | None = None,
) -> dict[date, str]:
    """Days in [start, end) whose Postgres fingerprint (``current``) differs from what was loaded;
    before ``frozen_before``, a day that lost rows (a purge under retention) does not count."""
    loaded = {day for (name, day) in manifest if name == table and start <= day < end}
    found = {}
    for day in sorted(set(current) | loaded):
        fingerprint, entry = current.get(day, Fingerprint.empty()), manifest.get((table, day))
        if entry is None:
            if fingerprint.rows:
                found[day] = f"{source} {day}: {fingerprint.rows} rows not loaded yet"
        elif frozen_before is not None and day < frozen_before and fingerprint.rows < entry.rows:
            continue
        elif fingerprint.text != entry.fingerprint:
            found[day] = f"{source} {day}: changed in Postgres ({entry.rows} rows loaded, {fingerprint.rows} now)"
    return found


def _known_empty(covered: Covered, table: str, day: date) -> bool:
    """Whether this pass's Postgres fingerprints show no source row of fact ``table`` on ``day``."""
    if table not in covered:
        return False
    first, days_with_rows, counted = covered[table]
    return (day >= first or day in counted) and day not in days_with_rows


def _markable(found: Found, covered: Covered, window: Window) -> Found:
    """What may be marked pending: never a day ClickHouse's ``Date`` cannot hold (it would store
    1969-07-20 as 1970-01-01, and no partition can load it), nor a day outside the window that
    no source row is on (a mark there would never resolve); a rollup day outside the window only
    with a fact day."""
    kept = {key: reason for key, reason in found.items() if clickhouse_holds(key[1])
            and (_inside(key[1], window) or not _known_empty(covered, key[0], key[1]))}
    fact_days = {day for table, day in kept if table != ROLLUP_TABLE}
    return {(table, day): reason for (table, day), reason in kept.items()
            if table != ROLLUP_TABLE or _inside(day, window) or day in fact_days}


def _resolve_outside(ch: ClickHouseSession, pending: dict[date, Pending], covered: Covered, window: Window,
                     at: datetime) -> dict[date, Pending]:
    """Resolve pending days outside the window that no source row is on any more (deleted, moved
    inside; or marked by an older version): each such table gets an empty load recorded as of
    ``at`` (taken before this pass read Postgres, so a mark made after a later insert stays). A
    rollup day outside the window is resolved with the last of its fact days. Returns what
    stays pending."""
    resolved: dict[str, list[date]] = {}
    kept: dict[date, Pending] = {}
    for day, mark in pending.items():
        if _inside(day, window):
            kept[day] = mark
            continue
        facts = [t for t in mark.tables if t != ROLLUP_TABLE and not _known_empty(covered, t, day)]
        for table in mark.tables:
            if table not in facts and (table != ROLLUP_TABLE or not facts):
                resolved.setdefault(table, []).append(day)
        tables = tuple(t for t in mark.tables if t not in resolved or day not in resolved[t])
        if tables:
            kept[day] = Pending(mark.reason, mark.since, tables)
    for table, days in resolved.items():
        width = len(ROLLUP_COLUMNS if table == ROLLUP_TABLE else FACT_COLUMNS)
        record_loads(ch, table, dict.fromkeys(days, Fingerprint.empty(width)), at, signatures={})
    return kept


def _count_days_outside(postgres: Postgres, found: Found, pending: dict[date, Pending], covered: Covered,
                        window: Window) -> None:
    """Count the source rows on the fact days outside ``window`` that this pass found or that are
    pending, where no fingerprint of this pass covers them (index-bound: one day each), so that
    a mark there is made, or resolved, by whether rows remain on it."""
    wanted: dict[str, set[date]] = {}
    for table, day in [*found, *((t, d) for d, mark in pending.items() for t in mark.tables)]:
        if table != ROLLUP_TABLE and not _inside(day, window) and clickhouse_holds(day):
            if day < covered.get(table, (date.max,))[0]:
                wanted.setdefault(table, set()).add(day)
    for spec in FACTS:
        if days := wanted.get(spec.table):
            with_rows = {day for (day,) in postgres.fetch("days_with_rows", {"days": sorted(days)}, table=spec.source)}
            first, rows, counted = covered.get(spec.table, (date.max, set(), set()))
            covered[spec.table] = (first, rows | with_rows, counted | days)


def _rows_outside(postgres: Postgres, sources: list[str], window: Window) -> dict[str, list[int]]:
    """Per source: rows without created_at, before the window, after it (index-bound: the
    created_at index; as many rows as lie outside)."""
    bounds = {"start": datetime.combine(window[0], time()), "end": datetime.combine(window[1], time())}
    with postgres.connect() as conn:
        return {source: [int(n) for n in conn.execute(table_query("events_outside_partitions", source),
                                                       bounds).fetchone()]
                for source in sources}


def _count_rows_outside(postgres: Postgres, cursor: PlannerCursor, looked: list[str], window: Window) -> None:
    """Count the rows outside the partitions of the sources this pass looked at (their rows
    changed), or of every source when the window moved: the note of every pass reflects the
    rows as they are, and a pass that reads only counters reads no rows."""
    bounds = [window[0].isoformat(), window[1].isoformat()]
    sources = [spec.source for spec in FACTS if spec.source in looked or spec.source not in cursor.outside
               or cursor.outside_window != bounds]
    if sources:
        cursor.outside.update(_rows_outside(postgres, sources, window))
        cursor.outside_window = bounds


def _oldest(times: Mapping[str, str]) -> datetime | None:
    """The time every event table's whole history was fingerprinted by (None: one never was)."""
    if len(times) < len(FACTS):
        return None
    return min(datetime.fromisoformat(t) for t in times.values())


def read_layout(postgres: Postgres) -> dict[str, str]:
    """Per event table: its replica identity and its columns with their numbers and types."""
    return {table: f"{identity}|{columns}" for table, identity, columns
            in postgres.fetch("source_layout", {"tables": [spec.source for spec in FACTS]})}


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
    looked_at = clickhouse_now(ch)  # before Postgres is read: what a resolution of this pass may cover
    signatures = parts_signatures(ch, DAILY_TABLES)
    removed = remove_days_outside(ch, signatures, (start, end))
    found = clickhouse_drift(ch, manifest, busy_days, (start, end), signatures)
    manifest = read_manifest(ch)  # with what the drift scan re-recorded (merged parts, versions)
    layout = read_layout(postgres)
    frozen_before = retain_before()

    with change_source(postgres, cursor.read_to if cursor.source == LOG else None) as source:
        fingerprinted, owed = False, False
        covered: Covered = {}
        looked: list[str] = []
        whole_history = not lookback_days or bool(source.restart)  # a restart: nothing before it is known
        for spec in FACTS:
            name, table_cursor = spec.source, cursor.changes.tables.get(spec.source)
            now = counters.get(name, [0, 0, 0, 0])
            # a fingerprint that may not wait: a first look, a new change source, a column
            # dropped and added back (no row change shows it), a restarted slot, a truncate
            forced = (full or table_cursor is None or cursor.source != source.mode
                      or cursor.layout.get(name) != layout.get(name))
            if source.mode == LOG:
                forced = forced or bool(source.restart) or source.changes(name).truncated
                due, inserted = forced or cursor.partitions_start != start.isoformat(), False
                for day in source.days(ch, name, frozen_before):
                    _add(found, spec.table, day, f"{name} {day}: changed (change log)")
                if source.changes(name).changes:
                    looked.append(name)
            else:
                unfound = cursor.unfound_inserts.get(name, 0) > 0  # inserts the id scan did not find
                due = forced or unfound or _needs_fingerprint(cursor, counters, name, start)
                inserted = table_cursor is not None and (not now[0] or cursor.counters.get(name, [None])[0] != now[0])
            if due and not (fingerprint_allowed or forced):
                due, owed = False, True
            if not due and not inserted:
                continue
            looked.append(name)
            with postgres.connect() as conn:
                if table_cursor is None:
                    # a first look also takes a checkpoint just before its own, so that the next look
                    # already has a low-water mark (with one checkpoint it would scan every id)
                    with conn.transaction():
                        table_cursor_before = advance(None, *take_snapshot(conn, name))
                conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                with conn.transaction():
                    snapshot, xmax, max_id = take_snapshot(conn, name)
                    if inserted:
                        new_rows = changed_days_since(conn, name, table_cursor, max_id)
                        for day in (d for d in new_rows if d is not None):
                            _add(found, spec.table, day, f"{name} {day}: new rows")
                        inserted_since = now[0] - cursor.counters.get(name, [0])[0] if now[0] else 0
                        cursor.unfound_inserts[name] = (cursor.unfound_inserts.get(name, 0) + inserted_since
                                                        - sum(new_rows.values()))
                        # more inserts counted than rows found above the mark: ids below it (reused,
                        # explicit): fingerprinted now, in this snapshot
                        due = due or cursor.unfound_inserts[name] > 0
                    if due:
                        first = EVERY_DAY[0] if whole_history else end - timedelta(days=lookback_days)
                        current = postgres_day_fingerprints(conn, name, first, EVERY_DAY[1])
                        covered[spec.table] = (first, {day for day, fingerprint in current.items() if fingerprint.rows},
                                               set())
                        differences = _postgres_differences(current, name, spec.table, manifest, first, EVERY_DAY[1],
                                                            frozen_before)
                        for day, reason in differences.items():
                            _add(found, spec.table, day, reason)
            previous = table_cursor if table_cursor is not None else table_cursor_before
            cursor.changes.tables[name] = advance(previous, snapshot, xmax, max_id)
            if due:
                fingerprinted = True
                cursor.fingerprinted[name] = now
                cursor.unfound_inserts[name] = 0
                if whole_history:
                    cursor.history_fingerprinted[name] = looked_at.isoformat()
        cursor.source, cursor.read_to, cursor.layout = source.mode, source.upto, layout
        if source.mode == LOG:  # no fingerprint tells whether rows remain on a day outside: count them
            _count_days_outside(postgres, found, pending_days(ch, DAILY_TABLES), covered, (start, end))
        cursor.counters = counters
        if fingerprinted and not owed:
            cursor.partitions_start = start.isoformat()
        _count_rows_outside(postgres, cursor, looked, (start, end))

        dims_changed = [spec.table for spec in DIMS if not dimension_changes(spec, postgres, ch).empty]
        found = _markable(found, covered, (start, end))
        if found:
            mark_pending(ch, found, clickhouse_now(ch))  # before the cursor moves past what was found
        if cursor.to_json() != before:
            write_cursor(ch, cursor.to_json())
        source.advance()  # the change log: only once what it held is marked and the cursor written
    pending = _resolve_outside(ch, pending_days(ch, DAILY_TABLES), covered, (start, end), looked_at)
    inside = sorted(d for d in pending if start <= d < end)
    loaded_facts = {day for table, day in manifest if table != ROLLUP_TABLE}
    frozen = [d for d in inside if frozen_before is not None and d < frozen_before and d in loaded_facts]
    inside = [d for d in inside if d not in frozen]
    # a rollup day this pass rebuilds rebuilds the totals too; otherwise they must equal it now
    rollup_due = any(ROLLUP_TABLE in pending[day].tables for day in inside)
    totals_repaired = not rollup_due and repair_campaign_totals(ch)
    return PassPlan(
        days=inside,
        frozen=frozen,
        frozen_before=frozen_before,
        outside_partitions=sorted(set(pending) - set(inside)),
        reasons={day: p.reason for day, p in pending.items()},
        tables={day: p.tables for day, p in pending.items()},
        found=found,
        dims_changed=dims_changed,
        fingerprinted=fingerprinted,
        fingerprinted_history=whole_history and len(covered) == len(FACTS),
        fingerprint_owed=owed,
        counters=counters,
        totals_repaired=totals_repaired,
        rows_outside={source: tuple(counts) for source, counts in cursor.outside.items()},
        removed_outside=removed,
        loaded_rows={key: entry.rows for key, entry in manifest.items() if key[1] in pending},
        change_source=source.mode,
        why_scans=source.why_scans,
        restart=source.restart,
        history_fingerprinted_at=_oldest(cursor.history_fingerprinted),
        slot=source.status,
    )


def frozen_note(plan: PassPlan) -> str | None:
    """One line on the days retention keeps as ClickHouse holds them although they differ."""
    if not plan.frozen:
        return None
    span = f"{plan.frozen[0]} .. {plan.frozen[-1]}" if len(plan.frozen) > 1 else f"{plan.frozen[0]}"
    return (f"note: {len(plan.frozen)} day(s) before ADTECH_RETAIN_BEFORE={plan.frozen_before} have new or changed "
            f"rows ({span}) and stay as ClickHouse holds them (frozen): unset ADTECH_RETAIN_BEFORE or set it "
            "earlier to reload them")


def outside_note(rows_outside: Mapping[str, Sequence[int]]) -> str | None:
    """One line on the source rows no partition holds, as they are now (the planner's count:
    it goes once they are deleted or moved inside); None when there are none."""
    total = sum(sum(counts) for counts in rows_outside.values())
    if not total:
        return None
    labels = ("without created_at", "before ADTECH_PARTITIONS_START", "after today (UTC)")
    per_source = "; ".join(
        f"{source}: " + ", ".join(f"{n} {label}" for n, label in zip(counts, labels, strict=True) if n)
        for source, counts in sorted(rows_outside.items()) if sum(counts))
    return (f"note: {total} source row(s) fall outside the partitions, so ClickHouse and the KPIs leave them "
            f"out ({per_source}): fix their created_at, or set ADTECH_PARTITIONS_START earlier for older "
            f"rows (future days load once today reaches them); see check no_rows_outside_partitions")
