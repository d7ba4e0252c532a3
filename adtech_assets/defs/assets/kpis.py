"""The five KPI views, with the reference's names and columns so its queries run unchanged.

They are plain views over ``agg_campaign_daily`` and the deduplicated dims, not materialized
views over joins: always consistent with the loaded facts (reloads and deletes included) and
cheap, because the rollup is days x campaigns. They are five assets of one step (selecting
some refreshes those), which (re)creates them and records what the UI shows of each: its row
count, its column schema and its first rows (``metadata``).
"""

from collections.abc import Iterator

from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, multi_asset

from adtech_assets.catalog import KPI_VIEWS, PREVIEW_ORDER
from adtech_assets.db.clickhouse.schema import ensure_schema
from adtech_assets.defs.assets.metadata import (
    PREVIEW_ROWS,
    column_schemas,
    preview,
    table_metadata,
    view_head,
)
from adtech_assets.defs.keys import (
    CLICKHOUSE_POOL,
    DIM_KEYS,
    IO_RETRY,
    KPI_KEYS,
    ROLLUP_KEY,
    table_key,
)
from adtech_assets.defs.resources import ClickHouseResource
from adtech_assets.defs.step_failures import as_step_failure


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
        AssetSpec(table_key(view), group_name="kpis", kinds={"clickhouse"}, description=description,
                  deps=[ROLLUP_KEY, *DIM_KEYS.values()])
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
        ensure_schema(ch)
        metadata = kpi_metadata(ch, views)
    for view in views:
        yield MaterializeResult(asset_key=table_key(view), metadata=metadata[view])

