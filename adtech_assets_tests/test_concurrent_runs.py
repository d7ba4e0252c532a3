"""Concurrency on the embedded engine: two runs launched at the same moment both succeed.

Say a sensor run of one day and a hand-launched backfill of a range: two ``dagster asset
materialize`` processes started together, same Dagster instance, same chDB directory. chDB
lets one process at a time open the directory, so their steps queue on its file lock; neither
may fail, and ClickHouse then holds every day of both, equal to Postgres.

Steps of the two runs interleave, so each run's blocking checks must judge only the days that
run loaded: the last two tests pin the states another run can leave between its steps.
"""

from __future__ import annotations

import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest
from dagster import AssetSelection, DagsterInstance, DagsterRunStatus
from dagster import materialize as materialize_in_process

from adtech_assets.catalog import FACTS, ROLLUP_TABLE
from adtech_assets.db.postgres.sample_data import SeedWindow, seed_batch
from adtech_assets.defs.location import ALL_ASSETS, ALL_CHECKS
from adtech_assets.defs.resources import ClickHouseResource, PostgresResource
from adtech_assets.settings import PROJECT_ROOT

from .helpers import (
    add_events,
    ch_day_count,
    ch_scalar,
    cli_env,
    pg_day_count,
    pg_execute,
)

DAGSTER = PROJECT_ROOT / ".venv" / "bin" / "dagster"
# What a sensor run and a UI backfill of the load_days job materialize: facts, then their rollup days.
SELECTION = "group:facts,group:rollups"
TIMEOUT = 150
PARTITION = "dagster/partition"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def materialize(partition_args: list[str], env: dict[str, str], log) -> subprocess.Popen:
    return subprocess.Popen(
        [str(DAGSTER), "asset", "materialize", "-m", "adtech_assets.definitions", "--select", SELECTION,
         *partition_args],
        cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )


@pytest.mark.long(42)
def test_two_runs_launched_together_both_succeed(pg_url, tmp_path):
    postgres = PostgresResource(url=pg_url)
    seed_batch(postgres, advertisers=5, campaigns=20, impressions=4000, ctr=0.05,
               window=SeedWindow.last_days(4), seed=0.5)
    today = datetime.now(timezone.utc).date()
    single_day = today - timedelta(days=1)
    range_first, range_last = today - timedelta(days=3), today - timedelta(days=2)

    ch_path = tmp_path / "ch"
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(home)):
        pass  # create the instance's storage once, as the daemon has by the time anything launches
    env = cli_env(tmp_path, ADTECH_PG_URL=pg_url, ADTECH_CLICKHOUSE_URL=f"chdb://{ch_path}", DAGSTER_HOME=str(home))

    logs = [tmp_path / "single_day.log", tmp_path / "range.log"]
    with logs[0].open("w") as single_log, logs[1].open("w") as range_log:
        processes = [
            materialize(["--partition", single_day.isoformat()], env, single_log),
            materialize(["--partition-range", f"{range_first.isoformat()}...{range_last.isoformat()}"], env, range_log),
        ]
        deadline = time.monotonic() + TIMEOUT
        try:
            codes = [process.wait(timeout=max(1.0, deadline - time.monotonic())) for process in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    outputs = {log.name: log.read_text(errors="replace")[-4000:] for log in logs}
    assert codes == [0, 0], outputs
    # They really ran at the same time: their runs overlap in the shared instance.
    with DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_run_records()
    assert len(records) == 2 and all(r.dagster_run.status == DagsterRunStatus.SUCCESS for r in records)
    first, second = sorted(records, key=lambda r: r.start_time)
    assert second.start_time < first.end_time, "the two runs did not overlap"

    clickhouse = ClickHouseResource(url=f"chdb://{ch_path}", lock_timeout_seconds=60)
    days = [single_day, range_first, range_last]
    for spec in FACTS:
        for day in days:
            expected = pg_day_count(postgres, spec.source, day)
            assert expected > 0
            assert ch_day_count(clickhouse, spec.table, day) == expected, (spec.table, day)
    for day in days:
        rollup_impressions = ch_scalar(
            clickhouse, f"SELECT sum(impressions) FROM analytics.{ROLLUP_TABLE} WHERE event_date = {{d:Date}}", d=day)
        assert rollup_impressions == pg_day_count(postgres, "impressions", day), day


# ---- states another run leaves between its steps ---------------------------------------------

FACTS_AND_ROLLUP = AssetSelection.groups("facts", "rollups")


def load(resources: dict, instance: DagsterInstance, selection: AssetSelection, **tags: str):
    return materialize_in_process([*ALL_ASSETS, *ALL_CHECKS], selection=selection, resources=resources,
                                  instance=instance, tags=tags, raise_on_error=False)


def failed_checks(result) -> list[tuple[str, str]]:
    return [(e.asset_key.to_user_string(), e.check_name) for e in result.get_asset_check_evaluations() if not e.passed]


def test_a_run_succeeds_while_another_has_loaded_facts_but_not_yet_their_rollup(postgres, resources):
    """Run B has replaced day Y's facts and waits for the lock to rebuild Y's rollup; run A,
    loading day X, reaches its rollup check in between. A's days are consistent: A succeeds."""
    seed_batch(postgres, advertisers=3, campaigns=10, impressions=2000, ctr=0.05,
               window=SeedWindow.last_days(3), seed=0.1)
    today = datetime.now(timezone.utc).date()
    day_x, day_y = today - timedelta(days=1), today - timedelta(days=2)
    instance = DagsterInstance.ephemeral()
    facts_only = load(resources, instance, AssetSelection.groups("facts"), **{PARTITION: day_y.isoformat()})
    assert facts_only.success

    run_a = load(resources, instance, FACTS_AND_ROLLUP, **{PARTITION: day_x.isoformat()})
    assert run_a.success, failed_checks(run_a)


def test_a_run_succeeds_while_a_late_row_waits_for_its_day_to_reload(postgres, resources):
    """One sensor tick finds a late row for day Z and a new row today: two runs. Today's runs
    first; Z's reload is still queued. Today's checks must not fail on day Z."""
    seed_batch(postgres, advertisers=3, campaigns=10, impressions=2000, ctr=0.05,
               window=SeedWindow.last_days(3), seed=0.1)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    today, day_z = now.date(), now.date() - timedelta(days=2)
    instance = DagsterInstance.ephemeral()
    first_load = load(resources, instance, FACTS_AND_ROLLUP, **{
        RANGE_START: (today - timedelta(days=3)).isoformat(), RANGE_END: today.isoformat()})
    assert first_load.success
    campaign_id = pg_execute(postgres, "SELECT min(id) FROM campaign")[0][0]
    add_events(postgres, "impressions", [(campaign_id, datetime.combine(day_z, datetime.min.time()) + timedelta(hours=12))])
    add_events(postgres, "impressions", [(campaign_id, now)])

    todays_run = load(resources, instance, FACTS_AND_ROLLUP, **{PARTITION: today.isoformat()})
    assert todays_run.success, failed_checks(todays_run)
