"""Two independent steps in the ``clickhouse`` pool, for the pool-enforcement test. A module of
its own that imports only dagster, so the run's step processes start quickly."""

import time

from dagster import job, op

POOL = "clickhouse"  # test_dagster_instance_postgres checks it is the code's CLICKHOUSE_POOL


@op(pool=POOL)
def clickhouse_write_a() -> None:
    time.sleep(0.3)


@op(pool=POOL)
def clickhouse_write_b() -> None:
    time.sleep(0.3)


@job
def two_clickhouse_writes():
    clickhouse_write_a()
    clickhouse_write_b()
