"""What the Dagster UI shows, read back from the instance as the UI reads it: KPI views and dims
carry Dagster's standard table metadata (row count, column schema) and the views a preview of
their first rows; each day of a one-run load carries its own row count and fingerprint; the
four sources are observed by ``adtech sync`` and the sensor; sync's runs are named jobs with
tags saying what launched them and which days."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    build_sensor_context,
    materialize,
)

from adtech_assets.catalog import DIMS, FACTS, KPI_VIEWS, PREVIEW_ORDER, SOURCE_TABLES
from adtech_assets.db.postgres.sample_data import SeedWindow, seed_batch
from adtech_assets.definitions import defs
from adtech_assets.defs.assets.metadata import PREVIEW_ROWS
from adtech_assets.defs.automation import (
    OBSERVE_SOURCES_SECONDS,
    kpis_follow_rollup,
    postgres_changes,
)
from adtech_assets.defs.checks import ROW_COUNTS_MATCH_POSTGRES
from adtech_assets.defs.keys import (
    ROLLUP_KEY,
    partition_range_tags,
    source_key,
    table_key,
)
from adtech_assets.defs.location import ALL_ASSETS, ALL_CHECKS
from adtech_assets.engine.days import days_between
from adtech_assets.engine.fingerprints import Fingerprint, postgres_day_fingerprints
from adtech_assets_tests.helpers import (
    ch_query,
    ch_scalar,
    pg_day_count,
    pg_execute,
    sync,
)

TODAY = datetime.now(timezone.utc).date()


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as instance:
        yield instance


def seed(postgres, days: int = 3) -> None:
    seed_batch(postgres, advertisers=3, campaigns=15, impressions=2000, ctr=0.1,
               window=SeedWindow.last_days(days), seed=0.4)


def latest_metadata(instance: DagsterInstance, key: AssetKey, partition: str | None = None) -> dict:
    """The metadata of the latest materialization of ``key`` (of one partition), as the UI shows it."""
    if partition is None:
        event = instance.get_latest_materialization_event(key)
    else:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1).records
        event = records[0].event_log_entry if records else None
    assert event is not None, f"{key.to_user_string()} {partition or ''}: never materialized"
    return dict(event.asset_materialization.metadata)


def test_kpi_views_show_row_count_column_schema_and_a_preview(resources, postgres, clickhouse, instance):
    seed(postgres)
    assert sync(resources, instance).ok
    for view in KPI_VIEWS:
        metadata = latest_metadata(instance, AssetKey(["analytics", view]))
        live = ch_query(clickhouse, f"SELECT * FROM analytics.{view}")
        assert metadata["dagster/row_count"].value == len(live) > 0, view

        columns = ch_query(clickhouse, "SELECT name, type FROM system.columns WHERE database = 'analytics' "
                                       "AND table = {t:String} ORDER BY position", t=view)
        schema = metadata["dagster/column_schema"].schema
        assert [(c.name, c.type) for c in schema.columns] == [(c["name"], c["type"]) for c in columns], view
        assert [c.name for c in schema.columns] == list(live[0]), view

        records = metadata["preview"].records
        assert len(records) == min(PREVIEW_ROWS, len(live)), view
        assert all(set(r.data) == set(live[0]) for r in records), "every column"
        assert [c.name for c in metadata["preview"].schema.columns] == list(live[0]), "the view's column order"
        order_by, descending = PREVIEW_ORDER[view]
        shown = [r.data[order_by] for r in records if r.data[order_by] is not None]
        assert shown == sorted(shown, reverse=descending), (view, shown)
        best = sorted((row[order_by] for row in live if row[order_by] is not None), reverse=descending)
        assert shown == [v.isoformat() if hasattr(v, "isoformat") else v for v in best][:len(shown)], view


def test_dims_show_live_row_count_and_column_schema(resources, postgres, clickhouse, instance):
    seed(postgres)
    assert sync(resources, instance).ok
    for spec in DIMS:
        metadata = latest_metadata(instance, table_key(spec.table))
        (source_rows,), = pg_execute(postgres, f"SELECT count(*) FROM {spec.source}")
        assert metadata["dagster/row_count"].value == source_rows > 0, spec.table
        names = [c.name for c in metadata["dagster/column_schema"].schema.columns]
        assert names[0] == spec.id_column and {"name", "_version", "_is_deleted"} <= set(names), names


def test_each_day_of_a_one_run_load_shows_its_own_rows_and_fingerprint(resources, postgres, clickhouse, instance):
    seed(postgres, days=3)
    first, last = TODAY - timedelta(days=2), TODAY
    result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.groups("facts", "rollups"),
                         resources=resources, instance=instance, tags=partition_range_tags(first, last))
    assert result.success
    assert len(instance.get_runs()) == 1, "the three days in one run"

    days = days_between(first, last)
    for spec in FACTS:
        with postgres.connect() as conn:
            expected = postgres_day_fingerprints(conn, spec.source, first, last + timedelta(days=1))
        counts = []
        for day in days:
            metadata = latest_metadata(instance, table_key(spec.table), day.isoformat())
            rows = pg_day_count(postgres, spec.source, day)
            assert metadata["dagster/row_count"].value == rows, (spec.table, day)
            assert metadata["dagster/partition_row_count"].value == rows, (spec.table, day)
            # a day with no row (today, minutes after midnight) has the empty fingerprint
            assert metadata["fingerprint"].value == expected.get(day, Fingerprint.empty()).text, (spec.table, day)
            counts.append(rows)
        assert len(set(counts)) > 1, f"the days should differ for this test to mean anything: {counts}"

    for day in days:
        metadata = latest_metadata(instance, ROLLUP_KEY, day.isoformat())
        rollup_rows = ch_scalar(clickhouse, "SELECT count() FROM analytics.agg_campaign_daily "
                                            "WHERE event_date = {d:Date}", d=day)
        assert metadata["dagster/row_count"].value == rollup_rows > 0, day
        assert metadata["impressions"].value == pg_day_count(postgres, "impressions", day), day
        assert metadata["clicks"].value == pg_day_count(postgres, "clicks", day), day

    # the run's check: its sums are text (their scope is this run's days), never a plotted number
    (evaluation,) = [e for e in result.get_asset_check_evaluations()
                     if e.asset_key == table_key(FACTS[0].table) and e.check_name == ROW_COUNTS_MATCH_POSTGRES]
    total = sum(pg_day_count(postgres, "impressions", day) for day in days)
    assert evaluation.metadata["rows_in_scope"].value == f"{total:,} in Postgres, {total:,} in ClickHouse"
    assert evaluation.metadata["scope"].value == f"this run's days: {first} .. {last} (3)"
    assert "postgres_rows" not in evaluation.metadata


def test_sync_runs_are_named_jobs_tagged_with_trigger_and_days(resources, postgres, instance):
    # whole UTC days: a window that starts late in a day (the test run at 23:22 UTC) gives that
    # day a few night-time impressions and no click, so it reloads other tables than the days
    # after it and is a run of its own
    midnight = datetime.now(timezone.utc).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    seed_batch(postgres, advertisers=3, campaigns=15, impressions=2000, ctr=0.1,
               window=SeedWindow(start=midnight - timedelta(days=3), end=midnight), seed=0.4)
    report = sync(resources, instance)
    assert report.ok
    runs = {run.run_id: run for run in instance.get_runs()}
    assert set(runs) == set(report.run_ids)
    by_job = {}
    for run in runs.values():
        by_job.setdefault(run.job_name, []).append(run)
        assert run.tags["adtech/trigger"] == "adtech sync", run.tags
    assert set(by_job) == {"sync"}, "no __ephemeral_asset_job__"
    (load,) = by_job["sync"]  # one range of days: one run, with the dims and the views
    planned = {record.event_log_entry.dagster_event.asset_key.path[-1] for record in instance.get_records_for_run(
        load.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED, limit=1000).records}
    assert planned == {"dim_advertiser", "dim_campaign", "fact_impressions", "fact_clicks", "agg_campaign_daily",
                       *KPI_VIEWS}, planned
    first, last = min(report.days_loaded), max(report.days_loaded)
    assert load.tags["adtech/days"] == f"{first}..{last}"
    assert (load.tags["dagster/asset_partition_range_start"], load.tags["dagster/asset_partition_range_end"]) == (
        first.isoformat(), last.isoformat())
    # the one-run load still gives every day its own materialization
    materialized = {r.partition_key for r in instance.fetch_materializations(
        AssetRecordsFilter(asset_key=table_key(FACTS[0].table)), limit=100).records}
    assert materialized == {d.isoformat() for d in days_between(first, last)}


def observations(instance: DagsterInstance, table: str) -> list:
    records = instance.fetch_observations(AssetRecordsFilter(asset_key=source_key(table)), limit=100).records
    return [r.event_log_entry for r in records]  # newest first


def assert_observed_as_postgres_is(entry, postgres, table: str) -> None:
    metadata = entry.asset_observation.metadata
    newest = "greatest(created_at, updated_at)" if table in ("advertiser", "campaign") else "created_at"
    (rows, max_id, newest_change), = pg_execute(
        postgres, f"SELECT count(*), coalesce(max(id), 0), max({newest}) FROM {table}")
    assert metadata["dagster/row_count"].value == rows > 0, table
    assert metadata["max_id"].value == max_id, table
    assert metadata["newest_change"].value == str(newest_change), table
    assert entry.asset_observation.tags["dagster/data_version"] == f"{rows}:{max_id}:{newest_change}", table


def add_impression_and_flush(pg_url: str) -> None:
    """One new impression, its commit published to the statistics collector at once."""
    with psycopg.connect(pg_url) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("INSERT INTO impressions (campaign_id, created_at) "
                     "SELECT id, now() AT TIME ZONE 'utc' FROM campaign LIMIT 1")


def test_sync_observes_the_sources_that_moved(resources, postgres, pg_url, instance):
    seed(postgres)
    assert sync(resources, instance).ok
    for table in SOURCE_TABLES:
        (entry,) = observations(instance, table)
        assert entry.run_id == "", "a runless observation: no run just to observe"
        assert_observed_as_postgres_is(entry, postgres, table)

    idle = sync(resources, instance)
    assert idle.ok and idle.run_ids == [] and idle.sources_observed == []
    assert all(len(observations(instance, t)) == 1 for t in SOURCE_TABLES), "nothing moved: nothing counted again"

    add_impression_and_flush(pg_url)
    again = sync(resources, instance)
    assert again.ok and again.sources_observed == ["impressions"]
    latest, previous = observations(instance, "impressions")
    assert_observed_as_postgres_is(latest, postgres, "impressions")
    assert latest.asset_observation.metadata["dagster/row_count"].value == (
        previous.asset_observation.metadata["dagster/row_count"].value + 1)


def test_a_source_above_the_exact_count_shows_the_statistics_live_rows(resources, postgres, pg_url, instance,
                                                                        monkeypatch):
    """A table the statistics put above ``EXACT_COUNT_ROWS`` is not scanned to be counted: its
    row count is the statistics' live rows (exact deltas of committed writes), said as such."""
    from adtech_assets.engine import source_stats

    seed(postgres)
    assert sync(resources, instance).ok
    monkeypatch.setattr(source_stats, "EXACT_COUNT_ROWS", 0)
    add_impression_and_flush(pg_url)
    (count,), = pg_execute(postgres, "SELECT count(*) FROM impressions")
    deadline = time.monotonic() + 30  # the insert's statistics are published when its backend idles
    while pg_execute(postgres, "SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'impressions'")[0][0] != count:
        assert time.monotonic() < deadline, "the statistics never showed the insert"
        time.sleep(0.05)
    assert sync(resources, instance).sources_observed == ["impressions"]
    metadata = observations(instance, "impressions")[0].asset_observation.metadata
    assert metadata["dagster/row_count"].value == count
    assert "n_live_tup" in metadata["row_count_read_as"].value
    assert observations(instance, "impressions")[1].asset_observation.metadata["row_count_read_as"].value == "count(*)"


def test_sensor_observes_the_sources_with_its_tick_and_not_when_idle(resources, postgres, pg_url, instance):
    seed(postgres)

    def tick(cursor):
        # `with`: the context releases the resources it entered (the ClickHouse one is a generator)
        with build_sensor_context(instance=instance, cursor=cursor, resources=resources, definitions=defs) as context:
            return postgres_changes.evaluate_tick(context)

    first = tick(None)
    observed = {e.asset_key: e for e in first.asset_events}
    assert set(observed) == {source_key(t) for t in SOURCE_TABLES}
    for event in observed.values():
        assert event.metadata["dagster/row_count"].value > 0 and "dagster/data_version" in event.tags
    assert {r.job_name for r in first.run_requests} == {"load_days", "refresh_dims_and_kpis"}
    for request in first.run_requests:
        assert request.tags["adtech/trigger"], request.tags
        if request.job_name == "load_days":
            assert request.tags["adtech/days"] == (request.partition_key or "{}..{}".format(
                request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"]))
    for event in first.asset_events:  # what the daemon does with them
        instance.report_runless_asset_event(event)

    idle = tick(first.cursor)
    assert idle.skip_message == "no source rows changed" and not idle.asset_events and idle.cursor == first.cursor
    # a new row: the pass runs, but the sources were observed less than a minute ago
    add_impression_and_flush(pg_url)
    busy = tick(first.cursor)
    assert busy.run_requests and not busy.asset_events
    # a minute later the owed observation comes, on a tick that is otherwise idle: impressions only
    memo = json.loads(busy.cursor)
    memo["observed_at"] -= OBSERVE_SOURCES_SECONDS
    owed = tick(json.dumps(memo))
    assert owed.skip_message == "no source rows changed" and not owed.run_requests
    assert [e.asset_key for e in owed.asset_events] == [source_key("impressions")]
    assert owed.asset_events[0].metadata["dagster/row_count"].value == (
        observed[source_key("impressions")].metadata["dagster/row_count"].value + 1)
    for event in owed.asset_events:
        instance.report_runless_asset_event(event)
    memo = json.loads(owed.cursor)
    memo["observed_at"] -= OBSERVE_SOURCES_SECONDS
    assert not tick(json.dumps(memo)).asset_events, "observed: not again until the counters move"


def test_kpi_metadata_follows_rollup_days_rebuilt_without_the_views(resources, postgres, pg_url, instance):
    seed(postgres)
    assert sync(resources, instance).ok

    def tick():
        return kpis_follow_rollup.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))

    assert not tick().run_requests, "sync refreshed the views after its loads"
    add_impression_and_flush(pg_url)
    materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.groups("facts", "rollups"),
                resources=resources, instance=instance, partition_key=TODAY.isoformat())
    (request,) = tick().run_requests
    assert request.job_name == "refresh_kpis" and request.tags["adtech/trigger"] == "rollup days rebuilt"

    result = defs.resolve_job_def("refresh_kpis").execute_in_process(instance=instance, resources=resources)
    assert result.success
    daily = latest_metadata(instance, AssetKey(["analytics", "mv_daily_performance"]))
    today = next(r.data for r in daily["preview"].records if r.data["event_date"] == TODAY.isoformat())
    assert today["impressions"] == pg_day_count(postgres, "impressions", TODAY), "the preview shows the new row"
    assert not tick().run_requests
