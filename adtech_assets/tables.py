"""The ClickHouse tables that copy Postgres: the dims, the daily facts and their rollup.

Plain specs, without Dagster, so that the planner reads them in a pass that runs nothing;
the asset modules build their assets from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def analytics_key(table: str):
    """The asset key of an ``analytics`` table. Dagster is imported here, when a key is asked
    for, because only the Dagster side of the code asks."""
    from dagster import AssetKey

    return AssetKey(["analytics", table])


@dataclass(frozen=True)
class DimSpec:
    table: str
    source: str
    id_column: str  # the source's ``id`` under its ClickHouse name
    source_columns: tuple[str, ...]
    decimals: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def key(self):
        return analytics_key(self.table)


@dataclass(frozen=True)
class FactSpec:
    table: str
    source: str
    id_column: str

    @property
    def key(self):
        return analytics_key(self.table)


DIMS = [
    DimSpec("dim_advertiser", "advertiser", "advertiser_id", ("id", "name", "updated_at", "created_at")),
    DimSpec(
        "dim_campaign", "campaign", "campaign_id",
        ("id", "name", "bid", "budget", "start_date", "end_date", "advertiser_id", "updated_at", "created_at"),
        decimals={"bid": (10, 2), "budget": (10, 2)},
    ),
]
FACTS = [
    FactSpec("fact_impressions", "impressions", "impression_id"),
    FactSpec("fact_clicks", "clicks", "click_id"),
]
ROLLUP_TABLE = "agg_campaign_daily"
TOTALS_TABLE = "agg_campaign_totals"  # the rollup's all-time sums per campaign, for the views
DAILY_TABLES = (*(spec.table for spec in FACTS), ROLLUP_TABLE)
