"""``ADTECH_RETAIN_BEFORE`` (issue 22, "Retention"): the days before it are frozen in ClickHouse.
A purge of them in Postgres does not reach ClickHouse (not even ``sync --full``), and the fact
checks leave them out and say so; new or changed rows on them are reported on every pass and
not loaded until the setting is unset; a Dagster run of such a day is refused in one line. The
days from the retain date on follow Postgres as before. The syncs run on both change sources:
Postgres's change log (``auto``, the test server runs ``wal_level=logical``) and the scans.
Real engines, about 2,000 impressions over the last 10 days."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from dagster import (
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    DagsterInstance,
    DagsterRunStatus,
    materialize,
)

from adtech_assets.catalog import FACTS
from adtech_assets.cli.sync.runs import QUIET, failure_text
from adtech_assets.db.postgres.sample_data import SeedWindow, seed_batch
from adtech_assets.defs.keys import partition_range_tags
from adtech_assets.defs.location import ALL_ASSETS, ALL_CHECKS
from adtech_assets.errors import AdtechError
from adtech_assets.settings import RETAIN_BEFORE, retain_before
from adtech_assets_tests.helpers import (
    assert_converged,
    ch_query,
    change,
    materialize_day,
    pg_execute,
)
from adtech_assets_tests.test_change_capture import LOG, SCAN, adtech_sync, noon
from adtech_assets_tests.test_checks_reconciliation import run_checks_alone

TODAY = datetime.now(timezone.utc).date()
RETAIN = TODAY - timedelta(days=5)  # the seeded days before it are frozen
FROZEN_B, FROZEN_A = TODAY - timedelta(days=8), TODAY - timedelta(days=7)
RETAINED = TODAY - timedelta(days=2)
FACT_SOURCES = {spec.table: spec.source for spec in FACTS}

pytestmark = pytest.mark.long(15)


def frozen_note(count: int, span: str, retain: date = RETAIN) -> str:
    return f"note: {count} day(s) before {RETAIN_BEFORE}={retain} have new or changed rows ({span})"


@pytest.fixture(params=[LOG, SCAN])
def mode(request, adtech_env, monkeypatch) -> str:
    monkeypatch.setenv("ADTECH_CHANGE_SOURCE", request.param)
    return request.param


def seed_and_sync(postgres, clickhouse, capsys) -> None:
    """~2,000 impressions (and their clicks) over the last 10 days, and a first sync: equal."""
    seed_batch(postgres, advertisers=2, campaigns=5, impressions=2000, ctr=0.1,
               window=SeedWindow.last_days(10), seed=0.37)
    synced = adtech_sync(capsys)
    assert synced.code == 0, str(synced)
    assert_converged(postgres, clickhouse)


@pytest.fixture
def loaded(mode, postgres, clickhouse, capsys) -> str:
    seed_and_sync(postgres, clickhouse, capsys)
    return mode


def day_counts(clickhouse, table: str) -> dict[date, int]:
    rows = ch_query(clickhouse, f"SELECT event_date AS day, count() AS n FROM analytics.{table} GROUP BY day")
    return {row["day"]: row["n"] for row in rows}


def rows_on(clickhouse, table: str, first: date, end: date) -> list[tuple]:
    """ClickHouse's rows of ``table`` on the days [first, end), as (id, campaign_id, created_at)."""
    id_column = next(spec.id_column for spec in FACTS if spec.table == table)
    rows = ch_query(clickhouse, f"SELECT {id_column} AS id, campaign_id, created_at FROM analytics.{table} "
                                "WHERE event_date >= {first:Date} AND event_date < {end:Date}", first=first, end=end)
    return sorted((r["id"], r["campaign_id"], r["created_at"].replace(tzinfo=None)) for r in rows)


def source_rows_on(postgres, source: str, first: date, end: date) -> list[tuple]:
    return sorted(pg_execute(postgres, f"SELECT id, campaign_id, created_at FROM {source} "
                                       "WHERE created_at >= %s AND created_at < %s", (first, end)))


def assert_retained_days_equal_postgres(postgres, clickhouse) -> None:
    for table, source in FACT_SOURCES.items():
        end = TODAY + timedelta(days=1)
        assert rows_on(clickhouse, table, RETAIN, end) == source_rows_on(postgres, source, RETAIN, end), table


def frozen_counts(clickhouse) -> dict[str, dict[date, int]]:
    return {table: {d: n for d, n in day_counts(clickhouse, table).items() if d < RETAIN} for table in FACT_SOURCES}


def test_a_purge_of_the_frozen_days_stays_in_clickhouse(loaded, postgres, clickhouse, resources, capsys, monkeypatch):
    """Postgres purges every row before the retain date (and loses a few rows on the retained
    days): each sync, and `sync --full`, exits 0, keeps every purged row in ClickHouse, reports
    nothing for the purge, and makes the retained days equal Postgres. The fact checks pass and
    say how many days they left out as frozen."""
    kept = frozen_counts(clickhouse)
    frozen_days = set(kept["fact_impressions"]) | set(kept["fact_clicks"])
    assert len(kept["fact_impressions"]) >= 4 and kept["fact_clicks"], kept
    monkeypatch.setenv(RETAIN_BEFORE, RETAIN.isoformat())
    for source in FACT_SOURCES.values():
        change(postgres, source, f"DELETE FROM {source} WHERE created_at < %s OR id %% 11 = 0", (RETAIN,))
    assert pg_execute(postgres, "SELECT count(*) FROM impressions WHERE created_at < %s", (RETAIN,)) == [(0,)]

    for args in ((), (), ("--full",)):  # the pass that reads the purge, an idle one, the whole history
        synced = adtech_sync(capsys, *args)
        assert synced.code == 0, str(synced)
        assert f"before {RETAIN_BEFORE}" not in synced.err, str(synced)  # a purge is no change to report
        assert not synced.loaded_days() & frozen_days, str(synced)
        assert frozen_counts(clickhouse) == kept, args
        assert_retained_days_equal_postgres(postgres, clickhouse)

    checks = run_checks_alone(resources)  # every day on either side, as the UI's "Execute checks"
    blocking = {key: e for key, e in checks.items() if e.severity == AssetCheckSeverity.ERROR}
    assert blocking and all(e.passed for e in blocking.values()), {k: e.metadata for k, e in blocking.items()
                                                                    if not e.passed}
    for table in FACT_SOURCES:
        metadata = {k: getattr(v, "value", v) for k, v in checks[(f"analytics/{table}", "row_counts_match_postgres")]
                    .metadata.items()}
        assert metadata["mismatched_days"] == 0, metadata
        assert metadata["frozen_days"].startswith(f"{len(kept[table])} before {RETAIN_BEFORE}={RETAIN}: not judged"), \
            metadata


def test_new_or_changed_rows_on_frozen_days_are_reported_and_loaded_once_retention_is_unset(
        loaded, postgres, clickhouse, capsys, monkeypatch):
    """Rows inserted on one frozen day and a row changed on another are named in the note on
    every pass (they stay pending) and not loaded, while a change on a retained day is; once
    ADTECH_RETAIN_BEFORE is unset, the next sync loads them and every view equals Postgres."""
    monkeypatch.setenv(RETAIN_BEFORE, RETAIN.isoformat())
    campaign = pg_execute(postgres, "SELECT min(id) FROM campaign")[0][0]
    before = {table: rows_on(clickhouse, table, FROZEN_B, RETAIN) for table in FACT_SOURCES}
    for source, rows in (("impressions", 7), ("clicks", 3)):
        for day in (FROZEN_A, RETAINED):
            change(postgres, source, f"INSERT INTO {source} (campaign_id, created_at) "
                                     "SELECT %s, %s + n * interval '1 second' FROM generate_series(1, %s) AS n",
                   (campaign, noon(day), rows))
    change(postgres, "impressions", "UPDATE impressions SET created_at = created_at + interval '1 second' "
                                    "WHERE id = (SELECT id FROM impressions WHERE created_at >= %s "
                                    "AND created_at < %s ORDER BY created_at LIMIT 1)",
           (FROZEN_B, FROZEN_A))

    note = frozen_note(2, f"{FROZEN_B} .. {FROZEN_A}")
    for attempt in range(2):  # the pass that finds them, and the next: they stay pending, said again
        synced = adtech_sync(capsys)
        assert synced.code == 0, str(synced)
        assert synced.err.count(note) == 1, str(synced)
        assert not synced.loaded_days() & {FROZEN_A, FROZEN_B}, str(synced)
        assert (RETAINED in synced.loaded_days()) == (attempt == 0), str(synced)
        assert {table: rows_on(clickhouse, table, FROZEN_B, RETAIN) for table in FACT_SOURCES} == before
        assert_retained_days_equal_postgres(postgres, clickhouse)

    monkeypatch.delenv(RETAIN_BEFORE)
    synced = adtech_sync(capsys)
    assert synced.code == 0, str(synced)
    assert f"before {RETAIN_BEFORE}" not in synced.err, str(synced)
    assert {FROZEN_A, FROZEN_B} <= synced.loaded_days(), str(synced)
    assert_converged(postgres, clickhouse)


def test_a_number_of_days_back_resolves_from_today_and_a_bad_value_is_one_line(
        adtech_env, postgres, clickhouse, capsys, monkeypatch):
    """``5`` means five days before today (UTC), as the sync's note says; a value that is
    neither a date nor a number is refused: AdtechError, and `adtech sync` exits 2 with one line
    that names the variable."""
    seed_and_sync(postgres, clickhouse, capsys)
    monkeypatch.setenv(RETAIN_BEFORE, "5")
    assert retain_before(date(2024, 3, 1)) == date(2024, 2, 25)
    assert retain_before() == datetime.now(timezone.utc).date() - timedelta(days=5)
    before = rows_on(clickhouse, "fact_impressions", FROZEN_A, FROZEN_A + timedelta(days=1))
    campaign = pg_execute(postgres, "SELECT min(id) FROM campaign")[0][0]
    change(postgres, "impressions", "INSERT INTO impressions (campaign_id, created_at) VALUES (%s, %s)",
           (campaign, noon(FROZEN_A)))
    synced = adtech_sync(capsys)
    assert synced.code == 0 and frozen_note(1, f"{FROZEN_A}") in synced.err, str(synced)
    assert rows_on(clickhouse, "fact_impressions", FROZEN_A, FROZEN_A + timedelta(days=1)) == before

    monkeypatch.setenv(RETAIN_BEFORE, "yesterday")
    line = f"{RETAIN_BEFORE}='yesterday' must be a date (YYYY-MM-DD) or a number of days back"
    with pytest.raises(AdtechError, match=line.replace("(", r"\(").replace(")", r"\)")):
        retain_before()
    refused = adtech_sync(capsys)
    assert refused.code == 2, str(refused)
    assert refused.err.splitlines() == [f"adtech: error: {line}"], str(refused)


def test_a_frozen_day_materialized_through_dagster_is_refused_and_left_as_it_was(
        adtech_env, postgres, clickhouse, resources, capsys, monkeypatch):
    """A run of a frozen day (alone, or a range that starts on one) fails its step with the one
    line naming ADTECH_RETAIN_BEFORE and ends canceled; ClickHouse keeps that day's rows although
    Postgres purged them. A day from the retain date on loads as usual."""
    seed_and_sync(postgres, clickhouse, capsys)
    monkeypatch.setenv(RETAIN_BEFORE, RETAIN.isoformat())
    change(postgres, "impressions", "DELETE FROM impressions WHERE created_at < %s", (RETAIN,))  # what a load would copy
    kept = rows_on(clickhouse, "fact_impressions", FROZEN_B, RETAIN)
    assert kept

    line = (f"{FROZEN_A} is frozen by {RETAIN_BEFORE}={RETAIN}: ClickHouse keeps its rows (Postgres may have "
            f"purged them); give days from {RETAIN} on, or unset {RETAIN_BEFORE} to reload it from Postgres")
    for run in ({"partition_key": FROZEN_A.isoformat()}, {"tags": partition_range_tags(FROZEN_A, RETAIN)}):
        with DagsterInstance.ephemeral() as instance:
            result = materialize([*ALL_ASSETS, *ALL_CHECKS], resources=resources, instance=instance,
                                 selection=AssetSelection.assets(AssetKey(["analytics", "fact_impressions"])),
                                 raise_on_error=False, run_config=QUIET, **run)
            assert not result.success, run
            assert [failure_text(e.step_failure_data) for e in result.get_step_failure_events()] == [line], run
            assert instance.get_run_by_id(result.run_id).status == DagsterRunStatus.CANCELED, run
        assert rows_on(clickhouse, "fact_impressions", FROZEN_B, RETAIN) == kept, run

    materialize_day(resources, "fact_impressions", RETAIN)
    assert rows_on(clickhouse, "fact_impressions", FROZEN_B, RETAIN) == kept
    assert_retained_days_equal_postgres(postgres, clickhouse)


def test_a_pass_with_frozen_days_pending_does_not_say_clickhouse_equals_postgres(
        adtech_env, postgres, clickhouse, capsys, monkeypatch):
    """A frozen day with rows ClickHouse lacks is a difference the pass knows of: it says so in
    its note, so it must not also say ClickHouse equals Postgres (the change log's idle line)."""
    monkeypatch.setenv("ADTECH_CHANGE_SOURCE", LOG)
    seed_and_sync(postgres, clickhouse, capsys)
    monkeypatch.setenv(RETAIN_BEFORE, RETAIN.isoformat())
    campaign = pg_execute(postgres, "SELECT min(id) FROM campaign")[0][0]
    change(postgres, "impressions", "INSERT INTO impressions (campaign_id, created_at) VALUES (%s, %s)",
           (campaign, noon(FROZEN_A)))
    synced = adtech_sync(capsys)
    assert synced.code == 0 and frozen_note(1, f"{FROZEN_A}") in synced.err, str(synced)
    assert "nothing changed: ClickHouse equals Postgres" not in synced.out, str(synced)
    assert "sync: ClickHouse equals Postgres" not in synced.out, str(synced)
    assert f"ClickHouse equals Postgres from {RETAIN} on; 1 frozen day(s) before it differ" in synced.out, str(synced)
