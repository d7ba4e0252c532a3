"""Resources: the source Postgres and the target ClickHouse, each one small explicit surface.

``Postgres`` and ``ClickHouse`` are plain classes, so that a pass with nothing to do runs
without Dagster; ``PostgresResource`` and ``ClickHouseResource`` (``configurable``) are the
same with Dagster config, and are imported from here on first use, with Dagster.
"""

from __future__ import annotations

import os

from adtech_assets.resources.clickhouse import ClickHouse
from adtech_assets.resources.postgres import Postgres
from adtech_assets.settings import CLICKHOUSE_URL, PG_URL

__all__ = ["ClickHouse", "ClickHouseResource", "Postgres", "PostgresResource", "build_resources",
           "from_environment", "preflight", "resolved_resources"]
_CONFIGURABLE = {"ClickHouseResource", "PostgresResource", "build_resources", "resolved_resources"}


def __getattr__(name: str):
    if name in _CONFIGURABLE:
        from adtech_assets.resources import configurable

        return getattr(configurable, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def from_environment() -> tuple[Postgres, ClickHouse]:
    """Both databases as the environment configures them now, without Dagster."""
    return Postgres(url=os.environ.get(PG_URL) or None), ClickHouse(url=os.environ.get(CLICKHOUSE_URL) or None)


def preflight(postgres: Postgres, clickhouse: ClickHouse) -> None:
    """Fail fast with one clear line (AdtechError) when either database is unusable, before
    any Dagster run starts and buries the reason in step failures."""
    postgres.check_source_schema()
    with clickhouse.session() as ch:
        ch.ensure_schema()
