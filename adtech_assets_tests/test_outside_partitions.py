"""ClickHouse holds rows only on the partitions' days, and the sync says plainly which source rows
no partition holds (issue 22, items 5 and 6). Loads write only days inside the window
(``engine.days.partition_window``), so rows on any other day in ClickHouse are removed by the
planner; source rows outside the window are counted in one note per pass that reflects the rows
as they are, and a day ClickHouse's ``Date`` cannot hold is never written, not even as a
pending mark. Real engines; each scenario ends with ClickHouse equal to Postgres."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from adtech_assets.catalog import DAILY_TABLES
from adtech_assets.db.postgres.sample_data import SeedWindow, seed_batch
from adtech_assets.engine.days import partition_window
from adtech_assets.engine.planner import plan_pass
from adtech_assets_tests.helpers import (
    assert_converged,
    ch_command,
    ch_scalar,
    change,
    cli_env,
    fact_rows,
    kpi_differences,
    pg_execute,
    run_cli,
    sync_ok,
)

NOW = datetime.now(timezone.utc).replace(tzinfo=None)
TODAY = NOW.date()
NOTE = "fall outside the partitions"


def seed(postgres) -> None:
    seed_batch(postgres, advertisers=2, campaigns=6, impressions=3000, ctr=0.1,
               window=SeedWindow.last_days(6), seed=0.75)


@pytest.fixture
def loaded(postgres, clickhouse, resources):
    seed(postgres)
    sync_ok(resources)
    assert_converged(postgres, clickhouse)
    return resources


def rows_outside_in_clickhouse(clickhouse) -> dict[str, int]:
    first, end = partition_window()
    return {table: ch_scalar(clickhouse, f"SELECT count() FROM analytics.{table} "
                                         "WHERE event_date < {first:Date} OR event_date >= {end:Date}",
                             first=first, end=end)
            for table in DAILY_TABLES}


def test_rows_written_in_clickhouse_outside_the_partitions_are_removed(loaded, postgres, clickhouse):
    """A fact row on 2020-01-01 (before ADTECH_PARTITIONS_START) and on 2030-01-01 (the future),
    with their rollup rows, written straight into ClickHouse: the KPIs count them until a sync
    removes them; then ClickHouse equals Postgres and the next pass has nothing to do."""
    campaign = pg_execute(postgres, "SELECT min(id) FROM campaign")[0][0]
    for day in ("2020-01-01", "2030-01-01"):
        ch_command(clickhouse, "INSERT INTO analytics.fact_impressions (impression_id, campaign_id, created_at) "
                               "VALUES (2000000001, {c:Int32}, {t:DateTime64(6)})", c=campaign, t=f"{day} 12:00:00")
        ch_command(clickhouse, "INSERT INTO analytics.fact_clicks (click_id, campaign_id, created_at) "
                               "VALUES (2000000001, {c:Int32}, {t:DateTime64(6)})", c=campaign, t=f"{day} 12:00:01")
        ch_command(clickhouse, "INSERT INTO analytics.agg_campaign_daily VALUES ({d:Date}, {c:Int32}, 1, 1)",
                   d=day, c=campaign)
    assert kpi_differences(postgres, clickhouse) != {}, "the rows show in the views"

    report = sync_ok(loaded)
    assert report.days_outside_partitions == []
    assert rows_outside_in_clickhouse(clickhouse) == dict.fromkeys(DAILY_TABLES, 0)
    assert_converged(postgres, clickhouse)
    again = sync_ok(loaded)
    assert (again.days_loaded, again.run_ids, again.days_outside_partitions) == ([], [], [])
    assert_converged(postgres, clickhouse)


@pytest.mark.long(20)
def test_days_loaded_before_the_start_moved_later_are_removed_and_reloaded_when_it_moves_back(
        loaded, postgres, clickhouse, monkeypatch):
    start = TODAY - timedelta(days=2)
    monkeypatch.setenv("ADTECH_PARTITIONS_START", start.isoformat())
    report = sync_ok(loaded)
    assert report.days_loaded == [] and report.days_outside_partitions == [], report.reasons
    assert rows_outside_in_clickhouse(clickhouse) == dict.fromkeys(DAILY_TABLES, 0)
    inside = sorted(pg_execute(postgres, "SELECT id, campaign_id, created_at FROM impressions "
                                         "WHERE created_at >= %s", (start,)))
    assert fact_rows(clickhouse, "fact_impressions", "impression_id") == inside
    assert ch_scalar(clickhouse, "SELECT min(event_date) FROM analytics.agg_campaign_daily") == start

    monkeypatch.delenv("ADTECH_PARTITIONS_START")
    back = sync_ok(loaded)
    assert back.days_loaded and min(back.days_loaded) < start, back.reasons
    assert_converged(postgres, clickhouse)


@pytest.mark.long(40)
def test_source_rows_no_partition_can_hold_are_said_never_stored_clamped_and_the_note_goes(
        loaded, postgres, pg_url, clickhouse, clickhouse_path, tmp_path):
    """Impressions without created_at, in 1969, in 2200 (outside ClickHouse's Date range) and on
    a future day it can hold, a click in 1969: every sync exits 0 and says once how many source
    rows no partition holds; no clamped day (1970-01-01, 2149-06-06) is ever marked pending, the
    future day is (it loads once today reaches it). Deleting those rows, or moving them inside,
    makes the note go and resolves the pending day."""
    env = cli_env(tmp_path, ADTECH_PG_URL=pg_url, ADTECH_CLICKHOUSE_URL=f"chdb://{clickhouse_path}")
    campaign = pg_execute(postgres, "SELECT min(id) FROM campaign")[0][0]
    change(postgres, "impressions", "INSERT INTO impressions (campaign_id, created_at) VALUES "
                                    "(%(c)s, NULL), (%(c)s, '1969-07-20 20:17:40'), (%(c)s, '2200-01-01 00:00:00'), "
                                    "(%(c)s, '2031-03-04 05:06:07')", {"c": campaign})
    change(postgres, "clicks", "INSERT INTO clicks (campaign_id, created_at) VALUES (%s, '1969-07-20 20:18:00')",
           (campaign,))

    for _ in range(2):  # the pass that finds them, and an idle one: both say it, once
        synced = run_cli(["sync"], env)
        assert synced.returncode == 0, synced.stderr[-3000:]
        assert synced.stderr.count(NOTE) == 1, synced.stderr[-3000:]
        assert "note: 5 source row(s) fall outside the partitions" in synced.stderr, synced.stderr[-3000:]
        assert "impressions: 1 without created_at, 1 before ADTECH_PARTITIONS_START, 2 after today" in synced.stderr
    pending = {row[0] for row in ch_rows(clickhouse, "SELECT DISTINCT day FROM analytics.pending_loads")}
    assert date(1970, 1, 1) not in pending and date(2149, 6, 6) not in pending, pending
    assert date(2031, 3, 4) in pending, "a day ClickHouse can hold stays pending until the partitions reach it"

    inside = datetime.combine(TODAY - timedelta(days=1), datetime.min.time()) + timedelta(hours=12)
    change(postgres, "impressions", "DELETE FROM impressions WHERE created_at IS NULL OR created_at >= '2100-01-01' "
                                    "OR created_at::date = '2031-03-04'")
    change(postgres, "impressions", "UPDATE impressions SET created_at = %s WHERE created_at < '1970-01-01'", (inside,))
    change(postgres, "clicks", "UPDATE clicks SET created_at = %s WHERE created_at < '1970-01-01'", (inside,))
    repaired = run_cli(["sync"], env)
    assert repaired.returncode == 0, repaired.stderr[-3000:]
    assert NOTE not in repaired.stderr, repaired.stderr[-3000:]
    assert_converged(postgres, clickhouse)
    with clickhouse.session() as ch:
        plan = plan_pass(loaded["postgres"], ch)
    assert plan.outside_partitions == [] and plan.days == [], plan.reasons
    assert set(plan.rows_outside.values()) == {(0, 0, 0)}


def ch_rows(clickhouse, statement: str) -> list[tuple]:
    with clickhouse.session() as ch:
        return ch.client.query(statement).result_rows


def test_the_sensor_warns_with_the_same_count_as_the_sync():
    """The daemon's tick logs the note `adtech sync` prints: the source rows outside the
    partitions as they are now, not the pending days (nothing when there are none)."""
    from adtech_assets.defs.automation import _warn_outside_partitions
    from adtech_assets.engine.planner import PassPlan, outside_note

    class Log:
        def __init__(self):
            self.lines = []

        def warning(self, line):
            self.lines.append(line)

    plan = PassPlan(days=[], outside_partitions=[TODAY], reasons={}, tables={}, found={}, dims_changed=[],
                    fingerprinted=False, fingerprint_owed=False,
                    rows_outside={"impressions": (1, 0, 2), "clicks": (0, 0, 0)})
    log = Log()
    _warn_outside_partitions(plan, log)
    assert log.lines == [outside_note(plan.rows_outside).removeprefix("note: ")]
    assert log.lines[0].startswith("3 source row(s) fall outside the partitions"), log.lines
    assert "impressions: 1 without created_at, 2 after today (UTC)" in log.lines[0]
    quiet = Log()
    _warn_outside_partitions(PassPlan(days=[], outside_partitions=[TODAY], reasons={}, tables={}, found={},
                                      dims_changed=[], fingerprinted=False, fingerprint_owed=False), quiet)
    assert quiet.lines == []
