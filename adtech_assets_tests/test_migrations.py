"""`adtech migrate` applies the reference schema once and records versions; re-running is a no-op;
two at once on an empty database (and a fresh embedded ClickHouse) apply each migration, and
each ClickHouse schema version and view, exactly once."""

import subprocess

from adtech_assets.db.clickhouse.schema import schema_steps
from adtech_assets.db.migrations import migrate
from adtech_assets.db.sql_files import postgres_migrations
from adtech_assets.defs.resources import ClickHouseResource, PostgresResource
from adtech_assets.settings import PROJECT_ROOT
from adtech_assets_tests.conftest import fresh_database
from adtech_assets_tests.helpers import cli_command, cli_env

SOURCE_TABLES = {"advertiser", "campaign", "impressions", "clicks"}


def tables(postgres: PostgresResource) -> set[str]:
    with postgres.connect() as conn:
        return {t for (t,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_migrate_applies_every_migration_to_an_empty_database(pg_server_url):
    with fresh_database(pg_server_url, "adtech_empty") as url:
        postgres = PostgresResource(url=url)
        assert tables(postgres) == set()
        applied = migrate(postgres)
        assert [m.version for m in applied] == [m.version for m in postgres_migrations()]
        assert SOURCE_TABLES | {"schema_migrations"} <= tables(postgres)
        assert migrate(postgres) == []


def test_two_migrates_at_once_apply_each_migration_once(pg_server_url, tmp_path):
    with fresh_database(pg_server_url, "adtech_race") as url:
        env = cli_env(tmp_path, ADTECH_PG_URL=url)
        procs = [subprocess.Popen(cli_command("migrate"), env=env, cwd=PROJECT_ROOT, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
        outputs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outputs]
        names = [f"V{m.version}__{m.name}" for m in postgres_migrations()]
        # every migration was applied by exactly one of the two
        said = [out for out, _ in outputs]
        assert all(sum(name in out for out in said) == 1 for name in names), said
        postgres = PostgresResource(url=url)
        with postgres.connect() as conn:
            versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == [m.version for m in postgres_migrations()]
        assert SOURCE_TABLES <= tables(postgres)
        # the ClickHouse schema too: each version and view applied by exactly one of the two
        assert all(sum(f"{step.label}," in out or f"{step.label}\n" in out for out in said) == 1
                   for step in schema_steps()), said
        with ClickHouseResource(url=f"chdb://{tmp_path / 'data' / 'clickhouse'}").session() as ch:
            recorded = ch.client.query("SELECT count() FROM analytics.schema_migrations").result_rows[0][0]
        assert recorded == len(schema_steps())


def test_migrations_are_idempotent_and_recorded(postgres: PostgresResource):
    # the fixture database is already migrated: nothing left to apply, twice
    assert migrate(postgres) == []
    assert migrate(postgres) == []
    with postgres.connect() as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [m.version for m in postgres_migrations()]


def test_reference_schema_columns_exactly(postgres: PostgresResource):
    with postgres.connect() as conn:
        rows = conn.execute(
            """SELECT table_name, column_name, data_type, is_nullable
               FROM information_schema.columns
               WHERE table_schema = 'public' AND table_name IN ('advertiser','campaign','impressions','clicks')
               ORDER BY table_name, ordinal_position"""
        ).fetchall()
    columns = {}
    for table, column, data_type, nullable in rows:
        columns.setdefault(table, []).append((column, data_type, nullable))
    assert columns["advertiser"] == [
        ("id", "integer", "NO"), ("name", "character varying", "NO"),
        ("updated_at", "timestamp without time zone", "YES"), ("created_at", "timestamp without time zone", "YES"),
    ]
    assert [c for c, _, _ in columns["campaign"]] == [
        "id", "name", "bid", "budget", "start_date", "end_date", "advertiser_id", "updated_at", "created_at",
    ]
    assert columns["impressions"] == columns["clicks"] == [
        ("id", "integer", "NO"), ("campaign_id", "integer", "YES"), ("created_at", "timestamp without time zone", "YES"),
    ]
