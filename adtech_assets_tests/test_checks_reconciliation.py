"""Row-count reconciliation: after a sync every check passes; once ClickHouse is tampered with,
the next sync fails the checks, shows both counts, and does not refresh the KPIs; ``adtech
sync`` then exits non-zero and prints both counts. Rows no partition can hold are reported."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from dagster import DagsterInstance

from adtech_assets.sample_data import SeedWindow, seed_batch
from adtech_assets.sync import SyncReport
from adtech_assets_tests.helpers import ch_command, ch_scalar, cli_env, pg_execute, run_cli, sync

IMPRESSIONS_COUNT = ("analytics/fact_impressions", "row_counts_match_postgres")
CLICKS_COUNT = ("analytics/fact_clicks", "row_counts_match_postgres")
ROLLUP_TOTALS = ("analytics/agg_campaign_daily", "totals_match_facts")


def seed(postgres) -> None:
    seed_batch(postgres, advertisers=3, campaigns=10, impressions=3000, ctr=0.1,
               window=SeedWindow.last_days(4), seed=0.6)


def outcomes(report: SyncReport) -> dict[tuple[str, str], list]:
    found: dict[tuple[str, str], list] = {}
    for check in report.checks:
        found.setdefault((check.asset, check.check), []).append(check)
    return found


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as instance:
        yield instance


def test_checks_pass_after_sync_with_both_counts_equal(resources, postgres, instance):
    seed(postgres)
    report = sync(resources, instance)
    assert report.ok and report.kpis_refreshed, (report.failed_checks, report.errors)
    checks = outcomes(report)
    assert {IMPRESSIONS_COUNT, CLICKS_COUNT, ROLLUP_TOTALS,
            ("analytics/dim_advertiser", "ids_match_postgres"),
            ("analytics/dim_campaign", "ids_match_postgres"),
            ("analytics/fact_impressions", "no_rows_outside_partitions")} <= set(checks)
    (last,) = checks[IMPRESSIONS_COUNT][-1:]
    total = pg_execute(postgres, "SELECT count(*) FROM impressions")[0][0]
    assert last.metadata["postgres_rows"] == last.metadata["clickhouse_rows"] == total


def test_tampered_clickhouse_fails_the_checks_with_both_counts_and_blocks_the_kpis(
    resources, postgres, clickhouse, instance
):
    seed(postgres)
    assert sync(resources, instance).ok
    ch_command(clickhouse, "ALTER TABLE analytics.fact_impressions DELETE WHERE impression_id % 7 = 0 "
                           "SETTINGS mutations_sync = 2")
    removed = pg_execute(postgres, "SELECT count(*) FROM impressions WHERE mod(id, 7) = 0")[0][0]
    day = ch_scalar(clickhouse, "SELECT min(event_date) FROM analytics.fact_clicks")
    ch_command(clickhouse, "INSERT INTO analytics.fact_clicks (click_id, campaign_id, created_at) "
                           "SELECT -number, NULL, toDateTime64({d:Date}, 6, 'UTC') FROM numbers(1, 5)", d=day)

    report = sync(resources, instance)
    assert not report.ok and not report.kpis_refreshed
    assert report.days_loaded == []  # nothing changed at the source: the checks alone catch it
    failed = {(c.asset, c.check): c for c in report.failed_checks}
    assert {IMPRESSIONS_COUNT, CLICKS_COUNT, ROLLUP_TOTALS} <= set(failed), failed
    impressions = failed[IMPRESSIONS_COUNT].metadata
    assert impressions["postgres_rows"] - impressions["clickhouse_rows"] == removed > 0
    assert impressions["mismatched_days"] >= 1
    clicks = failed[CLICKS_COUNT].metadata
    assert clicks["clickhouse_rows"] - clicks["postgres_rows"] == 5
    assert clicks["mismatches"] == [{"day": day.isoformat(), "postgres": clicks["mismatches"][0]["postgres"],
                                     "clickhouse": clicks["mismatches"][0]["postgres"] + 5}]

    # the failed pass did not advance the cursor; once the days reload, everything passes again
    pg_execute(postgres, "UPDATE impressions SET campaign_id = campaign_id WHERE mod(id, 7) = 0")
    pg_execute(postgres, "UPDATE clicks SET campaign_id = campaign_id WHERE created_at::date = %s", (day,))
    repaired = sync(resources, instance)
    assert repaired.ok, (repaired.failed_checks, repaired.errors)


def test_rows_outside_the_partitions_are_reported(resources, postgres, instance):
    seed(postgres)
    far_future = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(days=40)
    pg_execute(postgres, "INSERT INTO impressions (campaign_id, created_at) VALUES (NULL, NULL), (NULL, %s), "
                         "(NULL, '2001-02-03 04:05:06')", (far_future,))
    report = sync(resources, instance)
    (outside,) = outcomes(report)[("analytics/fact_impressions", "no_rows_outside_partitions")][-1:]
    assert not outside.passed
    assert (outside.metadata["rows_without_created_at"], outside.metadata["rows_before_first_day"],
            outside.metadata["rows_after_last_day"]) == (1, 1, 1)
    assert far_future.date() in report.days_outside_partitions


def test_cli_sync_exits_non_zero_and_prints_both_counts(resources, postgres, pg_url, clickhouse, clickhouse_path,
                                                        tmp_path):
    seed(postgres)
    env = cli_env(tmp_path, ADTECH_PG_URL=pg_url, ADTECH_CLICKHOUSE_URL=f"chdb://{clickhouse_path}")
    # the first pass in process, recorded in the DAGSTER_HOME the command will use
    home = Path(env["DAGSTER_HOME"])
    home.mkdir(parents=True)
    with DagsterInstance.from_config(str(home)) as persistent:
        assert sync(resources, persistent).ok

    ch_command(clickhouse, "ALTER TABLE analytics.fact_impressions DELETE WHERE impression_id % 7 = 0 "
                           "SETTINGS mutations_sync = 2")
    expected_pg = pg_execute(postgres, "SELECT count(*) FROM impressions")[0][0]
    expected_ch = ch_scalar(clickhouse, "SELECT count() FROM analytics.fact_impressions")

    second = run_cli(["sync"], env)
    assert second.returncode not in (0, 2), (second.returncode, second.stderr[-3000:])
    failure = [line for line in second.stderr.splitlines()
               if "CHECK FAILED" in line and "fact_impressions" in line and "row_counts_match_postgres" in line]
    assert failure, second.stderr[-3000:]
    assert f"'postgres_rows': {expected_pg}" in failure[0] and f"'clickhouse_rows': {expected_ch}" in failure[0]
    assert "Traceback" not in second.stderr
    assert "KPIs NOT refreshed" in second.stdout
