"""Reconciliation on the data: after a sync every check passes; once ClickHouse is tampered with,
a run of the checks alone (on a fresh Dagster instance: no run history) fails with both sides'
counts and fingerprints, ``dagster asset check``-style, and the next sync repairs the days and
passes; rows no partition can hold are reported and stay pending."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from dagster import AssetCheckKey, AssetSelection, DagsterInstance, materialize

from adtech_assets.catalog import FACTS
from adtech_assets.cli.sync.report import SyncReport
from adtech_assets.db.postgres.sample_data import SeedWindow, seed_batch
from adtech_assets.defs.keys import KPI_KEYS, ROLLUP_KEY, table_key
from adtech_assets.defs.location import ALL_ASSETS, ALL_CHECKS
from adtech_assets_tests.helpers import (
    ch_command,
    ch_scalar,
    cli_env,
    kpi_differences,
    pg_execute,
    run_cli,
    sync,
)

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
    # a partitioned run's sums cover its own days: text, so that the UI plots no number whose
    # scope changes between evaluations (here the run's days are every seeded day)
    assert last.metadata["rows_in_scope"] == f"{total:,} in Postgres, {total:,} in ClickHouse"
    assert last.metadata["scope"].startswith("this run's days: ") and "postgres_rows" not in last.metadata


def run_checks_alone(resources) -> dict:
    """The fact and rollup checks as a run of their own, on an instance that has seen no run."""
    with DagsterInstance.ephemeral() as fresh:
        result = materialize([*ALL_ASSETS, *ALL_CHECKS], resources=resources, instance=fresh, raise_on_error=False,
                             selection=AssetSelection.checks_for_assets(*(table_key(s.table) for s in FACTS), ROLLUP_KEY))
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def test_tampered_clickhouse_fails_the_checks_alone_and_the_next_sync_repairs_it(
    resources, postgres, clickhouse, instance
):
    seed(postgres)
    assert sync(resources, instance).ok
    assert all(e.passed for e in run_checks_alone(resources).values())
    ch_command(clickhouse, "ALTER TABLE analytics.fact_impressions DELETE WHERE impression_id % 7 = 0 "
                           "SETTINGS mutations_sync = 2")
    removed = pg_execute(postgres, "SELECT count(*) FROM impressions WHERE mod(id, 7) = 0")[0][0]
    day = ch_scalar(clickhouse, "SELECT min(event_date) FROM analytics.fact_clicks")
    ch_command(clickhouse, "INSERT INTO analytics.fact_clicks (click_id, campaign_id, created_at) "
                           "SELECT -number, NULL, toDateTime64({d:Date}, 6, 'UTC') FROM numbers(1, 5)", d=day)

    checks = run_checks_alone(resources)
    impressions, clicks = checks[IMPRESSIONS_COUNT], checks[CLICKS_COUNT]
    assert not impressions.passed and not clicks.passed and not checks[ROLLUP_TOTALS].passed
    impressions = {k: getattr(v, "value", v) for k, v in impressions.metadata.items()}
    clicks = {k: getattr(v, "value", v) for k, v in clicks.metadata.items()}
    total = pg_execute(postgres, "SELECT count(*) FROM impressions")[0][0]
    assert (impressions["postgres_rows"], impressions["clickhouse_rows"]) == (total, total - removed)
    assert impressions["mismatched_days"] >= 1
    pg_clicks_that_day = pg_execute(postgres, "SELECT count(*) FROM clicks WHERE created_at::date = %s", (day,))[0][0]
    (mismatch,) = clicks["mismatches"]
    assert (mismatch["day"], mismatch["postgres_rows"], mismatch["clickhouse_rows"]) == (
        day.isoformat(), pg_clicks_that_day, pg_clicks_that_day + 5)

    repaired = sync(resources, instance)
    assert repaired.ok, (repaired.failed_checks, repaired.errors)
    assert day in repaired.days_loaded and "differs from what was loaded" in repaired.reasons[day]
    assert kpi_differences(postgres, clickhouse) == {}
    assert all(e.passed for e in run_checks_alone(resources).values())
    assert sync(resources, instance).days_loaded == [], "repaired: the next pass has nothing to do"


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
    assert {far_future.date(), date(2001, 2, 3)} <= set(report.days_outside_partitions), "pending, not dropped"


@pytest.mark.long(35)
def test_cli_sync_repairs_drift_and_says_why(resources, postgres, pg_url, clickhouse, clickhouse_path, tmp_path):
    seed(postgres)
    env = cli_env(tmp_path, ADTECH_PG_URL=pg_url, ADTECH_CLICKHOUSE_URL=f"chdb://{clickhouse_path}")
    first = run_cli(["sync"], env)
    assert first.returncode == 0, first.stderr[-3000:]

    ch_command(clickhouse, "ALTER TABLE analytics.fact_impressions DELETE WHERE impression_id % 7 = 0 "
                           "SETTINGS mutations_sync = 2")
    second = run_cli(["sync"], env)
    assert second.returncode == 0, (second.stdout[-2000:], second.stderr[-3000:])
    assert "content differs from what was loaded" in second.stdout
    assert "Traceback" not in second.stderr
    assert kpi_differences(postgres, clickhouse) == {}
    third = run_cli(["sync"], env)
    assert third.returncode == 0 and "nothing changed" in third.stdout, third.stdout[-2000:]


def test_one_view_or_one_check_of_a_shared_step_runs_alone(resources, postgres, instance):
    """The five views are one step and so are the facts' checks (a step costs Dagster's work
    whatever it does): selecting one view refreshes that view only, and selecting one check
    evaluates that check only."""
    seed(postgres)
    assert sync(resources, instance).ok
    with DagsterInstance.ephemeral() as fresh:
        one_view = materialize([*ALL_ASSETS, *ALL_CHECKS], resources=resources, instance=fresh,
                               selection=AssetSelection.assets(KPI_KEYS[0]))
        one_check = materialize([*ALL_ASSETS, *ALL_CHECKS], resources=resources, instance=fresh,
                                selection=AssetSelection.checks(AssetCheckKey(table_key(FACTS[1].table), "no_rows_outside_partitions")))
    assert [e.asset_key for e in one_view.get_asset_materialization_events()] == [KPI_KEYS[0]]
    assert one_view.get_asset_materialization_events()[0].materialization.metadata["dagster/row_count"].value == 10
    assert [(e.asset_key, e.check_name, e.passed) for e in one_check.get_asset_check_evaluations()] == [
        (table_key(FACTS[1].table), "no_rows_outside_partitions", True)]
    assert one_check.get_asset_materialization_events() == []
