"""The code location's definitions, built in one place: the code location (``definitions.py``)
and ``adtech sync`` (with the resources it has already resolved) both call
``build_definitions``."""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from adtech_assets import settings
from adtech_assets.defs.assets.dims import dim_assets
from adtech_assets.defs.assets.facts import fact_assets
from adtech_assets.defs.assets.kpis import kpi_views
from adtech_assets.defs.assets.rollups import agg_campaign_daily
from adtech_assets.defs.assets.sources import source_assets
from adtech_assets.defs.automation import schedules, sensors
from adtech_assets.defs.checks import asset_checks
from adtech_assets.defs.jobs import jobs
from adtech_assets.defs.resources import build_resources

ALL_ASSETS = [*source_assets, *dim_assets, *fact_assets, agg_campaign_daily, kpi_views]
ALL_CHECKS = asset_checks


def default_executor():
    """In process on the embedded engine: its steps take turns on one file lock anyway, and a
    process per step would add seconds of start-up each. Multiprocess against a server."""
    return in_process_executor if settings.parse_clickhouse_url(settings.clickhouse_url()).is_embedded else None


def build_definitions(resources: dict | None = None) -> Definitions:
    """sources -> dims, facts -> rollup -> KPI views, with their checks, jobs, sensors and
    schedules. ``resources``: the code location's (read through ``EnvVar`` when a run starts)
    unless given."""
    return Definitions(
        assets=ALL_ASSETS,
        asset_checks=ALL_CHECKS,
        jobs=jobs,
        sensors=sensors,
        schedules=schedules,
        resources=resources if resources is not None else build_resources(),
        executor=default_executor(),
    )
