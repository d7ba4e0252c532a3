"""Postgres's change log as the planner reads it (``db.postgres.pgoutput``, ``db.postgres.change_log``,
``engine.change_source``): real pgoutput messages decoded into the days they touch; the slot
``adtech_<database>`` created by the first pass, shown and dropped by ``adtech slot``, advanced
after each pass only once its days are marked (a pass that dies before leaves them pending), and
a slot another reader moved makes the pass fingerprint the whole history; the settings that
choose it, and its check. Real engines: the test server runs with ``wal_level=logical``."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone

import psycopg
import pytest
from dagster import AssetCheckSeverity

from adtech_assets.catalog import DAILY_TABLES, FACTS
from adtech_assets.db.clickhouse.schema import ensure_schema
from adtech_assets.db.postgres.change_log import (
    PUBLICATION,
    SlotStatus,
    has_unread,
    lsn_value,
    read_status,
)
from adtech_assets.db.postgres.embedded import (
    embedded_postgres_url,
    stop_embedded_postgres,
)
from adtech_assets.db.postgres.pgoutput import Decoded, PgOutputDecoder, TableChanges
from adtech_assets.db.postgres.sample_data import SeedWindow, seed_batch
from adtech_assets.defs.checks import change_log_keeps_up
from adtech_assets.defs.resources import PostgresResource
from adtech_assets.engine.change_source import (
    LOG,
    SCAN,
    ChangeSource,
    change_source,
    describe_slot,
    lag_seconds,
    read_change_log,
    slot_for,
    unread_changes,
)
from adtech_assets.engine.ledger import pending_days
from adtech_assets.engine.planner import PassPlan, plan_pass
from adtech_assets.errors import AdtechError
from adtech_assets_tests.conftest import with_database
from adtech_assets_tests.helpers import (
    Ran,
    add_events,
    assert_converged,
    pg_execute,
    run_adtech,
    sync_ok,
)

TODAY = datetime.now(timezone.utc).date()
DAY_A, DAY_B, DAY_C = (TODAY - timedelta(days=n) for n in (4, 3, 2))
SETTINGS = ("ADTECH_CHANGE_SOURCE", "ADTECH_SLOT", "ADTECH_SLOT_WARN_BYTES", "ADTECH_SLOT_FAIL_BYTES")


def noon(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time()) + timedelta(hours=12)


@pytest.fixture(autouse=True)
def default_settings(monkeypatch) -> None:
    """Each test sets the change log's settings it needs; none leaks in from the environment."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


def seed(postgres) -> None:
    seed_batch(postgres, advertisers=2, campaigns=4, impressions=600, ctr=0.1, window=SeedWindow.last_days(6),
               seed=0.41)


@pytest.fixture
def loaded(postgres, clickhouse, resources) -> dict:
    """A small seeded source and a first sync, which creates the slot: equal. A new slot waits
    for every transaction open on the server, and a pass that waited 5 s uses scans: under other
    tests' load, passes run until one has created it (bounded)."""
    seed(postgres)
    sync_ok(resources)
    for _ in range(10):
        if slot_row(postgres, slot_for(postgres)) is not None:
            break
        sync_ok(resources)
    assert slot_row(postgres, slot_for(postgres)) is not None, "no pass could create the slot"
    assert_converged(postgres, clickhouse)
    return resources


def autocommit(postgres, statement: str, params=()) -> list[tuple]:
    """One statement outside a transaction block (slot functions), its rows."""
    with postgres.connect(autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def slot_row(postgres, slot: str) -> dict | None:
    rows = autocommit(postgres, "SELECT database, plugin, confirmed_flush_lsn::text FROM pg_replication_slots "
                                "WHERE slot_name = %s", (slot,))
    return dict(zip(("database", "plugin", "confirmed_lsn"), rows[0], strict=True)) if rows else None


def database_of(pg_url: str) -> str:
    return psycopg.conninfo.conninfo_to_dict(pg_url)["dbname"]


def current_lsn(postgres) -> str:
    return autocommit(postgres, "SELECT pg_current_wal_lsn()::text")[0][0]


def first_plan(postgres, clickhouse) -> PassPlan:
    """The first pass's plan on a fresh ClickHouse (its schema made, as ``adtech sync`` does)."""
    with clickhouse.session() as ch:
        ensure_schema(ch)
        return plan_pass(postgres, ch)


def a_campaign(postgres) -> int:
    return pg_execute(postgres, "SELECT min(id) FROM campaign")[0][0]


# ---- the decoder, on what a pgoutput slot returns ---------------------------------------------

@contextmanager
def peeking_slot(postgres) -> Iterator[Callable[[], list[bytes]]]:
    """A pgoutput slot of the test's own on its database (dropped after); yields a function
    returning its messages so far, read as ``change_log_peek.sql`` reads them."""
    name = f"test_peek_{uuid.uuid4().hex[:12]}"
    autocommit(postgres, "SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))
    try:
        yield lambda: [bytes(data) for (data,) in autocommit(
            postgres, "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, NULL, NULL, 'proto_version', '1', "
                      "'publication_names', %s)", (name, PUBLICATION))]
    finally:
        autocommit(postgres, "SELECT pg_drop_replication_slot(%s)", (name,))


def per_transaction(messages: list[bytes]) -> list[Decoded]:
    """What each transaction changed, decoded in order by one decoder (a table's Relation
    message comes once, before its first change of the session); transactions that changed no
    published table (older servers send their Begin and Commit) are left out."""
    decoder, transactions = PgOutputDecoder(), []
    for message in messages:
        decoder.feed(message)
        if message[:1] == b"C":
            if decoder.decoded.tables:
                transactions.append(decoder.decoded)
            decoder.decoded = Decoded()
    return transactions


def test_the_decoder_names_the_days_of_inserts_updates_deletes_and_truncates(postgres):
    """Real messages of each kind: an insert names its row's day, an update the day it leaves
    and the day it enters (migration V3 sends the whole old row), a delete its row's day, a
    truncate its table; a row without created_at, or on a day ClickHouse's Date cannot hold
    (1969, 2200, infinity), names no day; a dim's change is not published."""
    with peeking_slot(postgres) as peek:
        add_events(postgres, "impressions", [(None, noon(DAY_A)), (None, noon(DAY_A) + timedelta(hours=1)),
                                             (None, noon(DAY_B))])
        first, _, on_b = (row[0] for row in pg_execute(postgres, "SELECT id FROM impressions ORDER BY id"))
        pg_execute(postgres, "UPDATE impressions SET created_at = %s WHERE id = %s", (noon(DAY_C), first))
        pg_execute(postgres, "DELETE FROM impressions WHERE id = %s", (on_b,))
        pg_execute(postgres, "INSERT INTO advertiser (name) VALUES ('not published')")
        pg_execute(postgres, "INSERT INTO impressions (created_at) VALUES (NULL), ('1969-07-20 20:17'), "
                             "('2200-01-01 00:00'), ('infinity')")
        pg_execute(postgres, "TRUNCATE clicks")
        messages = peek()

    inserted, moved, deleted, undated, truncated = per_transaction(messages)
    assert inserted.tables == {"impressions": TableChanges(days={DAY_A, DAY_B}, inserts=3)}
    assert moved.tables == {"impressions": TableChanges(days={DAY_A, DAY_C}, updates=1)}
    assert deleted.tables == {"impressions": TableChanges(deleted_days={DAY_B}, deletes=1)}
    assert undated.tables == {"impressions": TableChanges(days={None}, inserts=4)}
    assert truncated.tables == {"clicks": TableChanges(truncated=True)}

    whole = PgOutputDecoder().feed_all(messages)  # as a pass reads it: one decoder, every message
    impressions = whole.tables["impressions"]
    assert (impressions.inserts, impressions.updates, impressions.deletes, impressions.changes) == (7, 1, 1, 9)
    assert impressions.days == {DAY_A, DAY_B, DAY_C, None} and impressions.deleted_days == {DAY_B}
    assert not (impressions.ids_without_day or impressions.deleted_ids or impressions.truncated)
    assert whole.tables["clicks"].truncated and whole.transactions >= 5


def test_a_table_that_sends_only_its_key_names_the_ids_of_its_updates_and_deletes(postgres):
    """With REPLICA IDENTITY DEFAULT the old row of an update or delete is not in the log: an
    update names the day it enters and its id, a delete its id, an update of the key the old
    id; ClickHouse then tells the days those ids were on."""
    pg_execute(postgres, "ALTER TABLE clicks REPLICA IDENTITY DEFAULT")
    add_events(postgres, "clicks", [(None, noon(DAY_A)), (None, noon(DAY_B)), (None, noon(DAY_B))])
    moved, deleted, renumbered = (row[0] for row in pg_execute(postgres, "SELECT id FROM clicks ORDER BY id"))
    with peeking_slot(postgres) as peek:
        pg_execute(postgres, "UPDATE clicks SET created_at = %s WHERE id = %s", (noon(DAY_C), moved))
        pg_execute(postgres, "DELETE FROM clicks WHERE id = %s", (deleted,))
        pg_execute(postgres, "UPDATE clicks SET id = 1000000 WHERE id = %s", (renumbered,))
        messages = peek()

    updated, gone, rekeyed = per_transaction(messages)
    assert updated.tables == {"clicks": TableChanges(days={DAY_C}, ids_without_day={moved}, updates=1)}
    assert gone.tables == {"clicks": TableChanges(deleted_ids={deleted}, deletes=1)}
    assert rekeyed.tables == {"clicks": TableChanges(days={DAY_B}, ids_without_day={renumbered}, updates=1)}


def test_a_database_with_another_datestyle_still_names_the_days(postgres, pg_url):
    """pgoutput writes a timestamp with the reading session's DateStyle: a source database set
    to 'SQL, DMY' (a regional default) must still give each change its day."""
    pg_execute(postgres, f'ALTER DATABASE "{database_of(pg_url)}" SET DateStyle = \'SQL, DMY\'')
    with change_source(postgres, None) as first:  # creates the slot
        position = first.upto
    add_events(postgres, "impressions", [(None, noon(DAY_A))])
    with change_source(postgres, position) as source:  # a pass that read to there before
        assert source.changes("impressions").inserts == 1
        assert source.changes("impressions").days == {DAY_A}


# ---- the slot's life: created, shown, dropped, recreated ------------------------------------

@pytest.fixture
def adtech(adtech_env, capsys) -> Callable[..., Ran]:
    """``adtech <args>`` run in this process on this test's databases."""
    return lambda *args: run_adtech(capsys, *args)


@pytest.mark.long(10)
def test_the_first_sync_creates_the_slot_and_adtech_slot_shows_drops_and_the_next_sync_recreates_it(
        adtech, postgres, clickhouse, pg_url):
    """The slot is ``adtech_<database>``, made by the first pass; ``adtech slot`` says what it
    holds; ``--drop`` removes it; a row written while there is no slot is found by the whole
    history's fingerprint when the next sync creates it again, and the sync says so."""
    seed(postgres)
    slot = "adtech_" + database_of(pg_url)
    created = f"note: the whole history was fingerprinted: slot {slot} created"
    first = adtech("sync")
    assert first.code == 0 and created in first.err, str(first)
    made = slot_row(postgres, slot)
    assert (made["database"], made["plugin"]) == (database_of(pg_url), "pgoutput"), made
    assert_converged(postgres, clickhouse)

    shown = adtech("slot")
    assert shown.code == 0 and f"slot {slot} (reserved): holds " in shown.out, str(shown)
    assert "of WAL on the source" in shown.out and "max_slot_wal_keep_size=" in shown.out, str(shown)

    dropped = adtech("slot", "--drop")
    assert dropped.code == 0 and f"dropped slot {slot}" in dropped.out, str(dropped)
    assert slot_row(postgres, slot) is None
    assert f"slot {slot}: none (the next pass creates it)" in adtech("slot").out
    assert f"slot {slot}: none to drop" in adtech("slot", "--drop").out

    add_events(postgres, "impressions", [(a_campaign(postgres), noon(DAY_B))])  # no slot sees this row
    again = adtech("sync")
    assert again.code == 0 and created in again.err, str(again)
    assert "1 day(s) loaded" in again.out, str(again)
    assert slot_row(postgres, slot) is not None
    assert_converged(postgres, clickhouse)


def test_a_pass_advances_the_slot_and_leaves_nothing_unread(loaded, postgres, clickhouse):
    """After a pass the slot has confirmed at least the position the pass began at, so the
    source may recycle that WAL; an idle slot has nothing unread (the sensor's tick stays idle)
    until a row is written."""
    slot = slot_for(postgres)
    before = current_lsn(postgres)
    with clickhouse.session() as ch:
        plan = plan_pass(postgres, ch)
    assert plan.change_source == LOG and plan.idle and not plan.restart, plan
    assert lsn_value(slot_row(postgres, slot)["confirmed_lsn"]) >= lsn_value(before)
    assert not has_unread(postgres, slot) and not unread_changes(postgres)

    status = read_status(postgres, slot)
    assert lag_seconds(postgres, status) == 0 and "no change unread" in describe_slot(status, 0.0)

    committed = datetime.now(timezone.utc)
    add_events(postgres, "clicks", [(a_campaign(postgres), noon(DAY_C))])
    assert unread_changes(postgres) and has_unread(postgres, slot)
    # the lag in time is measured from the oldest unread change's commit, on the server's clock
    lag = lag_seconds(postgres, status)
    assert 0 < lag <= (datetime.now(timezone.utc) - committed).total_seconds() + 1, lag
    sync_ok(loaded)
    assert not unread_changes(postgres) and lag_seconds(postgres, status) == 0
    assert_converged(postgres, clickhouse)


def test_a_pass_that_dies_before_advancing_the_slot_leaves_the_change_pending(loaded, postgres, clickhouse,
                                                                             monkeypatch):
    """At least once: a pass killed after marking the days but before advancing the slot leaves
    the slot where it was; the next pass reads the same change again and plans its day."""
    slot = slot_for(postgres)
    add_events(postgres, "impressions", [(a_campaign(postgres), noon(DAY_B))])
    confirmed = slot_row(postgres, slot)["confirmed_lsn"]

    def killed(self) -> None:
        raise RuntimeError("killed between the marks and the slot's advance")

    with monkeypatch.context() as patched, clickhouse.session() as ch:
        patched.setattr(ChangeSource, "advance", killed)
        with pytest.raises(RuntimeError, match="killed"):
            plan_pass(postgres, ch)
    assert slot_row(postgres, slot)["confirmed_lsn"] == confirmed
    with clickhouse.session() as ch:
        assert DAY_B in pending_days(ch, DAILY_TABLES)
        plan = plan_pass(postgres, ch)
    assert DAY_B in plan.days and not plan.restart, plan
    assert plan.found[("fact_impressions", DAY_B)].endswith("changed (change log)"), plan.found
    assert lsn_value(slot_row(postgres, slot)["confirmed_lsn"]) > lsn_value(confirmed)
    sync_ok(loaded)
    assert_converged(postgres, clickhouse)


@pytest.mark.long(10)
def test_a_slot_advanced_by_another_reader_makes_the_next_pass_fingerprint_the_history(
        adtech, postgres, clickhouse, pg_url):
    """Another reader (another pipeline on the same slot, an operator) confirmed a change this
    pipeline never read: the next pass fingerprints the whole history, says why, and loads it."""
    seed(postgres)
    assert adtech("sync").code == 0
    slot = slot_for(postgres)
    add_events(postgres, "impressions", [(a_campaign(postgres), noon(DAY_A))])
    autocommit(postgres, "SELECT pg_replication_slot_advance(%s, pg_current_wal_lsn())", (slot,))
    assert not has_unread(postgres, slot), "the change is gone from the log"

    synced = adtech("sync")
    assert synced.code == 0, str(synced)
    assert (f"note: the whole history was fingerprinted: slot {slot} was advanced past this pipeline's position "
            "by another reader") in synced.err, str(synced)
    assert "1 day(s) loaded" in synced.out, str(synced)
    assert_converged(postgres, clickhouse)


# ---- the settings that choose it ---------------------------------------------------------------

def test_change_source_log_reads_the_log_where_the_server_offers_it(postgres, clickhouse, monkeypatch):
    """``ADTECH_CHANGE_SOURCE=log`` on a server with wal_level=logical: the pass reads the log."""
    monkeypatch.setenv("ADTECH_CHANGE_SOURCE", "log")
    seed(postgres)
    plan = first_plan(postgres, clickhouse)
    assert (plan.change_source, plan.why_scans) == (LOG, None)
    assert plan.restart == f"slot {slot_for(postgres)} created" and plan.fingerprinted_history
    assert plan.slot.exists and plan.days, plan


def test_adtech_slot_names_the_slot(postgres, clickhouse, monkeypatch):
    """``ADTECH_SLOT`` replaces ``adtech_<database>`` (two pipelines on one database)."""
    name = f"adtech_own_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("ADTECH_SLOT", name)
    assert first_plan(postgres, clickhouse).restart == f"slot {name} created"
    assert slot_row(postgres, name)["plugin"] == "pgoutput"


AVAILABLE = SlotStatus(
    slot="adtech_shop", wal_level="logical", in_recovery=False, can_replicate=True, database="shop",
    published_tables=2, current_lsn="0/3000000", exists=True, slot_database="shop", plugin="pgoutput",
    active_pid=None, wal_status="reserved", confirmed_lsn="0/2000000", held_bytes=4096, unread_bytes=0,
    safe_wal_size=None, max_slot_wal_keep_size="-1")


@pytest.mark.parametrize(("changes", "why"), [
    ({}, None),
    ({"exists": False, "slot_database": None, "plugin": None}, None),
    ({"wal_level": "replica"}, "wal_level is replica, not logical"),
    ({"in_recovery": True, "current_lsn": None}, "the source is a standby (read the primary)"),
    ({"can_replicate": False, "exists": False, "slot_database": None, "plugin": None},
     "the role has no REPLICATION privilege (needed to create and read a slot)"),
    ({"slot_database": "other"}, "slot adtech_shop belongs to database other: set ADTECH_SLOT"),
    ({"plugin": "wal2json"}, "slot adtech_shop uses the wal2json plugin, not pgoutput: drop it or set ADTECH_SLOT"),
])
def test_why_a_server_cannot_give_its_change_log(changes, why):
    assert dataclasses.replace(AVAILABLE, **changes).unavailable() == why


@pytest.fixture
def role_without_replication(pg_server_url, pg_url) -> Iterator[str]:
    """A login role with neither REPLICATION nor superuser; yields its URL on the test database."""
    role = f"adtech_norepl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN NOREPLICATION')
    try:
        params = psycopg.conninfo.conninfo_to_dict(pg_url)
        yield psycopg.conninfo.make_conninfo(**{**params, "user": role})
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_a_role_without_replication_falls_back_to_scans_or_fails_clearly(role_without_replication, monkeypatch):
    """On the real server: ``auto`` falls back to scans and says why; ``log`` fails with that
    reason and what to do."""
    reader = PostgresResource(url=role_without_replication)
    with change_source(reader, None) as source:
        assert (source.mode, source.why_scans) == (SCAN, "the role has no REPLICATION privilege (needed to create and read a slot)")
    monkeypatch.setenv("ADTECH_CHANGE_SOURCE", "log")
    with pytest.raises(AdtechError, match="ADTECH_CHANGE_SOURCE=log, but the change log is unavailable: "
                                          "the role has no REPLICATION privilege"):
        with change_source(reader, None):
            pass


def test_a_role_without_replication_falls_back_to_scans_when_the_slot_exists(postgres, role_without_replication):
    """The slot made by a pass as the owner (or a superuser), then passes as a reader role
    without REPLICATION: reading a slot needs that privilege too, so ``auto`` must use scans."""
    with change_source(postgres, None):
        pass  # the slot, created as the tables' owner
    with change_source(PostgresResource(url=role_without_replication), None) as source:
        assert source.mode == SCAN and "REPLICATION" in source.why_scans


def test_the_sensors_idle_look_at_the_log_is_quiet_for_a_role_without_replication(role_without_replication):
    """Such a role's passes use scans (the compose stack's reader role, unless granted REPLICATION):
    the sensor's idle tick asks ``unread_changes`` on every tick and must get False, not an error."""
    assert unread_changes(PostgresResource(url=role_without_replication)) is False


def test_slots_of_another_database_or_plugin_are_not_used(postgres, pg_server_url, pg_url, monkeypatch):
    """A slot of that name on another database, or with another plugin, is never read: the
    status says which, as the server has it."""
    elsewhere, plugin = (f"test_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("elsewhere", "plugin"))
    with psycopg.connect(with_database(pg_server_url, "postgres"), autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (elsewhere,))
    try:
        autocommit(postgres, "SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (plugin,))
        assert read_status(postgres, elsewhere).unavailable() == (
            f"slot {elsewhere} belongs to database postgres: set ADTECH_SLOT")
        assert read_status(postgres, plugin).unavailable() == (
            f"slot {plugin} uses the test_decoding plugin, not pgoutput: drop it or set ADTECH_SLOT")
        monkeypatch.setenv("ADTECH_SLOT", plugin)
        with change_source(postgres, None) as source:
            assert source.mode == SCAN and "test_decoding" in source.why_scans
    finally:
        with psycopg.connect(with_database(pg_server_url, "postgres"), autocommit=True) as conn:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (elsewhere,))


def test_bad_change_log_settings_are_refused_in_one_line(adtech, monkeypatch):
    """An ``ADTECH_SLOT`` Postgres would not take, or a misspelt ``ADTECH_CHANGE_SOURCE``: one
    line naming the setting and what it takes, exit 2. (The slot's name is read first: once a
    process has resolved it for a database, it keeps it.)"""
    monkeypatch.setenv("ADTECH_SLOT", "Adtech-Slot!")
    refused = adtech("slot")
    assert refused.code == 2, str(refused)
    assert ("adtech: error: ADTECH_SLOT='Adtech-Slot!' must be 1-63 lower-case letters, digits or underscores"
            in refused.err), str(refused)

    monkeypatch.delenv("ADTECH_SLOT")
    monkeypatch.setenv("ADTECH_CHANGE_SOURCE", "bogus")
    refused = adtech("sync")
    assert refused.code == 2, str(refused)
    assert "adtech: error: ADTECH_CHANGE_SOURCE='bogus' must be auto, log or scan" in refused.err, str(refused)
    with pytest.raises(AdtechError, match="ADTECH_CHANGE_SOURCE"):
        unread_changes(PostgresResource(url=os.environ["ADTECH_PG_URL"]))


# ---- the check -------------------------------------------------------------------------------

def test_the_change_log_check_warns_on_held_wal_and_on_scans(loaded, postgres, monkeypatch):
    """``change_log_keeps_up``: passes after a sync; warns when the slot holds more WAL than
    ADTECH_SLOT_WARN_BYTES, fails past ADTECH_SLOT_FAIL_BYTES, and warns that scans are used."""
    spec = FACTS[0]
    passed = change_log_keeps_up(spec, read_change_log(postgres))
    assert passed.passed, passed.description
    assert passed.metadata["change_source"].value == "change log"

    add_events(postgres, "impressions", [(a_campaign(postgres), noon(DAY_C))])  # WAL the slot holds
    monkeypatch.setenv("ADTECH_SLOT_WARN_BYTES", "1")
    warned = change_log_keeps_up(spec, read_change_log(postgres))
    assert (warned.passed, warned.severity) == (False, AssetCheckSeverity.WARN)
    assert warned.metadata["wal_held_bytes"].value > 1
    assert warned.description.startswith(f"slot {slot_for(postgres)} (reserved): holds ")

    monkeypatch.setenv("ADTECH_SLOT_FAIL_BYTES", "1")
    failed = change_log_keeps_up(spec, read_change_log(postgres))
    assert (failed.passed, failed.severity) == (False, AssetCheckSeverity.ERROR)

    monkeypatch.delenv("ADTECH_SLOT_WARN_BYTES")
    monkeypatch.delenv("ADTECH_SLOT_FAIL_BYTES")
    monkeypatch.setenv("ADTECH_CHANGE_SOURCE", "scan")
    scans = change_log_keeps_up(spec, read_change_log(postgres))
    assert (scans.passed, scans.severity) == (False, AssetCheckSeverity.WARN)
    assert scans.metadata["change_source"].value == "scans"
    assert "changes are found by scans" in scans.description and "ADTECH_CHANGE_SOURCE=scan" in scans.description


# ---- the embedded server -----------------------------------------------------------------------

@pytest.mark.long(10)
def test_the_embedded_postgres_runs_with_wal_level_logical(data_dir):
    """The embedded server is restarted once with wal_level=logical at its first start, so adtech
    reads its change log there too, and keeps it across a stop and start."""
    url = embedded_postgres_url(data_dir)
    try:
        with psycopg.connect(url) as conn:
            assert conn.execute("SHOW wal_level").fetchone()[0] == "logical"
        assert read_status(PostgresResource(url=url), "adtech_adtech").unavailable() is None
        stop_embedded_postgres(data_dir)
        with psycopg.connect(embedded_postgres_url(data_dir)) as conn:
            assert conn.execute("SHOW wal_level").fetchone()[0] == "logical"
    finally:
        stop_embedded_postgres(data_dir)




@pytest.mark.long(20)
def test_a_transaction_left_open_elsewhere_makes_the_first_pass_use_scans_not_hang(adtech, clickhouse, data_dir,
                                                                                    monkeypatch):
    """A new slot waits for every transaction running on the server: a pass waits a few seconds,
    goes on with scans naming the transaction, and the next pass, once it ended, makes the slot.
    On a server of its own (an embedded one): the open transaction would hold every other
    test's first pass too."""
    url = embedded_postgres_url(data_dir)
    monkeypatch.setenv("ADTECH_PG_URL", url)
    postgres = PostgresResource(url=url)
    assert adtech("migrate").code == 0
    seed(postgres)
    slot = "adtech_adtech"
    with psycopg.connect(with_database(url, "postgres")) as other:  # another database, a write open
        other.execute("CREATE TEMP TABLE held (x int)")
        pid = other.execute("SELECT pg_backend_pid()").fetchone()[0]
        first = adtech("sync")
        assert first.code == 0, str(first)
        assert "note: changes are found by scans, not Postgres's change log (cannot create the slot" in first.err
        assert f"(pid {pid}, database postgres)" in first.err, str(first)
        assert slot_row(postgres, slot) is None
        assert_converged(postgres, clickhouse)
    again = adtech("sync")
    assert again.code == 0 and f"slot {slot} created" in again.err, str(again)
    assert slot_row(postgres, slot) is not None
    assert_converged(postgres, clickhouse)


def test_the_sensor_backs_off_its_idle_peek_while_a_peek_is_expensive(loaded, postgres):
    """A peek re-decodes the WAL since the oldest transaction open when the slot last moved:
    while one costs more than the budget, idle ticks peek at most every backoff interval."""
    from adtech_assets.defs.automation import (
        PEEK_BACKOFF_SECONDS,
        PEEK_BUDGET_SECONDS,
        SensorMemo,
        _log_has_news,
    )

    add_events(postgres, "clicks", [(a_campaign(postgres), noon(DAY_C))])  # unread: a peek finds it
    now = datetime.now(timezone.utc).timestamp()
    cheap = SensorMemo(peeked_at=now, peek_seconds=PEEK_BUDGET_SECONDS / 2)
    assert _log_has_news(postgres, cheap, now) and cheap.peeked_at == now
    expensive = SensorMemo(peeked_at=now - 1, peek_seconds=PEEK_BUDGET_SECONDS * 5)
    assert not _log_has_news(postgres, expensive, now), "peeked again within the backoff"
    assert expensive.peeked_at == now - 1
    assert _log_has_news(postgres, expensive, now + PEEK_BACKOFF_SECONDS)


def test_a_restart_does_not_decode_what_its_whole_fingerprint_covers(loaded, postgres, clickhouse):
    """A ClickHouse that never read the slot (reset, or new beside an old slot) fingerprints the
    whole history in a snapshot taken after the position it reads to: what the slot holds before
    it is not decoded (it may be gigabytes), and the pass still finds the change."""
    add_events(postgres, "impressions", [(a_campaign(postgres), noon(DAY_B))])
    with change_source(postgres, None) as source:
        assert source.restart.startswith("first read of slot") and source.decoded.tables == {}, source
    with clickhouse.session() as ch:
        ch.command("state/planner_cursors_reset")
        plan = plan_pass(postgres, ch)
    assert plan.restart and plan.fingerprinted_history and DAY_B in plan.days, plan
