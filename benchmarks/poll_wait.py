"""What a reader waits on the embedded engine while the pipeline loads: ``adtech query`` during a
31-day load and during the daemon's small loads, each beside its floor, in one run; not a test.

    uv run python benchmarks/poll_wait.py [--pg-url URL] [--seconds 60] [--small]

On chDB one process at a time holds the data directory (a file lock:
``adtech_assets/db/clickhouse/client.py``); the holder answers readers on connections of its own
(``read_service.py``), so a reader should not wait for a run. Before that, it waited for whatever
held the engine, a whole run (commit 0f6151b: a poll during a 31-day load waited 4.95 s). A *poll* is
the whole command ``adtech query "SELECT sum(impressions) FROM analytics.mv_daily_performance"``
(subprocess wall clock, exit 0 required); its *wait* is its seconds minus the floor: the median
of 7 polls with nothing else using the engine, taken after the first sync and again at the end
(dg dev stopped), the lower of the two: right after a first sync polls were seen slower (about
1.0 s against 0.65 s a minute later, 200,000 impressions, 2 busy cores), and other work on the
machine can slow either half; a floor too high would hide waits.

On a fresh embedded ClickHouse and Dagster home (a temporary folder, the ``dagster.yaml`` adtech
writes, every other setting its default), the source ``--pg-url`` (default ``adtech_bench``, 10M
impressions over 31 days; ``--small``: ``adtech_pollwait``, seeded here once with 200,000):

  setup     ``adtech migrate``, one ``adtech sync`` (loads everything), the floor's first half
  31 days   ``dg launch`` of fact_impressions over every day of the source (one run, in the
            background); polls back to back from 0.5 s after its start until it exits
  daemon    ``dg dev`` (sensors, default interval), once its first runs are over: for
            ``--seconds``, 1,000 impressions created now inserted every 3 s (a thread), polls back
            to back; the runs it made and the polls that overlapped one, from its GraphQL API;
            then, dg dev stopped, the floor's second half

During the 31-day load the first polls come before the run's step opens the engine (its process
starts for seconds): the median says how much of the run a reader is free, the max what one
reader that comes during the load waits. A poll overlapping a run did not necessarily wait for it: a run holds the engine only while a
step has its session open, not while its process starts. Sensor ticks that open the engine are
not runs and are not counted, though a poll may wait for them too.

With the default change source (auto) a pass creates the replication slot ``adtech_<database>``;
one this run created is dropped at the end (its ClickHouse is gone, and the slot would keep WAL).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psycopg

# The benchmark's settings are its own (the defaults, as a user has them); the caller's would
# make this process (the sensor interval it reads) and the commands disagree.
for _name in [n for n in os.environ if n.startswith("ADTECH_")]:
    del os.environ[_name]

from commands import PROJECT_ROOT, run  # noqa: E402
from dg_dev import DG, start_dagster_dev, stop  # noqa: E402
from figures import print_figures  # noqa: E402
from freshness import graphql, wait_until_idle  # noqa: E402
from load_benchmark import add_impressions, ensure_database  # noqa: E402

from adtech_assets.cli.home import instance_yaml  # noqa: E402
from adtech_assets.db.postgres.change_log import default_slot_name  # noqa: E402
from adtech_assets.settings import sync_interval_seconds  # noqa: E402

ADTECH = PROJECT_ROOT / ".venv" / "bin" / "adtech"
POLL_SQL = "SELECT sum(impressions) FROM analytics.mv_daily_performance"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/adtech_bench"
SMALL_PG_URL = "postgresql://postgres@127.0.0.1:5432/adtech_pollwait"
FACT = "analytics/fact_impressions"
FLOOR_POLLS = 7
INSERT_EVERY, INSERT_ROWS = 3.0, 1000
RUNS = """{ runsOrError(limit: 500) { ... on Runs { results {
  runId status creationTime startTime endTime tags { key value } } } } }"""


@dataclass(frozen=True)
class Poll:
    started: float  # wall clock (time.time()), to set beside the runs' times
    seconds: float
    said_waiting: bool  # adtech query's notice that another process holds the engine


def poll(env: dict[str, str], timeout: float) -> Poll:
    """One ``adtech query``, timed around the whole command; a failure ends the benchmark."""
    started_at, started = time.time(), time.monotonic()
    try:
        out = subprocess.run([str(ADTECH), "query", POLL_SQL], cwd=PROJECT_ROOT, env=env, capture_output=True,
                             text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        sys.exit(f"adtech query did not finish within {timeout:.0f} s")
    seconds = time.monotonic() - started
    if out.returncode:
        print(f"adtech query failed ({out.returncode}):\n{out.stderr[-3000:]}", file=sys.stderr, flush=True)
        sys.exit(1)
    return Poll(started_at, seconds, "adtech: waiting for" in out.stderr)


def floor_polls(env: dict[str, str], args: argparse.Namespace, when: str) -> float:
    """The median of 7 polls, nothing else using the engine."""
    seconds = [poll(env, args.poll_timeout).seconds for _ in range(FLOOR_POLLS)]
    print(f"floor {when}: {', '.join(f'{s:.2f}' for s in seconds)} s; median {statistics.median(seconds):.2f} s",
          flush=True)
    return statistics.median(seconds)


def waits(polls: list[Poll], floor: float) -> list[float]:
    return [p.seconds - floor for p in polls]


# ---------------------------------------------------------------- 1. during a 31-day load
def during_load(env: dict[str, str], first: str, last: str, log: Path, args: argparse.Namespace
                ) -> tuple[list[Poll], float, float]:
    """Polls back to back while ``dg launch`` reloads every day; (polls, launch start (wall
    clock), the launch's whole seconds). Each poll started while the launch was still running."""
    argv = [str(DG), "launch", "--assets", FACT, "--partition-range", f"{first}...{last}"]
    with log.open("w") as out:
        started_at, started = time.time(), time.monotonic()
        launch = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    ended: list[float] = []  # when it exited, as the waiter saw it (not after the poll then running)

    def waiter() -> None:
        try:
            launch.wait(timeout=args.run_timeout)
        except subprocess.TimeoutExpired:
            return
        ended.append(time.monotonic())

    watcher = threading.Thread(target=waiter, daemon=True)
    watcher.start()
    polls = []
    try:
        time.sleep(0.5)
        while not ended and time.monotonic() - started < args.run_timeout:
            polls.append(poll(env, args.poll_timeout))
        watcher.join(timeout=5)
        if not ended:
            sys.exit(f"dg launch did not finish within {args.run_timeout:.0f} s")
    finally:
        stop(launch, grace=10)
    if launch.returncode:
        sys.exit(f"{' '.join(argv)} failed ({launch.returncode}):\n{log.read_text()[-3000:]}")
    return polls, started_at, ended[0] - started


# ---------------------------------------------------------------- 2. with the daemon's small loads
def insert_every(pg_url: str, stopped: threading.Event, inserted: list[float], errors: list[Exception]) -> None:
    """1,000 impressions created now, every 3 s on the clock (not 3 s after the last insert ended)."""
    started = time.monotonic()
    try:
        while not stopped.is_set():
            add_impressions(pg_url, INSERT_ROWS)
            inserted.append(time.time())
            stopped.wait(INSERT_EVERY - (time.monotonic() - started) % INSERT_EVERY)
    except Exception as exc:  # reported by the main thread
        errors.append(exc)


def wait_until_serving(process: subprocess.Popen, url: str, timeout: float) -> None:
    """dg dev answers GraphQL; a dg dev that exits ends the benchmark at once, not after a timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"dg dev exited ({process.returncode}) before it served")
        try:
            graphql(url, "{ version }")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError, TypeError):
            time.sleep(1)
    raise SystemExit(f"dg dev at {url} did not serve within {timeout:.0f} s")


def origin(run: dict) -> str:
    tags = {t["key"]: t["value"] for t in run["tags"]}
    for key, kind in (("dagster/sensor_name", "sensor"), ("dagster/schedule_name", "schedule")):
        if key in tags:
            return f"{kind} {tags[key]}"
    return "backfill" if "dagster/backfill" in tags else "other"


def with_daemon(env: dict[str, str], log: Path, args: argparse.Namespace
                ) -> tuple[list[Poll], list[dict], int, float]:
    """Polls back to back for ``--seconds`` while 1,000 new impressions arrive every 3 s and the
    daemon loads them; (polls, the runs created in that window or still running in it, inserts,
    the window's start, wall clock)."""
    process, url = start_dagster_dev(env, log)
    print(f"dg dev at {url} (log {log}); waiting for its first runs to end", flush=True)
    try:
        wait_until_serving(process, url, timeout=300)
        wait_until_idle(url, quiet_seconds=2 * sync_interval_seconds() + 5, timeout=900)
        stopped, inserted, errors = threading.Event(), [], []
        inserter = threading.Thread(target=insert_every, args=(args.pg_url, stopped, inserted, errors), daemon=True)
        window_start = time.time()
        inserter.start()
        polls = []
        try:
            while time.time() - window_start < args.seconds and not errors:
                polls.append(poll(env, args.poll_timeout))
        finally:
            stopped.set()
            inserter.join(timeout=60)
        if errors:
            raise errors[0]
        window_end = time.time()
        runs = [run for run in graphql(url, RUNS)["runsOrError"]["results"]
                if run["creationTime"] <= window_end and (run["endTime"] or window_end) >= window_start]
        return polls, runs, len(inserted), window_start
    except BaseException:
        print(f"dg dev's log, the end:\n{log.read_text()[-3000:]}", flush=True)
        raise
    finally:
        stop(process, grace=15)


def overlaps(p: Poll, run: dict, now: float) -> bool:
    begun, ended = run["startTime"] or run["creationTime"], run["endTime"] or now
    return p.started < ended and begun < p.started + p.seconds


# ---------------------------------------------------------------- setup and the table
def slot_exists(pg_url: str, slot: str) -> bool:
    with psycopg.connect(pg_url, connect_timeout=10) as conn:
        return conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone() is not None


def describe(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s, max {max(values):.2f} s" if values else "no polls"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", help=f"the source (default {DEFAULT_PG_URL}; with --small {SMALL_PG_URL})")
    parser.add_argument("--small", action="store_true",
                        help="a quick check: its own database, seeded once with 200,000 impressions over 30 days")
    parser.add_argument("--seconds", type=float, default=60, help="of polling with the daemon's small loads")
    parser.add_argument("--poll-timeout", type=float, default=600, help="seconds one adtech query may take")
    parser.add_argument("--run-timeout", type=float, default=1800, help="seconds the 31-day dg launch may take")
    args = parser.parse_args()
    args.pg_url = args.pg_url or (SMALL_PG_URL if args.small else DEFAULT_PG_URL)
    database = args.pg_url.rsplit("/", 1)[1]
    slot = default_slot_name(database)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; source {database}", flush=True)

    if args.small:
        ensure_database(args.pg_url)
    had_slot = slot_exists(args.pg_url, slot)
    with tempfile.TemporaryDirectory(prefix="adtech-poll-wait-") as tmp:
        tmp = Path(tmp)
        home = tmp / "dagster"
        env = {**os.environ, "ADTECH_PG_URL": args.pg_url, "ADTECH_CLICKHOUSE_URL": f"chdb://{tmp / 'clickhouse'}",
               "ADTECH_DATA_DIR": str(tmp / "data"), "DAGSTER_HOME": str(home)}
        home.mkdir()
        (home / "dagster.yaml").write_text(instance_yaml(home))  # what adtech writes
        try:
            # 0. setup and the floor
            run([str(ADTECH), "migrate"], env, timeout=600)
            if args.small:
                _, said = run([str(ADTECH), "seed", "batch", "--impressions", "200000", "--days", "30",
                                   "--if-empty"], env, timeout=600)
                print(said.strip(), flush=True)
            with psycopg.connect(args.pg_url, connect_timeout=10) as conn:
                first, last, rows = conn.execute(
                    "SELECT min(created_at)::date, max(created_at)::date, count(*) FROM impressions").fetchone()
            days = (last - first).days + 1
            print(f"{rows:,} impressions over {days} days ({first} .. {last})", flush=True)
            seconds, said = run([str(ADTECH), "sync"], env, timeout=3600)
            print(f"first adtech sync: {seconds:.2f} s\n  {said.strip()[-600:].replace(chr(10), chr(10) + '  ')}",
                  flush=True)
            floor_first = floor_polls(env, args, "after the first sync")

            # 1. during a 31-day load
            load_polls, launched_at, run_seconds = during_load(env, first.isoformat(), last.isoformat(),
                                                               tmp / "dg-launch.log", args)
            print(f"{days}-day load: dg launch took {run_seconds:.2f} s; {len(load_polls)} polls "
                  "(start after launch + seconds):", flush=True)
            for p in load_polls:
                said = "  said it waited" if p.said_waiting else ""
                print(f"  +{p.started - launched_at:6.2f}  {p.seconds:6.2f} s{said}", flush=True)

            # 2. with the daemon's small loads
            daemon_polls, runs, inserts, window_start = with_daemon(env, tmp / "dg-dev.log", args)
            now = time.time()
            made = [run for run in runs if run["creationTime"] >= window_start]
            overlapped = [p for p in daemon_polls if any(overlaps(p, run, now) for run in runs)]
            by_origin, by_status = Counter(origin(run) for run in made), Counter(run["status"] for run in made)
            floor_last = floor_polls(env, args, "at the end, dg dev stopped")
            floor = min(floor_first, floor_last)
            print(f"daemon's small loads: {inserts} inserts of {INSERT_ROWS:,}; {len(daemon_polls)} polls, waits "
                  f"{' '.join(f'{w:.2f}' for w in waits(daemon_polls, floor))} s; runs made: {len(made)} "
                  f"({', '.join(f'{n} {o}' for o, n in sorted(by_origin.items())) or 'none'}), "
                  f"status when dg dev stopped: {', '.join(f'{n} {st}' for st, n in sorted(by_status.items()))}",
                  flush=True)
        finally:
            if not had_slot and slot_exists(args.pg_url, slot):
                _, said = run([str(ADTECH), "slot", "--drop"], env, timeout=120)
                print(f"adtech slot --drop: {said.strip()[-300:]}", flush=True)

    load_waits, daemon_waits = waits(load_polls, floor), waits(daemon_polls, floor)
    overlapped_waits = waits(overlapped, floor)
    daemon_median = statistics.median(daemon_waits)
    table = [
        (f"floor: adtech query, nothing else on the engine, median of {FLOOR_POLLS}",
         f"{floor:.2f} s (after the first sync {floor_first:.2f} s, at the end {floor_last:.2f} s)", "", None),
        (f"{days}-day load (dg launch): wait of a poll",
         (f"{describe(load_waits)}; {len(load_polls)} polls, "
          f"{sum(p.said_waiting for p in load_polls)} said they waited"), "none", None),
        ("  the run: dg launch, whole command", f"{run_seconds:.2f} s", "", None),
        (f"daemon's small loads ({INSERT_ROWS:,} new every {INSERT_EVERY:.0f} s, {args.seconds:.0f} s): wait of a poll",
         f"{describe(daemon_waits)}; {len(daemon_polls)} polls", "median wait <= 1 s", daemon_median <= 1),
        ("  polls that overlapped a run", f"{len(overlapped)} ({describe(overlapped_waits)})", "", None),
        ("  runs the daemon made meanwhile", f"{len(made)}", "", None),
    ]
    print(f"\n{rows:,} impressions over {days} days ({first} .. {last}) in {database}; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    print_figures(table, measured_width=72)


if __name__ == "__main__":
    main()
