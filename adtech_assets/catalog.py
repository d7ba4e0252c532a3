"""What adtech copies: the Postgres source tables and columns it reads, and the ClickHouse tables
and views it keeps from them (dims, daily facts, their rollup, the KPI views).

Plain data without Dagster: the planner and the loads read it in a pass that runs nothing, and
the Dagster side builds its assets and keys from it (``defs.keys``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# What adtech reads of each source table (seeds/migrations/V1__create_schema.sql): a column
# renamed or a table dropped outside the migrations is named against this.
SOURCE_COLUMNS = {
    "advertiser": ("id", "name", "updated_at", "created_at"),
    "campaign": ("id", "name", "bid", "budget", "start_date", "end_date", "advertiser_id", "updated_at", "created_at"),
    "impressions": ("id", "campaign_id", "created_at"),
    "clicks": ("id", "campaign_id", "created_at"),
}
SOURCE_TABLES = tuple(SOURCE_COLUMNS)


@dataclass(frozen=True)
class DimSpec:
    table: str
    source: str
    id_column: str  # the source's ``id`` under its ClickHouse name
    decimals: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def source_columns(self) -> tuple[str, ...]:
        return SOURCE_COLUMNS[self.source]


@dataclass(frozen=True)
class FactSpec:
    table: str
    source: str
    id_column: str


DIMS = [
    DimSpec("dim_advertiser", "advertiser", "advertiser_id"),
    DimSpec("dim_campaign", "campaign", "campaign_id", decimals={"bid": (10, 2), "budget": (10, 2)}),
]
FACTS = [
    FactSpec("fact_impressions", "impressions", "impression_id"),
    FactSpec("fact_clicks", "clicks", "click_id"),
]
DIMENSION_SOURCES = tuple(spec.source for spec in DIMS)
ROLLUP_TABLE = "agg_campaign_daily"
TOTALS_TABLE = "agg_campaign_totals"  # the rollup's all-time sums per campaign, for the views
DAILY_TABLES = (*(spec.table for spec in FACTS), ROLLUP_TABLE)

# The five views of clickhouse_ddl/views, with the reference's names and columns.
KPI_VIEWS = {
    "mv_campaign_ctr": "Every campaign's impressions, clicks and CTR, with its advertiser.",
    "mv_daily_performance": "Impressions, clicks and CTR per UTC day, every event counted.",
    "mv_campaign_daily_performance": "Impressions, clicks and CTR per UTC day and campaign.",
    "mv_campaign_efficiency": "Every campaign's bid and cost per click (bid x impressions / clicks).",
    "mv_advertiser_performance": "Every advertiser's campaigns, total budget, events and CTR.",
}
# view -> (column, highest first): the order of its preview, the reference README's example queries.
PREVIEW_ORDER = {
    "mv_campaign_ctr": ("ctr", True),
    "mv_daily_performance": ("event_date", True),
    "mv_campaign_daily_performance": ("event_date", True),
    "mv_campaign_efficiency": ("cost_per_click", False),
    "mv_advertiser_performance": ("overall_ctr", True),
}
