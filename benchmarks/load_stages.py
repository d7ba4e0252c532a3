"""Each stage of a fact_impressions load alone, beside the read floor (issue 8: "measure each
stage alone against its own floor"); not a test.

    uv run python benchmarks/load_stages.py [--pg-url URL]

On the benchmark's data (``load_benchmark.py`` seeds ``adtech_bench`` when it is missing) and a
fresh embedded ClickHouse: the psql binary COPY floor, the ADBC read (the fallback), the read of the load (asyncpg's COPY
decoded with numpy) with the batches dropped and kept, the chDB insert of the kept batches into a staging table
(per batch as a server takes them, and as the load streams them), the staged days' fingerprints,
the partition swaps, the manifest, then the whole ``load_fact_days`` as the asset runs it. Wall
and CPU seconds of this process for each (Postgres's own CPU is in the floor's wall time).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import tempfile
import time
from datetime import timedelta

import psycopg

from adtech_assets.db.clickhouse.schema import ensure_schema
from adtech_assets.db.postgres.fact_window import day_window
from adtech_assets.defs.assets import facts
from adtech_assets.defs.resources import ClickHouseResource, PostgresResource
from adtech_assets.engine.days import days_between
from adtech_assets.engine.fingerprints import Fingerprint, clickhouse_day_fingerprints
from adtech_assets.engine.ledger import clickhouse_now, record_loads


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def stage(label: str, work):
    cpu, started = cpu_seconds(), time.monotonic()
    result = work()
    print(f"{label:<42} {time.monotonic() - started:6.2f} s wall {cpu_seconds() - cpu:6.2f} s CPU", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/adtech_bench")
    args = parser.parse_args()
    with psycopg.connect(args.pg_url) as conn:
        first, last = conn.execute("SELECT min(created_at)::date, max(created_at)::date FROM impressions").fetchone()
    postgres = PostgresResource(url=args.pg_url)
    spec = facts.FACTS[0]
    window = day_window(first, last)
    names = (spec.id_column, "campaign_id", "created_at")

    stage("floor: psql binary COPY to /dev/null", lambda: subprocess.run(
        ["psql", args.pg_url, "-qc", "COPY (SELECT id, campaign_id, created_at FROM impressions) TO STDOUT (FORMAT binary)"],
        stdout=subprocess.DEVNULL, check=True))

    def read(keep: bool):
        with postgres.fact_batches(spec.source, window, names) as batches:
            return list(batches) if keep else sum(batch.num_rows for batch in batches)

    def read_adbc():
        with postgres.arrow_reader(f"read_{spec.source}", window) as reader:
            return sum(batch.num_rows for batch in reader)

    stage("ADBC read (the fallback), batches dropped", read_adbc)
    stage("COPY read and decode, batches dropped", lambda: read(False))
    batches = stage("COPY read and decode, batches kept", lambda: read(True))
    print(f"{len(batches)} batches, {sum(b.num_rows for b in batches):,} rows", flush=True)

    with tempfile.TemporaryDirectory(prefix="adtech-stages-") as tmp:
        with ClickHouseResource(url=f"chdb://{tmp}/clickhouse").session() as ch:
            ensure_schema(ch)
            with ch.staging_table(spec.table) as arrow_staging:
                stage("insert_arrow per batch (a server's path)", lambda: [ch.insert_arrow(arrow_staging, b) for b in batches])

            def stream(table: str) -> None:
                with ch.batch_insert(table) as insert:
                    for b in batches:
                        insert(b)

            with ch.staging_table(spec.table) as staging:
                stage("chDB streaming insert of the kept batches", lambda: stream(staging))
                end = last + timedelta(days=1)
                staged = stage("fingerprints of the staged days",
                               lambda: clickhouse_day_fingerprints(ch, staging, spec.id_column, first, end))
                days = {day: staged.get(day, Fingerprint.empty()) for day in days_between(first, last)}
                stage(f"{len(days)} partition swaps", lambda: [
                    ch.replace_partition(spec.table, day, staging, f.rows) for day, f in days.items()])
                stage("manifest", lambda: record_loads(ch, spec.table, days, clickhouse_now(ch)))
            stage("whole load_fact_days", lambda: facts.load_fact_days(spec, list(days), postgres, ch))


if __name__ == "__main__":
    main()
