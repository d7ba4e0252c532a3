"""Dimensions: ``dim_advertiser`` and ``dim_campaign``; each load writes the difference to the
source (``engine.loads.dims``) and records the table's row count and columns."""

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from adtech_assets.catalog import DIMS, DimSpec
from adtech_assets.db.clickhouse.schema import ensure_schema
from adtech_assets.defs.assets import CLICKHOUSE_ASSET
from adtech_assets.defs.assets.metadata import column_schemas, table_metadata
from adtech_assets.defs.keys import source_key
from adtech_assets.defs.resources import ClickHouseResource, PostgresResource
from adtech_assets.defs.step_failures import as_step_failure
from adtech_assets.engine.loads.dims import load_dimension


def build_dim_asset(spec: DimSpec) -> AssetsDefinition:
    @asset(
        name=spec.table,
        **CLICKHOUSE_ASSET,
        group_name="dims",
        deps=[source_key(spec.source)],
        description=f"Postgres `{spec.source}` as a ReplacingMergeTree by {spec.id_column}; each load writes the difference.",
    )
    @as_step_failure
    def _dim(
        context: AssetExecutionContext, postgres: PostgresResource, clickhouse: ClickHouseResource
    ) -> MaterializeResult:
        with clickhouse.session() as ch:
            ensure_schema(ch)
            loaded = load_dimension(spec, postgres, ch)
            table = table_metadata(spec.table, loaded.live_rows, column_schemas(ch, [spec.table])[spec.table])
        context.log.info(f"{spec.table}: {loaded.rows_upserted} row(s) written, {loaded.ids_deleted} "
                         f"tombstone(s), {loaded.live_rows} live rows")
        return MaterializeResult(metadata={"rows_upserted": loaded.rows_upserted, "ids_deleted": loaded.ids_deleted,
                                           "version": loaded.version, **table})

    return _dim


dim_assets = [build_dim_asset(spec) for spec in DIMS]
