"""Asset checks: row-count reconciliation between Postgres and ClickHouse.

- facts: for each day checked, Postgres rows in [day, day + 1) equal
  ClickHouse rows for that day (blocking: a mismatch stops the rollup and KPI refresh);
  rows no partition can hold (before the first day, in the future, no created_at) are reported.
- dims: distinct ids in Postgres equal ClickHouse rows after deduplication (blocking).
- rollup: per-day totals equal the facts' row counts (blocking).

The days checked are the run's own days in a partitioned run, every materialized day otherwise.

Postgres counts are bounded by the highest id loaded, so rows that arrive after a load are not
reported as a mismatch; a late commit of a lower id is, until its day is reloaded.
Metadata always shows both counts.
"""


from datetime import date, datetime, timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    MetadataValue,
    asset_check,
)

from adtech_assets.assets.dims import DIMS, DimSpec
from adtech_assets.assets.facts import FACTS, FactSpec
from adtech_assets.assets.rollups import ROLLUP_KEY
from adtech_assets.partitions import daily_partitions
from adtech_assets.resources import ClickHouseResource, PostgresResource
from adtech_assets.resources.clickhouse import CLICKHOUSE_POOL, ClickHouseSession

ROW_COUNTS_MATCH_POSTGRES = "row_counts_match_postgres"
NO_ROWS_OUTSIDE_PARTITIONS = "no_rows_outside_partitions"
IDS_MATCH_POSTGRES = "ids_match_postgres"
TOTALS_MATCH_FACTS = "totals_match_facts"
MAX_LISTED = 20


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


def fact_day_counts(
    spec: FactSpec, days: list[date], postgres: PostgresResource, ch: ClickHouseSession, max_id: int
) -> tuple[dict[date, int], dict[date, int]]:
    """Rows per day over [min(days), max(days) + 1) in Postgres (ids up to ``max_id``) and in
    ClickHouse: the counts every reconciliation compares."""
    start, end = min(days), max(days) + timedelta(days=1)
    ch_rows = ch.query_arrow("checks/fact_day_counts", table=spec.table, start=start, end=end)
    pg_counts = dict(postgres.fetch(
        "event_day_counts", table=spec.source,
        params={"start": _midnight(start), "end": _midnight(end), "max_id": max_id},
    ))
    return pg_counts, {row["day"]: row["rows"] for row in ch_rows.to_pylist()}


def compare_fact_days(
    spec: FactSpec, days: list[date], postgres: PostgresResource, clickhouse: ClickHouseResource
) -> AssetCheckResult:
    if not days:
        return AssetCheckResult(passed=True, metadata={"days_checked": 0})
    with clickhouse.session() as ch:
        max_id = ch.scalar("checks/max_id", table=spec.table, id_column=spec.id_column) or 0
        pg_counts, ch_counts = fact_day_counts(spec, days, postgres, ch, max_id)
    mismatches = [
        {"day": day.isoformat(), "postgres": pg_counts.get(day, 0), "clickhouse": ch_counts.get(day, 0)}
        for day in sorted(days)
        if pg_counts.get(day, 0) != ch_counts.get(day, 0)
    ]
    return AssetCheckResult(
        passed=not mismatches,
        metadata={
            "days_checked": len(days),
            "postgres_rows": sum(pg_counts.get(d, 0) for d in days),
            "clickhouse_rows": sum(ch_counts.get(d, 0) for d in days),
            "mismatched_days": len(mismatches),
            "mismatches": MetadataValue.json(mismatches[:MAX_LISTED]),
            "highest_id_loaded": max_id,
        },
        description=(
            f"{len(mismatches)} day(s) differ, first {mismatches[0]}: reload them"
            if mismatches else None
        ),
    )


def checked_days(context: AssetCheckExecutionContext, key: AssetKey) -> list[date]:
    """In a run of some days (a partition or a range), those days: a run judges what it loaded,
    not days that other runs are loading or are queued to reload. Otherwise (a checks-only
    run, as ``adtech sync`` ends with) every day Dagster has materialized."""
    if context.has_partition_key or context.has_partition_key_range:
        keys = context.partition_keys
    else:
        keys = context.instance.get_materialized_partitions(key)
    return sorted(date.fromisoformat(k) for k in keys)


def _fact_row_count_check(spec: FactSpec) -> AssetChecksDefinition:
    @asset_check(
        asset=spec.key,
        name=ROW_COUNTS_MATCH_POSTGRES,
        blocking=True,
        pool=CLICKHOUSE_POOL,
        description="Per materialized day: Postgres rows in [day, day+1) = ClickHouse rows of that day.",
    )
    def _check(
        context: AssetCheckExecutionContext, postgres: PostgresResource, clickhouse: ClickHouseResource
    ) -> AssetCheckResult:
        return compare_fact_days(spec, checked_days(context, spec.key), postgres, clickhouse)

    return _check


def _outside_partitions_check(spec: FactSpec) -> AssetChecksDefinition:
    @asset_check(
        asset=spec.key,
        name=NO_ROWS_OUTSIDE_PARTITIONS,
        description="Source rows that no daily partition holds (before the start, future, no created_at).",
    )
    def _check(postgres: PostgresResource) -> AssetCheckResult:
        keys = daily_partitions.get_partition_keys()
        start = _midnight(date.fromisoformat(keys[0]))
        end = _midnight(date.fromisoformat(keys[-1]) + timedelta(days=1))
        (without, before, after), = postgres.fetch(
            "events_outside_partitions", table=spec.source, params={"start": start, "end": end}
        )
        outside = without + before + after
        return AssetCheckResult(
            passed=outside == 0,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "rows_without_created_at": without,
                "rows_before_first_day": before,
                "rows_after_last_day": after,
                "first_day": keys[0],
                "last_day": keys[-1],
            },
            description=(
                f"{outside} {spec.source} row(s) fall outside the partitions: set "
                "ADTECH_PARTITIONS_START earlier, or fix their created_at" if outside else None
            ),
        )

    return _check


def compare_dimension(spec: DimSpec, postgres: PostgresResource, clickhouse: ClickHouseResource) -> AssetCheckResult:
    with clickhouse.session() as ch:
        live = ch.query_arrow("checks/dimension_live_rows", table=spec.table, id_column=spec.id_column)
    ch_rows, max_id = live["rows"][0].as_py(), live["max_id"][0].as_py() or 0
    (pg_ids,), = postgres.fetch("dimension_id_count", table=spec.source, params={"max_id": max_id})
    return AssetCheckResult(
        passed=pg_ids == ch_rows,
        metadata={"postgres_ids": pg_ids, "clickhouse_rows": ch_rows, "highest_id_loaded": max_id},
        description=None if pg_ids == ch_rows else (
            f"Postgres has {pg_ids} {spec.source} ids, ClickHouse {ch_rows} rows: rematerialize {spec.table}"
        ),
    )


def _dimension_check(spec: DimSpec) -> AssetChecksDefinition:
    @asset_check(
        asset=spec.key,
        name=IDS_MATCH_POSTGRES,
        blocking=True,
        pool=CLICKHOUSE_POOL,
        description="Distinct ids in Postgres = ClickHouse rows after deduplication.",
    )
    def _check(postgres: PostgresResource, clickhouse: ClickHouseResource) -> AssetCheckResult:
        return compare_dimension(spec, postgres, clickhouse)

    return _check


@asset_check(
    asset=ROLLUP_KEY,
    name=TOTALS_MATCH_FACTS,
    blocking=True,
    pool=CLICKHOUSE_POOL,
    description="Per day: rollup impressions and clicks = fact_impressions and fact_clicks rows.",
)
def rollup_totals_match_facts(context: AssetCheckExecutionContext, clickhouse: ClickHouseResource) -> AssetCheckResult:
    days = checked_days(context, ROLLUP_KEY)
    if not days:
        return AssetCheckResult(passed=True, metadata={"days_checked": 0})
    with clickhouse.session() as ch:
        differing = ch.query_arrow(
            "checks/rollup_vs_facts", start=min(days), end=max(days) + timedelta(days=1)
        ).to_pylist()
    differing = [row for row in differing if row["day"] in set(days)]
    for row in differing:
        row["day"] = row["day"].isoformat()
    return AssetCheckResult(
        passed=not differing,
        metadata={
            "days_checked": len(days),
            "differing_days": len(differing),
            "differences": MetadataValue.json(differing[:MAX_LISTED]),
        },
        description=f"rollup differs from the facts on {len(differing)} day(s): rematerialize them" if differing else None,
    )


asset_checks = [
    *(_fact_row_count_check(spec) for spec in FACTS),
    *(_outside_partitions_check(spec) for spec in FACTS),
    *(_dimension_check(spec) for spec in DIMS),
    rollup_totals_match_facts,
]
