"""Jobs: the dims and KPI views (unpartitioned), and the daily facts with their rollup."""

from dagster import AssetSelection, define_asset_job


DIMS_AND_KPIS = AssetSelection.groups("dims", "kpis")
DAILY = AssetSelection.groups("facts", "rollups")

refresh_dims_and_kpis = define_asset_job(
    "refresh_dims_and_kpis",
    selection=DIMS_AND_KPIS,
    description="Incremental dimension load, then the KPI views, with their checks.",
)
load_days = define_asset_job(
    "load_days",
    selection=DAILY,
    description="Replace fact days from Postgres and rebuild their rollup days, with checks.",
)

jobs = [refresh_dims_and_kpis, load_days]
