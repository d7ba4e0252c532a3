"""Dimensions: ``dim_advertiser`` and ``dim_campaign``, ReplacingMergeTree tables by id.

A load writes what ``dim_changes`` finds: the rows that are new or differ, and tombstones for
ids gone from the source, which ``FINAL`` hides. A pass with nothing changed writes nothing.
Rows are versioned by the Postgres snapshot horizon of the read, so the latest read wins.
"""


from array import array

import pyarrow as pa
from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from adtech_assets.assets import CLICKHOUSE_ASSET
from adtech_assets.assets.sources import source_key
from adtech_assets.assets.table_metadata import column_schemas, table_metadata
from adtech_assets.dim_changes import dimension_changes
from adtech_assets.resources import ClickHouseResource, PostgresResource
from adtech_assets.step_failures import as_step_failure
from adtech_assets.tables import DIMS, DimSpec


def load_dimension(spec: DimSpec, postgres: PostgresResource, clickhouse: ClickHouseResource) -> dict:
    """Make ClickHouse's dimension equal the source table; returns what it wrote and what the
    table holds now (rows after deduplication, column schema), for metadata."""
    with clickhouse.session() as ch:
        ch.ensure_schema()
        changes = dimension_changes(spec, postgres, ch)
        # from a buffer: pa.array over Python ints imports pandas (0.5 s)
        rows = changes.upserts.num_rows
        versions = pa.UInt64Array.from_buffers(pa.uint64(), rows, [None, pa.py_buffer(array('Q', [changes.version]) * rows)])
        upserted = ch.insert_arrow(spec.table, changes.upserts.append_column("_version", versions))
        if changes.deleted_ids:
            ch.command("ops/dim_tombstones", table=spec.table, id_column=spec.id_column,
                       ids=changes.deleted_ids, version=changes.version)
        live_rows = ch.scalar("checks/dimension_live_rows", table=spec.table, id_column=spec.id_column)
        table = table_metadata(spec.table, live_rows, column_schemas(ch, [spec.table])[spec.table])
    return {"rows_upserted": upserted, "ids_deleted": len(changes.deleted_ids), "version": changes.version,
            **table}


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
        loaded = load_dimension(spec, postgres, clickhouse)
        context.log.info(f"{spec.table}: {loaded['rows_upserted']} row(s) written, {loaded['ids_deleted']} "
                         f"tombstone(s), {loaded['dagster/row_count'].value} live rows")
        return MaterializeResult(metadata=loaded)

    return _dim


dim_assets = [build_dim_asset(spec) for spec in DIMS]
