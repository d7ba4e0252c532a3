"""Click-to-start of a backfill launched from the UI: seconds from ``launchPartitionBackfill`` (the
GraphQL mutation the UI's *Launch backfill* sends) to its run's creation and start.

    uv run python benchmarks/backfill_start.py [--repeat 5] [--days 3] [--url http://127.0.0.1:3000]

Without ``--url`` it builds a throwaway setup in a temporary folder, as a new user has it:
embedded Postgres and ClickHouse under its own ``ADTECH_DATA_DIR`` (``ADTECH_PG_URL`` is
ignored), a new ``DAGSTER_HOME`` with the ``dagster.yaml`` adtech writes, a small sample
(``adtech migrate``, ``seed batch``, ``sync``), then ``dg dev``. With ``--url`` it uses that
running webserver and its instance as they are.

Each try, once no run is queued or in progress and after a random pause (``--spread``, default
30 s: a click comes at any moment of the daemon's loop): a backfill of the facts and the rollup
over the ``--days`` days before today (one run: their backfill policy is single-run), and the
times, read from the run's own record, at which the backfill's run was created (the backfill
daemon took it up) and started (the run queue launched it, its process began), then finished.
Then the floor: the same days as one run launched directly (``launchRun`` of ``load_days`` with
the partition range tags, as ``dg launch --partition-range`` does), which no backfill daemon
stands before: its click-to-start is the run queue and the run process's start alone.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dg_dev import start_dagster_dev, stop  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ADTECH = PROJECT_ROOT / ".venv" / "bin" / "adtech"
ASSETS = [["analytics", "fact_impressions"], ["analytics", "fact_clicks"], ["analytics", "agg_campaign_daily"]]

LAUNCH_BACKFILL = """mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on Error { message }
  }
}"""
LAUNCH_RUN = """mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on Error { message }
  }
}"""
RUN = """query Run($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { runId status creationTime startTime endTime } }
}"""
BACKFILL_RUNS = """query Runs($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { runId status creationTime startTime endTime } }
  }
}"""
BACKFILL_STATUS = """query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } }
}"""
IN_FLIGHT = """{ runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED]}) {
  ... on Runs { results { runId } } } }"""
DAEMONS = """{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }"""
ASSET_GRAPH = "{ assetNodes { assetKey { path } } }"
LOCATION, REPOSITORY, JOB = "adtech_assets", "__repository__", "load_days"
BACKFILL_DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def graphql(url: str, query: str, **variables) -> dict:
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(f"{url}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.load(response)
    if answer.get("errors"):
        raise SystemExit(f"GraphQL error: {answer['errors']}")
    return answer["data"]


def wait_for(what: str, check, timeout: float, interval: float = 1.0):
    """``check()``'s first truthy answer; a webserver not answering yet counts as falsy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            answer = check()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            answer = None
        if answer:
            return answer
        time.sleep(interval)
    raise SystemExit(f"{what}: not within {timeout:.0f} s")



def adtech(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(ADTECH), *args], env=env, cwd=PROJECT_ROOT, check=True, stdout=subprocess.DEVNULL)


def throwaway_setup(folder: Path, days: int) -> dict[str, str]:
    """A new user's setup in ``folder``: its environment, migrated, seeded and synced."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADTECH_", "DAGSTER_"))}
    env.update(ADTECH_DATA_DIR=str(folder / "data"), DAGSTER_HOME=str(folder / "dagster_home"))
    adtech(env, "migrate")  # also writes the new home's dagster.yaml
    adtech(env, "seed", "batch", "--advertisers", "5", "--campaigns", "20", "--impressions", "5000",
           "--days", str(days + 1), "--seed", "0.25")
    adtech(env, "sync")  # so that the sensors find nothing to do
    return env





def idle(url: str) -> bool:
    return not graphql(url, IN_FLIGHT)["runsOrError"]["results"]


def backfill_daemon_healthy(url: str) -> bool:
    statuses = graphql(url, DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
    return any(s["daemonType"] == "BACKFILL" and s["healthy"] for s in statuses)


def measure_once(url: str, partitions: list[str], timeout: float) -> dict[str, float]:
    """Seconds from the mutation to the run's creation, start and end, and the backfill's end."""
    clicked = time.time()
    launched = graphql(url, LAUNCH_BACKFILL, params={
        "assetSelection": [{"path": path} for path in ASSETS], "partitionNames": partitions,
    })["launchPartitionBackfill"]
    if launched["__typename"] != "LaunchBackfillSuccess":
        raise SystemExit(f"launchPartitionBackfill: {launched}")
    backfill_id = launched["backfillId"]

    def run_started() -> dict | None:
        runs = graphql(url, BACKFILL_RUNS, id=backfill_id)["runsOrError"]["results"]
        return runs[0] if runs and runs[0]["startTime"] else None

    run = wait_for(f"the run of backfill {backfill_id}", run_started, timeout, interval=0.2)
    run = wait_for(f"the end of the run {run['runId']}",
                   lambda: next((r for r in graphql(url, BACKFILL_RUNS, id=backfill_id)["runsOrError"]["results"]
                                 if r["endTime"]), None), timeout, interval=0.5)
    wait_for(f"the end of backfill {backfill_id}", lambda: graphql(url, BACKFILL_STATUS, id=backfill_id)
             ["partitionBackfillOrError"]["status"] in BACKFILL_DONE, timeout, interval=0.5)
    backfill_done = time.time()
    return {"created": run["creationTime"] - clicked, "started": run["startTime"] - clicked,
            "run": run["endTime"] - run["startTime"], "backfill done": backfill_done - clicked,
            "status": run["status"]}


def floor_once(url: str, partitions: list[str], timeout: float) -> dict[str, float]:
    """Seconds from ``launchRun`` of the same days as one run to its creation and start."""
    clicked = time.time()
    launched = graphql(url, LAUNCH_RUN, params={
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": JOB},
        "executionMetadata": {"tags": [{"key": "dagster/asset_partition_range_start", "value": partitions[0]},
                                       {"key": "dagster/asset_partition_range_end", "value": partitions[-1]}]},
    })["launchRun"]
    if launched["__typename"] != "LaunchRunSuccess":
        raise SystemExit(f"launchRun: {launched}")
    run_id = launched["run"]["runId"]
    run = wait_for(f"the start of run {run_id}", lambda: (r := graphql(url, RUN, runId=run_id)["runOrError"])
                   ["startTime"] and r, timeout, interval=0.2)
    wait_for(f"the end of run {run_id}", lambda: graphql(url, RUN, runId=run_id)["runOrError"]["endTime"],
             timeout, interval=0.5)
    return {"created": run["creationTime"] - clicked, "started": run["startTime"] - clicked}


def summary(label: str, values: list[float]) -> str:
    return f"{label}: median {statistics.median(values):.1f} s, max {max(values):.1f} s over {len(values)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running dg dev / webserver (default: a throwaway setup)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--days", type=int, default=3, help="the backfill's days: this many before today")
    parser.add_argument("--spread", type=float, default=30, help="seconds of random pause before each try")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for each step of a try")
    args = parser.parse_args()

    today = datetime.now(timezone.utc).date()
    partitions = [(today - timedelta(days=n)).isoformat() for n in range(args.days, 0, -1)]
    folder = process = env = None
    url = args.url
    try:
        if not url:
            folder = Path(tempfile.mkdtemp(prefix="adtech-backfill-start-"))
            env = throwaway_setup(folder, args.days)
            print(f"setup in {folder}: {(Path(env['DAGSTER_HOME']) / 'dagster.yaml')}", flush=True)
            process, url = start_dagster_dev(env, folder / "dg-dev.log")
            print(f"started dg dev at {url} (log: {folder / 'dg-dev.log'})", flush=True)
        wait_for("the asset graph", lambda: graphql(url, ASSET_GRAPH)["assetNodes"], 600)
        wait_for("the backfill daemon", lambda: backfill_daemon_healthy(url), 600)
        tries, floors = [], []
        for attempt in range(1, args.repeat + 1):
            wait_for("no run in flight", lambda: idle(url), 900)
            time.sleep(random.uniform(0, args.spread))  # at any moment of the daemon's loop
            seconds = measure_once(url, partitions, args.timeout)
            tries.append(seconds)
            wait_for("no run in flight", lambda: idle(url), 900)
            floor = floor_once(url, partitions, args.timeout)
            floors.append(floor)
            print(f"try {attempt}: backfill's run created {seconds['created']:.1f} s after the click, started "
                  f"{seconds['started']:.1f} s; run {seconds['run']:.1f} s ({seconds['status']}); backfill done "
                  f"{seconds['backfill done']:.1f} s | launchRun: created {floor['created']:.1f} s, started "
                  f"{floor['started']:.1f} s", flush=True)
        print(f"{len(partitions)} days, {args.repeat} tries")
        print(summary("click to the backfill's run created", [t["created"] for t in tries]))
        print(summary("click to the backfill's run started", [t["started"] for t in tries]))
        print(summary("click to the backfill done", [t["backfill done"] for t in tries]))
        print(summary("floor, launchRun of the same days: click to run started", [f["started"] for f in floors]))
    finally:
        if process is not None:
            stop(process)
        if folder is not None:
            adtech(env, "stop")  # the throwaway embedded Postgres
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
