"""``adtech migrate``: apply ``seeds/migrations/V<n>__<name>.sql`` in order, each once, then the
versioned ClickHouse schema (``db.clickhouse.schema``).

Applied Postgres versions are recorded in ``schema_migrations``; each migration runs in its own
transaction together with its bookkeeping row, under an advisory lock so that two processes
migrating at once do not race. ClickHouse's versions are recorded in
``analytics.schema_migrations``; ClickHouse has neither transactional DDL nor locks, so its
migration runs while this process holds another Postgres advisory lock (and, on the embedded
engine, the session's file lock). Re-running is a no-op.
"""

from __future__ import annotations

import psycopg

from adtech_assets.db.clickhouse import schema
from adtech_assets.db.clickhouse.client import ClickHouse
from adtech_assets.db.postgres.client import Postgres, privilege_error
from adtech_assets.db.sql_files import VersionedFile, postgres_migrations, seed_sql

_LOCK_KEY = 7_246_001  # pg_advisory_xact_lock key for migrations
_CLICKHOUSE_LOCK_KEY = 7_246_002  # pg_advisory_lock key held while ClickHouse migrates


def migrate(postgres: Postgres) -> list[VersionedFile]:
    """Apply pending migrations; return those applied by this call. A role that may not (the
    pipeline's read-only one) is one line saying whose it is to run them."""
    try:
        return _apply_migrations(postgres)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise privilege_error(postgres, exc, "adtech migrate", "creates and alters the source tables") from None


def _apply_migrations(postgres: Postgres) -> list[VersionedFile]:
    applied: list[VersionedFile] = []
    with postgres.connect() as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute(seed_sql("schema_migrations"))
        for migration in postgres_migrations():
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                done = conn.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,)
                ).fetchone()
                if done:
                    continue
                conn.execute(migration.path.read_text())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
                applied.append(migration)
    return applied


def migrate_clickhouse(postgres: Postgres, clickhouse: ClickHouse) -> schema.SchemaChanges:
    """Apply the pending ClickHouse schema versions and changed views, and recreate the tables
    and views of the applied ones that are gone (``SchemaChanges.labels`` names them); two
    processes doing it for one deployment take turns on a Postgres advisory lock (session-level,
    released when the connection closes, also if the process dies)."""
    with postgres.connect(autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_CLICKHOUSE_LOCK_KEY,))
        with clickhouse.session() as ch:
            return schema.migrate(ch)
