"""The ClickHouse schema is versioned like the Postgres one: ``migrate`` on a fresh engine
records every version and view; a second run applies nothing; an edited view is replaced and
a new version applied, on a deployment that already has data; an applied version that was
edited is refused; a deployment made before versioning is adopted with its data; a step that
finds the schema current applies no DDL, and one that finds it behind on a server asks for
``adtech migrate``. Edits are made in a copy of ``clickhouse_ddl/`` (the ``ddl_dir`` argument)."""

from __future__ import annotations

import shutil
import time
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from adtech_assets.db.clickhouse import schema as clickhouse_module
from adtech_assets.db.clickhouse.schema import SCHEMA, VIEW, ensure_schema, schema_steps
from adtech_assets.db.clickhouse.schema import migrate as migrate_schema
from adtech_assets.db.sql_files import CLICKHOUSE_DIR, split_statements, sql_files
from adtech_assets.errors import AdtechError
from adtech_assets_tests.helpers import ch_query, ch_scalar

VIEW_FILE = "mv_daily_performance"
# the version a new schema file would take: one past the newest in clickhouse_ddl/schema
NEXT_VERSION = 1 + max(int(path.name[1:].split("__")[0]) for path in sql_files(CLICKHOUSE_DIR / "schema"))


@pytest.fixture(autouse=True)
def forget_checked_schemas():
    """Each test starts as a new process would: no schema seen current yet."""
    clickhouse_module._schema_current.clear()
    yield
    clickhouse_module._schema_current.clear()


@pytest.fixture
def ddl_copy(tmp_path) -> Path:
    copy = tmp_path / "clickhouse_ddl"
    shutil.copytree(CLICKHOUSE_DIR, copy)
    return copy


def recorded_rows(clickhouse) -> list[tuple]:
    rows = ch_query(clickhouse, "SELECT kind, version, name, checksum FROM analytics.schema_migrations FINAL "
                                "ORDER BY kind, version, name")
    return [(r["kind"], r["version"], r["name"], r["checksum"]) for r in rows]


def expected_rows(ddl_dir=CLICKHOUSE_DIR) -> list[tuple]:
    return sorted((s.kind, s.version, s.name, s.checksum) for s in schema_steps(ddl_dir))


def test_migrate_on_a_fresh_engine_records_every_version_and_view(clickhouse):
    with clickhouse.session() as ch:
        changes = migrate_schema(ch)
    assert [s.label for s in changes.applied if s.kind == SCHEMA] == [f"V{n}__{name}" for n, name in enumerate(
        ["database", "dim_advertiser", "dim_campaign", "fact_impressions", "fact_clicks", "agg_campaign_daily",
         "load_state", "load_manifest", "pending_days", "pending_loads", "agg_campaign_totals", "prompt_part_cleanup",
         "drop_campaign_totals_view"],
        start=1)]
    assert {s.name for s in changes.applied if s.kind == VIEW} == {
        path.name.removesuffix(".sql") for path in sql_files(CLICKHOUSE_DIR / "views")}
    assert not changes.adopted
    assert recorded_rows(clickhouse) == expected_rows()
    assert ch_scalar(clickhouse, "SELECT count() FROM system.tables WHERE database = 'analytics' "
                                 "AND name = 'mv_campaign_ctr'") == 1


def test_migrate_twice_applies_nothing(clickhouse):
    with clickhouse.session() as ch:
        migrate_schema(ch)
        first = recorded_rows(clickhouse)
        assert migrate_schema(ch).applied == []
    assert recorded_rows(clickhouse) == first
    assert ch_scalar(clickhouse, "SELECT count() FROM analytics.schema_migrations") == len(first), "no row added"


def schema_columns(clickhouse) -> list[dict]:
    return ch_query(clickhouse, "SELECT table, name, type, default_expression FROM system.columns "
                                "WHERE database = 'analytics' AND table != 'schema_migrations' ORDER BY table, position")


def test_every_step_applies_again_to_its_own_result(clickhouse):
    """A crash between a step's statements and its record (made once for the whole call) makes
    the next call apply the step again: every schema file must allow it, here all at once."""
    with clickhouse.session() as ch:
        migrate_schema(ch)
        before = schema_columns(clickhouse)
        ch.client.command("TRUNCATE TABLE analytics.schema_migrations")
        again = migrate_schema(ch)
    assert len(again.applied) == len(expected_rows()), "every step ran again"
    assert schema_columns(clickhouse) == before and before
    assert recorded_rows(clickhouse) == expected_rows()


def test_a_failed_step_leaves_the_steps_before_it_recorded(clickhouse, ddl_copy):
    with clickhouse.session() as ch:
        migrate_schema(ch, ddl_copy)
    (ddl_copy / "schema" / f"V{NEXT_VERSION}__note.sql").write_text(
        "ALTER TABLE analytics.fact_clicks ADD COLUMN IF NOT EXISTS note String DEFAULT 'none';\n")
    (ddl_copy / "schema" / f"V{NEXT_VERSION + 1}__broken.sql").write_text("ALTER TABLE analytics.no_such_table ADD COLUMN x Int8;\n")
    with clickhouse.session() as ch, pytest.raises(Exception, match="no_such_table"):
        migrate_schema(ch, ddl_copy)
    recorded = recorded_rows(clickhouse)
    assert (SCHEMA, NEXT_VERSION, "note") in [row[:3] for row in recorded]
    assert NEXT_VERSION + 1 not in [row[1] for row in recorded]


def test_an_edited_view_is_replaced_and_nothing_else(clickhouse, ddl_copy):
    with clickhouse.session() as ch:
        migrate_schema(ch, ddl_copy)
    view = ddl_copy / "views" / f"{VIEW_FILE}.sql"
    view.write_text(view.read_text().replace("    event_date,\n", "    event_date,\n    42 AS edited,\n", 1))
    with clickhouse.session() as ch:
        changes = migrate_schema(ch, ddl_copy)
    assert changes.labels == [f"view {VIEW_FILE}"]
    columns = [r["name"] for r in ch_query(clickhouse, "SELECT name FROM system.columns WHERE database = 'analytics' "
                                                         "AND table = {t:String} ORDER BY position", t=VIEW_FILE)]
    assert columns == ["event_date", "edited", "impressions", "clicks", "daily_ctr"]
    assert recorded_rows(clickhouse) == expected_rows(ddl_copy)


def test_a_new_version_reaches_a_deployment_that_holds_data(clickhouse, ddl_copy):
    with clickhouse.session() as ch:
        migrate_schema(ch, ddl_copy)
        ch.insert_arrow("fact_clicks", pa.table({"click_id": pa.array([1, 2], pa.int32()),
                                                 "campaign_id": pa.array([7, None], pa.int32()),
                                                 "created_at": pa.array([datetime(2026, 1, 2, 3)] * 2, pa.timestamp("us"))}))
    (ddl_copy / "schema" / f"V{NEXT_VERSION}__clicks_source_note.sql").write_text(
        "ALTER TABLE analytics.fact_clicks ADD COLUMN IF NOT EXISTS note String DEFAULT 'none';\n")
    with clickhouse.session() as ch:
        assert migrate_schema(ch, ddl_copy).labels == [f"V{NEXT_VERSION}__clicks_source_note"]
        assert migrate_schema(ch, ddl_copy).labels == []
    assert ch_query(clickhouse, "SELECT click_id, note FROM analytics.fact_clicks ORDER BY click_id") == [
        {"click_id": 1, "note": "none"}, {"click_id": 2, "note": "none"}]


def test_an_applied_version_that_was_edited_is_refused(clickhouse, ddl_copy):
    with clickhouse.session() as ch:
        migrate_schema(ch, ddl_copy)
    table = ddl_copy / "schema" / "V5__fact_clicks.sql"
    table.write_text(table.read_text().replace("click_id Int32,", "click_id Int64,"))
    with clickhouse.session() as ch, pytest.raises(AdtechError) as raised:
        migrate_schema(ch, ddl_copy)
    message = str(raised.value)
    assert "V5__fact_clicks.sql was edited after it was applied" in message
    assert f"new version, V{NEXT_VERSION}__<name>.sql" in message
    assert not raised.value.retriable  # a step fails at once: Failure(allow_retries=False) (step_failures)


def test_a_deployment_made_before_versioning_is_adopted_with_its_data(clickhouse):
    # What the releases before versioning did on every step: run each file's statements
    # (CREATE ... IF NOT EXISTS, CREATE OR REPLACE VIEW), recording nothing.
    with clickhouse.session() as ch:
        before_versioning = [path for path in sql_files(CLICKHOUSE_DIR / "schema")
                             if int(path.name[1:].split("__")[0]) <= 9]  # V10 came with versioning
        # (their views read tables of later versions now, and hold no data: left to the migration)
        for path in before_versioning:
            for statement in split_statements(path.read_text()):
                ch.client.command(statement)
        ch.insert_arrow("fact_impressions", pa.table({
            "impression_id": pa.array(range(1, 1001), pa.int32()),
            "campaign_id": pa.array([3] * 1000, pa.int32()),
            "created_at": pa.array([datetime(2026, 1, 5, 12)] * 1000, pa.timestamp("us"))}))
        ch.client.command("INSERT INTO analytics.load_state VALUES ('planner', '{\"kept\": 1}', now64(6))")
        changes = migrate_schema(ch)
    assert changes.adopted
    assert [s.version for s in changes.applied if s.kind == SCHEMA] == list(range(1, NEXT_VERSION))
    assert ch_scalar(clickhouse, "SELECT count() FROM system.tables WHERE database = 'analytics' "
                                 "AND name = 'pending_loads'") == 1
    assert recorded_rows(clickhouse) == expected_rows()
    assert ch_scalar(clickhouse, "SELECT count() FROM analytics.fact_impressions") == 1000
    assert ch_scalar(clickhouse, "SELECT snapshot FROM analytics.load_state FINAL") == '{"kept": 1}'


def view_changed_at(clickhouse) -> datetime:
    return ch_scalar(clickhouse, "SELECT metadata_modification_time FROM system.tables "
                                 "WHERE database = 'analytics' AND name = {t:String}", t=VIEW_FILE)


def test_a_step_on_a_current_schema_applies_no_ddl(clickhouse):
    with clickhouse.session() as ch:
        migrate_schema(ch)
    before = view_changed_at(clickhouse)
    time.sleep(1.1)  # the modification time has whole seconds
    clickhouse_module._schema_current.clear()  # as in a new run's process
    with clickhouse.session() as ch:
        ensure_schema(ch)
    assert view_changed_at(clickhouse) == before
    assert ch_scalar(clickhouse, "SELECT count() FROM analytics.schema_migrations") == len(expected_rows())


def test_a_step_on_a_fresh_embedded_engine_applies_the_schema(clickhouse):
    with clickhouse.session() as ch:
        ensure_schema(ch)  # what the first step of a fresh clone does: no set-up needed
    assert recorded_rows(clickhouse) == expected_rows()


def test_a_step_that_may_not_migrate_asks_for_adtech_migrate(clickhouse, ddl_copy):
    """What a step does on a server (``apply_pending`` is False there) when a view changed."""
    with clickhouse.session() as ch:
        migrate_schema(ch, ddl_copy)
    view = ddl_copy / "views" / f"{VIEW_FILE}.sql"
    view.write_text(view.read_text().replace("daily_ctr", "ctr_of_the_day"))
    with clickhouse.session() as ch, pytest.raises(AdtechError) as raised:
        ensure_schema(ch, ddl_copy, apply_pending=False)
    assert str(raised.value).endswith(f"is not current (view {VIEW_FILE} not applied): run `adtech migrate`")
