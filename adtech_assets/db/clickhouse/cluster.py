"""Cluster mode: the ``ON CLUSTER`` form of each statement in ``clickhouse_ddl/schema`` and
``clickhouse_ddl/views``, for when one ClickHouse node is not enough.

Set ``ADTECH_CLICKHOUSE_CLUSTER`` to a cluster defined in the servers' ``remote_servers`` (with
``{shard}`` and ``{replica}`` macros and ClickHouse Keeper configured) and ``adtech migrate`` creates,
from the same files:

- the database ``ON CLUSTER``;
- each table as ``<table>_local`` on every node, its ``*MergeTree`` engine made
  ``Replicated*MergeTree('/clickhouse/tables/{shard}/analytics/<table>', '{replica}', <args>)``;
- under the original name, a ``Distributed`` table over the local ones, so every query (and the
  KPI views, unchanged) reads the whole cluster;
- the views ``ON CLUSTER`` (created and dropped).

Sharding keeps our two guarantees: a partitioned table is sharded by its partition key, so a
whole day lives on one shard and replacing it stays one atomic ``REPLACE PARTITION``; an
unpartitioned one by its sorting key, so every version of an id meets on one shard and
``ReplacingMergeTree``'s ``FINAL`` still keeps exactly the newest.

The functions here are pure (text in, text out) and every statement they return is idempotent
like its source. Writes that swap partitions must target the ``_local`` tables: see
docs/deployment.md, "Cluster mode".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adtech_assets.errors import AdtechError
from adtech_assets.settings import (
    CLICKHOUSE_CLUSTER,
    ClickHouseTarget,
    clickhouse_cluster,
    validate_identifier,
)

LOCAL_SUFFIX = "_local"

_CREATE_DATABASE = re.compile(r"^(CREATE\s+DATABASE\s+(?:IF\s+NOT\s+EXISTS\s+)?\w+)\s*$", re.I)
_CREATE_VIEW = re.compile(r"^(CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?\w+\.\w+)(\s+AS\s.*)$", re.I | re.S)
_DROP_VIEW = re.compile(r"^(DROP\s+VIEW\s+(?:IF\s+EXISTS\s+)?\w+\.\w+)\s*$", re.I)
_ALTER_SETTINGS = re.compile(r"^ALTER\s+TABLE\s+(\w+)\.(\w+)\s+(MODIFY\s+SETTING\s.*)$", re.I | re.S)
_CREATE_TABLE = re.compile(r"^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\.(\w+)\s*(\(.*)$", re.I | re.S)
_ENGINE = re.compile(r"^\s*ENGINE\s*=\s*(\w*MergeTree)\s*(\((.*?)\))?(\s.*)?$", re.I | re.S)
_CLAUSE = r"\b{}\s+BY\s+(.+?)(?=\s+(?:PARTITION\s+BY|ORDER\s+BY|PRIMARY\s+KEY|SAMPLE\s+BY|TTL|SETTINGS)\b|\s*$)"


def deployment_cluster(target: ClickHouseTarget) -> str | None:
    """The cluster named by ``ADTECH_CLICKHOUSE_CLUSTER`` (validated), or None when unset."""
    cluster = clickhouse_cluster()
    if cluster is None:
        return None
    if target.is_embedded:
        raise AdtechError(
            f"{CLICKHOUSE_CLUSTER}={cluster!r} needs a ClickHouse server cluster, but "
            f"{target.describe()} is a single embedded engine: unset {CLICKHOUSE_CLUSTER} "
            "or point ADTECH_CLICKHOUSE_URL at a node of the cluster"
        )
    return cluster


@dataclass(frozen=True)
class TableDefinition:
    """The parts of one of our ``CREATE TABLE`` statements that cluster mode rewrites."""

    if_not_exists: str
    database: str
    table: str
    columns: str
    engine: str
    engine_args: str
    clauses: str

    @property
    def partition_key(self) -> str | None:
        return _clause(self.clauses, "PARTITION")

    @property
    def sorting_key(self) -> str:
        key = _clause(self.clauses, "ORDER")
        if key is None:
            raise AdtechError(f"{self.database}.{self.table} has no ORDER BY: cannot choose its sharding key")
        return key

    @property
    def sharding_key(self) -> str:
        """The partition key when partitioned (a day stays on one shard), else the sorting key."""
        return f"cityHash64({_strip_parentheses(self.partition_key or self.sorting_key)})"


def parse_create_table(statement: str) -> TableDefinition:
    """Split ``CREATE TABLE [IF NOT EXISTS] db.t (columns) ENGINE = *MergeTree[(args)] clauses``."""
    match = _CREATE_TABLE.match(statement.strip())
    if not match:
        raise AdtechError(f"not a CREATE TABLE db.table (...) statement: {statement[:80]!r}")
    if_not_exists, database, table, rest = match.groups()
    columns_end = _closing_parenthesis(rest)
    engine = _ENGINE.match(rest[columns_end + 1 :])
    if not engine:
        raise AdtechError(f"{database}.{table}: cluster mode replicates *MergeTree engines only")
    name, _, args, clauses = engine.groups()
    return TableDefinition(
        if_not_exists=if_not_exists or "",
        database=database,
        table=table,
        columns=rest[: columns_end + 1],
        engine=name,
        engine_args=(args or "").strip(),
        clauses=(clauses or "").strip(),
    )


def replica_path(database: str, table: str) -> str:
    return f"/clickhouse/tables/{{shard}}/{database}/{table}"


def on_cluster(statement: str, cluster: str | None) -> list[str]:
    """The statements that stand for ``statement`` on ``cluster``; ``[statement]`` when None."""
    if cluster is None:
        return [statement]
    validate_identifier(cluster, CLICKHOUSE_CLUSTER)
    statement = statement.strip()
    if database := _CREATE_DATABASE.match(statement):
        return [f"{database[1]} ON CLUSTER {cluster}"]
    if view := _CREATE_VIEW.match(statement):
        return [f"{view[1]} ON CLUSTER {cluster}{view[2]}"]
    if view := _DROP_VIEW.match(statement):
        return [f"{view[1]} ON CLUSTER {cluster}"]
    if _CREATE_TABLE.match(statement):
        return _replicated_and_distributed(parse_create_table(statement), cluster)
    if alter := _ALTER_SETTINGS.match(statement):  # a table's settings live on its local tables
        return [f"ALTER TABLE {alter[1]}.{alter[2]}{LOCAL_SUFFIX} ON CLUSTER {cluster} {alter[3]}"]
    raise AdtechError(f"cluster mode has no ON CLUSTER form for: {statement[:80]!r}")


def _replicated_and_distributed(table: TableDefinition, cluster: str) -> list[str]:
    local = f"{table.table}{LOCAL_SUFFIX}"
    engine_args = ", ".join(
        arg for arg in (f"'{replica_path(table.database, table.table)}'", "'{replica}'", table.engine_args) if arg
    )
    create_local = (
        f"CREATE TABLE {table.if_not_exists}{table.database}.{local} ON CLUSTER {cluster}\n"
        f"{table.columns}\n"
        f"ENGINE = Replicated{table.engine}({engine_args})\n"
        f"{table.clauses}"
    )
    create_distributed = (
        f"CREATE TABLE {table.if_not_exists}{table.database}.{table.table} ON CLUSTER {cluster}\n"
        f"AS {table.database}.{local}\n"
        f"ENGINE = Distributed({cluster}, {table.database}, {local}, {table.sharding_key})"
    )
    return [create_local.strip(), create_distributed]


def _closing_parenthesis(text: str) -> int:
    """Index of the parenthesis closing the one that opens ``text`` (our DDL has none in strings
    other than balanced ones like ``DateTime64(6, 'UTC')``)."""
    depth = 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return index
    raise AdtechError(f"unbalanced parentheses in column list: {text[:80]!r}")


def _clause(clauses: str, keyword: str) -> str | None:
    match = re.search(_CLAUSE.format(keyword), clauses, re.I | re.S)
    return match[1].strip() if match else None


def _strip_parentheses(key: str) -> str:
    """``(a, b)`` -> ``a, b``: cityHash64 takes the key's columns as its arguments."""
    if key.startswith("(") and _closing_parenthesis(key) == len(key) - 1:
        return key[1:-1].strip()
    return key
