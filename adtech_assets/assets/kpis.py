"""The five KPI views, with the reference's names and columns so its queries run unchanged.

They are plain views over ``agg_campaign_daily`` and the deduplicated dims, not materialized
views over joins: always consistent with the loaded facts (reloads and deletes included) and
cheap, because the rollup is days x campaigns. Materializing one (re)creates it and records
its row count.
"""


from dagster import AssetsDefinition, MaterializeResult, asset

from adtech_assets.assets import CLICKHOUSE_ASSET
from adtech_assets.assets.dims import DIMS
from adtech_assets.assets.rollups import ROLLUP_KEY
from adtech_assets.resources import ClickHouseResource

KPI_VIEWS = {
    "mv_campaign_ctr": "Every campaign's impressions, clicks and CTR, with its advertiser.",
    "mv_daily_performance": "Impressions, clicks and CTR per UTC day, every event counted.",
    "mv_campaign_daily_performance": "Impressions, clicks and CTR per UTC day and campaign.",
    "mv_campaign_efficiency": "Every campaign's bid and cost per click (bid x impressions / clicks).",
    "mv_advertiser_performance": "Every advertiser's campaigns, total budget, events and CTR.",
}


def build_kpi_asset(view: str, description: str) -> AssetsDefinition:
    @asset(
        name=view,
        **CLICKHOUSE_ASSET,
        group_name="kpis",
        deps=[ROLLUP_KEY, *(spec.key for spec in DIMS)],
        description=description,
    )
    def _kpi(clickhouse: ClickHouseResource) -> MaterializeResult:
        with clickhouse.session() as ch:
            ch.ensure_schema()
            rows = ch.scalar("ops/count_rows", table=view)
        return MaterializeResult(metadata={"rows": rows})

    return _kpi


kpi_assets = [build_kpi_asset(view, description) for view, description in KPI_VIEWS.items()]
