"""ClickHouse objects are part of convergence: a view or table of the schema that is gone is
found by the next pass (also in a process that already found the schema current), recreated
(on the embedded engine by the pass itself, on a server by ``adtech migrate``, which says what
it recreated), a recreated table's days are reloaded, and the next sync exits 0 with every view
equal to Postgres. And a NULL campaign_id does not make every pass rebuild agg_campaign_totals.
Real engines; each scenario ends with a sync and a comparison with Postgres computed directly."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

import pytest
from dagster import DagsterInstance

from adtech_assets.cli.sync.runs import run_sync
from adtech_assets.db.clickhouse import schema as clickhouse_schema
from adtech_assets.db.clickhouse.schema import (
    defined_objects,
    ensure_schema,
    schema_steps,
)
from adtech_assets.db.migrations import migrate_clickhouse
from adtech_assets.db.postgres.sample_data import SeedWindow, seed_batch
from adtech_assets.db.sql_files import CLICKHOUSE_DIR
from adtech_assets.engine.planner import plan_pass
from adtech_assets.errors import AdtechError
from adtech_assets_tests.helpers import (
    add_events,
    assert_converged,
    ch_command,
    ch_query,
    cli_env,
    run_cli,
    sync_ok,
)

NOW = datetime.now(timezone.utc).replace(tzinfo=None)
TODAY = NOW.date()


def analytics_objects(clickhouse) -> set[str]:
    rows = ch_query(clickhouse, "SELECT name FROM system.tables WHERE database = 'analytics'")
    return {row["name"] for row in rows}


@pytest.fixture
def loaded(postgres, clickhouse, resources):
    """A seeded source, synced once in this process (which leaves the schema checked current
    in ``_schema_current``, as a long-lived sensor or code-location process would have it)."""
    seed_batch(postgres, advertisers=3, campaigns=12, impressions=3000, ctr=0.1,
               window=SeedWindow.last_days(5), seed=0.25)
    sync_ok(resources)
    assert_converged(postgres, clickhouse)
    assert clickhouse_schema._schema_current, "the first sync left the schema checked"
    return resources


def test_the_schema_files_define_every_object_migrate_creates(clickhouse):
    with clickhouse.session() as ch:
        clickhouse_schema.migrate(ch)
    objects = defined_objects(schema_steps())
    assert set(objects) == analytics_objects(clickhouse) - {"schema_migrations"}
    assert objects["mv_campaign_efficiency"] == "view" and objects["agg_campaign_daily"] == "table"
    assert "campaign_totals" not in objects, "V13 drops it"


def test_a_table_of_a_new_version_is_applied_not_recreated(clickhouse, tmp_path):
    """Only what the recorded versions made can be missing: a new version's table is new."""
    ddl_copy = tmp_path / "clickhouse_ddl"
    shutil.copytree(CLICKHOUSE_DIR, ddl_copy)
    with clickhouse.session() as ch:
        clickhouse_schema.migrate(ch, ddl_copy)
    version = 1 + max(step.version for step in schema_steps(ddl_copy))
    (ddl_copy / "schema" / f"V{version}__extra.sql").write_text(
        "CREATE TABLE IF NOT EXISTS analytics.extra (id Int32) ENGINE = MergeTree ORDER BY id;\n")
    with clickhouse.session() as ch:
        assert clickhouse_schema.migrate(ch, ddl_copy).labels == [f"V{version}__extra"]
    ch_command(clickhouse, "DROP TABLE analytics.extra")
    with clickhouse.session() as ch:
        assert clickhouse_schema.migrate(ch, ddl_copy).labels == ["recreated table extra"]
    assert "extra" in analytics_objects(clickhouse)


def test_a_dropped_view_is_recreated_by_the_next_sync(loaded, postgres, clickhouse):
    ch_command(clickhouse, "DROP VIEW analytics.mv_campaign_efficiency")
    sync_ok(loaded)
    assert "mv_campaign_efficiency" in analytics_objects(clickhouse)
    assert_converged(postgres, clickhouse)


def test_a_dropped_view_and_table_on_a_server_ask_for_adtech_migrate(loaded, postgres, clickhouse):
    """What a step does on a server (``apply_pending`` is False there): refuse, naming them;
    then ``adtech migrate`` recreates both and the next sync reloads the table's days."""
    ch_command(clickhouse, "DROP VIEW analytics.mv_campaign_efficiency")
    ch_command(clickhouse, "DROP TABLE analytics.agg_campaign_daily")
    with clickhouse.session() as ch, pytest.raises(AdtechError) as raised:
        ensure_schema(ch, apply_pending=False)
    assert str(raised.value).endswith(
        "is not current (table agg_campaign_daily and view mv_campaign_efficiency missing): run `adtech migrate`")
    assert migrate_clickhouse(postgres, clickhouse).labels == [
        "recreated table agg_campaign_daily", "recreated view mv_campaign_efficiency"]
    with clickhouse.session() as ch:
        assert ensure_schema(ch, apply_pending=False) is None
    assert sync_ok(loaded).days_loaded
    assert_converged(postgres, clickhouse)


def test_migrate_recreates_and_reports_a_dropped_view(loaded, postgres, clickhouse):
    ch_command(clickhouse, "DROP VIEW analytics.mv_campaign_efficiency")
    assert migrate_clickhouse(postgres, clickhouse).labels == ["recreated view mv_campaign_efficiency"]
    assert migrate_clickhouse(postgres, clickhouse).labels == []
    sync_ok(loaded)
    assert_converged(postgres, clickhouse)


@pytest.mark.long(25)
def test_adtech_migrate_recreates_a_dropped_rollup_table_and_sync_reloads_its_days(
        loaded, postgres, clickhouse, clickhouse_path, pg_url, tmp_path):
    settings_before = ch_query(clickhouse, "SELECT engine_full FROM system.tables "
                                           "WHERE database = 'analytics' AND name = 'agg_campaign_daily'")
    ch_command(clickhouse, "DROP TABLE analytics.agg_campaign_daily")
    env = cli_env(tmp_path, ADTECH_PG_URL=pg_url, ADTECH_CLICKHOUSE_URL=f"chdb://{clickhouse_path}")
    migrated = run_cli(["migrate"], env)
    assert migrated.returncode == 0, migrated.stderr
    assert "ClickHouse schema applied: recreated table agg_campaign_daily" in migrated.stdout
    # with its later ALTERs too (V12's settings)
    assert ch_query(clickhouse, "SELECT engine_full FROM system.tables WHERE database = 'analytics' "
                                "AND name = 'agg_campaign_daily'") == settings_before
    again = run_cli(["migrate"], env)
    assert "ClickHouse schema applied: none (up to date)" in again.stdout, (again.stdout, again.stderr)
    synced = run_cli(["sync"], env)
    assert synced.returncode == 0, synced.stderr
    assert "day(s) loaded" in synced.stdout and "0 day(s) loaded" not in synced.stdout, synced.stdout
    assert_converged(postgres, clickhouse)


def test_a_dropped_rollup_table_is_recreated_and_reloaded_by_the_next_sync(loaded, postgres, clickhouse):
    ch_command(clickhouse, "DROP TABLE analytics.agg_campaign_daily")
    report = sync_ok(loaded)
    assert len(report.days_loaded) >= 5
    assert_converged(postgres, clickhouse)
    assert sync_ok(loaded).days_loaded == []


def test_a_dropped_fact_table_is_recreated_and_reloaded_by_the_next_sync(loaded, postgres, clickhouse):
    ch_command(clickhouse, "DROP TABLE analytics.fact_clicks")
    assert sync_ok(loaded).days_loaded
    assert_converged(postgres, clickhouse)


def test_a_dropped_manifest_makes_the_next_pass_fingerprint_every_day(loaded, postgres, clickhouse):
    """Without the manifest, a day whose partition is gone too is known to no record: only a
    fingerprint pass over Postgres finds it."""
    day = TODAY - timedelta(days=2)
    ch_command(clickhouse, "DROP TABLE analytics.load_manifest")
    ch_command(clickhouse, "ALTER TABLE analytics.fact_clicks DROP PARTITION {d:Date}", d=day)
    with clickhouse.session() as ch:
        ensure_schema(ch)
        plan = plan_pass(loaded["postgres"], ch)
    assert plan.fingerprinted and day in plan.days
    sync_ok(loaded)
    assert_converged(postgres, clickhouse)


def test_dropped_dims_totals_and_pending_marks_are_recreated_and_refilled(loaded, postgres, clickhouse):
    for table in ("dim_campaign", "dim_advertiser", "agg_campaign_totals", "pending_loads", "load_state"):
        ch_command(clickhouse, f"DROP TABLE analytics.{table}")
    sync_ok(loaded)
    assert_converged(postgres, clickhouse)
    assert sync_ok(loaded).days_loaded == []


def test_a_null_campaign_does_not_rebuild_the_totals_on_every_pass(loaded, postgres, clickhouse):
    day = NOW - timedelta(days=1)
    add_events(postgres, "impressions", [(None, day), (None, day + timedelta(minutes=1))])
    add_events(postgres, "clicks", [(None, day + timedelta(minutes=2))])
    sync_ok(loaded)
    assert_converged(postgres, clickhouse)
    with clickhouse.session() as ch:
        assert not plan_pass(loaded["postgres"], ch).totals_repaired
    said: list[str] = []
    report = run_sync(DagsterInstance.ephemeral(), loaded, say=said.append)
    assert report.ok and not [line for line in said if "agg_campaign_totals" in line], said
    assert_converged(postgres, clickhouse)
