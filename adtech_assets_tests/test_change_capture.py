"""Issue 22's reproductions of changes `adtech sync` used to miss while it exited 0 and said
"ClickHouse equals Postgres", each on both change sources: Postgres's change log (``auto`` on a
server with ``wal_level=logical``, as the test server runs) and the scans
(``ADTECH_CHANGE_SOURCE=scan``). Every scenario runs the real command in process on a seeded
database after a first sync that left everything equal, and ends with the facts and the five
KPI views compared with Postgres computed directly. Where the scans keep a documented blind
spot (statistics counters that were not published, or were reset), the sync must not claim
equality, and `adtech sync --full` must repair it."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta, timezone

import psycopg
import pytest

from adtech_assets.db.postgres.sample_data import SeedWindow, seed_batch
from adtech_assets_tests.helpers import (
    Ran,
    assert_converged,
    counters,
    kpi_differences,
    pg_execute,
    run_adtech,
    settle_counters,
)

TODAY = datetime.now(timezone.utc).date()
EQUALS = "ClickHouse equals Postgres"
LOG, SCAN = "auto", "scan"

pytestmark = pytest.mark.long(15)  # a seed, and 3-6 syncs of a few seconds each


def adtech_sync(capsys, *args: str) -> Ran:
    return run_adtech(capsys, "sync", *args)


def synced_equal(capsys, postgres, clickhouse, *args: str) -> Ran:
    """A sync that exits 0 and leaves the facts and every KPI view equal to Postgres."""
    synced = adtech_sync(capsys, *args)
    assert synced.code == 0, str(synced)
    try:
        assert_converged(postgres, clickhouse)
    except AssertionError as exc:
        raise AssertionError(f"not equal after this sync: {exc}\n{synced}") from exc
    return synced


def equal_or_said_and_repaired(synced: Ran, capsys, postgres, clickhouse) -> None:
    """The scans' blind spot: a sync that missed the change exits 0 but must not say
    ClickHouse equals Postgres; `sync --full` then repairs it."""
    assert synced.code == 0, str(synced)
    if kpi_differences(postgres, clickhouse) == {}:
        assert_converged(postgres, clickhouse)
        return
    assert EQUALS not in synced.out, f"claims equality while the views differ\n{synced}"
    synced_equal(capsys, postgres, clickhouse, "--full")


def assert_idle(mode: str, capsys, postgres, clickhouse) -> None:
    """The pass after everything has nothing to load; with the change log it says ClickHouse
    equals Postgres and where it read the log to; with scans it says only what it verified,
    unless it fingerprinted the whole history."""
    synced = synced_equal(capsys, postgres, clickhouse)
    assert "nothing to load (0 Dagster runs)" in synced.out, str(synced)
    if mode == LOG:
        assert f"{EQUALS} (change log read to" in synced.out, str(synced)
    elif "whole history fingerprinted" not in synced.out:
        assert "nothing new found" in synced.out, str(synced)
        assert EQUALS not in synced.out, str(synced)


def write(postgres, table: str, statement: str, params=()) -> list[tuple]:
    """One committed statement whose write counters are published before it returns (as the
    next pass would see them); its rows if it returns any."""
    before = counters(postgres, table)
    rows = pg_execute(postgres, statement, params)
    settle_counters(postgres, table, before)
    return rows


def noon(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time()) + timedelta(hours=12)


def wait_until(condition, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting: {what}")
        time.sleep(0.05)


@pytest.fixture(params=[LOG, SCAN])
def mode(request, adtech_env, monkeypatch) -> str:
    """`adtech` on this test's databases, with one change source."""
    monkeypatch.setenv("ADTECH_CHANGE_SOURCE", request.param)
    return request.param


@pytest.fixture
def loaded(mode, postgres, clickhouse, capsys) -> str:
    """A seeded source (3,000 impressions over the last 6 days) and a first sync: equal."""
    seed_batch(postgres, advertisers=2, campaigns=6, impressions=3000, ctr=0.1,
               window=SeedWindow.last_days(6), seed=0.22)
    synced = synced_equal(capsys, postgres, clickhouse)
    # A new slot waits for every write transaction on the server; another test's may hold the
    # first pass to scans (it says so): the next pass makes the slot, as a user's next one would.
    for _ in range(5):
        if mode != LOG or "cannot create the slot" not in synced.err:
            break
        synced = synced_equal(capsys, postgres, clickhouse)
    assert mode != LOG or "cannot create the slot" not in synced.err, str(synced)
    return mode


def a_campaign(postgres) -> int:
    return pg_execute(postgres, "SELECT min(id) FROM campaign")[0][0]


def test_a_high_explicit_id_hides_no_later_insert(loaded, postgres, clickhouse, capsys):
    """An explicit id far above the sequence must not raise the mark above the ids drawn later:
    both batches of default ids are loaded, without --full."""
    campaign = a_campaign(postgres)
    write(postgres, "clicks", "INSERT INTO clicks (id, campaign_id, created_at) VALUES (2000000000, %s, %s)",
          (campaign, noon(TODAY - timedelta(days=4))))
    synced_equal(capsys, postgres, clickhouse)
    for _ in range(2):
        write(postgres, "clicks", "INSERT INTO clicks (campaign_id, created_at) "
                                  "SELECT %s, %s + n * interval '1 second' FROM generate_series(1, 300) AS n",
              (campaign, noon(TODAY - timedelta(days=2))))
        synced = synced_equal(capsys, postgres, clickhouse)
        assert TODAY - timedelta(days=2) in synced.loaded_days(), str(synced)
    assert_idle(loaded, capsys, postgres, clickhouse)


def test_rows_inserted_again_with_their_old_ids_are_loaded(loaded, postgres, clickhouse, capsys):
    """Ids below every mark (the rows deleted, then inserted back as they were) are seen."""
    gone = write(postgres, "impressions", "DELETE FROM impressions WHERE id IN "
                                          "(SELECT id FROM impressions WHERE id %% 29 = 0 ORDER BY id LIMIT 100) "
                                          "RETURNING id, campaign_id, created_at")
    assert len(gone) == 100
    synced_equal(capsys, postgres, clickhouse)
    before = counters(postgres, "impressions")
    with postgres.connect() as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO impressions (id, campaign_id, created_at) VALUES (%s, %s, %s)", gone)
    settle_counters(postgres, "impressions", before)
    synced_equal(capsys, postgres, clickhouse)
    assert_idle(loaded, capsys, postgres, clickhouse)


@pytest.mark.long(20)
def test_inserts_after_truncate_restart_identity_are_loaded(loaded, postgres, clickhouse, capsys):
    """TRUNCATE ... RESTART IDENTITY empties the table (no write counter moves) and draws the
    same ids again: the empty table, then the new rows, are loaded."""
    pg_execute(postgres, "TRUNCATE clicks RESTART IDENTITY")
    synced_equal(capsys, postgres, clickhouse)
    write(postgres, "clicks", "INSERT INTO clicks (campaign_id, created_at) "
                              "SELECT campaign_id, created_at + interval '1 minute' FROM impressions "
                              "ORDER BY id LIMIT 3000")
    assert pg_execute(postgres, "SELECT count(*), min(id) FROM clicks")[0] == (3000, 1)
    synced_equal(capsys, postgres, clickhouse)
    assert_idle(loaded, capsys, postgres, clickhouse)


def test_a_delete_whose_backend_stays_busy(loaded, mode, postgres, pg_url, clickhouse, capsys):
    """A backend commits a DELETE and goes on with a long statement: its write counters are not
    published until it goes idle. The change log has the delete; the scans cannot know it, so
    that sync must not claim equality, and --full repairs it."""
    ids = [row[0] for row in pg_execute(postgres, "SELECT id FROM impressions WHERE id %% 17 = 0 ORDER BY id LIMIT 60")]
    before = counters(postgres, "impressions")
    busy = psycopg.connect(pg_url, autocommit=True)
    canceled: list[BaseException] = []

    def delete_and_stay_busy() -> None:
        # one simple-protocol message: the backend is never idle between the COMMIT and the sleep
        try:
            busy.execute(f"BEGIN; DELETE FROM impressions WHERE id IN ({', '.join(map(str, ids))}); COMMIT; "
                         "SELECT pg_sleep(30)")
        except psycopg.errors.QueryCanceled as exc:
            canceled.append(exc)

    sleeper = threading.Thread(target=delete_and_stay_busy, daemon=True)
    sleeper.start()
    try:
        wait_until(lambda: pg_execute(postgres, "SELECT count(*) FROM impressions WHERE id = ANY(%s)", (ids,))[0][0] == 0,
                   "the DELETE committed")
        assert counters(postgres, "impressions") == before, "the reproduction: the deletes are not published yet"
        synced = adtech_sync(capsys)
        assert sleeper.is_alive(), "the backend was busy through the sync"
        if mode == LOG:
            assert synced.code == 0, str(synced)
            assert_converged(postgres, clickhouse)
        elif kpi_differences(postgres, clickhouse) != {}:
            assert synced.code == 0, str(synced)
            assert EQUALS not in synced.out, f"claims equality while the views differ\n{synced}"
    finally:
        busy.cancel()
        sleeper.join(timeout=10)
        busy.close()
    assert not sleeper.is_alive() and canceled, "the sleep was canceled"
    if mode == SCAN:
        synced_equal(capsys, postgres, clickhouse, "--full")
    assert_idle(mode, capsys, postgres, clickhouse)


def test_deletes_then_a_statistics_reset(loaded, mode, postgres, clickhouse, capsys):
    """pg_stat_reset() after deletes erases the counters the scans read: the change log still
    has them; the scans either find them or do not claim equality, and --full repairs."""
    write(postgres, "impressions", "DELETE FROM impressions WHERE id %% 31 = 0")
    pg_execute(postgres, "SELECT pg_stat_reset()")
    wait_until(lambda: counters(postgres, "impressions")[2] == 0, "the counters were reset")
    synced = adtech_sync(capsys)
    if mode == LOG:
        assert synced.code == 0, str(synced)
        assert_converged(postgres, clickhouse)
    else:
        equal_or_said_and_repaired(synced, capsys, postgres, clickhouse)
    assert_idle(mode, capsys, postgres, clickhouse)


def test_a_column_dropped_and_added_back(loaded, postgres, clickhouse, capsys):
    """Dropping impressions.campaign_id and adding it back leaves every value NULL with no row
    change in the log or the counters: the table's layout changed, so the pass fingerprints it."""
    pg_execute(postgres, "ALTER TABLE impressions DROP COLUMN campaign_id")
    pg_execute(postgres, "ALTER TABLE impressions ADD COLUMN campaign_id integer")
    synced = synced_equal(capsys, postgres, clickhouse)
    assert synced.loaded_days(), str(synced)
    assert_idle(loaded, capsys, postgres, clickhouse)


@pytest.mark.long(20)
def test_update_moving_a_day_and_delete_with_replica_identity_default(loaded, postgres, clickhouse, capsys):
    """With REPLICA IDENTITY DEFAULT the log sends only the key of an updated or deleted row:
    the day it leaves is the day ClickHouse holds its id on. An update moving a row a day on
    and a delete reload the old day, the new day and the delete's day (consecutive: one run)."""
    pg_execute(postgres, "ALTER TABLE impressions REPLICA IDENTITY DEFAULT")
    synced_equal(capsys, postgres, clickhouse)  # the layout changed: one fingerprint pass
    old_day = TODAY - timedelta(days=4)
    new_day, deleted_day = old_day + timedelta(days=1), old_day + timedelta(days=2)
    moved, deleted = (pg_execute(postgres, "SELECT min(id) FROM impressions WHERE created_at::date = %s", (day,))[0][0]
                      for day in (old_day, deleted_day))
    assert moved is not None and deleted is not None
    write(postgres, "impressions", "UPDATE impressions SET created_at = created_at + interval '1 day' WHERE id = %s",
          (moved,))
    write(postgres, "impressions", "DELETE FROM impressions WHERE id = %s", (deleted,))
    synced = synced_equal(capsys, postgres, clickhouse)
    assert {old_day, new_day, deleted_day} <= synced.loaded_days(), str(synced)
    if loaded == LOG:  # found in the log (not by a fingerprint of the table)
        assert synced.load_reasons() == {"changed"}, str(synced)
    assert_idle(loaded, capsys, postgres, clickhouse)
