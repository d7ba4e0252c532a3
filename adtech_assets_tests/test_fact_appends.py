"""A day that only gained rows since its load gets them appended; any other change to it, or a
row committed late below the highest id loaded, reloads it whole. Either way one sync leaves the
facts and the views equal to Postgres (real engines; the load's own metadata says which it did)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from dagster import DagsterInstance

from adtech_assets.db.postgres.sample_data import SeedWindow, seed_batch
from adtech_assets.engine.planner import plan_pass
from adtech_assets_tests.helpers import (
    assert_converged,
    ch_scalar,
    change,
    counters,
    materialize_day,
    pg_execute,
    settle_counters,
    sync_ok,
)

NOW = datetime.now(timezone.utc).replace(tzinfo=None)
DAY = NOW.date() - timedelta(days=2)  # a whole past day: its late rows are the case
NOON = datetime.combine(DAY, datetime.min.time()) + timedelta(hours=12)
INSERT = ("INSERT INTO {table} (campaign_id, created_at) SELECT (SELECT min(id) FROM campaign), "
          "%s::timestamp + n * interval '1 second' FROM generate_series(1, %s) AS n")


@pytest.fixture
def loaded(postgres, clickhouse, resources):
    seed_batch(postgres, advertisers=2, campaigns=6, impressions=3000, ctr=0.1,
               window=SeedWindow.last_days(5), seed=0.25)
    sync_ok(resources)
    return resources


def add_rows(postgres, count: int, table: str = "impressions") -> None:
    change(postgres, table, INSERT.format(table=table), (NOON, count))


def how_loaded(instance: DagsterInstance, run_ids: list[str], table: str = "fact_impressions") -> dict[str, str]:
    """Per day, what the fact load's metadata says it did ('appended N new rows' or 'reloaded whole')."""
    found = {}
    for run_id in run_ids:
        for record in instance.all_logs(run_id):
            event = record.dagster_event
            if event is not None and event.is_step_materialization and event.asset_key.path[-1] == table:
                found[event.partition] = event.step_materialization_data.materialization.metadata["load"].value
    return found


def sync_and_see(resources, postgres, clickhouse, table: str = "fact_impressions") -> dict[str, str]:
    with DagsterInstance.ephemeral() as instance:
        report = sync_ok(resources, instance)
        assert report.days_loaded == [DAY], report.reasons
        loads = how_loaded(instance, report.run_ids, table)
    assert_converged(postgres, clickhouse)
    return loads


def test_rows_a_day_gained_are_appended(loaded, postgres, clickhouse):
    for table in ("impressions", "clicks"):
        add_rows(postgres, 40, table)
    with DagsterInstance.ephemeral() as instance:
        report = sync_ok(loaded, instance)
        assert report.days_loaded == [DAY], report.reasons
        assert how_loaded(instance, report.run_ids) == {DAY.isoformat(): "appended 40 new rows"}
        assert how_loaded(instance, report.run_ids, "fact_clicks") == {DAY.isoformat(): "appended 40 new rows"}
    assert_converged(postgres, clickhouse)
    add_rows(postgres, 7)  # and again onto the appended day
    assert sync_and_see(loaded, postgres, clickhouse) == {DAY.isoformat(): "appended 7 new rows"}


def test_two_days_that_gained_rows_are_appended_in_one_read_and_a_changed_one_between_reloaded(
        loaded, postgres, clickhouse):
    """Days two apart gained rows; the day between them gained rows and lost one: one read
    stages the new rows of all three, the two are appended, the one between reloaded whole."""
    later, between = DAY + timedelta(days=2), DAY + timedelta(days=1)
    change(postgres, "impressions", "DELETE FROM impressions WHERE id = (SELECT min(id) FROM impressions "
                                    "WHERE created_at::date = %s)", (between,))
    for day, count in ((DAY, 20), (between, 5), (later, 30)):
        change(postgres, "impressions", INSERT.format(table="impressions"),
               (datetime.combine(day, NOON.time()), count))
    with DagsterInstance.ephemeral() as instance:
        report = sync_ok(loaded, instance)
        assert report.days_loaded == [DAY, between, later], report.reasons
        assert how_loaded(instance, report.run_ids) == {
            DAY.isoformat(): "appended 20 new rows", between.isoformat(): "reloaded whole",
            later.isoformat(): "appended 30 new rows"}
    assert_converged(postgres, clickhouse)


@pytest.mark.parametrize("statement", [
    "UPDATE impressions SET campaign_id = CASE WHEN campaign_id = (SELECT max(id) FROM campaign) "
    "THEN (SELECT min(id) FROM campaign) ELSE (SELECT max(id) FROM campaign) END "
    "WHERE id = (SELECT min(id) FROM impressions WHERE created_at::date = %s)",  # another campaign, surely
    "DELETE FROM impressions WHERE id = (SELECT max(id) FROM impressions WHERE created_at::date = %s)",
])
def test_new_rows_beside_a_change_to_a_loaded_row_reload_the_day(loaded, postgres, clickhouse, statement):
    change(postgres, "impressions", statement, (DAY,))
    add_rows(postgres, 25)
    assert sync_and_see(loaded, postgres, clickhouse) == {DAY.isoformat(): "reloaded whole"}


@pytest.mark.parametrize("others_on", ["the same day", "today"])
def test_a_row_committed_late_below_the_highest_id_loaded_reloads_the_day(loaded, postgres, clickhouse, pg_url,
                                                                         others_on):
    """The late row's id is below the rows committed after it: on its own day (below that day's
    highest id loaded) or on today (between its day's highest id and the table's)."""
    day = DAY if others_on == "the same day" else NOW.date()
    with psycopg.connect(pg_url) as late:
        late.execute(INSERT.format(table="impressions"), (NOON, 1))  # takes an id, commits last
        change(postgres, "impressions", INSERT.format(table="impressions"), (datetime.combine(day, NOON.time()), 30))
        with DagsterInstance.ephemeral() as instance:
            report = sync_ok(loaded, instance)
            assert report.days_loaded == [day]
            assert how_loaded(instance, report.run_ids) == {day.isoformat(): "appended 30 new rows"}
        before = counters(postgres, "impressions")
        late.commit()
    settle_counters(postgres, "impressions", before)
    (late_id,) = pg_execute(postgres, "SELECT min(id) FROM impressions WHERE created_at = %s", (NOON + timedelta(seconds=1),))[0]
    assert late_id < ch_scalar(clickhouse, "SELECT max(impression_id) FROM analytics.fact_impressions")
    assert sync_and_see(loaded, postgres, clickhouse) == {DAY.isoformat(): "reloaded whole"}


def test_a_pending_day_whose_new_rows_are_gone_again_appends_none(loaded, postgres, clickhouse, resources):
    highest = ch_scalar(clickhouse, "SELECT max(impression_id) FROM analytics.fact_impressions")
    add_rows(postgres, 10)
    with clickhouse.session() as ch:
        assert DAY in plan_pass(resources["postgres"], ch).days  # pending now
    change(postgres, "impressions", "DELETE FROM impressions WHERE id > %s", (highest,))
    result = materialize_day(loaded, "fact_impressions", DAY)
    (materialization,) = result.asset_materializations_for_node("analytics__fact_impressions")
    assert materialization.metadata["load"].value == "appended 0 new rows"
    assert sync_ok(loaded).days_loaded == [DAY]  # the rollup day is still pending; the facts are not
    assert_converged(postgres, clickhouse)


def test_a_day_reloaded_from_the_ui_is_reloaded_whole(loaded, postgres, clickhouse):
    result = materialize_day(loaded, "fact_impressions", DAY)
    (materialization,) = result.asset_materializations_for_node("analytics__fact_impressions")
    assert materialization.metadata["load"].value == "reloaded whole"
    assert_converged(postgres, clickhouse)


def test_a_load_that_dies_after_attaching_rows_is_repaired_by_the_next_sync(loaded, postgres, clickhouse,
                                                                           resources, monkeypatch):
    """Rows attached but not recorded (the process died in between): the day's parts are not
    what the manifest says, so the next pass fingerprints it, finds more rows than were loaded,
    and reloads it whole."""
    from adtech_assets.catalog import FACTS
    from adtech_assets.engine.loads import appends as fact_appends

    def dies(*_args, **_kwargs):
        raise RuntimeError("killed after the attach")

    add_rows(postgres, 15)
    with clickhouse.session() as ch, monkeypatch.context() as patched:
        assert DAY in plan_pass(resources["postgres"], ch).days
        patched.setattr(fact_appends, "record_loads", dies)
        with pytest.raises(RuntimeError, match="killed after the attach"):
            fact_appends.append_new_rows(FACTS[0], [DAY], resources["postgres"], ch)
    in_clickhouse = ch_scalar(clickhouse, "SELECT count() FROM analytics.fact_impressions WHERE event_date = {d:Date}",
                              d=DAY)
    assert in_clickhouse == pg_execute(postgres, "SELECT count(*) FROM impressions WHERE created_at::date = %s",
                                       (DAY,))[0][0], "the rows were attached, not recorded"
    assert sync_and_see(loaded, postgres, clickhouse) == {DAY.isoformat(): "reloaded whole"}


def test_a_step_that_fails_after_attaching_rows_is_retried_as_a_reload(loaded, postgres, clickhouse, monkeypatch):
    """The same failure inside a run: the step's retry finds the day's parts changed and reloads
    it whole, so the sync still ends equal to Postgres."""
    from adtech_assets.engine.loads import appends as fact_appends

    calls = []

    def fails_once(*args, **kwargs):
        calls.append(args)
        raise RuntimeError("failed after the attach")

    add_rows(postgres, 15)
    monkeypatch.setattr(fact_appends, "record_loads", fails_once)
    assert sync_and_see(loaded, postgres, clickhouse) == {DAY.isoformat(): "reloaded whole"}
    assert len(calls) == 1, "one append, then the retry reloaded"


def test_rows_attached_twice_as_by_two_runs_at_once_are_reloaded_whole(loaded, postgres, clickhouse, monkeypatch):
    """ClickHouse cannot attach only if nothing changed: two runs appending the same day on a
    server would both attach. The load fingerprints what it attached and reloads a day that is
    not what it expects."""
    from adtech_assets.db.clickhouse.client import ClickHouseSession

    command = ClickHouseSession.command

    def attaches_twice(self, name, **params):
        if name == "ops/attach_partition_from":
            command(self, name, **params)  # the other run's attach of the same rows
        return command(self, name, **params)

    add_rows(postgres, 12)
    monkeypatch.setattr(ClickHouseSession, "command", attaches_twice)
    assert sync_and_see(loaded, postgres, clickhouse) == {DAY.isoformat(): "reloaded whole"}
