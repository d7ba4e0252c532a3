"""Cost of a postgres_changes tick on the benchmark database (issue 3 item 1): prints ms.

    uv run python benchmarks/sensor_tick.py [--pg-url URL]

Measures an idle tick (nothing committed since the last one) and a tick after a single new
impression, each the median of 20, with the cursor carried over as the daemon would.
"""

import argparse
import os
import statistics
import time

import psycopg
from dagster import DagsterInstance, build_sensor_context

from adtech_assets.definitions import defs
from adtech_assets.defs.automation import postgres_changes
from adtech_assets.defs.resources import ClickHouseResource, PostgresResource
from adtech_assets.settings import CLICKHOUSE_URL


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg-url", default=os.environ.get("ADTECH_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/adtech_bench"))
    args = parser.parse_args()
    postgres = PostgresResource(url=args.pg_url)
    # the ClickHouse of the environment (ADTECH_CLICKHOUSE_URL): an idle tick never opens it
    clickhouse = ClickHouseResource(url=os.environ.get(CLICKHOUSE_URL) or None)
    instance = DagsterInstance.ephemeral()

    def tick(cursor):
        # `with`: the ClickHouse resource is a generator (it keeps the engine open for a run)
        with build_sensor_context(instance=instance, cursor=cursor, resources={"postgres": postgres, "clickhouse": clickhouse},
                                  definitions=defs) as context:
            started = time.perf_counter()
            result = postgres_changes.evaluate_tick(context)
            return time.perf_counter() - started, result

    _, result = tick(None)
    cursor = result.cursor
    for _ in range(3):  # let the checkpoints settle past the first pass
        _, result = tick(cursor)
        cursor = result.cursor
    idle = []
    for _ in range(20):
        elapsed, result = tick(cursor)
        cursor = result.cursor
        idle.append(elapsed)
    busy = []
    with psycopg.connect(args.pg_url) as conn:
        for _ in range(20):
            with conn.transaction():  # one transaction; its commit reaches the collector at once
                conn.execute("SELECT pg_stat_force_next_flush()")
                conn.execute("INSERT INTO impressions (campaign_id, created_at) "
                             "SELECT id, now() AT TIME ZONE 'utc' FROM campaign LIMIT 1")
            elapsed, result = tick(cursor)
            cursor = result.cursor
            busy.append(elapsed)
            assert result.run_requests, "the new impression was not detected"
    print(f"idle tick (no writes since the last):   median {statistics.median(idle) * 1000:.1f} ms")
    print(f"tick after one new impression:          median {statistics.median(busy) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
