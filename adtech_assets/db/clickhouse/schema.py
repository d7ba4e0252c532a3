"""The ClickHouse schema, versioned like the Postgres one (``db.migrations``).

- ``clickhouse_ddl/schema/V<n>__<name>.sql`` are applied once each, in version order, and
  recorded in ``analytics.schema_migrations`` with the checksum of their statements. An applied
  file is never edited (that is refused, naming the file): a change to a table is a new version,
  e.g. ``V10__add_x.sql`` with ``ALTER TABLE analytics.t ADD COLUMN IF NOT EXISTS ...``.
  V1..V9 are the tables as they stood before versioning, each ``CREATE ... IF NOT EXISTS``: on a
  deployment made by an earlier release they create nothing and are recorded, which adopts the
  deployment as it is, data untouched (the baseline).
- ``clickhouse_ddl/views/*.sql`` are ``CREATE OR REPLACE VIEW`` and re-applied, in file order,
  whenever their checksum differs from the one recorded (Flyway's repeatable migrations).

``pending`` is the cheap check a step makes (two small reads); ``migrate`` applies what is
pending. With ``ADTECH_CLICKHOUSE_CLUSTER`` set, every statement runs in its ON CLUSTER form
(``db.clickhouse.cluster``), the bookkeeping table included.

Two migrations at once: on the embedded engine the session's file lock serializes them, and
the second finds nothing pending. On a server ClickHouse has no transactional DDL and no
lock; ``adtech migrate`` holds a Postgres advisory lock around it (``db.migrations``), so
migrations of one deployment (sharing a source) take turns, and steps on a server never
migrate (they fail asking for ``adtech migrate``). Versions should still be idempotent
statements (``IF NOT EXISTS``), so that a migration interrupted between its DDL and its record
can simply run again.
"""

from __future__ import annotations

import hashlib
from contextlib import suppress
from dataclasses import dataclass
from importlib.resources.abc import Traversable

from adtech_assets.db.clickhouse.client import ClickHouseSession
from adtech_assets.db.clickhouse.cluster import deployment_cluster, on_cluster
from adtech_assets.db.sql_files import (
    CLICKHOUSE_DIR,
    split_statements,
    sql_files,
    versioned_files,
)
from adtech_assets.errors import AdtechError
from adtech_assets.settings import ClickHouseTarget

BOOKKEEPING = "schema_migrations"
SCHEMA, VIEW = "schema", "view"
# (target, schema digest) pairs this process found current: steps check once per process
_schema_current: set[tuple[ClickHouseTarget, str]] = set()


@dataclass(frozen=True)
class SchemaStep:
    """One versioned schema file, or one view file."""

    kind: str  # SCHEMA or VIEW
    version: int  # 0 for a view
    name: str
    path: str  # for messages: clickhouse_ddl/schema/V1__database.sql
    statements: tuple[str, ...]

    @property
    def checksum(self) -> str:
        """Of the statements as applied: comment lines and blank space around them do not count."""
        return hashlib.sha256("\n;\n".join(self.statements).encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"V{self.version}__{self.name}" if self.kind == SCHEMA else f"view {self.name}"


def schema_steps(ddl_dir: Traversable = CLICKHOUSE_DIR) -> tuple[SchemaStep, ...]:
    """Every versioned file by version, then every view file by name, as this code has them
    (read each time: a few small files, and a test may edit a copy between two calls)."""
    steps = [
        SchemaStep(SCHEMA, f.version, f.name, f"clickhouse_ddl/schema/{f.path.name}", tuple(split_statements(f.path.read_text())))
        for f in versioned_files(ddl_dir / "schema", "clickhouse_ddl/schema")
    ]
    steps += [
        SchemaStep(VIEW, 0, path.name.removesuffix(".sql"), f"clickhouse_ddl/views/{path.name}",
                   tuple(split_statements(path.read_text())))
        for path in sql_files(ddl_dir / "views")
    ]
    return tuple(steps)


def schema_digest(ddl_dir: Traversable = CLICKHOUSE_DIR) -> str:
    """One checksum of the whole schema this code expects."""
    return hashlib.sha256(" ".join(s.checksum for s in schema_steps(ddl_dir)).encode()).hexdigest()


def recorded(ch: ClickHouseSession) -> dict[tuple[str, int, str], str] | None:
    """(kind, version, name) -> checksum, as recorded; None before the first migration."""
    if not ch.scalar("state/table_exists", table=BOOKKEEPING):
        return None
    return {(r["kind"], r["version"], r["name"]): r["checksum"]
            for r in ch.rows(f"state/{BOOKKEEPING}")}


def pending(ch: ClickHouseSession, ddl_dir: Traversable = CLICKHOUSE_DIR) -> list[SchemaStep]:
    """What ``migrate`` would apply. Refuses (AdtechError) when an applied version's file was
    edited since, or when ClickHouse holds versions that this code does not know (a newer
    release migrated it)."""
    steps = schema_steps(ddl_dir)
    done = recorded(ch)
    if done is None:
        return list(steps)
    todo = []
    for step in steps:
        checksum = done.get((step.kind, step.version, step.name))
        if checksum == step.checksum:
            continue
        if checksum is not None and step.kind == SCHEMA:
            raise AdtechError(
                f"{step.path} was edited after it was applied to {ch.target.describe()}: restore it "
                f"and put the change in a new version, V{max(s.version for s in steps) + 1}__<name>.sql"
            )
        todo.append(step)
    known = max((s.version for s in steps if s.kind == SCHEMA), default=0)
    newer = sorted(v for kind, v, _ in done if kind == SCHEMA and v > known)
    if newer:
        raise AdtechError(
            f"the ClickHouse schema of {ch.target.describe()} is at V{newer[-1]}, newer than this "
            f"release of adtech knows (V{known}): upgrade adtech"
        )
    return todo


@dataclass(frozen=True)
class SchemaChanges:
    applied: list[SchemaStep]
    adopted: bool  # the tables existed before anything was recorded: an earlier release's

    @property
    def labels(self) -> list[str]:
        return [step.label for step in self.applied]


def migrate(ch: ClickHouseSession, ddl_dir: Traversable = CLICKHOUSE_DIR) -> SchemaChanges:
    """Apply the pending versions and the changed views in order (``adtech migrate``), then
    record those applied in one insert (an insert writes a part), also when a step fails. Only a
    crash between a statement and the record makes the next call apply a step again, which every
    schema file allows (IF NOT EXISTS, IF EXISTS, MODIFY SETTING; test_clickhouse_schema applies
    them all twice)."""
    cluster = deployment_cluster(ch.target)
    first = recorded(ch) is None
    adopted = first and bool(ch.scalar("state/table_exists", table="fact_impressions"))
    if first:
        for statement in split_statements((ddl_dir / f"{BOOKKEEPING}.sql").read_text()):
            _run(ch, statement, cluster)
    applied: list[SchemaStep] = []

    def record() -> None:
        ch.insert_rows(BOOKKEEPING, [{"kind": step.kind, "version": step.version, "name": step.name,
                                      "checksum": step.checksum} for step in applied])

    try:
        for step in pending(ch, ddl_dir):
            for statement in step.statements:
                _run(ch, statement, cluster)
            applied.append(step)
    except BaseException:
        with suppress(Exception):  # the step's error is the one to see
            record()
        raise
    record()
    _schema_current.add((ch.target, schema_digest(ddl_dir)))
    return SchemaChanges(applied, adopted)


def ensure_schema(ch: ClickHouseSession, ddl_dir: Traversable = CLICKHOUSE_DIR, apply_pending: bool | None = None) -> None:
    """What a step calls before it reads or writes: the recorded schema must be the one this
    code expects. A cheap check (two small reads, once per process, target and schema); when
    something is pending, the embedded engine applies it (a fresh clone needs no set-up, and the
    session lock serializes), a server refuses with "run `adtech migrate`" (its schema changes
    are a deliberate step of the deployment). ``apply_pending`` overrides."""
    key = (ch.target, schema_digest(ddl_dir))
    if key in _schema_current:
        return
    todo = pending(ch, ddl_dir)
    if todo and not (ch.target.is_embedded if apply_pending is None else apply_pending):
        shown = ", ".join(step.label for step in todo[:4]) + (f" and {len(todo) - 4} more" if len(todo) > 4 else "")
        raise AdtechError(
            f"the ClickHouse schema of {ch.target.describe()} is not current ({shown} not applied): "
            "run `adtech migrate`"
        )
    if todo:
        migrate(ch, ddl_dir)
    _schema_current.add(key)


def _run(ch: ClickHouseSession, statement: str, cluster: str | None) -> None:
    for ddl in on_cluster(statement, cluster):
        ch.client.command(ddl)
