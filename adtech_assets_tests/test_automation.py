"""Automation besides the change sensor: the reconciliation sweep requests the days whose
fingerprints differ (in Postgres or in ClickHouse), rollup days follow fact days that were
loaded without them, and the optional cron schedule runs the same pass as the sensor; a day
stays requested until a load of it succeeds."""

from datetime import datetime, time, timedelta, timezone

import pytest
from dagster import (
    DagsterInstance,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
)

from adtech_assets.db.postgres.sample_data import SeedWindow, seed_batch
from adtech_assets.definitions import defs
from adtech_assets.defs.automation import (
    _scheduled_sync_defs,
    reconcile_schedule,
    rollup_follows_facts,
)
from adtech_assets_tests.helpers import (
    ch_command,
    ch_day_count,
    materialize_day,
    pg_day_count,
    pg_execute,
    sync,
)

TODAY = datetime.now(timezone.utc).date()


def seed(postgres) -> None:
    """The three whole UTC days before TODAY (a window ending now would start late on its first
    day, or on another day than TODAY's when the test runs past midnight)."""
    midnight = datetime.combine(TODAY, time())
    seed_batch(postgres, advertisers=2, campaigns=6, impressions=1500, ctr=0.1,
               window=SeedWindow(start=midnight - timedelta(days=3), end=midnight), seed=0.3)


def _evaluate(schedule, instance, resources):
    # each evaluation context is closed (`with`) so that it releases what it entered
    with build_schedule_context(
        instance=instance, resources=resources,
        scheduled_execution_time=datetime.now(timezone.utc), repository_def=defs.get_repository_def(),
    ) as context:
        return schedule.evaluate_tick(context)


def _days(requests) -> set[str]:
    days = set()
    for r in requests:
        if r.partition_key:
            days.add(r.partition_key)
        else:
            first = datetime.fromisoformat(r.tags["dagster/asset_partition_range_start"]).date()
            last = datetime.fromisoformat(r.tags["dagster/asset_partition_range_end"]).date()
            days |= {(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)}
    return days


@pytest.mark.long(42)
def test_sweep_requests_the_days_whose_fingerprints_differ(postgres, clickhouse, resources):
    seed(postgres)
    assert sync(resources).ok
    deleted_day, tampered_day = TODAY - timedelta(days=1), TODAY - timedelta(days=2)
    pg_execute(postgres, "DELETE FROM clicks WHERE created_at::date = %s", (deleted_day,))
    pg_execute(postgres, "DELETE FROM impressions WHERE created_at::date = %s AND id %% 3 = 0", (deleted_day,))
    ch_command(clickhouse, "ALTER TABLE analytics.fact_impressions DELETE WHERE event_date = {d:Date} "
                           "AND impression_id % 5 = 0 SETTINGS mutations_sync = 2", d=tampered_day)

    with instance_for_test() as instance:
        result = _evaluate(reconcile_schedule, instance, resources)
        assert {r.job_name for r in result.run_requests} == {"load_days"}
        assert _days(result.run_requests) == {deleted_day.isoformat(), tampered_day.isoformat()}
        assert _days(_evaluate(reconcile_schedule, instance, resources).run_requests) == _days(result.run_requests), \
            "not loaded yet: still requested"
    assert sync(resources).ok
    for day in (deleted_day, tampered_day, TODAY):
        for table, fact in (("impressions", "fact_impressions"), ("clicks", "fact_clicks")):
            assert ch_day_count(clickhouse, fact, day) == pg_day_count(postgres, table, day), (fact, day)
    with instance_for_test() as instance:
        assert _evaluate(reconcile_schedule, instance, resources).run_requests == []


def test_rollup_days_follow_fact_days_loaded_without_them(postgres, resources):
    seed(postgres)
    instance = DagsterInstance.ephemeral()
    day = TODAY - timedelta(days=1)
    materialize_day(resources, "fact_impressions", day, instance)

    context = build_sensor_context(instance=instance, definitions=defs)
    result = rollup_follows_facts.evaluate_tick(context)
    assert [(r.partition_key, [k.to_user_string() for k in r.asset_selection]) for r in result.run_requests] == [
        (day.isoformat(), ["analytics/agg_campaign_daily"])
    ]

    materialize_day(resources, "agg_campaign_daily", day, instance)
    later = rollup_follows_facts.evaluate_tick(build_sensor_context(instance=instance, cursor=result.cursor, definitions=defs))
    assert later.run_requests == [], "a rollup newer than its facts is not requested again"


def test_cron_schedule_requests_what_changed(postgres, resources, monkeypatch):
    monkeypatch.setenv("ADTECH_SYNC_CRON", "*/10 * * * *")
    schedule, dims = _scheduled_sync_defs()
    assert schedule.cron_schedule == dims.cron_schedule == "*/10 * * * *"
    assert dims.job_name == "refresh_dims_and_kpis"
    seed(postgres)

    with instance_for_test() as instance:
        first = _evaluate(schedule, instance, resources)
        assert {r.job_name for r in first.run_requests} == {"load_days"}
        assert (TODAY - timedelta(days=3)).isoformat() in _days(first.run_requests)
        assert _days(_evaluate(schedule, instance, resources).run_requests) == _days(first.run_requests), \
            "the days are pending until loaded"
        assert sync(resources, instance).ok
        assert not _evaluate(schedule, instance, resources).run_requests, "loaded: nothing left to request"
