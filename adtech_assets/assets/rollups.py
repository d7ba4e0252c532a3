"""``agg_campaign_daily``: impressions and clicks per (UTC day, campaign), rebuilt per day.

Partitioned like the facts and replaced per day the same way (staging + REPLACE PARTITION), so
a reloaded, backfilled or late day refreshes exactly its own rows; the KPI views read this
table, whose size is days x campaigns, not events. With it, ``agg_campaign_totals``: its
all-time sums per campaign in one part (reading a part per day cost the campaign views half
their time), rebuilt after every rollup rebuild and repaired by the planner when it differs.
"""


from datetime import date, timedelta

from dagster import AssetExecutionContext, MaterializeResult, asset

from adtech_assets.assets import CLICKHOUSE_ASSET, DAILY
from adtech_assets.assets.table_metadata import record_day_metadata, table_name
from adtech_assets.campaign_totals import rebuild_campaign_totals
from adtech_assets.fingerprints import ROLLUP_COLUMNS, Fingerprint, rollup_day_fingerprints, rollup_totals
from adtech_assets.days import day_ranges, days_between
from adtech_assets.partitions import run_days
from adtech_assets.resources import ClickHouseResource
from adtech_assets.resources.clickhouse import ClickHouseSession
from adtech_assets.state import clickhouse_now, record_loads
from adtech_assets.step_failures import as_step_failure
from adtech_assets.tables import FACTS, ROLLUP_TABLE, analytics_key

ROLLUP_KEY = analytics_key(ROLLUP_TABLE)


def rebuild_rollup_days(ch: ClickHouseSession, days: list[date]) -> dict[date, Fingerprint]:
    """Replace the rollup's given days from the facts and record them in the load manifest,
    then the all-time totals; returns what each day holds (ROLLUP_COLUMNS)."""
    rebuilt: dict[date, Fingerprint] = {}
    for first, last in day_ranges(days):
        started_at = clickhouse_now(ch)
        end = last + timedelta(days=1)
        with ch.staging_table(ROLLUP_TABLE) as staging:
            ch.command("ops/rollup_campaign_daily", staging=staging, start=first, end=end)
            staged = rollup_day_fingerprints(ch, staging, first, end)
            fingerprints = {day: staged.get(day, Fingerprint.empty(len(ROLLUP_COLUMNS))) for day in days_between(first, last)}
            for day, fingerprint in fingerprints.items():
                ch.replace_partition(ROLLUP_TABLE, day, staging, fingerprint.rows)
        record_loads(ch, ROLLUP_TABLE, fingerprints, started_at)
        rebuilt.update(fingerprints)
    rebuild_campaign_totals(ch)
    return rebuilt


@asset(
    name=ROLLUP_TABLE,
    **CLICKHOUSE_ASSET,
    group_name="rollups",
    deps=[spec.key for spec in FACTS],
    **DAILY,
    description="Impressions and clicks per UTC day and campaign; each day rebuilt atomically from the facts.",
)
@as_step_failure
def agg_campaign_daily(context: AssetExecutionContext, clickhouse: ClickHouseResource) -> MaterializeResult:
    days = run_days(context)
    with clickhouse.session() as ch:
        ch.ensure_schema()
        rebuilt = rebuild_rollup_days(ch, days)
    record_day_metadata(context, rebuilt, lambda _, fingerprint: {
        k: v for k, v in rollup_totals(fingerprint).items() if k in ("impressions", "clicks")})
    context.log.info(f"{ROLLUP_TABLE}: {sum(f.rows for f in rebuilt.values())} rows over {len(days)} day(s), "
                     f"{min(days)} .. {max(days)}")
    return MaterializeResult(metadata={"dagster/table_name": table_name(ROLLUP_TABLE)})
