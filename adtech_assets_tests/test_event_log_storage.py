"""The batching SQLite event log (event_log_storage.py) stores what Dagster's own stores: the same
events, partitions, metadata, asset entries and failed partitions, for a single-run backfill."""

from __future__ import annotations

import pytest
from dagster import (
    AssetKey,
    BackfillPolicy,
    DagsterInstance,
    DailyPartitionsDefinition,
    MaterializeResult,
    asset,
    materialize,
)

from adtech_assets.cli.home import instance_yaml
from adtech_assets.runtime import event_log_storage
from adtech_assets.runtime.event_log_storage import BatchingSqliteEventLogStorage

DAYS = DailyPartitionsDefinition(start_date="2026-11-01", end_date="2026-11-10")
RANGE = {"dagster/asset_partition_range_start": "2026-11-02", "dagster/asset_partition_range_end": "2026-11-06"}
KEY = AssetKey("days")


def days_asset(fail: bool):
    @asset(name="days", partitions_def=DAYS, backfill_policy=BackfillPolicy.single_run())
    def _days(context) -> MaterializeResult:
        if fail:
            raise RuntimeError("the load failed")
        for key in context.partition_keys:
            context.add_asset_metadata({"rows": int(key[-2:])}, partition_key=key)
        return MaterializeResult()

    return _days


def instance_at(home, yaml: str) -> DagsterInstance:
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml)
    return DagsterInstance.from_config(str(home))


def stored(instance: DagsterInstance) -> dict:
    """What the UI reads back: events by type with their partitions and metadata, the asset's
    entry, the materialized and the failed partitions."""
    events = {}
    for kind, fetch in (("materialized", instance.fetch_materializations),
                        ("planned", instance.fetch_planned_materializations)):
        records = fetch(KEY, limit=1000, ascending=True).records
        events[kind] = [(r.event_log_entry.dagster_event_type, r.partition_key,
                         {k: v.value for k, v in (r.asset_materialization.metadata.items()
                                                  if r.asset_materialization else [])})
                        for r in records]
    record = instance.get_asset_records([KEY])[0].asset_entry
    latest = record.last_materialization_record
    failed = instance.event_log_storage.get_latest_asset_partition_materialization_attempts_without_materializations(KEY)
    return {
        "events": events,
        "latest": latest.partition_key if latest else None,
        "materialized": sorted(instance.get_materialized_partitions(KEY)),
        "failed": sorted(failed),
    }


def backfill(instance: DagsterInstance, fail: bool) -> None:
    result = materialize([days_asset(fail)], instance=instance, tags=RANGE, raise_on_error=False)
    assert result.success is not fail


@pytest.mark.parametrize("fail", [False, True], ids=["loaded", "failed"])
def test_a_backfill_is_stored_as_dagsters_own_storage_stores_it(tmp_path, monkeypatch, fail):
    monkeypatch.delenv(event_log_storage.BATCH_SIZE_VARIABLE, raising=False)
    batches = []
    original = BatchingSqliteEventLogStorage.store_event_batch
    monkeypatch.setattr(BatchingSqliteEventLogStorage, "store_event_batch",
                        lambda self, events: batches.append(len(events)) or original(self, events))

    with instance_at(tmp_path / "ours", instance_yaml(tmp_path / "ours")) as ours:
        assert isinstance(ours.event_log_storage, BatchingSqliteEventLogStorage)
        backfill(ours, fail)
        # later runs add to what earlier ones stored, as Dagster's storage does
        backfill(ours, False)
        mine = stored(ours)
    with instance_at(tmp_path / "stock", "telemetry:\n  enabled: false\n") as stock:
        backfill(stock, fail)
        backfill(stock, False)
        theirs = stored(stock)

    assert mine == theirs
    assert len(mine["events"]["materialized"]) == 5 * (1 if fail else 2)
    assert (tmp_path / "ours" / "history" / "runs" / "index.db").exists()  # Dagster's default place
    assert 5 in batches  # the five days' events went as batches, not one by one


def describe_database(path) -> tuple:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return (sorted(conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall()),
                conn.execute("PRAGMA journal_mode").fetchall(),
                conn.execute("SELECT version_num FROM alembic_version").fetchall())


def test_run_databases_are_copies_of_one_made_by_dagster(tmp_path, monkeypatch):
    """A run's database comes from a template that Dagster's own initialization made once: the
    same tables, indexes, journal mode and migration revision as Dagster's own run database,
    and not listed as a run."""
    ours = BatchingSqliteEventLogStorage(str(tmp_path / "ours"))
    made = []
    original = BatchingSqliteEventLogStorage._initdb
    monkeypatch.setattr(BatchingSqliteEventLogStorage, "_initdb",
                        lambda self, engine, for_index_shard=False: made.append(for_index_shard)
                        or original(self, engine, for_index_shard))
    for run_id in ("first", "second", "third"):
        with ours.run_connection(run_id):
            pass
    assert made == [False]  # the template, once; the runs' databases are copies of it
    assert sorted(ours.get_all_run_ids()) == ["first", "second", "third"]

    from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
        SqliteEventLogStorage,
    )

    stock = SqliteEventLogStorage(str(tmp_path / "stock"))
    with stock.run_connection("first"):
        pass
    expected = describe_database(tmp_path / "stock" / "first.db")
    assert expected[1] == [("wal",)] and expected[2]
    for run_id in ("first", "third"):
        assert describe_database(tmp_path / "ours" / f"{run_id}.db") == expected

    # a database that exists is left to Dagster's own checks, never overwritten
    with ours.run_connection("first") as conn:
        conn.exec_driver_sql("CREATE TABLE kept (x INTEGER)")
    fresh = BatchingSqliteEventLogStorage(str(tmp_path / "ours"))
    with fresh.run_connection("first") as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM kept").scalar() == 0


def test_a_home_made_before_the_package_layout_opens(tmp_path, monkeypatch):
    """A dagster.yaml that names the event log's former module is rewritten to the current one,
    the rest kept: the home's history still opens."""
    from adtech_assets.cli.home import EVENT_LOG_MODULE, dagster_home

    home = tmp_path / "old_home"
    home.mkdir()
    former = instance_yaml(home).replace(EVENT_LOG_MODULE, "adtech_assets.event_log_storage") + "# kept\n"
    (home / "dagster.yaml").write_text(former)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert dagster_home() == home.resolve()
    assert (home / "dagster.yaml").read_text() == instance_yaml(home) + "# kept\n"
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.event_log_storage) is BatchingSqliteEventLogStorage
