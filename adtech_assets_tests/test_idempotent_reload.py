"""Reloading a fact day is idempotent and atomic, and follows the source.

A day load reads exactly [day, day + 1) and replaces that day in ClickHouse: re-running it never
duplicates, rows deleted in Postgres disappear, a day that became empty is dropped, neighbouring
days are untouched, and at no point during the load does a reader see anything but the old day
or the new one. ``adtech sync`` reloads exactly the days that changed: none when nothing did,
and a past day when a row lands in it late.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from dagster import DagsterInstance

from adtech_assets.catalog import FACTS
from adtech_assets.db.clickhouse.client import ClickHouseSession
from adtech_assets.db.postgres.sample_data import SeedWindow, seed_batch
from adtech_assets_tests.helpers import (
    add_advertiser,
    add_campaign,
    add_events,
    ch_day_count,
    ch_query,
    ch_scalar,
    kpi_differences,
    materialize_day,
    pg_day_count,
    pg_execute,
    sync,
)

DAY = date(2025, 6, 10)
BEFORE, AFTER = DAY - timedelta(days=1), DAY + timedelta(days=1)


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


def seed_days(postgres, days: list[date], impressions: int = 1500) -> None:
    for n, day in enumerate(days):
        seed_batch(postgres, advertisers=2, campaigns=5, impressions=impressions, ctr=0.1,
                   window=SeedWindow(midnight(day), midnight(day + timedelta(days=1))), seed=0.1 * n)


def duplicate_ids(clickhouse, spec) -> int:
    return ch_scalar(clickhouse, f"SELECT count() - uniqExact({spec.id_column}) FROM analytics.{spec.table}")


def active_partitions(clickhouse, table: str) -> set[str]:
    rows = ch_query(clickhouse, "SELECT DISTINCT partition FROM system.parts WHERE database = 'analytics' "
                                "AND table = {t:String} AND active", t=table)
    return {row["partition"] for row in rows}


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.mark.parametrize("spec", FACTS, ids=lambda spec: spec.table)
def test_reloading_a_day_twice_gives_the_same_rows_and_no_duplicates(spec, resources, postgres, clickhouse, instance):
    seed_days(postgres, [BEFORE, DAY, AFTER])
    expected = pg_day_count(postgres, spec.source, DAY)
    assert expected > 0

    materialize_day(resources, spec.table, DAY, instance)
    first = ch_query(clickhouse, f"SELECT {spec.id_column} AS id, campaign_id, created_at "
                                 f"FROM analytics.{spec.table} ORDER BY id")
    materialize_day(resources, spec.table, DAY, instance)
    second = ch_query(clickhouse, f"SELECT {spec.id_column} AS id, campaign_id, created_at "
                                  f"FROM analytics.{spec.table} ORDER BY id")

    assert len(first) == expected and first == second
    assert duplicate_ids(clickhouse, spec) == 0
    # exactly [day, day + 1): the neighbouring days were not read
    assert active_partitions(clickhouse, spec.table) == {DAY.strftime("%Y-%m-%d")}
    assert ch_day_count(clickhouse, spec.table, BEFORE) == ch_day_count(clickhouse, spec.table, AFTER) == 0
    # and the very same rows as the source, microseconds included
    source = pg_execute(postgres, f"SELECT id, campaign_id, created_at FROM {spec.source} "
                                  "WHERE created_at >= %s AND created_at < %s ORDER BY id",
                        (midnight(DAY), midnight(AFTER)))
    assert [(r["id"], r["campaign_id"], r["created_at"].replace(tzinfo=None)) for r in second] == source


def test_rows_deleted_at_the_source_disappear_on_reload(resources, postgres, clickhouse, instance):
    seed_days(postgres, [DAY])
    for spec in FACTS:
        materialize_day(resources, spec.table, DAY, instance)
    deleted_clicks = {i for (i,) in pg_execute(postgres, "DELETE FROM clicks WHERE mod(id, 3) = 0 RETURNING id")}
    deleted_impressions = {i for (i,) in pg_execute(postgres, "DELETE FROM impressions WHERE mod(id, 5) = 0 RETURNING id")}
    assert deleted_clicks and deleted_impressions

    for spec, deleted in zip(FACTS, (deleted_impressions, deleted_clicks)):
        materialize_day(resources, spec.table, DAY, instance)
        assert ch_day_count(clickhouse, spec.table, DAY) == pg_day_count(postgres, spec.source, DAY)
        still_there = ch_scalar(clickhouse, f"SELECT count() FROM analytics.{spec.table} "
                                            f"WHERE {spec.id_column} IN {{ids:Array(Int32)}}", ids=sorted(deleted))
        assert still_there == 0


def test_a_day_that_became_empty_is_dropped(resources, postgres, clickhouse, instance):
    seed_days(postgres, [DAY, AFTER])
    materialize_day(resources, "fact_impressions", DAY, instance)
    materialize_day(resources, "fact_impressions", AFTER, instance)
    assert active_partitions(clickhouse, "fact_impressions") == {DAY.isoformat(), AFTER.isoformat()}

    pg_execute(postgres, "DELETE FROM clicks")
    pg_execute(postgres, "DELETE FROM impressions WHERE created_at < %s", (midnight(AFTER),))
    materialize_day(resources, "fact_impressions", DAY, instance)

    assert active_partitions(clickhouse, "fact_impressions") == {AFTER.isoformat()}
    assert ch_day_count(clickhouse, "fact_impressions", DAY) == 0
    assert ch_day_count(clickhouse, "fact_impressions", AFTER) == pg_day_count(postgres, "impressions", AFTER)


def test_a_reader_sees_the_old_day_or_the_new_one_never_a_partial_day(
    resources, postgres, clickhouse, instance, monkeypatch
):
    """After every statement the load runs (staging inserts, partition swap, clean-up), a reader
    counting the day in ``fact_impressions`` sees the old count, then the new one, nothing else."""
    seed_days(postgres, [DAY], impressions=3000)
    materialize_day(resources, "fact_impressions", DAY, instance)
    old = ch_day_count(clickhouse, "fact_impressions", DAY)
    pg_execute(postgres, "DELETE FROM clicks")
    pg_execute(postgres, "DELETE FROM impressions WHERE mod(id, 4) = 0")
    add_events(postgres, "impressions", [(None, midnight(DAY) + timedelta(hours=h)) for h in range(24)])
    new = pg_day_count(postgres, "impressions", DAY)
    assert new not in (old, 0)

    seen: list[tuple[str, int]] = []

    def observed(method):
        def wrapper(self: ClickHouseSession, *args, **kwargs):
            result = method(self, *args, **kwargs)
            count = self.client.query("SELECT count() FROM analytics.fact_impressions WHERE event_date = {d:Date}",
                                      parameters={"d": DAY}).result_rows[0][0]
            seen.append((f"{method.__name__} {args[0]}", count))
            return result
        return wrapper

    monkeypatch.setattr(ClickHouseSession, "command", observed(ClickHouseSession.command))
    monkeypatch.setattr(ClickHouseSession, "insert_arrow", observed(ClickHouseSession.insert_arrow))
    materialize_day(resources, "fact_impressions", DAY, instance)
    monkeypatch.undo()

    steps = [step for step, _ in seen]
    counts = [count for _, count in seen]
    assert any(step.startswith("insert_arrow _staging_") or step == "command ops/insert_native_from_file"
               for step in steps), steps
    assert "command ops/replace_partition" in steps, steps
    swap = steps.index("command ops/replace_partition")
    assert all(count == old for count in counts[:swap]), seen
    assert all(count == new for count in counts[swap:]), seen
    # the staging table is gone
    assert ch_scalar(clickhouse, "SELECT count() FROM system.tables WHERE database = 'analytics' "
                                 "AND name LIKE '\\_staging\\_%'") == 0


def test_sync_reloads_exactly_the_changed_days_late_ones_included(resources, postgres, clickhouse, instance):
    """No day when nothing changed; a past day when a row lands in it today; and a day whose row
    was committed late by a long transaction (a lower id than rows already loaded, invisible to
    the previous pass): an id or created_at watermark would lose it."""
    now = utc_now()
    seed_batch(postgres, advertisers=3, campaigns=8, impressions=2000, ctr=0.1,
               window=SeedWindow(now - timedelta(days=6), now - timedelta(minutes=5)), seed=0.5)
    first = sync(resources, instance)
    assert first.ok and len(first.days_loaded) >= 6
    nothing_new = sync(resources, instance)
    assert nothing_new.ok, (nothing_new.failed_checks, nothing_new.errors)
    assert nothing_new.days_loaded == []

    long_ago = (now - timedelta(days=2)).date()
    with postgres.connect() as long_running:
        long_running.execute("INSERT INTO impressions (campaign_id, created_at) VALUES (NULL, %s)",
                             (midnight(long_ago) + timedelta(hours=1),))
        add_events(postgres, "impressions", [(None, now)])  # committed, with a higher id
        while_open = sync(resources, instance)
        assert while_open.ok and while_open.days_loaded == [now.date()], while_open.days_loaded
        loaded_before_commit = ch_day_count(clickhouse, "fact_impressions", long_ago)
    # leaving the block committed the long transaction; now a late row, created three days ago
    assert pg_day_count(postgres, "impressions", long_ago) == loaded_before_commit + 1
    three_days_ago = now - timedelta(days=3)
    campaign = pg_execute(postgres, "SELECT min(id) FROM campaign")[0][0]
    add_events(postgres, "impressions", [(campaign, three_days_ago)])
    add_events(postgres, "clicks", [(campaign, three_days_ago)])

    report = sync(resources, instance)
    assert report.ok, (report.failed_checks, report.errors)
    assert report.days_loaded == sorted({long_ago, three_days_ago.date()})
    for day in report.days_loaded:
        for spec in FACTS:
            assert ch_day_count(clickhouse, spec.table, day) == pg_day_count(postgres, spec.source, day)
        assert ch_scalar(clickhouse, "SELECT impressions FROM analytics.mv_daily_performance "
                                     "WHERE event_date = {d:Date}", d=day) == pg_day_count(postgres, "impressions", day)


@pytest.mark.long(20)
def test_neighbouring_days_that_reload_other_tables_share_a_run_when_the_extra_is_small(
    resources, postgres, instance, monkeypatch
):
    """A run reloads each of its tables on each of its days, so consecutive days that need other
    tables are one run when the union reloads little that neither needed (an empty day costs
    nothing), and a run each past ``MERGE_ROWS`` extra rows: a run costs ~1 s of Dagster."""
    from adtech_assets.engine import planner

    campaign = add_campaign(postgres, "c", add_advertiser(postgres, "a"))
    today = utc_now().date()
    days = [today - timedelta(days=n) for n in (3, 2, 1)]
    add_events(postgres, "impressions", [(campaign, midnight(d) + timedelta(hours=12)) for d in days for _ in range(5)])
    add_events(postgres, "clicks", [(campaign, midnight(d) + timedelta(hours=12)) for d in days[1:]])
    first = sync(resources, instance)  # the first day has no click: still one run
    assert first.ok and first.days_loaded == days and len(first.run_ids) == 1, (first.days_loaded, first.run_ids)

    # a late click on the first day, new impressions on the second: 5 + 1 rows neither needed
    add_events(postgres, "clicks", [(campaign, midnight(days[0]) + timedelta(hours=13))])
    add_events(postgres, "impressions", [(campaign, midnight(days[1]) + timedelta(hours=13))])
    merged = sync(resources, instance)
    assert merged.ok and merged.days_loaded == days[:2] and len(merged.run_ids) == 1, merged.run_ids

    monkeypatch.setattr(planner, "MERGE_ROWS", 5)
    add_events(postgres, "clicks", [(campaign, midnight(days[0]) + timedelta(hours=14))])
    add_events(postgres, "impressions", [(campaign, midnight(days[1]) + timedelta(hours=14))])
    apart = sync(resources, instance)
    assert apart.ok and apart.days_loaded == days[:2] and len(apart.run_ids) == 2, apart.run_ids
    assert kpi_differences(postgres, resources["clickhouse"]) == {}


def test_parts_a_reload_replaced_leave_the_disk(resources, postgres, clickhouse, instance):
    """Each reload swaps new parts in; the ones it replaced are removed from disk by the next
    session that holds the embedded engine for a moment (V12), not kept forever. Not yet for all:
    a merged part (level above 0) that a later swap replaced stays (see the README)."""
    seed_days(postgres, [DAY], impressions=500)
    for _ in range(8):
        materialize_day(resources, "fact_impressions", DAY, instance)

    def leftovers(ch) -> set[str]:
        """Part folders on disk that are not active parts: of level 0 (``<partition>_<min>_<max>_0``)."""
        (path,) = ch.client.query("SELECT data_paths[1] FROM system.tables WHERE database = 'analytics' "
                                  "AND name = 'fact_impressions'").result_rows[0]
        folders = {p.name for p in Path(path).iterdir() if p.is_dir() and p.name[:1].isdigit()}
        active = {r[0] for r in ch.client.query("SELECT name FROM system.parts WHERE database = 'analytics' "
                                                "AND table = 'fact_impressions' AND active").result_rows}
        return {name for name in folders - active if name.endswith("_0")}

    with clickhouse.session() as ch:
        # V12 runs the removal a second after the engine opens; ClickHouse's default, at 30-40 s,
        # is what a sync or a run never lived to see: 20 s tells them apart, even on a busy machine
        deadline, wait = time.monotonic() + 20, 0.1
        left = leftovers(ch)  # on a busy machine the loads' own sessions may have removed them
        while left and time.monotonic() < deadline:
            time.sleep(wait)
            wait = min(wait * 2, 2.0)
            left = leftovers(ch)
    assert left == set()
