"""``adtech migrate``: apply ``seeds/migrations/V<n>__<name>.sql`` in order, each once, then the
versioned ClickHouse schema (``resources/clickhouse_schema.py``).

Applied Postgres versions are recorded in ``schema_migrations``; each migration runs in its own
transaction together with its bookkeeping row, under an advisory lock so that two processes
migrating at once do not race. ClickHouse's versions are recorded in
``analytics.schema_migrations``; ClickHouse has neither transactional DDL nor locks, so its
migration runs while this process holds another Postgres advisory lock (and, on the embedded
engine, the session's file lock). Re-running is a no-op.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources.abc import Traversable

from adtech_assets.errors import AdtechError
from adtech_assets.resources.clickhouse import ClickHouse
from adtech_assets.resources.clickhouse_schema import SchemaChanges
from adtech_assets.resources.postgres import Postgres
from adtech_assets.sql_files import SEEDS_DIR, seed_sql, sql_files

MIGRATIONS_DIR = SEEDS_DIR / "migrations"
_NAME = re.compile(r"^V(\d+)__(\w+)\.sql$")
_LOCK_KEY = 7_246_001  # pg_advisory_xact_lock key for migrations
_CLICKHOUSE_LOCK_KEY = 7_246_002  # pg_advisory_lock key held while ClickHouse migrates


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Traversable


def available_migrations() -> list[Migration]:
    found = []
    for path in sql_files(MIGRATIONS_DIR):
        match = _NAME.match(path.name)
        if not match:
            raise AdtechError(f"{path} is not named V<version>__<name>.sql: rename it")
        found.append(Migration(int(match[1]), match[2], path))
    return sorted(found, key=lambda m: m.version)


def migrate(postgres: Postgres) -> list[Migration]:
    """Apply pending migrations; return those applied by this call."""
    applied: list[Migration] = []
    with postgres.connect() as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute(seed_sql("schema_migrations"))
        for migration in available_migrations():
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


def migrate_clickhouse(postgres: Postgres, clickhouse: ClickHouse) -> SchemaChanges:
    """Apply the pending ClickHouse schema versions and changed views; two processes doing it
    for one deployment take turns on a Postgres advisory lock (session-level, released when the
    connection closes, also if the process dies)."""
    with postgres.connect(autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_CLICKHOUSE_LOCK_KEY,))
        with clickhouse.session() as ch:
            return ch.migrate()
