"""What ``adtech demo`` shows: the five KPIs as tables, and where everything lives."""

from __future__ import annotations

import polars as pl

from adtech_assets.resources import ClickHouseResource

# view -> (order column, direction): the reference README's example queries.
PREVIEWS = {
    "mv_campaign_ctr": ("ctr", True),
    "mv_daily_performance": ("event_date", True),
    "mv_campaign_daily_performance": ("event_date", True),
    "mv_campaign_efficiency": ("cost_per_click", False),
    "mv_advertiser_performance": ("overall_ctr", True),
}


def print_kpis(clickhouse: ClickHouseResource, limit: int = 8) -> None:
    with pl.Config(tbl_rows=limit, tbl_cols=10, fmt_str_lengths=30, tbl_width_chars=140):
        with clickhouse.session() as ch:
            for view, (order_by, descending) in PREVIEWS.items():
                frame = ch.query_df("ops/select_view", view=view)
                order = f"{order_by} {'DESC' if descending else 'ASC'}"
                print(f"\nanalytics.{view}  ({frame.height:,} rows, ORDER BY {order})")
                print(frame.sort(order_by, descending=descending, nulls_last=True).head(limit))


def where_things_live(resources: dict, dagster_home: str) -> None:
    from adtech_assets.redaction import redact_conninfo

    pg_url = redact_conninfo(resources["postgres"].resolved_url())
    print(
        "\nWhere things live:\n"
        f"  Postgres (source):   {pg_url}\n"
        f"  ClickHouse (target): {resources['clickhouse'].target.describe()}, database analytics\n"
        f"  Dagster run history: {dagster_home}\n"
        f"\nOpen the UI:  DAGSTER_HOME={dagster_home} uv run dagster dev   then http://127.0.0.1:3000\n"
        "Query:        uv run adtech sync   (another incremental pass) / see README 'Example queries'"
    )
