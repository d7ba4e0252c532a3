"""The code location: sources -> dims, facts -> rollup -> KPI views, with their checks.

Resources come from the environment through ``EnvVar`` (``ADTECH_PG_URL``,
``ADTECH_CLICKHOUSE_URL``); unset, they mean the embedded Postgres and the embedded
ClickHouse (chDB) under ``ADTECH_DATA_DIR`` (default ``.data/``).
"""

from __future__ import annotations

import os

from dagster import Definitions, in_process_executor

from adtech_assets.collector import collect_less, freeze_imports

from adtech_assets.assets.dims import dim_assets
from adtech_assets.assets.facts import fact_assets
from adtech_assets.assets.kpis import kpi_views
from adtech_assets.assets.rollups import agg_campaign_daily
from adtech_assets.assets.sources import source_assets
from adtech_assets.checks import asset_checks
from adtech_assets.jobs import jobs
from adtech_assets.reconciliation import reconcile_schedule
from adtech_assets.resources import build_resources
from adtech_assets.sensors import schedules, sensors
from adtech_assets.settings import CLICKHOUSE_URL, parse_clickhouse_url


def default_executor():
    """In process on the embedded engine: its steps take turns on one file lock anyway, and a
    process per step would add seconds of start-up each. Multiprocess against a server."""
    return in_process_executor if parse_clickhouse_url(os.environ.get(CLICKHOUSE_URL)).is_embedded else None


ALL_ASSETS = [*source_assets, *dim_assets, *fact_assets, agg_campaign_daily, kpi_views]
ALL_CHECKS = asset_checks

defs = Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=jobs,
    sensors=sensors,
    schedules=[*schedules, reconcile_schedule],
    resources=build_resources(),
    executor=default_executor(),
)

# The objects made so far (Dagster's modules, these definitions) live as long as the process.
collect_less()
freeze_imports()
