"""Load benchmark (issue 2 item 11, issue 3 item 5): prints its figures; not a test.

    uv run python benchmarks/load_benchmark.py [--pg-url URL] [--impressions 10000000]

On 10M impressions and ~0.5M clicks over 30 days (seeded into the database if it holds fewer):
  (a) read floor: psql binary COPY of impressions (id, campaign_id, created_at) into /dev/null
  (b) full fact_impressions load of all 30 days as one single-run backfill through the asset
      code, rows/s and ratio b/a; also the data time inside the asset vs the run's wall time
  (c) peak RSS of the loading process
  (d) one day's reload
  (e) mv_campaign_ctr latency, median of 10 (after a full sync of dims, clicks and rollup)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/adtech_bench"


def ensure_database(url: str) -> None:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')


def ensure_data(url: str, impressions: int) -> None:
    from adtech_assets import sample_data as sd
    from adtech_assets.migrations import migrate
    from adtech_assets.resources import PostgresResource

    pg = PostgresResource(url=url)
    migrate(pg)
    have = dict((t, n) for t, n, *_ in sd.stats(pg))
    if have["impressions"] >= impressions:
        return
    sd.reset(pg)
    started = time.monotonic()
    counts = sd.seed_batch(pg, advertisers=100, campaigns=1000, impressions=impressions, ctr=0.05,
                           window=sd.SeedWindow.last_days(30), seed=0.42)
    print(f"seeded {counts} in {time.monotonic() - started:.1f} s")
    with pg.connect(autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def read_floor(url: str) -> float:
    started = time.monotonic()
    subprocess.run(
        ["psql", url, "-qc",
         "COPY (SELECT id, campaign_id, created_at FROM impressions) TO STDOUT (FORMAT binary)"],
        stdout=subprocess.DEVNULL, check=True,
    )
    return time.monotonic() - started


def child_load(args: argparse.Namespace) -> None:
    """Runs in its own process so that its peak RSS is the loader's alone."""
    from dagster import AssetSelection, DagsterInstance, materialize

    import adtech_assets.assets.facts as facts
    from adtech_assets.definitions import ALL_ASSETS, ALL_CHECKS
    from adtech_assets.resources import ClickHouseResource, PostgresResource

    data_seconds = []
    original = facts.load_fact_days

    def timed(*a, **k):
        started = time.monotonic()
        try:
            return original(*a, **k)
        finally:
            data_seconds.append(time.monotonic() - started)

    facts.load_fact_days = timed
    resources = {"postgres": PostgresResource(url=args.pg_url),
                 "clickhouse": ClickHouseResource(url=f"chdb://{args.ch_path}")}
    tags = {"dagster/asset_partition_range_start": args.first, "dagster/asset_partition_range_end": args.last}
    started = time.monotonic()
    result = materialize([*ALL_ASSETS, *ALL_CHECKS],
                         selection=AssetSelection.assets(args.asset).without_checks(),
                         instance=DagsterInstance.ephemeral(), resources=resources, tags=tags,
                         run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    wall = time.monotonic() - started
    assert result.success
    print(json.dumps({"wall": wall, "data": sum(data_seconds),
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_child(pg_url: str, ch_path: Path, asset: str, first: date, last: date) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--pg-url", pg_url, "--ch-path", str(ch_path),
         "--asset", asset, "--first", first.isoformat(), "--last", last.isoformat()],
        capture_output=True, text=True,
    )
    if out.returncode:
        sys.exit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def kpi_latency(pg_url: str, ch_path: Path) -> float:
    from dagster import DagsterInstance

    from adtech_assets.resources import ClickHouseResource, PostgresResource
    from adtech_assets.sync import run_sync

    clickhouse = ClickHouseResource(url=f"chdb://{ch_path}")
    report = run_sync(DagsterInstance.ephemeral(), {"postgres": PostgresResource(url=pg_url), "clickhouse": clickhouse})
    assert report.ok, report.failed_checks or report.errors
    samples = []
    with clickhouse.session() as ch:
        for _ in range(11):
            started = time.perf_counter()
            ch.client.query_arrow("SELECT * FROM analytics.mv_campaign_ctr ORDER BY ctr DESC")
            samples.append(time.perf_counter() - started)
    return statistics.median(samples[1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg-url", default=os.environ.get("ADTECH_BENCH_PG_URL", DEFAULT_PG))
    parser.add_argument("--impressions", type=int, default=10_000_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ch-path", help=argparse.SUPPRESS)
    parser.add_argument("--asset", help=argparse.SUPPRESS)
    parser.add_argument("--first", help=argparse.SUPPRESS)
    parser.add_argument("--last", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_load(args)

    ensure_database(args.pg_url)
    ensure_data(args.pg_url, args.impressions)
    with psycopg.connect(args.pg_url) as conn:
        first, last, rows = conn.execute(
            "SELECT min(created_at)::date, max(created_at)::date, count(*) FROM impressions").fetchone()
    floor = min(read_floor(args.pg_url) for _ in range(2))
    with tempfile.TemporaryDirectory() as tmp:
        ch_path = Path(tmp) / "clickhouse"
        full = run_child(args.pg_url, ch_path, "analytics/fact_impressions", first, last)
        middle = first + timedelta(days=(last - first).days // 2)
        reload = run_child(args.pg_url, ch_path, "analytics/fact_impressions", middle, middle)
        latency = kpi_latency(args.pg_url, ch_path)
    days = (last - first).days + 1
    print(f"\nimpressions: {rows:,} over {days} days ({first} .. {last})")
    print(f"(a) read floor, psql binary COPY to /dev/null:     {floor:6.2f} s")
    print(f"(b) fact_impressions, {days}-day single-run backfill: {full['data']:6.2f} s data "
          f"({rows / full['data']:,.0f} rows/s), ratio b/a = {full['data'] / floor:.2f}")
    print(f"    same run's wall time through Dagster:           {full['wall']:6.2f} s "
          f"(wall / data = {full['wall'] / full['data']:.2f})")
    print(f"(c) peak RSS of the loading process:                {full['peak_rss_mib']:6.0f} MiB")
    print(f"(d) one day's reload ({middle}):                 {reload['data']:6.2f} s data, {reload['wall']:.2f} s wall")
    print(f"(e) mv_campaign_ctr latency, median of 10:          {latency * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
