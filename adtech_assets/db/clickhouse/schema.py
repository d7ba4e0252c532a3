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

The records are not the objects: a table or view dropped by hand (or lost) is pending too.
The objects the files define are parsed from their statements (``defined_objects``) and
compared with ``system.tables``; a missing view's file is applied again, a missing table is
recreated by applying again, in version order, every versioned statement that targets it (its
CREATE ... IF NOT EXISTS, then its later ALTERs), which are idempotent. Those repairs are not
recorded (the versions they come from are). A ledger table of the loads recreated empty
(``LEDGER_TABLES``) resets the planner's cursors, so the next pass fingerprints every day in
Postgres; a recreated data table's days are reloaded by the next pass (the load manifest has
rows for partitions it no longer holds).

``pending`` is the cheap check a step makes (three small reads); ``migrate`` applies what is
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
import re
from contextlib import suppress
from dataclasses import dataclass, field, replace
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
# The loads' ledger: recreated empty, it no longer knows what ClickHouse holds or what is pending
LEDGER_TABLES = ("load_manifest", "pending_loads", "pending_days")
# (target, schema digest) pairs this process found recorded as current: the records are read
# once per process, the objects (one read of system.tables) on every check, since another
# process may drop one at any time
_schema_current: set[tuple[ClickHouseTarget, str]] = set()
# the object a statement creates, alters or drops: (verb, TABLE or VIEW, name)
_TARGET = re.compile(r"^(CREATE|ALTER|DROP)\s+(?:OR\s+REPLACE\s+)?(TABLE|VIEW|MATERIALIZED\s+VIEW)\s+"
                     r"(?:IF\s+(?:NOT\s+)?EXISTS\s+)?analytics\.(\w+)", re.I)


@dataclass(frozen=True)
class SchemaStep:
    """One versioned schema file, or one view file."""

    kind: str  # SCHEMA or VIEW
    version: int  # 0 for a view
    name: str
    path: str  # for messages: clickhouse_ddl/schema/V1__database.sql
    statements: tuple[str, ...]
    recreates: tuple[str, ...] = ()  # a repair: the statements that recreate these missing objects

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
    return _digest(schema_steps(ddl_dir))


def _digest(steps: tuple[SchemaStep, ...]) -> str:
    return hashlib.sha256(" ".join(s.checksum for s in steps).encode()).hexdigest()


def _target(statement: str) -> tuple[str, str, str] | None:
    """(verb, "table" or "view", name) of a statement on an object of ``analytics``."""
    match = _TARGET.match(statement)
    if not match:
        return None
    return match[1].upper(), "table" if match[2].upper() == "TABLE" else "view", match[3]


def defined_objects(steps: tuple[SchemaStep, ...]) -> dict[str, str]:
    """Name -> "table" or "view": what applying every step in order leaves in ``analytics``
    (a later DROP removes what an earlier CREATE made). The bookkeeping table is not among
    them: without it nothing is recorded and everything is pending anyway."""
    objects: dict[str, str] = {}
    for step in steps:
        for statement in step.statements:
            target = _target(statement)
            if target and target[0] == "CREATE":
                objects[target[2]] = target[1]
            elif target and target[0] == "DROP":
                objects.pop(target[2], None)
    return objects


def missing_objects(ch: ClickHouseSession, steps: tuple[SchemaStep, ...]) -> dict[str, str]:
    """The defined objects that ClickHouse does not have (one read of system.tables)."""
    present = {row["name"] for row in ch.rows("state/analytics_objects")}
    return {name: kind for name, kind in defined_objects(steps).items() if name not in present}


def _repairs(steps: tuple[SchemaStep, ...], missing: dict[str, str], todo: list[SchemaStep]) -> list[SchemaStep]:
    """``todo`` with, in file order, the steps that recreate the ``missing`` objects: of a
    version, only its statements that target one of them (re-run in order: the CREATE, then
    the later ALTERs); of a view file, the whole file."""
    planned = {(step.kind, step.version, step.name) for step in todo}
    result = []
    for step in steps:
        if (step.kind, step.version, step.name) in planned:
            result.append(step)
            continue
        targets = [(_target(s) or ("", "", ""))[2] for s in step.statements]
        hit = tuple(dict.fromkeys(name for name in targets if name in missing))
        if not hit:
            continue
        statements = step.statements if step.kind == VIEW else tuple(
            s for s, name in zip(step.statements, targets) if name in missing)
        result.append(replace(step, statements=statements, recreates=hit))
    return result


def describe_missing(missing: dict[str, str]) -> str:
    """"table a and view b": what a message names."""
    names = [f"{kind} {name}" for name, kind in sorted(missing.items(), key=lambda item: (item[1], item[0]))]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


def recorded(ch: ClickHouseSession) -> dict[tuple[str, int, str], str] | None:
    """(kind, version, name) -> checksum, as recorded; None before the first migration."""
    if not ch.scalar("state/table_exists", table=BOOKKEEPING):
        return None
    return {(r["kind"], r["version"], r["name"]): r["checksum"]
            for r in ch.rows(f"state/{BOOKKEEPING}")}


def pending(ch: ClickHouseSession, ddl_dir: Traversable = CLICKHOUSE_DIR) -> list[SchemaStep]:
    """What ``migrate`` would apply: the versions and views not recorded as applied, and the
    statements that recreate the defined tables and views ClickHouse lacks. Refuses
    (AdtechError) when an applied version's file was edited since, or when ClickHouse holds
    versions that this code does not know (a newer release migrated it)."""
    return _pending(ch, schema_steps(ddl_dir))[0]


def _pending(ch: ClickHouseSession, steps: tuple[SchemaStep, ...]) -> tuple[list[SchemaStep], dict[str, str]]:
    """``pending``, and the objects that the versions and views recorded as applied define
    and ClickHouse lacks (before the first migration: everything is pending as it is; an
    object of a version not applied yet is not missing, it is new)."""
    done = recorded(ch)
    if done is None:
        return list(steps), {}
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
    missing = missing_objects(ch, tuple(step for step in steps if step not in todo))
    return _repairs(steps, missing, todo), missing


@dataclass(frozen=True)
class SchemaChanges:
    applied: list[SchemaStep]
    adopted: bool  # the tables existed before anything was recorded: an earlier release's
    recreated: dict[str, str] = field(default_factory=dict)  # name -> kind: defined, found missing

    @property
    def labels(self) -> list[str]:
        """What ``adtech migrate`` reports: the versions and views applied, the objects recreated."""
        recreated = sorted(self.recreated.items(), key=lambda item: (item[1], item[0]))
        return ([step.label for step in self.applied if not step.recreates]
                + [f"recreated {kind} {name}" for name, kind in recreated])


def migrate(ch: ClickHouseSession, ddl_dir: Traversable = CLICKHOUSE_DIR) -> SchemaChanges:
    """Apply the pending versions and the changed views in order, and recreate the missing
    objects (``adtech migrate``), then record the versions and views applied in one insert (an
    insert writes a part), also when a step fails. Only a crash between a statement and the
    record makes the next call apply a step again, which every schema file allows (IF NOT
    EXISTS, IF EXISTS, MODIFY SETTING; test_clickhouse_schema applies them all twice). A ledger
    table found missing resets the planner's cursors first (a crash before the table is back
    leaves it missing, so the next call resets again)."""
    cluster = deployment_cluster(ch.target)
    steps = schema_steps(ddl_dir)
    first = recorded(ch) is None
    adopted = first and bool(ch.scalar("state/table_exists", table="fact_impressions"))
    if first:
        for statement in split_statements((ddl_dir / f"{BOOKKEEPING}.sql").read_text()):
            _run(ch, statement, cluster)
    applied: list[SchemaStep] = []

    def record() -> None:
        ch.insert_rows(BOOKKEEPING, [{"kind": step.kind, "version": step.version, "name": step.name,
                                      "checksum": step.checksum} for step in applied if not step.recreates])

    try:
        todo, missing = _pending(ch, steps)
        if "load_state" not in missing and any(table in missing for table in LEDGER_TABLES):
            ch.command("state/planner_cursors_reset")
        for step in todo:
            for statement in step.statements:
                _run(ch, statement, cluster)
            applied.append(step)
    except BaseException:
        with suppress(Exception):  # the step's error is the one to see
            record()
        raise
    record()
    still = missing_objects(ch, steps)
    if still:
        raise AdtechError(
            f"{describe_missing(still)} of the ClickHouse schema of {ch.target.describe()} could not be "
            "recreated from clickhouse_ddl/: create it by hand as its file defines it, then run `adtech migrate`"
        )
    _schema_current.add((ch.target, _digest(steps)))
    return SchemaChanges(applied, adopted, missing)


def ensure_schema(ch: ClickHouseSession, ddl_dir: Traversable = CLICKHOUSE_DIR,
                  apply_pending: bool | None = None) -> SchemaChanges | None:
    """What a step, the sensor and a sync's preflight call before they read or write: the
    recorded schema must be the one this code expects, and its tables and views must exist.
    The records are read once per process (target and schema); the objects on every call (one
    read of system.tables, a few ms), since another process may drop one after this one
    checked. When something is pending, the embedded engine applies it (a fresh clone needs no
    set-up, a dropped view or table comes back, and the session lock serializes), a server
    refuses with "run `adtech migrate`" naming what (its schema changes are a deliberate step
    of the deployment). ``apply_pending`` overrides. Returns what it applied, if anything (a
    caller may report the objects it recreated)."""
    steps = schema_steps(ddl_dir)
    key = (ch.target, _digest(steps))
    if key in _schema_current and not missing_objects(ch, steps):
        return None
    todo, missing = _pending(ch, steps)
    if todo and not (ch.target.is_embedded if apply_pending is None else apply_pending):
        raise AdtechError(
            f"the ClickHouse schema of {ch.target.describe()} is not current ({_not_current(todo, missing)}): "
            "run `adtech migrate`"
        )
    changes = migrate(ch, ddl_dir) if todo else None
    _schema_current.add(key)
    return changes


def _not_current(todo: list[SchemaStep], missing: dict[str, str]) -> str:
    """"V14__x not applied; table a missing": what a refusal names."""
    labels = [step.label for step in todo if not step.recreates]
    parts = []
    if labels:
        parts.append(", ".join(labels[:4]) + (f" and {len(labels) - 4} more" if len(labels) > 4 else "") + " not applied")
    if any(step.recreates for step in todo):
        parts.append(f"{describe_missing(missing)} missing")
    return "; ".join(parts)


def _run(ch: ClickHouseSession, statement: str, cluster: str | None) -> None:
    for ddl in on_cluster(statement, cluster):
        ch.client.command(ddl)
