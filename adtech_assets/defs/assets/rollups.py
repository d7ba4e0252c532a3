"""``agg_campaign_daily``: impressions and clicks per (UTC day, campaign), rebuilt per day from the
facts, with its all-time sums per campaign ``agg_campaign_totals`` (``engine.loads.rollup``)."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from adtech_assets.catalog import ROLLUP_TABLE
from adtech_assets.db.clickhouse.schema import ensure_schema
from adtech_assets.defs.assets import CLICKHOUSE_ASSET, DAILY
from adtech_assets.defs.assets.metadata import record_day_metadata, table_name
from adtech_assets.defs.keys import FACT_KEYS, run_days
from adtech_assets.defs.resources import ClickHouseResource
from adtech_assets.defs.step_failures import as_step_failure
from adtech_assets.engine.fingerprints import rollup_totals
from adtech_assets.engine.loads.rollup import rebuild_rollup_days


@asset(
    name=ROLLUP_TABLE,
    **CLICKHOUSE_ASSET,
    group_name="rollups",
    deps=list(FACT_KEYS.values()),
    **DAILY,
    description="Impressions and clicks per UTC day and campaign; each day rebuilt atomically from the facts.",
)
@as_step_failure
def agg_campaign_daily(context: AssetExecutionContext, clickhouse: ClickHouseResource) -> MaterializeResult:
    days = run_days(context)
    with clickhouse.session() as ch:
        ensure_schema(ch)
        rebuilt = rebuild_rollup_days(ch, days)
    record_day_metadata(context, rebuilt, lambda _, fingerprint: {
        k: v for k, v in rollup_totals(fingerprint).items() if k in ("impressions", "clicks")})
    context.log.info(f"{ROLLUP_TABLE}: {sum(f.rows for f in rebuilt.values())} rows over {len(days)} day(s), "
                     f"{min(days)} .. {max(days)}")
    return MaterializeResult(metadata={"dagster/table_name": table_name(ROLLUP_TABLE)})
