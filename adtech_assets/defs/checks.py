"""Asset checks: the data in ClickHouse against Postgres, judged on content fingerprints.

- facts: per day judged, the Postgres fingerprint of [day, day + 1) (ids up to the highest
  loaded, so rows that arrive after a load are not a difference) equals ClickHouse's (blocking:
  a difference stops the rollup and the KPI refresh); rows no partition can hold are reported.
- dims: distinct ids in Postgres equal ClickHouse rows after deduplication (blocking).
- rollup: per day, its totals equal what its facts' fingerprints imply (blocking).

A partitioned run judges its own days. A run of checks alone (``dagster asset check``, the UI)
judges every day present on either side: the Postgres days inside the partitions and every day
ClickHouse holds. No Dagster run history is consulted. Metadata shows both sides. The facts'
checks are one step, and the dims' another (each subsettable): a step costs Dagster's work
whatever its checks cost.
"""


from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    MetadataValue,
    asset_check,
    multi_asset_check,
)

from adtech_assets import settings
from adtech_assets.catalog import DIMS, FACTS, ROLLUP_TABLE, DimSpec, FactSpec
from adtech_assets.db.clickhouse.client import ClickHouseSession
from adtech_assets.db.postgres.client import Postgres
from adtech_assets.defs.keys import CLICKHOUSE_POOL, IO_RETRY, ROLLUP_KEY, table_key
from adtech_assets.defs.resources import ClickHouseResource, PostgresResource
from adtech_assets.defs.step_failures import as_step_failure
from adtech_assets.engine.change_source import (
    ChangeLogReading,
    describe_slot,
    read_change_log,
    scans_note,
)
from adtech_assets.engine.days import partition_window
from adtech_assets.engine.fingerprints import (
    FACT_COLUMNS,
    Fingerprint,
    clickhouse_day_fingerprints,
    postgres_day_fingerprints,
    rollup_day_fingerprints,
    rollup_expected_from_facts,
    rollup_totals,
)

ROW_COUNTS_MATCH_POSTGRES = "row_counts_match_postgres"
NO_ROWS_OUTSIDE_PARTITIONS = "no_rows_outside_partitions"
IDS_MATCH_POSTGRES = "ids_match_postgres"
TOTALS_MATCH_FACTS = "totals_match_facts"
CHANGE_LOG_KEEPS_UP = "change_log_keeps_up"
MAX_LISTED = 20
# Every day a ClickHouse Date can hold: "all days" for a checks-only run.
ALL_DAYS = (date(1970, 1, 1), date(2149, 6, 6))
# What every check step that reads ClickHouse shares: its concurrency pool and retries.
CLICKHOUSE_CHECK = {"pool": CLICKHOUSE_POOL, "retry_policy": IO_RETRY}


def _range(days: list[date] | None) -> tuple[date, date]:
    return ALL_DAYS if days is None else (min(days), max(days) + timedelta(days=1))


def fact_fingerprints(
    spec: FactSpec, days: list[date] | None, postgres: Postgres, ch: ClickHouseSession, max_id: int
) -> tuple[list[date], dict[date, Fingerprint], dict[date, Fingerprint]]:
    """The days judged, and Postgres's (ids up to ``max_id``) and ClickHouse's fingerprints of
    them. ``days=None``: every ClickHouse day and every Postgres day inside the partitions."""
    start, end = _range(days)
    ch_days = clickhouse_day_fingerprints(ch, spec.table, spec.id_column, start, end)
    if days is not None:
        with postgres.connect() as conn:
            return days, postgres_day_fingerprints(conn, spec.source, start, end, max_id), ch_days
    first, last = partition_window()
    start, end = min([first, *ch_days]), max([last, *(d + timedelta(days=1) for d in ch_days)])
    with postgres.connect() as conn:
        pg_days = postgres_day_fingerprints(conn, spec.source, start, end, max_id)
    return sorted(set(ch_days) | {d for d in pg_days if first <= d < last}), pg_days, ch_days


def compare_fact_days(
    spec: FactSpec, days: list[date] | None, postgres: PostgresResource, clickhouse: ClickHouseResource
) -> AssetCheckResult:
    if days == []:
        return AssetCheckResult(asset_key=table_key(spec.table), check_name=ROW_COUNTS_MATCH_POSTGRES, passed=True,
                                metadata={"days_checked": 0})
    judged_every_day = days is None
    with clickhouse.session() as ch:
        max_id = ch.scalar("checks/max_id", table=spec.table, id_column=spec.id_column) or 0
        days, pg_days, ch_days = fact_fingerprints(spec, days, postgres, ch, max_id)
    frozen_before = settings.retain_before()
    frozen = [day for day in days if frozen_before is not None and day < frozen_before]
    days = [day for day in days if day not in frozen]
    if not days:
        return AssetCheckResult(asset_key=table_key(spec.table), check_name=ROW_COUNTS_MATCH_POSTGRES, passed=True,
                                metadata={"days_checked": 0, "frozen_days": f"{len(frozen)} before "
                                          f"ADTECH_RETAIN_BEFORE={frozen_before}: not judged"})
    empty = Fingerprint.empty()
    mismatches = [
        {"day": day.isoformat(), "postgres_rows": pg_days.get(day, empty).rows,
         "clickhouse_rows": ch_days.get(day, empty).rows,
         "postgres": pg_days.get(day, empty).text, "clickhouse": ch_days.get(day, empty).text}
        for day in days
        if pg_days.get(day, empty) != ch_days.get(day, empty)
    ]
    pg_rows, ch_rows = (sum(side.get(d, empty).rows for d in days) for side in (pg_days, ch_days))
    return AssetCheckResult(
        asset_key=table_key(spec.table),
        check_name=ROW_COUNTS_MATCH_POSTGRES,
        passed=not mismatches,
        metadata={
            "days_checked": len(days),
            "mismatched_days": len(mismatches),
            **_rows_metadata(judged_every_day, days, pg_rows, ch_rows),
            "mismatches": MetadataValue.json(mismatches[:MAX_LISTED]),
            "fingerprint_columns": ", ".join(FACT_COLUMNS),
            "highest_id_loaded": max_id,
            **({"frozen_days": f"{len(frozen)} before ADTECH_RETAIN_BEFORE={frozen_before}: not judged (ClickHouse "
                               "keeps them as loaded)"} if frozen else {}),
        },
        description=(
            f"{len(mismatches)} day(s) differ from Postgres, first {mismatches[0]['day']}: "
            "`adtech sync` reloads them" if mismatches else None
        ),
    )


def _rows_metadata(every_day: bool, days: list[date], pg_rows: int, ch_rows: int) -> dict:
    """The rows judged. The UI plots a numeric entry across evaluations, so a number is recorded
    only where its scope is the same every time: the whole history (a run of checks alone). A
    partitioned run's sums cover its own days (one day, or a backfill's 31), as text."""
    if every_day:
        return {"scope": f"every day ({len(days)})", "postgres_rows": pg_rows, "clickhouse_rows": ch_rows}
    span = f"{days[0]} .. {days[-1]}" if len(days) > 1 else f"{days[0]}"
    return {"scope": f"this run's days: {span} ({len(days)})",
            "rows_in_scope": f"{pg_rows:,} in Postgres, {ch_rows:,} in ClickHouse"}


def selected(context: AssetCheckExecutionContext, spec: FactSpec | DimSpec, check: str) -> bool:
    """Whether this run of a shared check step evaluates ``check`` of ``spec``'s asset."""
    return AssetCheckKey(table_key(spec.table), check) in context.selected_asset_check_keys


def checked_days(context: AssetCheckExecutionContext) -> list[date] | None:
    """A partitioned run's own days (a run judges what it loaded, not days other runs are
    loading); None, meaning every day on either side, for a run of checks alone."""
    if context.has_partition_key or context.has_partition_key_range:
        return sorted(date.fromisoformat(k) for k in context.partition_keys)
    return None


@multi_asset_check(
    name="fact_checks",
    specs=[check for spec in FACTS for check in (
        AssetCheckSpec(ROW_COUNTS_MATCH_POSTGRES, asset=table_key(spec.table), blocking=True,
                       description="Per day: the Postgres content fingerprint of [day, day+1) = ClickHouse's."),
        AssetCheckSpec(NO_ROWS_OUTSIDE_PARTITIONS, asset=table_key(spec.table),
                       description="Source rows that no daily partition holds (before the start, future, no created_at)."),
        AssetCheckSpec(CHANGE_LOG_KEEPS_UP, asset=table_key(spec.table),
                       description="Changes come from Postgres's change log, and its slot holds less WAL than "
                                   "ADTECH_SLOT_WARN_BYTES (warns) / ADTECH_SLOT_FAIL_BYTES (fails)."),
    )],
    can_subset=True,
    **CLICKHOUSE_CHECK,
)
@as_step_failure
def fact_checks(context: AssetCheckExecutionContext, postgres: PostgresResource,
                clickhouse: ClickHouseResource) -> Iterator[AssetCheckResult]:
    """The selected checks of both facts in one step: a step costs Dagster's work (its events,
    the chDB turn) whatever its checks cost, and a fact's checks run after its load anyway."""
    days = checked_days(context)
    change_log = None  # one slot for both tables: read once
    for spec in FACTS:
        if selected(context, spec, ROW_COUNTS_MATCH_POSTGRES):
            yield compare_fact_days(spec, days, postgres, clickhouse)
        if selected(context, spec, NO_ROWS_OUTSIDE_PARTITIONS):
            yield rows_outside_partitions(spec, postgres)
        if selected(context, spec, CHANGE_LOG_KEEPS_UP):
            change_log = change_log or read_change_log(postgres)
            yield change_log_keeps_up(spec, change_log)


def change_log_keeps_up(spec: FactSpec, change_log: ChangeLogReading) -> AssetCheckResult:
    """Warns when changes are found by scans (their blind spots) or the slot holds more WAL than
    the warning bound; fails past the failing bound or when the server invalidated the slot."""
    status, why_scans, lag = change_log.status, change_log.why_scans, change_log.lag
    warn, fail = settings.slot_bounds()
    if why_scans:
        return AssetCheckResult(asset_key=table_key(spec.table), check_name=CHANGE_LOG_KEEPS_UP, passed=False,
                                severity=AssetCheckSeverity.WARN, metadata={"change_source": "scans"},
                                description=scans_note(why_scans).removeprefix("note: "))
    held = status.held_bytes or 0
    bad = status.lost or held > fail
    return AssetCheckResult(
        asset_key=table_key(spec.table),
        check_name=CHANGE_LOG_KEEPS_UP,
        passed=not bad and held <= warn,
        severity=AssetCheckSeverity.ERROR if bad else AssetCheckSeverity.WARN,
        metadata={"change_source": "change log", "slot": status.slot, "wal_status": str(status.wal_status),
                  "wal_held_bytes": held, "wal_unread_bytes": status.unread_bytes or 0,
                  "lag_seconds": MetadataValue.float(lag),
                  "warn_bytes": warn, "fail_bytes": fail,
                  "max_slot_wal_keep_size": status.max_slot_wal_keep_size},
        description=describe_slot(status, lag),
    )


def rows_outside_partitions(spec: FactSpec, postgres: PostgresResource) -> AssetCheckResult:
    first, last = partition_window()
    (without, before, after), = postgres.fetch(
        "events_outside_partitions", table=spec.source,
        params={"start": datetime.combine(first, time()), "end": datetime.combine(last, time())},
    )
    outside = without + before + after
    return AssetCheckResult(
        asset_key=table_key(spec.table),
        check_name=NO_ROWS_OUTSIDE_PARTITIONS,
        passed=outside == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "rows_without_created_at": without,
            "rows_before_first_day": before,
            "rows_after_last_day": after,
            "first_day": first.isoformat(),
            "last_day": (last - timedelta(days=1)).isoformat(),
        },
        description=(
            f"{outside} {spec.source} row(s) fall outside the partitions: set "
            "ADTECH_PARTITIONS_START earlier, or fix their created_at" if outside else None
        ),
    )


def compare_dimension(spec: DimSpec, postgres: PostgresResource, clickhouse: ClickHouseResource) -> AssetCheckResult:
    with clickhouse.session() as ch:
        (live,) = ch.rows("checks/dimension_live_rows", table=spec.table, id_column=spec.id_column)
    ch_rows, max_id = live["rows"], live["max_id"] or 0
    (pg_ids,), = postgres.fetch("dimension_id_count", table=spec.source, params={"max_id": max_id})
    return AssetCheckResult(
        asset_key=table_key(spec.table),
        check_name=IDS_MATCH_POSTGRES,
        passed=pg_ids == ch_rows,
        metadata={"postgres_ids": pg_ids, "clickhouse_rows": ch_rows, "highest_id_loaded": max_id},
        description=None if pg_ids == ch_rows else (
            f"Postgres has {pg_ids} {spec.source} ids, ClickHouse {ch_rows} rows: rematerialize {spec.table}"
        ),
    )


@multi_asset_check(
    name="dim_checks",
    specs=[AssetCheckSpec(IDS_MATCH_POSTGRES, asset=table_key(spec.table), blocking=True,
                          description="Distinct ids in Postgres = ClickHouse rows after deduplication.")
           for spec in DIMS],
    can_subset=True,
    **CLICKHOUSE_CHECK,
)
@as_step_failure
def dim_checks(context: AssetCheckExecutionContext, postgres: PostgresResource,
               clickhouse: ClickHouseResource) -> Iterator[AssetCheckResult]:
    """The selected dims' checks in one step."""
    for spec in DIMS:
        if selected(context, spec, IDS_MATCH_POSTGRES):
            yield compare_dimension(spec, postgres, clickhouse)


@asset_check(
    asset=ROLLUP_KEY,
    name=TOTALS_MATCH_FACTS,
    blocking=True,
    **CLICKHOUSE_CHECK,
    description="Per day: rollup events and their campaign sums = those of fact_impressions and fact_clicks.",
)
@as_step_failure
def rollup_totals_match_facts(context: AssetCheckExecutionContext, clickhouse: ClickHouseResource) -> AssetCheckResult:
    days = checked_days(context)
    start, end = _range(days)
    impressions, clicks = FACTS
    with clickhouse.session() as ch:
        rollup = rollup_day_fingerprints(ch, ROLLUP_TABLE, start, end)
        facts = [clickhouse_day_fingerprints(ch, spec.table, spec.id_column, start, end) for spec in (impressions, clicks)]
    if days is None:
        days = sorted(set(rollup) | set(facts[0]) | set(facts[1]))
    differing = []
    for day in days:
        expected = rollup_expected_from_facts(facts[0].get(day, Fingerprint.empty()), facts[1].get(day, Fingerprint.empty()))
        actual = rollup_totals(rollup.get(day, Fingerprint.empty(5)))
        if actual != expected:
            differing.append({"day": day.isoformat(), "rollup": actual, "facts": expected})
    return AssetCheckResult(
        passed=not differing,
        metadata={
            "days_checked": len(days),
            "differing_days": len(differing),
            "differences": MetadataValue.json(differing[:MAX_LISTED]),
        },
        description=f"rollup differs from the facts on {len(differing)} day(s): rematerialize them" if differing else None,
    )


asset_checks = [fact_checks, dim_checks, rollup_totals_match_facts]
