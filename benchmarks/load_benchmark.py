"""Speed as the user sees it (issue 8): every figure beside its floor, in one run; not a test.

    uv run python benchmarks/load_benchmark.py [--impressions 10000000] [--pg-url URL]

Seeds its own data when the database holds fewer impressions (100 advertisers, 1,000
campaigns, CTR 5 % over 30 days, ``--seed 0.42``, then VACUUM ANALYZE), in ``adtech_bench``
for 10M and ``adtech_bench<N/1M>`` otherwise, on the local Postgres. Then, on a fresh embedded
ClickHouse and a fresh on-disk Dagster instance:

  read floor        psql binary COPY of impressions (id, campaign_id, created_at) to /dev/null
  31-day load       fact_impressions, every day as one single-run backfill through the asset
                    code and Dagster (its own process, for its peak RSS): the time inside the
                    load (data) and the run's wall time, each over the read floor
  postgresql()      the same days pulled by ClickHouse itself (INSERT ... SELECT FROM
                    postgresql(...)) into a copy of fact_impressions, checked equal to ours
  one day           one day's reload, the run's wall time
  first sync        ``adtech sync`` right after that backfill (dims, clicks, rollup, views)
  mv_campaign_ctr   median of 10 queries
  no-op sync        ``adtech sync`` with nothing changed, the whole command, median of 5 (it
                    imports no Dagster),
                    beside its floor: the same interpreter importing the CLI and doing nothing
  1,000 new         ``adtech sync`` after 1,000 new impressions on today, median of 3, and after
                    1,000 late ones on the middle day (a whole day, whatever the hour)
  idle tick         the postgres_changes sensor with nothing new (benchmarks/sensor_tick.py)
  freshness         insert -> visible in mv_daily_performance, ``dagster dev`` running with the
                    default settings, 10 tries (benchmarks/freshness.py, ``dg dev``)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from commands import PROJECT_ROOT, run
from figures import print_figures

from adtech_assets.cli.home import instance_yaml

BENCHMARKS = PROJECT_ROOT / "benchmarks"
ADTECH = PROJECT_ROOT / ".venv" / "bin" / "adtech"
FACT = "analytics/fact_impressions"


def default_pg_url(impressions: int) -> str:
    suffix = "" if impressions == 10_000_000 else str(impressions // 1_000_000)
    return f"postgresql://postgres@127.0.0.1:5432/adtech_bench{suffix}"


def ensure_database(url: str) -> None:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')


def ensure_data(url: str, impressions: int) -> None:
    from adtech_assets.db.migrations import migrate
    from adtech_assets.db.postgres import sample_data as sd
    from adtech_assets.defs.resources import PostgresResource

    pg = PostgresResource(url=url)
    migrate(pg)
    have = dict((t, n) for t, n, *_ in sd.stats(pg))
    if have["impressions"] >= impressions:
        return
    sd.reset(pg)
    started = time.monotonic()
    counts = sd.seed_batch(pg, advertisers=100, campaigns=1000, impressions=impressions, ctr=0.05,
                           window=sd.SeedWindow.last_days(30), seed=0.42)
    print(f"seeded {counts} in {time.monotonic() - started:.1f} s", flush=True)
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


# ---------------------------------------------------------------- child processes
def child_load(args: argparse.Namespace) -> dict:
    """One run of fact_impressions over [first, last] through Dagster, on an on-disk instance."""
    from dagster import AssetSelection, DagsterInstance, materialize

    import adtech_assets.defs.assets.facts as facts
    from adtech_assets.defs.keys import partition_range_tags
    from adtech_assets.defs.location import ALL_ASSETS, ALL_CHECKS
    from adtech_assets.defs.resources import ClickHouseResource, PostgresResource

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
    tags = partition_range_tags(date.fromisoformat(args.first), date.fromisoformat(args.last))
    with DagsterInstance.get() as instance:
        started = time.monotonic()
        result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.assets(FACT).without_checks(),
                             instance=instance, resources=resources, tags=tags,
                             run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
        wall = time.monotonic() - started
        assert result.success
        record = instance.get_run_record_by_id(result.run_id)
    return {"wall": wall, "run": record.end_time - record.start_time, "data": sum(data_seconds),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child_postgresql_function(args: argparse.Namespace) -> dict:
    """ClickHouse pulling the same days itself, into a copy of fact_impressions in the same
    engine; then both copies' fingerprints compared day by day."""
    from adtech_assets.defs.resources import ClickHouseResource
    from adtech_assets.engine.fingerprints import clickhouse_day_fingerprints

    pg = urlsplit(args.pg_url)
    first, end = date.fromisoformat(args.first), date.fromisoformat(args.last) + timedelta(days=1)
    copy = "_bench_postgresql_function"
    with ClickHouseResource(url=f"chdb://{args.ch_path}").session() as ch:
        ch.command("ops/drop_table", table=copy)
        ch.command("ops/create_staging", staging=copy, target="fact_impressions")
        started = time.monotonic()
        pull = (Path(__file__).parent / "sql" / "pull_with_postgresql_function.sql").read_text()
        ch.client.command(pull.replace("{table:Identifier}", copy), parameters={
            "host_port": f"{pg.hostname}:{pg.port or 5432}", "database": pg.path.lstrip("/"),
            "user": pg.username or "postgres", "password": pg.password or "",
            "start": datetime.combine(first, datetime.min.time()), "end": datetime.combine(end, datetime.min.time())})
        seconds = time.monotonic() - started
        theirs = clickhouse_day_fingerprints(ch, copy, "impression_id", first, end)
        ours = clickhouse_day_fingerprints(ch, "fact_impressions", "impression_id", first, end)
        ch.command("ops/drop_table", table=copy)
    return {"seconds": seconds, "rows": sum(f.rows for f in theirs.values()), "same_as_ours": theirs == ours}


def run_child(kind: str, args: argparse.Namespace, ch_path: Path, first: date, last: date, env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--pg-url", args.pg_url, "--ch-path", str(ch_path),
         "--first", first.isoformat(), "--last", last.isoformat()],
        capture_output=True, text=True, env=env,
    )
    if out.returncode:
        sys.exit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- whole commands
def kpi_latency(ch_path: Path) -> float:
    from adtech_assets.defs.resources import ClickHouseResource

    samples = []
    with ClickHouseResource(url=f"chdb://{ch_path}").session() as ch:
        for _ in range(11):
            started = time.perf_counter()
            ch.client.query_arrow("SELECT * FROM analytics.mv_campaign_ctr ORDER BY ctr DESC")
            samples.append(time.perf_counter() - started)
    return statistics.median(samples[1:])


def add_impressions(pg_url: str, count: int, day: date | None = None) -> int:
    """``count`` new impressions on ``day`` (default: today, up to now); returns the day's rows."""
    from adtech_assets.db.postgres import sample_data as sd
    from adtech_assets.defs.resources import PostgresResource

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    midnight = datetime.combine(day or now.date(), datetime.min.time())
    end = now if day is None else midnight + timedelta(days=1)
    sd.seed_impressions(PostgresResource(url=pg_url), count, sd.SeedWindow(start=midnight, end=end))
    with psycopg.connect(pg_url) as conn:
        return conn.execute("SELECT count(*) FROM impressions WHERE created_at >= %s AND created_at < %s",
                            (midnight, midnight + timedelta(days=1))).fetchone()[0]


def syncs_after_new_rows(pg_url: str, env: dict, day: date | None = None) -> tuple[list[float], int, str]:
    """Three times: 1,000 new impressions on ``day``, then ``adtech sync``; the seconds of each
    sync, the day's rows at the last, and the last sync's output."""
    seconds = []
    for _ in range(3):
        rows = add_impressions(pg_url, 1000, day)
        took, output = run([str(ADTECH), "sync"], env)
        seconds.append(took)
    return seconds, rows, output


def last_number(pattern: str, text: str) -> list[float]:
    match = re.search(pattern, text)
    if not match:
        sys.exit(f"no figure matching {pattern!r} in:\n{text[-3000:]}")
    return [float(g) for g in match.groups()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impressions", type=int, default=10_000_000)
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--child", choices=["load", "postgresql_function"], help=argparse.SUPPRESS)
    parser.add_argument("--ch-path", help=argparse.SUPPRESS)
    parser.add_argument("--first", help=argparse.SUPPRESS)
    parser.add_argument("--last", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.pg_url = args.pg_url or os.environ.get("ADTECH_BENCH_PG_URL") or default_pg_url(args.impressions)
    if args.child:
        child = child_load if args.child == "load" else child_postgresql_function
        print(json.dumps(child(args)))
        return

    ensure_database(args.pg_url)
    ensure_data(args.pg_url, args.impressions)
    with psycopg.connect(args.pg_url) as conn:
        first, last, rows = conn.execute(
            "SELECT min(created_at)::date, max(created_at)::date, count(*) FROM impressions").fetchone()
    days = (last - first).days + 1
    floor = min(read_floor(args.pg_url) for _ in range(2))
    figures = []  # (label, measured, floor text, within the floor?)

    with tempfile.TemporaryDirectory(prefix="adtech-bench-") as tmp:
        ch_path = Path(tmp) / "clickhouse"
        env = {**os.environ, "ADTECH_PG_URL": args.pg_url, "ADTECH_CLICKHOUSE_URL": f"chdb://{ch_path}",
               "DAGSTER_HOME": str(Path(tmp) / "dagster"), "ADTECH_DATA_DIR": str(Path(tmp) / "data")}
        for name in ("ADTECH_SYNC_INTERVAL_SECONDS", "ADTECH_VERIFY_INTERVAL_SECONDS", "ADTECH_PARTITIONS_START"):
            env.pop(name, None)  # the defaults, as a user has them
        Path(env["DAGSTER_HOME"]).mkdir()
        (Path(env["DAGSTER_HOME"]) / "dagster.yaml").write_text(instance_yaml(Path(env["DAGSTER_HOME"])))  # what adtech writes

        full = run_child("load", args, ch_path, first, last, env)
        print(f"31-day load: {json.dumps(full)}", flush=True)
        middle = first + timedelta(days=days // 2)
        reload = run_child("load", args, ch_path, middle, middle, env)
        print(f"one day: {json.dumps(reload)}", flush=True)
        pulled = run_child("postgresql_function", args, ch_path, first, last, env)
        print(f"postgresql(): {json.dumps(pulled)}", flush=True)

        first_sync, output = run([str(ADTECH), "sync"], env)
        print(f"first sync after the backfill: {first_sync:.2f} s\n{output.strip()}", flush=True)
        latency = kpi_latency(ch_path)

        # what a process costs before it does anything: the modules of a pass with nothing to do,
        # and those of a pass that runs (Dagster's)
        startup = min(run([sys.executable, "-c", "import adtech_assets.cli.main, adtech_assets.cli.sync.plan"],
                                    env)[0] for _ in range(3))
        startup_dagster = min(run([sys.executable, "-c", "import adtech_assets.cli.main, adtech_assets.cli.sync.runs"],
                                            env)[0] for _ in range(3))
        noop = []
        for _ in range(5):
            seconds, output = run([str(ADTECH), "sync"], env)
            assert "nothing to load (0 Dagster runs)" in output, output
            noop.append(seconds)
        print(f"no-op syncs: {', '.join(f'{s:.2f}' for s in noop)} s", flush=True)
        small, today_rows, output = syncs_after_new_rows(args.pg_url, env)
        print(f"syncs after 1,000 new: {', '.join(f'{s:.2f}' for s in small)} s\n{output.strip()}", flush=True)
        # today may be a few minutes old; late rows on a whole day are the same work at any hour
        late, late_rows, output = syncs_after_new_rows(args.pg_url, env, middle)
        print(f"syncs after 1,000 late on {middle}: {', '.join(f'{s:.2f}' for s in late)} s\n{output.strip()}",
              flush=True)

        _, output = run([sys.executable, str(BENCHMARKS / "sensor_tick.py"), "--pg-url", args.pg_url], env)
        (tick_ms,) = last_number(r"idle tick[^\n]*median ([\d.]+) ms", output)
        _, output = run([sys.executable, str(BENCHMARKS / "freshness.py"), "--repeat", "10",
                                   "--log", str(Path(tmp) / "dagster-dev.log")], env)
        print(output.strip(), flush=True)
        fresh_median, fresh_max = last_number(r"median ([\d.]+) s, max ([\d.]+) s", output)

    figures += [
        (f"read floor: psql binary COPY of {days} days to /dev/null", f"{floor:.2f} s", "", None),
        (f"{days}-day load through the asset code: data time / read floor",
         f"{full['data'] / floor:.2f} ({full['data']:.2f} s, {rows / full['data']:,.0f} rows/s)", "<= 1.3",
         full["data"] / floor <= 1.3),
        ("  same, the run's wall time through Dagster / read floor",
         f"{full['wall'] / floor:.2f} ({full['wall']:.2f} s; run record {full['run']:.2f} s)", "<= 1.6",
         full["wall"] / floor <= 1.6),
        ("  same days by ClickHouse's postgresql() into chDB / read floor",
         f"{pulled['seconds'] / floor:.2f} ({pulled['seconds']:.2f} s, {pulled['rows']:,} rows, "
         f"{'equal to ours' if pulled['same_as_ours'] else 'DIFFERENT from ours'})",
         "slower than ours", pulled["seconds"] >= full["data"]),
        ("peak RSS of the loading process", f"{full['peak_rss_mib']:.0f} MiB", "<= 1024 MiB",
         full["peak_rss_mib"] <= 1024),
        (f"one day's reload ({middle}), wall time of the run",
         f"{reload['wall']:.2f} s (data {reload['data']:.2f} s; run record {reload['run']:.2f} s)", "<= 1 s",
         reload["wall"] <= 1),
        ("first adtech sync after the backfill (dims, clicks, rollup, views)", f"{first_sync:.2f} s", "", None),
        ("mv_campaign_ctr, median of 10", f"{latency * 1000:.1f} ms", "<= 15 ms", latency <= 0.015),
        ("no-op adtech sync, whole command, median of 5",
         f"{statistics.median(noop):.2f} s (start-up floor: imports {startup:.2f} s)", "<= 3 s",
         statistics.median(noop) <= 3),
        ("adtech sync after 1,000 new impressions on today, median of 3",
         f"{statistics.median(small):.2f} s (today: {today_rows:,} rows; imports with Dagster "
         f"{startup_dagster:.2f} s)", "<= 5 s", statistics.median(small) <= 5),
        (f"  same, 1,000 late impressions on {middle}, median of 3",
         f"{statistics.median(late):.2f} s (the day: {late_rows:,} rows)", "<= 5 s", statistics.median(late) <= 5),
        ("new impression -> mv_daily_performance, dg dev running, 10 tries",
         f"median {fresh_median:.1f} s, max {fresh_max:.1f} s", "<= 15 s, <= 30 s",
         fresh_median <= 15 and fresh_max <= 30),
        ("idle sensor tick, median of 20", f"{tick_ms:.1f} ms", "<= 20 ms", tick_ms <= 20),
    ]
    print(f"\n{rows:,} impressions over {days} days ({first} .. {last}), {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print_figures(figures)


if __name__ == "__main__":
    main()
