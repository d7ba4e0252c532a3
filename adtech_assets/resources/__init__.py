"""Resources: the source Postgres and the target ClickHouse, each one small explicit surface."""

from adtech_assets.resources.clickhouse import ClickHouseResource
from adtech_assets.resources.postgres import PostgresResource

__all__ = ["ClickHouseResource", "PostgresResource"]
