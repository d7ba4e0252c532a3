"""Jobs: what the UI lists under Jobs and what every run is named after.

``adtech sync`` runs ``sync``: one run per range of consecutive days that differ, the dims that
differ in the first and the KPI views in the last (a run costs about a second of Dagster's own
work, so a pass makes as few as it can); the sensors and the schedules request ``load_days``,
``refresh_kpis`` and ``refresh_dims_and_kpis``. Each selects whole groups, so its checks come
with it; a blocking check that fails stops what is downstream of it in the same run. Every run
we launch says what launched it (``adtech/trigger``); a day load says which days
(``adtech/days``), besides Dagster's own partition tags.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from dagster import AssetKey, AssetSelection, define_asset_job

from adtech_assets.defs.keys import days_tags, table_key
from adtech_assets.engine.planner import PassPlan

DIMS = AssetSelection.groups("dims")
KPIS = AssetSelection.groups("kpis")
DAILY = AssetSelection.groups("facts", "rollups")

sync = define_asset_job(
    "sync",
    selection=DIMS | DAILY | KPIS,
    description="What `adtech sync` runs, one run per range of days that differ: their facts and rollup "
    "days, with the dims that differ (first run) and the KPI views (last run), with their checks.",
)
load_days = define_asset_job(
    "load_days",
    selection=DAILY,
    description="Replace fact days from Postgres and rebuild their rollup days, with checks.",
)
refresh_kpis = define_asset_job(
    "refresh_kpis",
    selection=KPIS,
    description="The five KPI views: (re)created, with their row counts, schemas and previews.",
)
refresh_dims_and_kpis = define_asset_job(
    "refresh_dims_and_kpis",
    selection=DIMS | KPIS,
    description="Incremental dimension load, then the KPI views, with their checks.",
)

jobs = [sync, load_days, refresh_kpis, refresh_dims_and_kpis]



@dataclass(frozen=True)
class DayRun:
    """One run of a plan: the days [first, last] of the daily tables ``assets`` reload, and the
    tags that say why and which days (a single-run range, or one partition)."""

    first: date
    last: date
    assets: list[AssetKey]
    reason: str

    @property
    def tags(self) -> dict[str, str]:
        return days_tags(self.first, self.last)


def day_runs(plan: PassPlan, days: Iterable[date] | None = None) -> list[DayRun]:
    """The runs that reload the plan's pending ``days`` (default: all of them), as the sensor,
    the schedules and ``adtech sync`` launch them (``PassPlan.load_ranges`` groups the days)."""
    return [DayRun(first, last, [table_key(t) for t in tables], plan.reasons[first])
            for first, last, tables in plan.load_ranges(days)]
