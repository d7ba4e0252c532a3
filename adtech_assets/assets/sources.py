"""The four Postgres source tables, as observable source assets (kind postgres).

Observing one reads its row count, highest id and newest ``created_at`` / ``updated_at``; the
data version changes whenever any of them does, so the UI shows when a source moved.
"""

from dagster import AssetKey, DataVersion, ObserveResult, observable_source_asset

from adtech_assets.resources import PostgresResource
from adtech_assets.resources.postgres import SOURCE_TABLES

DIMENSION_TABLES = ("advertiser", "campaign")


def source_key(table: str) -> AssetKey:
    return AssetKey(["postgres", "public", table])


def observe_table(postgres: PostgresResource, table: str) -> dict:
    query_name = "observe_dimension" if table in DIMENSION_TABLES else "observe_events"
    (rows, max_id, newest), = postgres.fetch(query_name, table=table)
    return {"row_count": rows, "max_id": max_id, "newest_change": str(newest)}


def _build(table: str):
    @observable_source_asset(
        key=source_key(table),
        group_name="sources",
        kinds={"postgres"},
        description=f"PostgreSQL table public.{table} (the operational source).",
    )
    def _source(postgres: PostgresResource) -> ObserveResult:
        observed = observe_table(postgres, table)
        version = f"{observed['row_count']}:{observed['max_id']}:{observed['newest_change']}"
        return ObserveResult(data_version=DataVersion(version), metadata=observed)

    return _source


source_assets = [_build(table) for table in SOURCE_TABLES]
