"""Freshness: seconds from a change in Postgres to ``mv_daily_performance``, daemon running.

    uv run python benchmarks/freshness.py [--change insert|update|delete] [--repeat 3] [--url http://127.0.0.1:3000]

``--change insert`` (default) inserts one impression created now; ``update`` moves the newest
impression of an earlier day to now (today's count goes up, with no new row: only the write
counters and the fingerprints can see it); ``delete`` deletes one of today's impressions.

Without ``--url`` it starts ``dg dev`` (webserver + daemon, sensors running) in the
background on the current configuration: the embedded engines under ``ADTECH_DATA_DIR`` unless
``ADTECH_PG_URL`` / ``ADTECH_CLICKHOUSE_URL`` say otherwise, ``DAGSTER_HOME`` defaulting to
``<data dir>/dagster`` as for the CLI, and ``ADTECH_SYNC_INTERVAL_SECONDS`` (default 5). It
waits until the runs of the first sync are over, then, ``--repeat`` times, at a random moment
of the sensor interval: inserts one impression created now (UTC) and polls the view once a
second until today's impressions went up. Nothing else writes meanwhile, so that impression is
the one that arrived. Each line says where the time went (sensor tick, run queue, run).

The poller opens and closes its ClickHouse session on every poll: on the embedded engine one
process at a time holds the data directory, so a session kept open would stall the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from dg_dev import start_dagster_dev, stop  # noqa: E402

from adtech_assets.cli.home import dagster_home  # noqa: E402
from adtech_assets.defs.resources import ClickHouseResource, PostgresResource  # noqa: E402
from adtech_assets.settings import CLICKHOUSE_URL, PG_URL, sync_interval_seconds  # noqa: E402

SENSOR_RUNS = """{ runsOrError(filter: {tags: [{key: "dagster/sensor_name", value: "postgres_changes"}]}, limit: 5) {
  ... on Runs { results { runId creationTime startTime endTime } } } }"""
IN_FLIGHT = """{ runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED]}) {
  ... on Runs { results { runId } } } }"""
TODAYS_IMPRESSIONS = "SELECT sum(impressions) FROM analytics.mv_daily_performance WHERE event_date = {day:Date}"
CHANGES = {  # statement, and the sign of the change it makes to today's impressions
    "insert": ("INSERT INTO impressions (campaign_id, created_at) "
               "SELECT min(id), now() AT TIME ZONE 'utc' FROM campaign", 1),
    "update": ("UPDATE impressions SET created_at = now() AT TIME ZONE 'utc' WHERE id = "
               "(SELECT max(id) FROM impressions WHERE created_at < (now() AT TIME ZONE 'utc')::date)", 1),
    "delete": ("DELETE FROM impressions WHERE id = "
               "(SELECT max(id) FROM impressions WHERE created_at >= (now() AT TIME ZONE 'utc')::date)", -1),
}


def graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]



def start_ui(log: Path) -> tuple[subprocess.Popen, str]:
    home = dagster_home()  # as for the CLI: the instance settings adtech writes for a new home
    return start_dagster_dev({**os.environ, "DAGSTER_HOME": str(home)}, log)




def wait_until_idle(url: str, quiet_seconds: float, timeout: float) -> None:
    """No run queued or in progress for ``quiet_seconds`` (sensor ticks included)."""
    deadline, quiet_since = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            busy = graphql(url, IN_FLIGHT)["runsOrError"]["results"]
        except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError, TypeError):
            busy, quiet_since = True, None
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_seconds:
            return
        time.sleep(1)
    raise SystemExit(f"dagster dev at {url} did not become idle within {timeout:.0f} s")


def todays_impressions(clickhouse: ClickHouseResource) -> int:
    day = datetime.now(timezone.utc).date()
    with clickhouse.session() as ch:  # opened and closed on every poll: see the module docstring
        return int(ch.client.query(TODAYS_IMPRESSIONS, parameters={"day": day}).result_rows[0][0] or 0)


def measure_once(postgres: PostgresResource, clickhouse: ClickHouseResource, change: str,
                 timeout: float) -> tuple[float, float]:
    """Seconds until the view shows the change, and the wall-clock time of the change."""
    statement, sign = CHANGES[change]
    before = todays_impressions(clickhouse)
    with postgres.connect() as conn:
        conn.execute(statement)
    changed, changed_at = time.monotonic(), time.time()
    while time.monotonic() - changed < timeout:
        time.sleep(1)
        if (todays_impressions(clickhouse) - before) * sign > 0:
            return time.monotonic() - changed, changed_at
    raise SystemExit(f"the {change} did not reach mv_daily_performance within {timeout:.0f} s")


def breakdown(url: str, inserted_at: float) -> str:
    """Where the time went: waiting for the sensor tick, in the run queue, in the run."""
    runs = [run for run in graphql(url, SENSOR_RUNS)["runsOrError"]["results"] if run["creationTime"] >= inserted_at]
    if not runs:
        return "no postgres_changes run found"
    run = min(runs, key=lambda r: r["creationTime"])
    started, ended = run["startTime"] or run["creationTime"], run["endTime"] or time.time()
    return (f"sensor tick after {run['creationTime'] - inserted_at:.1f} s, queued {started - run['creationTime']:.1f} s, "
            f"run {ended - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running dagster dev / webserver (default: start one)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--change", choices=sorted(CHANGES), default="insert")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for each impression")
    parser.add_argument("--log", type=Path, default=Path("/tmp/adtech-freshness-dagster.log"))
    args = parser.parse_args()

    postgres = PostgresResource(url=os.environ.get(PG_URL) or None)
    clickhouse = ClickHouseResource(url=os.environ.get(CLICKHOUSE_URL) or None, lock_timeout_seconds=600)
    process = None
    url = args.url
    if not url:
        process, url = start_ui(args.log)
        print(f"started dagster dev at {url} (log: {args.log})", flush=True)
    try:
        wait_until_idle(url, quiet_seconds=2 * sync_interval_seconds() + 5, timeout=900)
        print(f"idle; sensor interval {sync_interval_seconds()} s; measuring {args.repeat} time(s)", flush=True)
        seconds = []
        for attempt in range(1, args.repeat + 1):
            # At a random moment of the sensor's interval, as a user's write would be.
            time.sleep(random.uniform(0, sync_interval_seconds()))
            elapsed, inserted_at = measure_once(postgres, clickhouse, args.change, args.timeout)
            seconds.append(elapsed)
            wait_until_idle(url, quiet_seconds=5, timeout=600)
            print(f"{args.change} {attempt}: visible in mv_daily_performance after {elapsed:.1f} s "
                  f"({breakdown(url, inserted_at)})", flush=True)
        print(f"freshness of an {args.change}: min {min(seconds):.1f} s, median {statistics.median(seconds):.1f} s, "
              f"max {max(seconds):.1f} s over {len(seconds)}")
    finally:
        if process is not None:
            stop(process, grace=15)


if __name__ == "__main__":
    main()
