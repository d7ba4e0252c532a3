"""The five KPI views, with the reference's names and columns so its queries run unchanged.

They are plain views over ``agg_campaign_daily`` and the deduplicated dims, not materialized
views over joins: always consistent with the loaded facts (reloads and deletes included) and
cheap, because the rollup is days x campaigns. They are five assets of one step (selecting
some refreshes those), which (re)creates them and records what the UI shows of each: its row
count, its column schema and its first rows (``table_metadata``).
"""

from collections.abc import Iterator

from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, multi_asset

from adtech_assets.assets.rollups import ROLLUP_KEY
from adtech_assets.assets.table_metadata import PREVIEW_ROWS, column_schemas, preview, table_metadata, view_head
from adtech_assets.resources import ClickHouseResource
from adtech_assets.resources.clickhouse import CLICKHOUSE_POOL
from adtech_assets.retries import IO_RETRY
from adtech_assets.step_failures import as_step_failure
from adtech_assets.tables import DIMS, analytics_key

KPI_VIEWS = {
    "mv_campaign_ctr": "Every campaign's impressions, clicks and CTR, with its advertiser.",
    "mv_daily_performance": "Impressions, clicks and CTR per UTC day, every event counted.",
    "mv_campaign_daily_performance": "Impressions, clicks and CTR per UTC day and campaign.",
    "mv_campaign_efficiency": "Every campaign's bid and cost per click (bid x impressions / clicks).",
    "mv_advertiser_performance": "Every advertiser's campaigns, total budget, events and CTR.",
}
KPI_KEYS = [analytics_key(view) for view in KPI_VIEWS]
# view -> (column, highest first): the order of its preview, the reference README's example queries.
PREVIEW_ORDER = {
    "mv_campaign_ctr": ("ctr", True),
    "mv_daily_performance": ("event_date", True),
    "mv_campaign_daily_performance": ("event_date", True),
    "mv_campaign_efficiency": ("cost_per_click", False),
    "mv_advertiser_performance": ("overall_ctr", True),
}


def kpi_metadata(ch, views: list[str]) -> dict[str, dict]:
    """Each view's row count, column schema and first PREVIEW_ROWS rows (a few ms a view: the
    views read the rollup and the dims)."""
    schemas = column_schemas(ch, views)
    metadata = {}
    for view in views:
        order_by, descending = PREVIEW_ORDER[view]
        rows, count = view_head(ch, view, order_by, descending)
        metadata[view] = {
            **table_metadata(view, count, schemas[view]),
            "preview": preview(rows, schemas[view]),
            "preview_order": f"ORDER BY {order_by} {'DESC' if descending else 'ASC'} LIMIT {PREVIEW_ROWS}",
        }
    return metadata


@multi_asset(
    name="kpi_views",
    specs=[
        AssetSpec(analytics_key(view), group_name="kpis", kinds={"clickhouse"}, description=description,
                  deps=[ROLLUP_KEY, *(spec.key for spec in DIMS)])
        for view, description in KPI_VIEWS.items()
    ],
    can_subset=True,
    retry_policy=IO_RETRY,
    pool=CLICKHOUSE_POOL,
)
@as_step_failure
def kpi_views(context: AssetExecutionContext, clickhouse: ClickHouseResource) -> Iterator[MaterializeResult]:
    """The selected views in one step: a step costs more of Dagster's work (events, the chDB
    turn) than a view's refresh, and the five always refresh together after a load."""
    views = [key.path[-1] for key in KPI_KEYS if key in context.selected_asset_keys]
    with clickhouse.session() as ch:
        ch.ensure_schema()
        metadata = kpi_metadata(ch, views)
    for view in views:
        yield MaterializeResult(asset_key=analytics_key(view), metadata=metadata[view])

