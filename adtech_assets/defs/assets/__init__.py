"""Assets by layer: Postgres sources -> dims and daily facts -> daily rollup -> KPI views."""

from adtech_assets.defs.keys import (
    CLICKHOUSE_POOL,
    IO_RETRY,
    daily_partitions,
    single_run_backfill,
)

# What every ClickHouse asset shares: its address, engine, retries and concurrency pool.
CLICKHOUSE_ASSET = {
    "key_prefix": ["analytics"],
    "kinds": {"clickhouse"},
    "retry_policy": IO_RETRY,
    "pool": CLICKHOUSE_POOL,
}
# ...and what the daily ones add: UTC-day partitions, a range of days in one run.
DAILY = {"partitions_def": daily_partitions, "backfill_policy": single_run_backfill}
