"""The README's promise that ``adtech query`` only reads: tables of ``analytics`` and ``system``,
no table function, no ``INTO OUTFILE``, no settings changed, one line (exit 2) naming what was
refused, and nothing written anywhere. Each attack is one a user tried (issue 24): it wrote
files, read local files, reached Postgres, or failed with an unrelated syntax error.

Real embedded ClickHouse, with the pipeline's schema, a database ``other`` beside it and a local
file outside it; the CLI as a user runs it where exit codes and lines matter, ``read_query`` in
process for the rest (same code, a second per case cheaper)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from adtech_assets.cli.query import read_query
from adtech_assets.db.clickhouse.schema import ensure_schema
from adtech_assets.errors import AdtechError

from .helpers import ch_command, ch_scalar, cli_env, run_cli

README_QUERY = "SELECT * FROM analytics.mv_campaign_ctr ORDER BY ctr DESC LIMIT 5"
SECRET = "not-for-adtech-query"


@pytest.fixture
def engine(clickhouse, tmp_path) -> dict[str, Path]:
    """The pipeline's schema, a database `other` with a row and a Join table, a local secret file,
    and an existing file that a truncating write would empty."""
    with clickhouse.session() as ch:
        ensure_schema(ch)
    for statement in ("CREATE DATABASE other",
                      "CREATE TABLE other.t (x Int8) ENGINE = MergeTree ORDER BY x",
                      "INSERT INTO other.t VALUES (1)",
                      "CREATE TABLE other.j (x Int8, v String) ENGINE = Join(ANY, LEFT, x)",
                      f"INSERT INTO other.j VALUES (1, '{SECRET}')"):
        ch_command(clickhouse, statement)
    files = tmp_path / "files"
    files.mkdir()
    (files / "secret.txt").write_text(f"{SECRET}\n")
    (files / "kept.tsv").write_text("kept\n")
    return {"secret": files / "secret.txt", "kept": files / "kept.tsv", "new": files / "new.tsv", "dir": files}


def attacks(files: dict[str, Path], pg_url: str) -> list[tuple[str, str]]:
    """(statement, words the refusal must hold)."""
    pg = conninfo_to_dict(pg_url)
    server = f"{pg.get('host', '127.0.0.1')}:{pg.get('port', 5432)}"
    postgres = f"postgresql('{server}', '{pg['dbname']}', 'advertiser', 'postgres', '')"
    return [
        (f"INSERT INTO FUNCTION file('{files['new']}', 'TSV') SELECT 1", "INSERT is refused"),
        (f"INSERT INTO FUNCTION file('{files['kept']}', 'TSV') SELECT 1 SETTINGS engine_file_truncate_on_insert = 1",
         "changes no settings"),
        (f"SELECT 1 INTO OUTFILE '{files['new']}'", "INTO OUTFILE is refused"),
        (f"SELECT 1 INTO OUTFILE '{files['kept']}' TRUNCATE FORMAT TSV", "INTO OUTFILE is refused"),
        (f"SELECT * FROM file('{files['secret']}', 'LineAsString')", "table function file() is refused"),
        (f"SELECT file('{files['secret']}')", "function file() reads outside them"),
        (f"SELECT * FROM {postgres}", "table function postgresql() is refused"),
        ("SELECT * FROM numbers(3)", "table function numbers() is refused"),
        ("SET readonly = 0", "SET is refused"),
        ("SELECT 1 SETTINGS readonly = 0", "changes no settings"),
        ("SELECT count() FROM analytics.dim_campaign SETTINGS max_threads = 1", "changes no settings"),
        ("SELECT * FROM other.t", "other.t (database other) is refused"),
        ("SELECT * FROM analytics.dim_campaign AS c JOIN other.t AS o ON 1", "other.t (database other)"),
        ("SELECT 1 WHERE 1 IN other.t", "other.t (database other)"),
        ("SELECT x FROM (SELECT * FROM other.t)", "other.t (database other)"),
        ("SELECT joinGet('other.j', 'v', toInt8(1))", "function joinGet() reads outside them"),
        ("SHOW TABLES FROM other", "database other is refused"),
        ("DESCRIBE TABLE other.t", "other.t (database other)"),
        ("SHOW CREATE TABLE other.t", "other.t (database other)"),
        ("SELECT * FROM INFORMATION_SCHEMA.tables", "database INFORMATION_SCHEMA"),
        ("EXPLAIN SELECT * FROM other.t", "other.t (database other)"),
        ("EXPLAIN INSERT INTO analytics.dim_campaign SELECT * FROM analytics.dim_campaign",
         "EXPLAIN INSERT is refused"),
        (f"SELECT 1; SELECT 1 INTO OUTFILE '{files['new']}'", "one statement"),
        ("CREATE TEMPORARY TABLE scratch (x Int8)", "CREATE is refused"),
        ("SELECT 1 FORMAT JSON", "FORMAT JSON is refused"),
    ]


def assert_nothing_written(files: dict[str, Path]) -> None:
    assert not files["new"].exists()
    assert files["kept"].read_text() == "kept\n"
    assert sorted(path.name for path in files["dir"].iterdir()) == ["kept.tsv", "secret.txt"]


def test_every_attack_is_refused_in_one_line_and_writes_nothing(engine, clickhouse, pg_url):
    with clickhouse.session():  # the engine stays open across the cases: each query nests in it
        for statement, words in attacks(engine, pg_url):
            with pytest.raises(AdtechError) as refused:
                frame = read_query(clickhouse, statement)
                pytest.fail(f"{statement!r} answered {frame}")
            message = str(refused.value)
            assert words in message and "\n" not in message and SECRET not in message, (statement, message)
    assert_nothing_written(engine)
    assert ch_scalar(clickhouse, "SELECT count() FROM other.t") == 1


def test_reads_of_analytics_and_system_still_work(engine, clickhouse):
    """Unqualified names are analytics' (its current database); system and CTEs are readable."""
    with clickhouse.session():
        read_all(clickhouse)


def read_all(clickhouse) -> None:
    for statement, columns in [
        (README_QUERY, ["campaign_id", "campaign_name", "advertiser_name", "impressions", "clicks", "ctr"]),
        ("SELECT count() AS n FROM mv_daily_performance", ["n"]),
        ("WITH c AS (SELECT 1 AS one) SELECT one FROM c", ["one"]),
        ("SELECT name FROM system.tables WHERE database = 'analytics' AND name = 'mv_campaign_ctr'", ["name"]),
        ("SELECT 'it''s; -- not a comment' AS text", ["text"]),
        ("SHOW TABLES", ["name"]),
        ("DESCRIBE TABLE analytics.mv_campaign_ctr", None),
        ("EXISTS TABLE analytics.dim_campaign", ["result"]),
        ("EXPLAIN SELECT * FROM analytics.dim_campaign", ["explain"]),
    ]:
        frame = read_query(clickhouse, statement)
        assert columns is None or frame.columns == columns, (statement, frame)
    quoted = read_query(clickhouse, "SELECT 'it''s; -- not a comment' AS text")
    assert quoted["text"].to_list() == ["it's; -- not a comment"]
    assert "mv_campaign_ctr" in read_query(clickhouse, "SHOW TABLES")["name"].to_list()


def test_the_engine_stays_writable_for_the_session_that_ran_a_query(engine, clickhouse):
    """chDB keeps readonly on a connection for good: the query has one of its own, so a process's
    own session (here an outer one) writes as before."""
    with clickhouse.session() as ch:
        assert read_query(clickhouse, "SELECT 1 AS one")["one"].to_list() == [1]
        ch.client.command("INSERT INTO other.t VALUES (2)")
    assert ch_scalar(clickhouse, "SELECT count() FROM other.t") == 2


def test_the_cli_refuses_with_one_line_and_exit_2_and_runs_the_readme_query(engine, clickhouse, tmp_path):
    env = cli_env(tmp_path, ADTECH_CLICKHOUSE_URL=clickhouse.url)
    for statement, words in [
        (f"INSERT INTO FUNCTION file('{engine['new']}', 'TSV') SELECT 1", "only reads"),
        (f"SELECT 1 INTO OUTFILE '{engine['new']}'", "writes no files"),
        ("SET readonly = 0", "changes no settings"),
    ]:
        result = run_cli(["query", statement], env)
        lines = result.stderr.strip().splitlines()
        assert (result.returncode, result.stdout, len(lines)) == (2, "", 1), (statement, result)
        assert lines[0].startswith("adtech: error: ") and words in lines[0], (statement, lines)
    assert_nothing_written(engine)
    readme = run_cli(["query", README_QUERY], env)
    assert readme.returncode == 0, readme.stderr
    assert "campaign_id" in readme.stdout and readme.stdout.rstrip().endswith("(0 rows)")


@pytest.mark.skipif(not os.environ.get("ADTECH_TEST_CLICKHOUSE_URL"),
                    reason="set ADTECH_TEST_CLICKHOUSE_URL=http://user:password@host:8123 to query a server")
def test_a_server_refuses_the_same(tmp_path, pg_url):
    """Against a server (e.g. the compose stack's `adtech_query` user, docs/deployment.md)."""
    env = cli_env(tmp_path, ADTECH_CLICKHOUSE_URL=os.environ["ADTECH_TEST_CLICKHOUSE_URL"])
    files = {"new": tmp_path / "new.tsv", "kept": tmp_path / "kept.tsv", "secret": tmp_path / "secret.txt"}
    for statement, words in attacks(files, pg_url):
        if "other" in statement:
            continue  # the server has no database `other`
        result = run_cli(["query", statement], env)
        assert result.returncode == 2 and words in result.stderr, (statement, result.stderr)
    assert run_cli(["query", "SELECT 1 AS one FROM system.one"], env).returncode == 0
