"""The reconciliation sweep: heal what change detection cannot see.

Deletes at the source and any drift in ClickHouse leave no new row to detect. On a schedule
(``ADTECH_RECONCILE_CRON``, default hourly at :17) the ``reconcile_recent_days`` job compares
per-day row counts in Postgres and ClickHouse over the last ``ADTECH_RECONCILE_LOOKBACK_DAYS``
days (default 7), reloads the fact days that differ and rebuilds their rollup days, through the
same code as the assets (recorded as their materializations). Dimension deletes need no sweep:
they move the tables' write counters, so ``postgres_changes`` requests the dims, whose load
turns ids gone from the source into tombstones that leave the dims and the views.
"""

from datetime import date, datetime, timedelta, timezone

from dagster import (
    AssetMaterialization,
    DefaultScheduleStatus,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)

from adtech_assets.assets.facts import FACTS, FactSpec, load_fact_days
from adtech_assets.assets.rollups import ROLLUP_KEY, rebuild_rollup_days
from adtech_assets.checks import fact_day_counts
from adtech_assets.partitions import daily_partitions
from adtech_assets.resources import ClickHouseResource, PostgresResource
from adtech_assets.resources.clickhouse import CLICKHOUSE_POOL, ClickHouseSession
from adtech_assets.retries import IO_RETRY
from adtech_assets.settings import reconcile_cron, reconcile_lookback_days


def lookback_days(today: date, days: int) -> list[date]:
    first_partition = date.fromisoformat(daily_partitions.get_first_partition_key())
    return [d for d in (today - timedelta(days=n) for n in range(days)) if d >= first_partition]


def differing_days(
    spec: FactSpec, days: list[date], postgres: PostgresResource, ch: ClickHouseSession
) -> dict[date, tuple[int, int]]:
    """Days whose Postgres and ClickHouse row counts differ: {day: (postgres, clickhouse)}."""
    pg_counts, ch_counts = fact_day_counts(spec, days, postgres, ch, max_id=2**31 - 1)  # every id
    return {
        day: (pg_counts.get(day, 0), ch_counts.get(day, 0))
        for day in days
        if pg_counts.get(day, 0) != ch_counts.get(day, 0)
    }


@op(out={}, retry_policy=IO_RETRY, pool=CLICKHOUSE_POOL)
def heal_recent_days(
    context: OpExecutionContext, postgres: PostgresResource, clickhouse: ClickHouseResource
):
    days = lookback_days(datetime.now(timezone.utc).date(), reconcile_lookback_days())
    with clickhouse.session() as ch:
        ch.apply_ddl()
        to_reload: set[date] = set()
        for spec in FACTS:
            differing = differing_days(spec, days, postgres, ch)
            for day, (pg_rows, ch_rows) in sorted(differing.items()):
                context.log.warning(f"{spec.table} {day}: postgres {pg_rows} != clickhouse {ch_rows}, reloading")
            to_reload |= set(differing)
        for spec in FACTS:
            for day, rows in load_fact_days(spec, sorted(to_reload), postgres, ch).items():
                yield AssetMaterialization(spec.key, partition=day.isoformat(),
                                           metadata={"rows_loaded": rows, "reason": "reconciliation"})
        for day, rows in rebuild_rollup_days(ch, sorted(to_reload)).items():
            yield AssetMaterialization(ROLLUP_KEY, partition=day.isoformat(),
                                       metadata={"rollup_rows": rows, "reason": "reconciliation"})
    context.log.info(f"checked {len(days)} day(s), reloaded {len(to_reload)}")


@job(description="Compare recent days' row counts with Postgres; reload the days that differ.")
def reconcile_recent_days():
    heal_recent_days()


reconcile_schedule = ScheduleDefinition(
    name="reconcile_recent_days_schedule",
    job=reconcile_recent_days,
    cron_schedule=reconcile_cron(),
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
