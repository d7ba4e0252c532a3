"""Dimensions: ``dim_advertiser`` and ``dim_campaign``, ReplacingMergeTree tables by id.

Each load is incremental and restart-safe: where to start is read from ClickHouse (the newest
change time, ``coalesce(updated_at, created_at)``, and highest id loaded, and the Postgres
snapshot taken before the previous read), never kept in memory. It picks up rows changed at or
after that watermark, new ids without timestamps, and rows committed late by long transactions
(invisible to the previous snapshot). Rows are versioned by the load's snapshot horizon, so the
latest read wins even when ``updated_at`` moves backwards. Ids deleted at the source become
tombstones, which ``FINAL`` hides.
"""


from dataclasses import dataclass, field
from datetime import datetime, timezone

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    asset,
)

from adtech_assets.assets import CLICKHOUSE_ASSET
from adtech_assets.assets.sources import source_key
from adtech_assets.change_detection import snapshot_bounds
from adtech_assets.resources import ClickHouseResource, PostgresResource


@dataclass(frozen=True)
class DimSpec:
    table: str
    source: str
    id_column: str  # the source's ``id`` under its ClickHouse name
    source_columns: tuple[str, ...]
    decimals: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def key(self) -> AssetKey:
        return AssetKey(["analytics", self.table])


DIMS = [
    DimSpec("dim_advertiser", "advertiser", "advertiser_id", ("id", "name", "updated_at", "created_at")),
    DimSpec(
        "dim_campaign", "campaign", "campaign_id",
        ("id", "name", "bid", "budget", "start_date", "end_date", "advertiser_id", "updated_at", "created_at"),
        decimals={"bid": (10, 2), "budget": (10, 2)},
    ),
]


def _as_naive_utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _decimals(table: pa.Table, decimals: dict[str, tuple[int, int]]) -> pa.Table:
    """ADBC hands Postgres numeric over as text; make it the exact decimal ClickHouse stores."""
    for name, (precision, scale) in decimals.items():
        column = table[name]
        if isinstance(column.type, pa.ExtensionType):
            column = pa.chunked_array([chunk.storage for chunk in column.chunks], column.type.storage_type)
        table = table.set_column(
            table.schema.get_field_index(name), name, pc.cast(column, pa.decimal128(precision, scale))
        )
    return table


def load_dimension(spec: DimSpec, postgres: PostgresResource, clickhouse: ClickHouseResource) -> dict:
    """One incremental pass over a dimension; returns what it did, for metadata."""
    with clickhouse.session() as ch:
        ch.apply_ddl()
        watermark = ch.query_arrow("ops/dim_watermark", table=spec.table, id_column=spec.id_column)
        changed_at, max_id = watermark["changed_at"][0].as_py(), watermark["max_id"][0].as_py()
        previous_snapshot = ch.scalar("ops/load_state_get", source=spec.source)
        snapshot = postgres.fetch("current_snapshot")[0][0]  # before the read: may overlap, never miss
        _, version = snapshot_bounds(snapshot)  # orders loads: the later read wins in FINAL
        changed = postgres.read_arrow(
            "dim_changes",
            {
                "watermark": _as_naive_utc(changed_at) if max_id else "-infinity",
                "max_id": max_id or 0,
                "snapshot": previous_snapshot,
            },
            table=spec.source,
            columns=spec.source_columns,
        )
        changed = changed.rename_columns([spec.id_column if c == "id" else c for c in changed.column_names])
        changed = changed.append_column("_version", pa.array([version] * changed.num_rows, pa.uint64()))
        upserted = ch.insert_arrow(spec.table, _decimals(changed, spec.decimals))

        source_ids = pl.from_arrow(postgres.read_arrow("source_ids", table=spec.source))
        loaded_ids = ch.query_df("ops/dim_live_ids", table=spec.table, id_column=spec.id_column)
        deleted = loaded_ids.join(source_ids, on="id", how="anti")["id"].to_list()
        if deleted:
            ch.command("ops/dim_tombstones", table=spec.table, id_column=spec.id_column, ids=deleted, version=version)
        ch.command("ops/load_state_set", source=spec.source, snapshot=snapshot)
    return {
        "rows_upserted": upserted,
        "ids_deleted": len(deleted),
        "watermark_before": str(changed_at) if max_id else "none (first load)",
        "version": version,
    }


def build_dim_asset(spec: DimSpec) -> AssetsDefinition:
    @asset(
        name=spec.table,
        **CLICKHOUSE_ASSET,
        group_name="dims",
        deps=[source_key(spec.source)],
        description=f"Postgres `{spec.source}` as a ReplacingMergeTree by {spec.id_column}, loaded incrementally.",
    )
    def _dim(
        context: AssetExecutionContext, postgres: PostgresResource, clickhouse: ClickHouseResource
    ) -> MaterializeResult:
        loaded = load_dimension(spec, postgres, clickhouse)
        context.log.info(f"{spec.table}: {loaded}")
        return MaterializeResult(metadata=loaded)

    return _dim


dim_assets = [build_dim_asset(spec) for spec in DIMS]
