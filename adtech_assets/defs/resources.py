"""The Dagster resources: ``Postgres`` and ``ClickHouse`` with their settings as Dagster config,
read from the environment through ``EnvVar`` (``ADTECH_PG_URL``, ``ADTECH_CLICKHOUSE_URL``;
unset, the embedded engines under ``ADTECH_DATA_DIR``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

from dagster import ConfigurableResource, EnvVar, InitResourceContext
from pydantic import Field

from adtech_assets import settings
from adtech_assets.db.clickhouse.client import ClickHouse
from adtech_assets.db.postgres.client import Postgres
from adtech_assets.runtime.run_liveness import register_worker


class PostgresResource(ConfigurableResource, Postgres):
    """``Postgres``, configured by Dagster."""

    url: Optional[str] = Field(
        default=None,
        repr=False,
        description="libpq connection string (postgresql:// URL or keywords); unset: the embedded server",
    )
    embedded_data_dir: Optional[str] = Field(
        default=None, description="Data folder of the embedded server (default: ADTECH_DATA_DIR)"
    )
    connect_timeout_seconds: int = 10


class ClickHouseResource(ConfigurableResource, ClickHouse):
    """``ClickHouse``, configured by Dagster."""

    url: Optional[str] = Field(
        default=None,
        repr=False,
        description="http[s]://user:password@host:port or chdb:///absolute/path; unset: embedded",
    )
    lock_timeout_seconds: float = Field(
        default=3600, description="How long to wait for another process using the embedded engine"
    )
    send_receive_timeout_seconds: int = 600

    @contextmanager
    def yield_for_execution(self, context: InitResourceContext) -> Iterator["ClickHouseResource"]:
        """The resource for a run (all its steps with the in-process executor, one step in a
        step process) or a sensor tick. A run records its worker, so a killed run is marked
        failed later; on the embedded engine a run also keeps the engine open across its steps
        (opening it is a cost per step; its lock would pass between the steps of one run
        only). A sensor opens it only when its tick needs it, with its own short wait."""
        run_id = context.run.run_id if context.run is not None else None
        register_worker(context.instance, run_id)
        if run_id is None or self.target.embedded_path is None:
            yield self
            return
        with self.session():
            yield self


def _from_env(name: str) -> EnvVar | None:
    """``EnvVar(name)`` when it is set (the value stays out of config and logs), else None."""
    return EnvVar(name) if settings.is_set(name) else None


def build_resources() -> dict:
    """The code location's resources: values read by Dagster when a run starts."""
    return {
        "postgres": PostgresResource(url=_from_env(settings.PG_URL)),
        "clickhouse": ClickHouseResource(url=_from_env(settings.CLICKHOUSE_URL)),
    }


def resolved_resources() -> dict:
    """The same resources with their values read from the environment now, for use outside a
    run (the ``adtech`` CLI passes them to in-process runs). Built directly: Dagster's
    ``process_config_and_initialize`` would create a throwaway instance each."""
    return {
        "postgres": PostgresResource(url=settings.pg_url()),
        "clickhouse": ClickHouseResource(url=settings.clickhouse_url()),
    }
