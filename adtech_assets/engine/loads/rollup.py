"""``agg_campaign_daily`` and ``agg_campaign_totals``, rebuilt in ClickHouse from the facts.

The rollup is impressions and clicks per (UTC day, campaign), partitioned like the facts and
replaced per day the same way (``day_replace``), so a reloaded, backfilled or late day refreshes
exactly its own rows; the KPI views read it, whose size is days x campaigns, not events. The
totals are its all-time sums per campaign in one part (reading a part per day cost the campaign
views half their time), rebuilt after every rollup rebuild and by the planner whenever they are
not the rollup's sums.
"""

from __future__ import annotations

from datetime import date, timedelta

from adtech_assets.catalog import ROLLUP_TABLE, TOTALS_TABLE
from adtech_assets.db.clickhouse.client import ClickHouseSession
from adtech_assets.db.clickhouse.cluster import deployment_cluster
from adtech_assets.engine.fingerprints import (
    ROLLUP_COLUMNS,
    Fingerprint,
    rollup_day_fingerprints,
)
from adtech_assets.engine.loads.day_replace import replace_days


def rebuild_rollup_days(ch: ClickHouseSession, days: list[date]) -> dict[date, Fingerprint]:
    """Replace the rollup's given days from the facts, then the all-time totals; returns what
    each day holds (ROLLUP_COLUMNS)."""
    def stage(staging: str, first: date, last: date) -> dict[date, Fingerprint]:
        end = last + timedelta(days=1)
        ch.command("ops/rollup_campaign_daily", staging=staging, start=first, end=end)
        return rollup_day_fingerprints(ch, staging, first, end)

    rebuilt = replace_days(ch, ROLLUP_TABLE, days, stage, Fingerprint.empty(len(ROLLUP_COLUMNS)))
    rebuild_campaign_totals(ch)
    return rebuilt


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
    a rebuild that a crash cut short); True if it did. A ClickHouse-only comparison.
    Cluster mode loads nothing yet (``staging_table``), so there is nothing to repair."""
    if deployment_cluster(ch.target) or not ch.scalar("checks/campaign_totals_differences"):
        return False
    rebuild_campaign_totals(ch)
    return True
