"""The README's CI promise: ``python -m adtech_assets.cli.ci_report`` judges the runs recorded in
``DAGSTER_HOME`` by the same rule as ``adtech sync`` (a failed WARN-severity check is reported,
not a failure; a failed run is), and says in one line, exit 2, when there is no instance to read.
The runs are real: ``adtech sync`` and ``dg launch`` with that ``DAGSTER_HOME``."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from adtech_assets.db.postgres.sample_data import SeedWindow, seed_batch
from adtech_assets.defs.resources import PostgresResource
from adtech_assets.settings import PROJECT_ROOT

from .conftest import fresh_database
from .helpers import cli_env, pg_execute, run_cli

DG = PROJECT_ROOT / ".venv" / "bin" / "dg"


def ci_report(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adtech_assets.cli.ci_report"], env=env, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_no_dagster_home_is_one_line_and_exit_2(tmp_path):
    for env in (cli_env(tmp_path, DAGSTER_HOME=""), cli_env(tmp_path, DAGSTER_HOME=str(tmp_path / "missing"))):
        result = ci_report(env)
        assert result.returncode == 2, result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ci_report: error: DAGSTER_HOME"), result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.long(17)
def test_a_warning_is_reported_by_both_and_fails_neither(pg_url, tmp_path):
    """Rows before ADTECH_PARTITIONS_START fail the WARN-severity check no_rows_outside_partitions:
    adtech sync exits 0 and prints the warning; ci_report, over the same runs, too."""
    postgres = PostgresResource(url=pg_url)
    seed_batch(postgres, advertisers=2, campaigns=5, impressions=1000, ctr=0.05,
               window=SeedWindow.last_days(2), seed=0.4)
    pg_execute(postgres, "INSERT INTO impressions (campaign_id, created_at) VALUES (NULL, '2001-02-03 04:05:06')")
    home = tmp_path / "dagster_home"
    env = cli_env(tmp_path, ADTECH_PG_URL=pg_url, ADTECH_CLICKHOUSE_URL=f"chdb://{tmp_path / 'ch'}",
                  DAGSTER_HOME=str(home))

    synced = run_cli(["sync"], env)
    assert synced.returncode == 0, synced.stderr
    assert "CHECK WARNING analytics/fact_impressions no_rows_outside_partitions" in synced.stderr

    report = ci_report(env)
    assert report.returncode == 0, report.stdout + report.stderr
    assert "analytics/fact_impressions:no_rows_outside_partitions WARNING" in report.stdout
    assert re.search(r", 0 failure\(s\), [1-9]\d* warning\(s\)$", report.stdout.strip()), report.stdout


def test_a_failed_run_fails_the_report(pg_server_url, tmp_path):
    """A source without its tables: the dims run of ``dg launch`` fails, and ci_report exits 1."""
    with fresh_database(pg_server_url, "adtech_unmigrated") as url:
        home = tmp_path / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env = cli_env(tmp_path, ADTECH_PG_URL=url, ADTECH_CLICKHOUSE_URL=f"chdb://{tmp_path / 'ch'}",
                      DAGSTER_HOME=str(home))
        launched = subprocess.run([str(DG), "launch", "--assets", "group:dims"], env=env, cwd=PROJECT_ROOT,
                                  capture_output=True, text=True, timeout=300)
        assert launched.returncode != 0
        report = ci_report(env)
    assert report.returncode == 1, report.stdout + report.stderr
    assert " FAILURE" in report.stdout and "1 failure(s)" in report.stdout, report.stdout
