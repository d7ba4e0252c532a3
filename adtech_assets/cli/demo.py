"""What ``adtech demo`` shows: the five KPIs as tables, and where everything lives."""

from __future__ import annotations

import polars as pl

from adtech_assets.catalog import PREVIEW_ORDER
from adtech_assets.db.clickhouse.client import ClickHouse


def print_kpis(clickhouse: ClickHouse, limit: int = 8) -> None:
    with pl.Config(tbl_rows=limit, tbl_cols=10, fmt_str_lengths=30, tbl_width_chars=140):
        with clickhouse.session() as ch:
            for view, (order_by, descending) in PREVIEW_ORDER.items():
                frame = ch.query_df("ops/select_view", view=view)
                order = f"{order_by} {'DESC' if descending else 'ASC'}"
                print(f"\nanalytics.{view}  ({frame.height:,} rows, ORDER BY {order})")
                print(frame.sort(order_by, descending=descending, nulls_last=True).head(limit))


def where_things_live(resources: dict, dagster_home: str) -> None:
    """Where the data is, and the commands to go on with, each runnable as printed (in the
    repository). The embedded Postgres keeps running after the demo (the UI and later commands
    share it): the last line says how to stop it."""
    import shlex

    from adtech_assets import settings
    from adtech_assets.redaction import redact_conninfo

    pg_url = redact_conninfo(resources["postgres"].resolved_url())
    # what the commands below need to find the same data; URLs are never printed (secrets)
    env = f"{settings.DATA_DIR}={shlex.quote(settings.raw(settings.DATA_DIR))} " if settings.is_set(settings.DATA_DIR) else ""
    servers = [name for name in (settings.PG_URL, settings.CLICKHOUSE_URL) if settings.is_set(name)]
    lines = [
        "\nWhere things live:",
        f"  Postgres (source):   {pg_url}",
        f"  ClickHouse (target): {resources['clickhouse'].target.describe()}, database analytics",
        f"  Dagster run history: {dagster_home}",
        "",
        f"Open the UI:     {env}DAGSTER_HOME={shlex.quote(dagster_home)} uv run dg dev   then http://127.0.0.1:3000",
        f"Query the KPIs:  {env}uv run adtech query \"SELECT * FROM analytics.mv_campaign_ctr ORDER BY ctr DESC LIMIT 5\"",
        f"Sync again:      {env}uv run adtech sync   (one incremental pass: what changed in Postgres since)",
    ]
    if servers:
        lines.append(f"                 (with the same {' and '.join(servers)} set)")
    if resources["postgres"].url is None:
        lines.append(f"Stop Postgres:   {env}uv run adtech stop   (the embedded Postgres keeps running "
                     "in the background until then)")
    print("\n".join(lines))
