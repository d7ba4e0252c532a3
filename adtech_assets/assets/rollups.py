"""``agg_campaign_daily``: impressions and clicks per (UTC day, campaign), rebuilt per day.

Partitioned like the facts and replaced per day the same way (staging + REPLACE PARTITION), so
a reloaded, backfilled or late day refreshes exactly its own rows; the KPI views read this
table, whose size is days x campaigns, not events.
"""


from datetime import date, timedelta

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from adtech_assets.assets import CLICKHOUSE_ASSET, DAILY
from adtech_assets.assets.facts import FACTS
from adtech_assets.partitions import day_ranges, days_between, run_days
from adtech_assets.resources import ClickHouseResource
from adtech_assets.resources.clickhouse import ClickHouseSession

ROLLUP_TABLE = "agg_campaign_daily"
ROLLUP_KEY = AssetKey(["analytics", ROLLUP_TABLE])


def rebuild_rollup_days(ch: ClickHouseSession, days: list[date]) -> dict[date, int]:
    """Replace the rollup's given days from the facts; returns rollup rows per day."""
    rebuilt: dict[date, int] = {}
    for first, last in day_ranges(days):
        with ch.staging_table(ROLLUP_TABLE) as staging:
            ch.command("ops/rollup_campaign_daily", staging=staging, start=first, end=last + timedelta(days=1))
            counts = ch.query_arrow("ops/staged_day_counts", staging=staging).to_pylist()
            staged = {row["event_date"]: row["rows"] for row in counts}
            for day in days_between(first, last):
                rebuilt[day] = staged.get(day, 0)
                ch.replace_partition(ROLLUP_TABLE, day, staging, rebuilt[day])
    return rebuilt


@asset(
    name=ROLLUP_TABLE,
    **CLICKHOUSE_ASSET,
    group_name="rollups",
    deps=[spec.key for spec in FACTS],
    **DAILY,
    description="Impressions and clicks per UTC day and campaign; each day rebuilt atomically from the facts.",
)
def agg_campaign_daily(context: AssetExecutionContext, clickhouse: ClickHouseResource) -> MaterializeResult:
    days = run_days(context)
    with clickhouse.session() as ch:
        ch.apply_ddl()
        rebuilt = rebuild_rollup_days(ch, days)
    return MaterializeResult(metadata={"rollup_rows": sum(rebuilt.values()), "days": len(days)})
