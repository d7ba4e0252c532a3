"""``agg_campaign_totals``: the rollup's all-time sums per campaign, in one part, for the views
(reading a part per day cost the campaign views half their time). Rebuilt after every rollup
rebuild, and by the planner whenever it is not the rollup's sums."""

from __future__ import annotations

from adtech_assets.cluster_ddl import deployment_cluster
from adtech_assets.resources.clickhouse import ClickHouseSession
from adtech_assets.tables import TOTALS_TABLE


def rebuild_campaign_totals(ch: ClickHouseSession) -> None:
    """Make ``agg_campaign_totals`` the rollup's sums per campaign, swapped in whole."""
    with ch.staging_table(TOTALS_TABLE) as staging:
        ch.command("ops/campaign_totals_from_rollup", staging=staging)
        if ch.scalar("ops/count_rows", table=staging):
            ch.command("ops/replace_whole_table", table=TOTALS_TABLE, staging=staging)
        else:
            ch.command("ops/truncate_table", table=TOTALS_TABLE)


def repair_campaign_totals(ch: ClickHouseSession) -> bool:
    """Rebuild ``agg_campaign_totals`` if it is not the rollup's sums (drift, a new deployment,
    a rebuild that a crash cut short); True if it did. A ClickHouse-only comparison, ~10 ms.
    Cluster mode loads nothing yet (``staging_table``), so there is nothing to repair."""
    if deployment_cluster(ch.target) or not ch.scalar("checks/campaign_totals_differences"):
        return False
    rebuild_campaign_totals(ch)
    return True
