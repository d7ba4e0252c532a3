"""Cluster mode: every statement in clickhouse_ddl/schema and views has an ON CLUSTER form with
Replicated engines and Distributed tables, and ClickHouse's own parser accepts it.

The generated statements are normalized by ClickHouse (``formatQuery``) and compared, part by
part, with the normalized source statement: the same columns, keys and engine arguments, only
replicated, renamed ``_local`` and fronted by a Distributed table. Running them needs a cluster
with Keeper: ``test_cluster_ddl_applies_on_a_server_cluster`` does, when one is configured.
"""

from __future__ import annotations

import os
import re

import pytest

from adtech_assets.db.clickhouse.cluster import (
    CLICKHOUSE_CLUSTER,
    deployment_cluster,
    on_cluster,
    parse_create_table,
)
from adtech_assets.db.clickhouse.schema import ensure_schema
from adtech_assets.db.clickhouse.schema import migrate as migrate_schema
from adtech_assets.db.sql_files import (
    CLICKHOUSE_DIR,
    split_statements,
    sql_files,
    versioned_files,
)
from adtech_assets.defs.resources import ClickHouseResource
from adtech_assets.errors import AdtechError

CLUSTER = "adtech_cluster"
BOOKKEEPING_FILE = CLICKHOUSE_DIR / "schema_migrations.sql"
SCHEMA_FILES = [f.path for f in versioned_files(CLICKHOUSE_DIR / "schema", "clickhouse_ddl/schema")]  # by version
DDL_FILES = [BOOKKEEPING_FILE, *SCHEMA_FILES, *sql_files(CLICKHOUSE_DIR / "views")]


def ddl_statements(kind: str) -> list[str]:
    files = SCHEMA_FILES if kind == "schema" else sql_files(CLICKHOUSE_DIR / kind)
    return [s for path in files for s in split_statements(path.read_text())]


# Every CREATE TABLE: the versioned tables, then the bookkeeping table of the versions.
TABLE_STATEMENTS = [s for s in ddl_statements("schema") + split_statements(BOOKKEEPING_FILE.read_text())
                    if s.lstrip().upper().startswith("CREATE TABLE")]


@pytest.fixture
def formatter(clickhouse):
    """ClickHouse's parser as a function: the statement in its normalized form."""
    with clickhouse.session() as ch:
        yield lambda sql: ch.client.query("SELECT formatQuery({sql:String})", parameters={"sql": sql}).result_rows[0][0]


def parts(normalized: str) -> dict[str, str | None]:
    """A normalized CREATE TABLE split into header, columns, engine and keys."""
    match = re.match(
        r"(?s)^(?P<header>CREATE TABLE [^\n]+?)(?: AS (?P<as>\S+))?\n(?:\((?P<columns>.*?)\n\)\n)?(?P<rest>.*)$", normalized
    )
    assert match, normalized
    keys = {
        key: (m[1] if (m := re.search(rf"(?m)^{label} (.+)$", match["rest"])) else None)
        for key, label in [("engine", "ENGINE ="), ("partition", "PARTITION BY"), ("order", "ORDER BY")]
    }
    return {"header": match["header"], "as": match["as"], "columns": match["columns"], **keys}


def test_every_ddl_file_has_an_on_cluster_form():
    assert {path.name for path in DDL_FILES} >= {"V1__database.sql", "V4__fact_impressions.sql", "schema_migrations.sql"}
    for path in DDL_FILES:
        for statement in split_statements(path.read_text()):
            generated = on_cluster(statement, CLUSTER)
            assert generated, path
            assert all(f"ON CLUSTER {CLUSTER}" in ddl for ddl in generated), path


def test_without_a_cluster_statements_are_unchanged():
    for path in DDL_FILES:
        for statement in split_statements(path.read_text()):
            assert on_cluster(statement, None) == [statement]


def test_database_is_created_on_the_cluster(formatter):
    [statement] = ddl_statements("schema")[:1]
    [generated] = on_cluster(statement, CLUSTER)
    assert formatter(generated) == f"CREATE DATABASE IF NOT EXISTS analytics ON CLUSTER {CLUSTER}"


@pytest.mark.parametrize("statement", TABLE_STATEMENTS, ids=lambda s: s.split("(")[0].split(".")[-1].strip())
def test_tables_become_replicated_local_tables_behind_distributed_ones(formatter, statement):
    source = parts(formatter(statement))
    table = re.search(r"analytics\.(\w+)", source["header"])[1]
    local_sql, distributed_sql = on_cluster(statement, CLUSTER)
    local, distributed = parts(formatter(local_sql)), parts(formatter(distributed_sql))

    assert local["header"] == f"CREATE TABLE IF NOT EXISTS analytics.{table}_local ON CLUSTER {CLUSTER}"
    assert local["columns"] == source["columns"]
    assert (local["partition"], local["order"]) == (source["partition"], source["order"])
    engine, args = re.match(r"(\w+)(?:\((.*)\))?$", source["engine"]).groups()
    replicated_args = f"'/clickhouse/tables/{{shard}}/analytics/{table}', '{{replica}}'" + (f", {args}" if args else "")
    assert local["engine"] == f"Replicated{engine}({replicated_args})"

    # A day (the partition a load swaps) stays on one shard; unpartitioned tables shard by their
    # sorting key, so all versions of an id meet where FINAL deduplicates them.
    key = source["partition"] or source["order"]
    key = key[1:-1] if key.startswith("(") else key
    assert distributed["header"] == f"CREATE TABLE IF NOT EXISTS analytics.{table} ON CLUSTER {CLUSTER}"
    assert distributed["as"] == f"analytics.{table}_local"
    assert distributed["engine"] == f"Distributed({CLUSTER}, analytics, {table}_local, cityHash64({key}))"


def test_facts_shard_by_day_and_dims_by_id(formatter):
    """The rule above, spelled out for the tables it matters most for."""
    by_table = {parse_create_table(s).table: on_cluster(s, CLUSTER)[1] for s in TABLE_STATEMENTS}
    assert by_table["fact_impressions"].endswith("Distributed(adtech_cluster, analytics, fact_impressions_local, cityHash64(event_date))")
    assert by_table["agg_campaign_daily"].endswith("cityHash64(event_date))")
    assert by_table["dim_campaign"].endswith("Distributed(adtech_cluster, analytics, dim_campaign_local, cityHash64(campaign_id))")
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/dim_campaign', '{replica}', _version, _is_deleted)" in on_cluster(
        ddl_statements("schema")[2], CLUSTER
    )[0]


@pytest.mark.parametrize("statement", ddl_statements("views"), ids=lambda s: s.split(" AS")[0].split(".")[-1])
def test_views_are_created_on_the_cluster_over_the_distributed_tables(formatter, statement):
    [generated] = on_cluster(statement, CLUSTER)
    normalized = formatter(generated)
    first_line, _, body = normalized.partition("\n")
    assert first_line.endswith(f" ON CLUSTER {CLUSTER}")
    # The same query, reading the original names, which are the Distributed tables now.
    assert normalized.replace(f" ON CLUSTER {CLUSTER}", "", 1) == formatter(statement)
    assert "_local" not in body


@pytest.mark.parametrize("name", ["", "1cluster", "c; DROP DATABASE analytics", "my-cluster"])
def test_cluster_names_must_be_plain_identifiers(name, monkeypatch):
    if name:
        with pytest.raises(AdtechError, match=CLICKHOUSE_CLUSTER):
            on_cluster("CREATE DATABASE IF NOT EXISTS analytics", name)
    monkeypatch.setenv(CLICKHOUSE_CLUSTER, name)
    server = ClickHouseResource(url="http://u:p@127.0.0.1:1").target
    if name:
        with pytest.raises(AdtechError, match=CLICKHOUSE_CLUSTER):
            deployment_cluster(server)
    else:
        assert deployment_cluster(server) is None


def test_cluster_mode_on_the_embedded_engine_is_a_clear_error(clickhouse, monkeypatch):
    monkeypatch.setenv(CLICKHOUSE_CLUSTER, CLUSTER)
    with clickhouse.session() as ch, pytest.raises(AdtechError, match="needs a ClickHouse server cluster"):
        ensure_schema(ch)


def test_table_settings_change_on_the_local_tables(formatter):
    altered = [s for s in ddl_statements("schema") if s.lstrip().upper().startswith("ALTER TABLE")]
    assert altered
    for statement in altered:
        (generated,) = on_cluster(statement, CLUSTER)
        table = re.search(r"analytics\.(\w+)", statement)[1]
        assert formatter(generated) == formatter(
            statement.replace(f"analytics.{table}", f"analytics.{table}_local ON CLUSTER {CLUSTER}", 1))


def test_views_are_dropped_on_the_cluster(formatter):
    dropped = [s for s in ddl_statements("schema") if s.lstrip().upper().startswith("DROP VIEW")]
    assert dropped
    for statement in dropped:
        (generated,) = on_cluster(statement, CLUSTER)
        assert formatter(generated) == formatter(f"{statement.strip()} ON CLUSTER {CLUSTER}")


def test_statements_we_cannot_replicate_are_refused():
    with pytest.raises(AdtechError, match="MergeTree engines only"):
        on_cluster("CREATE TABLE IF NOT EXISTS analytics.t (a Int32) ENGINE = Memory", CLUSTER)
    with pytest.raises(AdtechError, match="no ON CLUSTER form"):
        on_cluster("INSERT INTO analytics.t VALUES (1)", CLUSTER)


@pytest.mark.skipif(
    not (os.environ.get("ADTECH_TEST_CLICKHOUSE_URL") and os.environ.get("ADTECH_TEST_CLICKHOUSE_CLUSTER")),
    reason="needs a ClickHouse cluster: set ADTECH_TEST_CLICKHOUSE_URL and ADTECH_TEST_CLICKHOUSE_CLUSTER",
)
def test_cluster_ddl_applies_on_a_server_cluster(monkeypatch):
    monkeypatch.setenv(CLICKHOUSE_CLUSTER, os.environ["ADTECH_TEST_CLICKHOUSE_CLUSTER"])
    resource = ClickHouseResource(url=os.environ["ADTECH_TEST_CLICKHOUSE_URL"])
    with resource.session() as ch:
        migrate_schema(ch)
        assert migrate_schema(ch).applied == []  # idempotent
        engines = dict(ch.client.query("SELECT name, engine FROM system.tables WHERE database = 'analytics'").result_rows)
    for statement in TABLE_STATEMENTS:
        table = parse_create_table(statement).table
        assert engines[table] == "Distributed"
        assert engines[f"{table}_local"].startswith("Replicated")

