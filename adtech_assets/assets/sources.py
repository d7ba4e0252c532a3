"""The four Postgres source tables, as observable source assets (kind postgres).

Observing one reads its row count, highest id and newest ``created_at`` / ``updated_at``; the
data version changes whenever any of them does, so the UI shows when a source moved.
"""


from dagster import AssetKey, DataVersion, ObserveResult, observable_source_asset
from psycopg import sql

from adtech_assets.resources import PostgresResource
from adtech_assets.sql_files import postgres_sql

DIMENSION_TABLES = ("advertiser", "campaign")
EVENT_TABLES = ("impressions", "clicks")
SOURCE_TABLES = DIMENSION_TABLES + EVENT_TABLES


def source_key(table: str) -> AssetKey:
    return AssetKey(["postgres", "public", table])


def observe_table(postgres: PostgresResource, table: str) -> dict:
    if table not in SOURCE_TABLES:
        raise ValueError(f"unknown source table {table!r}")
    query_name = "observe_dimension" if table in DIMENSION_TABLES else "observe_events"
    query = sql.SQL(postgres_sql(query_name)).format(table=sql.Identifier(table))
    with postgres.connect() as conn:
        rows, max_id, newest = conn.execute(query).fetchone()
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
