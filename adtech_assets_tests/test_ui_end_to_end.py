"""The README's promise about the UI: ``uv run dagster dev`` (workspace.yaml) serves the whole
asset graph with its checks, and a fact day launched from it succeeds with passing checks.

``dagster dev`` runs headless on a free port with its own DAGSTER_HOME, the test's Postgres and
a fresh embedded ClickHouse. Its sensors run as they do for a user (their first tick requests
the seeded days), so webserver, daemon, sensor runs and the launched run all share the one
chDB directory: runs queue on its file lock and every one of them must succeed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from adtech_assets.catalog import DIMS, FACTS, KPI_VIEWS
from adtech_assets.db.postgres.sample_data import SeedWindow, seed_batch
from adtech_assets.defs.checks import (
    CHANGE_LOG_KEEPS_UP,
    IDS_MATCH_POSTGRES,
    NO_ROWS_OUTSIDE_PARTITIONS,
    ROW_COUNTS_MATCH_POSTGRES,
    TOTALS_MATCH_FACTS,
)
from adtech_assets.defs.jobs import load_days
from adtech_assets.defs.resources import ClickHouseResource, PostgresResource
from adtech_assets.settings import PROJECT_ROOT

from .helpers import ch_day_count, cli_env, pg_day_count, pg_execute

DAGSTER = PROJECT_ROOT / ".venv" / "bin" / "dagster"
LOCATION = "adtech_assets"  # workspace.yaml's location_name
REPOSITORY = "__repository__"  # what Dagster names the repository of a Definitions object
STARTUP_TIMEOUT = 300  # returns as soon as the location serves; a loaded machine is slow to start
RUN_STALL = 120  # a run that changed nothing (status, steps, materializations) for this long is stuck
RUN_TIMEOUT = 900  # and no wait lasts longer than this, progress or not
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}

SOURCES = {f"postgres/public/{table}" for table in ("advertiser", "campaign", "impressions", "clicks")}
DIM_KEYS = {f"analytics/{spec.table}" for spec in DIMS}
FACT_KEYS = {f"analytics/{spec.table}" for spec in FACTS}
ROLLUP = "analytics/agg_campaign_daily"
VIEW_KEYS = {f"analytics/{view}" for view in KPI_VIEWS}

ASSET_GRAPH = """{
  assetNodes {
    assetKey { path }
    dependencyKeys { path }
    groupName
    kinds
    assetChecksOrError { __typename ... on AssetChecks { checks { name blocking } } }
  }
}"""
LAUNCH_RUN = """mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
  }
}"""
# What an asset's page shows: the latest observation (sources) and materialization (the rest).
LATEST_EVENTS = """{
  assetNodes {
    assetKey { path }
    assetObservations(limit: 1) { metadataEntries { label ... on IntMetadataEntry { intValue } } }
    assetMaterializations(limit: 1) {
      metadataEntries {
        __typename label
        ... on IntMetadataEntry { intValue }
        ... on TableMetadataEntry { table { records } }
      }
    }
  }
}"""
RUN_STATUS = """query Status($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }"""
ALL_RUNS = """{ runsOrError { ... on Runs { results {
  runId jobName status tags { key value }
  stats { ... on RunStatsSnapshot { stepsSucceeded stepsFailed materializations expectations } }
} } } }"""
RUN_EVENTS = """query Events($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection {
      events {
        __typename
        ... on MaterializationEvent { assetKey { path } partition }
        ... on AssetCheckEvaluationEvent { evaluation { checkName success assetKey { path } } }
      }
    }
  }
}"""


@dataclass
class DagsterDev:
    url: str
    process: subprocess.Popen
    log: Path

    def graphql(self, query: str, **variables) -> dict:
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
        assert not answer.get("errors"), answer["errors"]
        return answer["data"]

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process_group(process: subprocess.Popen) -> None:
    """``dagster dev`` shuts its children down on SIGTERM, but not always all of them: kill
    what is left of the group after a grace period."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=15)


def wait_until_serving(dev: DagsterDev) -> None:
    """The webserver answers and the code location has loaded its assets."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        assert dev.process.poll() is None, f"dagster dev exited:\n{dev.log_tail()}"
        try:
            if dev.graphql(ASSET_GRAPH)["assetNodes"]:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    pytest.fail(f"dagster dev did not serve the asset graph within {STARTUP_TIMEOUT} s:\n{dev.log_tail()}")


@pytest.fixture
def seeded_pg_url(pg_url) -> str:
    """A few thousand impressions (and their clicks) over the last 3 days."""
    seed_batch(PostgresResource(url=pg_url), advertisers=5, campaigns=20, impressions=3000, ctr=0.05,
               window=SeedWindow.last_days(3), seed=0.25)
    return pg_url


@pytest.fixture
def dagster_dev(tmp_path, seeded_pg_url) -> Iterator[DagsterDev]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = cli_env(tmp_path, ADTECH_PG_URL=seeded_pg_url, ADTECH_CLICKHOUSE_URL=f"chdb://{tmp_path / 'ch'}",
                  DAGSTER_HOME=str(home))
    port = free_port()
    log = tmp_path / "dagster-dev.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(DAGSTER), "dev", "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    dev = DagsterDev(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        wait_until_serving(dev)
        yield dev
    finally:
        stop_process_group(process)


def path(key: dict) -> str:
    return "/".join(key["path"])


def wait_for_runs(dev: DagsterDev, run_ids: set[str] | None) -> dict[str, str]:
    """Statuses of ``run_ids`` (every run when None) once all are finished.

    A loaded machine makes runs slow, not stuck: the wait fails when the runs made no progress
    (no status, step or materialization changed) for ``RUN_STALL`` s, or after ``RUN_TIMEOUT`` s.
    """
    started = last_change = time.monotonic()
    seen = None
    while True:
        runs = [run for run in dev.graphql(ALL_RUNS)["runsOrError"]["results"]
                if run_ids is None or run["runId"] in run_ids]
        statuses = {run["runId"]: run["status"] for run in runs}
        if statuses and all(status in TERMINAL for status in statuses.values()):
            return statuses
        progress = sorted((run["runId"], run["status"], str(run["stats"])) for run in runs)
        now = time.monotonic()
        if progress != seen:
            seen, last_change = progress, now
        if now - last_change > RUN_STALL or now - started > RUN_TIMEOUT:
            pytest.fail(f"runs still unfinished after {now - started:.0f} s "
                        f"(no progress for {now - last_change:.0f} s): {statuses}\n{dev.log_tail()}")
        time.sleep(1)


def latest_events(dev: DagsterDev) -> dict[str, dict]:
    return {path(node["assetKey"]): node for node in dev.graphql(LATEST_EVENTS)["assetNodes"]}


def wait_for_source_observations(dev: DagsterDev) -> dict[str, dict]:
    """Each source's latest observation's metadata by label, once every source has one."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        latest = latest_events(dev)
        observed = {key: latest[key]["assetObservations"] for key in SOURCES}
        if all(observed.values()):
            return {key: {e["label"]: e for e in events[0]["metadataEntries"]} for key, events in observed.items()}
        if time.monotonic() > deadline:
            pytest.fail(f"sources never observed: {observed}\n{dev.log_tail()}")
        time.sleep(1)


@pytest.mark.long(35)
def test_asset_graph_and_a_fact_day_launched_over_graphql(dagster_dev, seeded_pg_url, tmp_path):
    dev = dagster_dev
    nodes = {path(node["assetKey"]): node for node in dev.graphql(ASSET_GRAPH)["assetNodes"]}

    # Every asset, in its layer.
    assert set(nodes) == SOURCES | DIM_KEYS | FACT_KEYS | {ROLLUP} | VIEW_KEYS
    groups = {key: node["groupName"] for key, node in nodes.items()}
    assert {groups[k] for k in SOURCES} == {"sources"}
    assert {groups[k] for k in DIM_KEYS} == {"dims"}
    assert {groups[k] for k in FACT_KEYS} == {"facts"}
    assert groups[ROLLUP] == "rollups"
    assert {groups[k] for k in VIEW_KEYS} == {"kpis"}
    kinds = {key: node["kinds"] for key, node in nodes.items()}
    assert all(kinds[k] == ["postgres"] for k in SOURCES), {k: kinds[k] for k in SOURCES}
    assert all(kinds[k] == ["clickhouse"] for k in set(nodes) - SOURCES), kinds

    # Every dependency: sources -> dims and facts -> rollup -> views (which also read the dims).
    deps = {key: {path(dep) for dep in node["dependencyKeys"]} for key, node in nodes.items()}
    for spec in DIMS:
        assert deps[f"analytics/{spec.table}"] == {f"postgres/public/{spec.source}"}
    for spec in FACTS:
        assert deps[f"analytics/{spec.table}"] == {f"postgres/public/{spec.source}"}
    assert deps[ROLLUP] == FACT_KEYS
    for view in VIEW_KEYS:
        assert deps[view] == {ROLLUP} | DIM_KEYS
    assert all(not deps[source] for source in SOURCES)

    # The checks, listed on their assets.
    checks = {key: {c["name"]: c["blocking"] for c in node["assetChecksOrError"]["checks"]}
              for key, node in nodes.items()}
    for fact in FACT_KEYS:
        assert checks[fact] == {ROW_COUNTS_MATCH_POSTGRES: True, NO_ROWS_OUTSIDE_PARTITIONS: False,
                                CHANGE_LOG_KEEPS_UP: False}
    for dim in DIM_KEYS:
        assert checks[dim] == {IDS_MATCH_POSTGRES: True}
    assert checks[ROLLUP] == {TOTALS_MATCH_FACTS: True}

    # One full seeded day, launched as the UI's "Materialize" on a partition does.
    day = (datetime.now(timezone.utc) - timedelta(days=1)).date()
    launched = dev.graphql(LAUNCH_RUN, params={
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": load_days.name},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day.isoformat()}]},
    })["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    assert wait_for_runs(dev, {run_id}) == {run_id: "SUCCESS"}, dev.log_tail()

    events = dev.graphql(RUN_EVENTS, runId=run_id)["logsForRun"]["events"]
    materialized = {(path(e["assetKey"]), e["partition"]) for e in events if e["__typename"] == "MaterializationEvent"}
    assert materialized == {(key, day.isoformat()) for key in FACT_KEYS | {ROLLUP}}
    evaluations = {(path(e["evaluation"]["assetKey"]), e["evaluation"]["checkName"]): e["evaluation"]["success"]
                   for e in events if e["__typename"] == "AssetCheckEvaluationEvent"}
    expected_checks = {(fact, name) for fact in FACT_KEYS
                       for name in (ROW_COUNTS_MATCH_POSTGRES, NO_ROWS_OUTSIDE_PARTITIONS, CHANGE_LOG_KEEPS_UP)}
    assert set(evaluations) == expected_checks | {(ROLLUP, TOTALS_MATCH_FACTS)}
    assert all(evaluations.values()), evaluations

    # The sensors' own runs shared the embedded ClickHouse with it: they queued, none failed.
    statuses = wait_for_runs(dev, None)
    assert set(statuses.values()) == {"SUCCESS"}, statuses

    # The sensor named its runs and said why; its ticks observed the sources (the daemon records
    # the observations it returns), so no source reads "Never observed".
    postgres = PostgresResource(url=seeded_pg_url)
    sources = wait_for_source_observations(dev)
    for key, entries in sources.items():
        (rows,), = pg_execute(postgres, f"SELECT count(*) FROM {key.split('/')[-1]}")
        assert entries["dagster/row_count"]["intValue"] == rows > 0, key
    statuses = wait_for_runs(dev, None)
    assert set(statuses.values()) == {"SUCCESS"}, statuses
    runs = dev.graphql(ALL_RUNS)["runsOrError"]["results"]
    assert {run["jobName"] for run in runs} <= {"load_days", "refresh_dims_and_kpis", "refresh_kpis"}, runs
    assert all("adtech/trigger" in {t["key"] for t in run["tags"]} for run in runs if run["runId"] != run_id)
    if any(run["jobName"] == "refresh_dims_and_kpis" for run in runs):
        latest = latest_events(dev)
        for view in VIEW_KEYS:
            entries = {e["label"]: e for e in latest[view]["assetMaterializations"][0]["metadataEntries"]}
            assert entries["dagster/column_schema"]["__typename"] == "TableSchemaMetadataEntry", view
            assert entries["preview"]["__typename"] == "TableMetadataEntry", view
        # every campaign is a row of mv_campaign_ctr as soon as the dims are loaded (in the same run)
        ctr = {e["label"]: e for e in latest["analytics/mv_campaign_ctr"]["assetMaterializations"][0]["metadataEntries"]}
        assert ctr["dagster/row_count"]["intValue"] == 20 and len(ctr["preview"]["table"]["records"]) == 10

    clickhouse = ClickHouseResource(url=f"chdb://{tmp_path / 'ch'}", lock_timeout_seconds=60)
    for spec in FACTS:
        expected = pg_day_count(postgres, spec.source, day)
        assert expected > 0
        assert ch_day_count(clickhouse, spec.table, day) == expected
