"""`adtech migrate` applies the reference schema once and records versions; re-running is a no-op."""

from adtech_assets.migrations import available_migrations, migrate
from adtech_assets.resources import PostgresResource


def test_migrations_are_idempotent_and_recorded(postgres: PostgresResource):
    # the fixture database is already migrated: nothing left to apply, twice
    assert migrate(postgres) == []
    assert migrate(postgres) == []
    with postgres.connect() as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [m.version for m in available_migrations()]


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
