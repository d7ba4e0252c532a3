"""A run that must do nothing is refused: a partition range given end first to ``dg launch`` (the
README's CI block) fails each step it reaches with the one line that says which order to give,
once, and with the Dagster home adtech sets up, without a stack trace on the console (the run's
log keeps it); the run ends canceled, so the checks
it planned read skipped in the UI, not "Execution failed", and each check keeps showing its
last evaluation. ``dg launch`` runs as a process, as a user runs it."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import datetime, time, timedelta, timezone

from dagster import AssetCheckKey, DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.loader import LoadingContextForTest
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionResolvedStatus,
)

from adtech_assets.cli.home import instance_yaml
from adtech_assets.settings import PROJECT_ROOT

from .helpers import add_advertiser, add_campaign, add_events, cli_env, sync

TODAY = datetime.now(timezone.utc).date()
FIRST, LAST = TODAY - timedelta(days=3), TODAY - timedelta(days=1)
DG = PROJECT_ROOT / ".venv" / "bin" / "dg"


def planned_checks(instance: DagsterInstance, run_id: str) -> set[AssetCheckKey]:
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED).records
    return {r.event_log_entry.dagster_event.asset_check_planned_data.asset_check_key for r in records}


def test_a_range_given_end_first_is_refused_in_one_line_and_its_checks_read_skipped(
        resources, postgres, pg_url, clickhouse_path, tmp_path):
    campaign = add_campaign(postgres, "c", add_advertiser(postgres, "a"))
    add_events(postgres, "impressions", [(campaign, datetime.combine(FIRST, time(9)))] * 4)
    add_events(postgres, "clicks", [(campaign, datetime.combine(FIRST, time(10)))])
    env = cli_env(tmp_path, ADTECH_PG_URL=pg_url, ADTECH_CLICKHOUSE_URL=f"chdb://{clickhouse_path}")
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(home))  # as adtech migrate writes it in the CI block
    with DagsterInstance.from_config(str(home)) as instance:
        assert sync(resources, instance).ok  # the checks have a passing evaluation to keep

    done = subprocess.run([str(DG), "launch", "--assets", "group:facts or group:rollups",
                           "--partition-range", f"{LAST}...{FIRST}"],
                          env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    line = (f"the partition range {LAST}...{FIRST} holds no day: give the earlier day first: "
            f"--partition-range {FIRST}...{LAST}")
    assert line in out, out[-3000:]
    failures = [row for row in out.splitlines() if "STEP_FAILURE" in row]
    assert len(failures) == 2, out[-3000:]  # the two facts; the rollup and the checks never start
    assert all(row.endswith(f"failed: {line}") for row in failures), failures  # one line each
    assert "Stack Trace:" not in out and "Traceback" not in out, out[-3000:]
    assert "caused by the following exception" not in out and "STEP_UP_FOR_RETRY" not in out

    with DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_runs(limit=1)[0]
        assert run.status == DagsterRunStatus.CANCELED, run.status
        stored = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_FAILURE).records
        assert len(stored) == 2 and all(r.event_log_entry.dagster_event.step_failure_data.error.stack
                                        for r in stored)  # the run's log (the UI) keeps the stack
        checks = planned_checks(instance, run.run_id)
        assert {key.name for key in checks} == {"row_counts_match_postgres", "no_rows_outside_partitions",
                                                "change_log_keeps_up", "totals_match_facts"}, checks
        summaries = instance.event_log_storage.get_asset_check_summary_records(list(checks))
        context = LoadingContextForTest(instance)
        for key, summary in summaries.items():
            latest, completed = summary.last_check_execution_record, summary.last_completed_check_execution_record
            assert latest.run_id == run.run_id, key
            # what the UI shows for it (Dagster's own resolution): not run, rather than failed
            assert asyncio.run(latest.resolve_status(context)) == AssetCheckExecutionResolvedStatus.SKIPPED, key
            assert completed is not None and completed.evaluation.passed, key  # the last evaluation stays
