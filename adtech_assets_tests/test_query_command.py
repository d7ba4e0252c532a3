"""The README's promise about ``adtech query``: a supported way to read ClickHouse that prints the
KPIs as they are (the same rows as the Postgres ground truth), is answered by the process that
holds the embedded engine (or waits its turn) instead of failing or making a running sync fail,
never writes, and answers bad SQL with
one line and exit 2. Real engines, through the installed ``adtech`` command."""

from __future__ import annotations

import csv
import fcntl
import io
import os
import subprocess
import time

import pytest

from adtech_assets.db.postgres.sample_data import SeedWindow, seed_batch
from adtech_assets.defs.resources import PostgresResource
from adtech_assets.settings import PROJECT_ROOT

from .helpers import ch_scalar, cli_command, cli_env, ground_truth_rows, run_cli, sync

WAIT_NOTICE = "waiting for the embedded ClickHouse"


@pytest.fixture
def loaded(pg_url, resources, tmp_path):
    """A small sample in Postgres, synced into the test's embedded ClickHouse; the CLI's env."""
    seed_batch(PostgresResource(url=pg_url), advertisers=3, campaigns=12, impressions=3000, ctr=0.05,
               window=SeedWindow.last_days(3), seed=0.3)
    assert sync(resources).ok
    return cli_env(tmp_path, ADTECH_PG_URL=pg_url, ADTECH_CLICKHOUSE_URL=resources["clickhouse"].url)


def test_csv_and_table_show_the_kpis_as_postgres_computes_them(loaded, postgres):
    statement = "SELECT campaign_id, impressions, clicks FROM analytics.mv_campaign_ctr ORDER BY campaign_id"
    result = run_cli(["query", "--format", "csv", statement], loaded)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["campaign_id", "impressions", "clicks"]
    columns, truth = ground_truth_rows(postgres, "mv_campaign_ctr")
    expected = sorted((row[columns.index("campaign_id")][1], row[columns.index("impressions")][1],
                       row[columns.index("clicks")][1]) for row in truth)
    assert [tuple(int(v) for v in row) for row in rows[1:]] == expected

    table = run_cli(["query", statement], loaded)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.strip().splitlines()
    assert all(name in lines[1] for name in ("campaign_id", "impressions", "clicks")), lines[:3]
    assert lines[-1] == f"({len(expected)} rows)"
    assert len([line for line in lines if line.startswith("│ ")]) == len(expected) + 3  # names, ---, types


def test_a_query_is_answered_by_the_process_holding_the_engine(loaded, clickhouse, tmp_path):
    """While this process holds the embedded engine (as a run does, for all its steps), the query
    is answered through it at once: it ends, with the right rows, while the engine is still held."""
    expected = ch_scalar(clickhouse, "SELECT count() FROM analytics.fact_impressions")
    with clickhouse.session():
        result = run_cli(["query", "--format", "csv", "SELECT count() AS n FROM analytics.fact_impressions"], loaded)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == ["n", str(expected)]
        assert WAIT_NOTICE not in result.stderr


def test_a_query_waits_for_a_holder_that_serves_no_reads(loaded, clickhouse, tmp_path):
    """A holder without the read service (an older adtech, or one that could make no socket):
    the query says it waits, does not fail, and answers once the engine is free."""
    expected = ch_scalar(clickhouse, "SELECT count() FROM analytics.fact_impressions")
    stderr = tmp_path / "query.stderr"
    lock = clickhouse.target.embedded_path.parent / f".{clickhouse.target.embedded_path.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)  # the engine's lock, taken as adtech takes it, with no service
    try:
        with stderr.open("w") as err:
            process = subprocess.Popen(cli_command("query", "--format", "csv",
                                                   "SELECT count() AS n FROM analytics.fact_impressions"),
                                       env=loaded, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            deadline, pause = time.monotonic() + 120, 0.25
            while WAIT_NOTICE not in stderr.read_text() and time.monotonic() < deadline:
                assert process.poll() is None, f"the query ended while the engine was held: {stderr.read_text()}"
                time.sleep(pause)
                pause = min(pause * 1.5, 3)
            assert WAIT_NOTICE in stderr.read_text()
            assert process.poll() is None
        except BaseException:
            process.kill()
            raise
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    out, _ = process.communicate(timeout=180)
    assert process.returncode == 0, stderr.read_text()
    assert out.splitlines() == ["n", str(expected)]


@pytest.mark.long(22)
def test_queries_during_a_sync_leave_the_sync_and_themselves_successful(loaded, pg_url):
    """The issue's race: a query that won the engine made a running sync exit 2. Now whoever
    comes second waits; every process exits 0, whatever the order."""
    seed_batch(PostgresResource(url=pg_url), advertisers=1, campaigns=2, impressions=2000, ctr=0.05,
               window=SeedWindow.last_days(2), seed=0.7)
    processes = [subprocess.Popen(cli_command("sync"), env=loaded, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)]
    for _ in range(3):
        processes.append(subprocess.Popen(
            cli_command("query", "SELECT event_date, impressions FROM analytics.mv_daily_performance"),
            env=loaded, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        time.sleep(0.5)
    results = [(p.args[-1], *p.communicate(timeout=300), p.returncode) for p in processes]
    assert all(code == 0 for *_, code in results), results


BAD_SQL = [
    ("SELEC 1", "Syntax error"),
    ("SELECT * FROM analytics.no_such_view", "UNKNOWN_TABLE"),
    ("DROP TABLE analytics.fact_impressions", "only reads"),
    ("INSERT INTO analytics.dim_campaign SELECT * FROM analytics.dim_campaign", "only reads"),
    ("SELECT 1; SELECT 2", "one statement"),
    ("  ", "no SQL given"),
]


@pytest.mark.long(30)
def test_bad_sql_is_one_line_and_exit_2_and_writes_nothing(loaded, clickhouse):
    rows_before = ch_scalar(clickhouse, "SELECT count() FROM analytics.dim_campaign")
    for statement, reason in BAD_SQL:  # one loaded fixture for all: a sync per case costs seconds
        result = run_cli(["query", statement], loaded)
        assert result.returncode == 2, (statement, result.stdout, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("adtech: error: ") and reason in lines[0], (statement, result.stderr)
    assert ch_scalar(clickhouse, "EXISTS TABLE analytics.fact_impressions") == 1
    assert ch_scalar(clickhouse, "SELECT count() FROM analytics.dim_campaign") == rows_before


@pytest.mark.skipif(not os.environ.get("ADTECH_TEST_CLICKHOUSE_URL"),
                    reason="set ADTECH_TEST_CLICKHOUSE_URL=http://user:password@host:8123 to query a server")
def test_a_query_against_a_server(tmp_path):
    env = cli_env(tmp_path, ADTECH_CLICKHOUSE_URL=os.environ["ADTECH_TEST_CLICKHOUSE_URL"])
    result = run_cli(["query", "--format", "csv", "SELECT 1 AS one, 'a,b' AS text"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["one,text", '1,"a,b"']
    refused = run_cli(["query", "SELEC 1"], env)
    assert refused.returncode == 2 and refused.stderr.startswith("adtech: error: ClickHouse refused the query")
    assert os.environ["ADTECH_TEST_CLICKHOUSE_URL"].split("@")[0] not in refused.stderr
