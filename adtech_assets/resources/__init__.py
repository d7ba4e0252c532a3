"""Resources: the source Postgres and the target ClickHouse, each one small explicit surface,
configured from the environment (``ADTECH_PG_URL``, ``ADTECH_CLICKHOUSE_URL``; unset, the
embedded engines under ``ADTECH_DATA_DIR``)."""

from __future__ import annotations

import os

from dagster import EnvVar

from adtech_assets.resources.clickhouse import ClickHouseResource
from adtech_assets.resources.postgres import PostgresResource
from adtech_assets.settings import CLICKHOUSE_URL, PG_URL

__all__ = ["ClickHouseResource", "PostgresResource", "build_resources", "preflight", "resolved_resources"]


def _from_env(name: str) -> EnvVar | None:
    """``EnvVar(name)`` when it is set (the value stays out of config and logs), else None."""
    return EnvVar(name) if os.environ.get(name) else None


def build_resources() -> dict:
    """The code location's resources: values read by Dagster when a run starts."""
    return {
        "postgres": PostgresResource(url=_from_env(PG_URL)),
        "clickhouse": ClickHouseResource(url=_from_env(CLICKHOUSE_URL)),
    }


def resolved_resources() -> dict:
    """The same resources with their values read from the environment now, for use outside a
    run (the ``adtech`` CLI passes them to in-process runs). Built directly: Dagster's
    ``process_config_and_initialize`` would create a throwaway instance each (~0.35 s)."""
    return {
        "postgres": PostgresResource(url=os.environ.get(PG_URL) or None),
        "clickhouse": ClickHouseResource(url=os.environ.get(CLICKHOUSE_URL) or None),
    }


def preflight(postgres: PostgresResource, clickhouse: ClickHouseResource) -> None:
    """Fail fast with one clear line (AdtechError) when either database is unusable, before
    any Dagster run starts and buries the reason in step failures."""
    postgres.check_source_schema()
    with clickhouse.session() as ch:
        ch.ensure_schema()
