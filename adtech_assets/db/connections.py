"""The two databases as the environment configures them, without Dagster (a pass with nothing to
do never imports it; ``defs.resources`` are the same classes with Dagster config)."""

from __future__ import annotations

from adtech_assets import settings
from adtech_assets.db.clickhouse.client import ClickHouse
from adtech_assets.db.clickhouse.schema import ensure_schema
from adtech_assets.db.postgres.client import Postgres


def from_environment() -> tuple[Postgres, ClickHouse]:
    """Both databases as the environment configures them now."""
    return Postgres(url=settings.pg_url()), ClickHouse(url=settings.clickhouse_url())


def preflight(postgres: Postgres, clickhouse: ClickHouse) -> None:
    """Fail fast with one clear line (AdtechError) when either database is unusable, before
    any Dagster run starts and buries the reason in step failures."""
    postgres.check_source_schema()
    with clickhouse.session() as ch:
        ensure_schema(ch)
