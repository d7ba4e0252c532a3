"""The source tables' write counters (``pg_stat_user_tables``): what tells a pass, without a
table scan, whether a table may have changed since it last looked."""

from __future__ import annotations

from adtech_assets.db.postgres.client import Postgres

Counters = dict[str, list[int]]  # table -> [inserts, updates, deletes, file node]


def read_counters(postgres: Postgres) -> Counters:
    """Every source table's write counters: one catalog read, no table scan."""
    return {table: [int(v or 0) for v in values] for table, *values in postgres.fetch("write_counters")}


def counters_text(counters: list[int] | None) -> str:
    inserts, updates, deletes, file_node = counters or [0, 0, 0, 0]
    return f"inserts {inserts}, updates {updates}, deletes {deletes}, file node {file_node}"
