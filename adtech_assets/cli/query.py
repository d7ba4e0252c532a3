"""``adtech query``: one read-only SQL statement against the pipeline's ClickHouse, as a table or CSV.

It goes through the same resource as the pipeline (``ClickHouse.read``). On the embedded engine
held by a run or a sync, the holder answers it on a read-only connection of its own (``db.
clickhouse.read_service``), so a query does not wait for the run; with the engine free it opens
the engine itself, and never makes a run fail. Against a server it is one more client.

Guarantees, on the embedded engine and on a server alike: the statement reads tables of the
databases ``analytics`` (the current one) and ``system`` and nothing else. ClickHouse holds most of
it: the statement runs with ``readonly=1`` (no write, no DDL, no settings changed, and no table
function that reaches a file, a URL or another database). What ``readonly=1`` leaves open (a
client-side ``INTO OUTFILE`` on chDB, other databases, the scalar ``file()``, dictionary and Join
lookups by name, harmless table functions) is refused by looking at the statement as ClickHouse
parses it: ``formatQuerySingleLine`` (one statement, its canonical text) and ``EXPLAIN AST`` of
that text, checked node by node; the canonical text is what then runs. Each refusal is one line
naming what was refused.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from dataclasses import dataclass, field
from typing import TextIO

import polars as pl
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from adtech_assets.db.clickhouse.client import (
    DATABASE,
    ClickHouse,
    lock_holder,
)
from adtech_assets.db.clickhouse.read_service import RemoteReader
from adtech_assets.errors import AdtechError
from adtech_assets.redaction import first_line, redact_text

READABLE_DATABASES = (DATABASE, "system")
# Say why nothing happens when opening the engine takes longer than this (another process has it).
WAIT_NOTICE_SECONDS = 2.0
TABLE_STYLE = dict(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True, fmt_str_lengths=200,
                   tbl_width_chars=10_000)

ONLY_READS = "adtech query only reads (SELECT, SHOW, DESCRIBE, EXISTS, EXPLAIN)"
ONLY_DATABASES = f"adtech query reads only the databases {' and '.join(READABLE_DATABASES)}"
NO_SETTINGS = "adtech query changes no settings (it runs with readonly=1)"
# The root of a statement that only reads, as EXPLAIN AST names it (and ShowCreate*, Exists*).
READ_STATEMENTS = ("SelectWithUnionQuery", "Explain", "DescribeQuery", "ShowTables")
# Statements whose output clause FORMAT shows as an Identifier child after their body.
WITH_BODY = ("SelectWithUnionQuery", "DescribeQuery", "Explain")
# `x IN db.table` reads that table.
IN_FUNCTIONS = frozenset({"in", "notIn", "globalIn", "globalNotIn", "nullIn", "notNullIn",
                          "globalNullIn", "globalNotNullIn"})
# Where EXPLAIN AST's text stops naming the user's statement (it echoes our check query).
_CHECK_SCOPE = " In scope SELECT formatQuerySingleLine("


def read_query(clickhouse: ClickHouse, statement: str, notice: TextIO = sys.stderr) -> pl.DataFrame:
    """The result of one read-only statement, as columns. Raises ``AdtechError`` (one line) for
    an empty statement, several statements, a refused one, or anything ClickHouse refuses."""
    statement = statement.strip().rstrip(";").strip()
    if not statement:
        raise AdtechError('no SQL given: adtech query "SELECT ..."')
    target = clickhouse.target
    timer = None
    if target.is_embedded:
        def waiting() -> None:  # only when another process holds it, not when opening it is slow
            if lock_holder(target.embedded_path) != os.getpid():
                print(f"adtech: waiting for the embedded ClickHouse at {target.embedded_path} (one process "
                      "at a time: a run or a sync is using it); the query runs as soon as it is free",
                      file=notice, flush=True)

        timer = threading.Timer(WAIT_NOTICE_SECONDS, waiting)
        timer.daemon = True
        timer.start()
    try:
        def answer(client: Client | RemoteReader, settings: dict) -> pa.Table:
            if timer:
                timer.cancel()
            return client.query_arrow(_checked(client, settings, statement), settings=settings)

        table = clickhouse.read(answer)
    except ClickHouseError as exc:
        raise _refused(_reason(exc, clickhouse)) from None
    except (OSError, pa.ArrowException) as exc:  # an answer that is no single Arrow stream
        raise AdtechError(f"the answer was not one table ({first_line(exc)}): give one SELECT, SHOW, "
                          "DESCRIBE, EXISTS or EXPLAIN statement") from None
    finally:
        if timer:
            timer.cancel()
    try:
        return pl.from_arrow(table)
    except Exception as exc:  # an Arrow type polars cannot hold
        raise AdtechError(f"cannot show the result ({first_line(exc)}): cast that column with toString()") from None


def _checked(client: Client | RemoteReader, settings: dict, statement: str) -> str:
    """The statement's canonical text, once ClickHouse's parser shows it only reads analytics and
    system; else an ``AdtechError`` naming what was refused. Parsing first as a parameter (never
    spliced into SQL) makes sure it is one statement, so EXPLAIN AST explains just that one."""
    canonical = client.query_arrow("SELECT formatQuerySingleLine({statement:String})",
                                   parameters={"statement": statement}, settings=settings).column(0)[0].as_py()
    tree = parse_ast(client.raw_query(f"EXPLAIN AST {canonical}", settings=settings).decode())
    reason = refusal(tree, canonical.split(" ", 1)[0].upper())
    if reason:
        raise AdtechError(reason)
    return canonical


@dataclass
class AstNode:
    """One line of EXPLAIN AST: its kind (``TableIdentifier``), what follows it (``analytics.t``)."""

    kind: str
    name: str
    children: list[AstNode] = field(default_factory=list)


def parse_ast(text: str) -> AstNode:
    """EXPLAIN AST's tree (TabSeparated: one node a line, indented one space a level)."""
    root, stack = None, []
    for line in filter(str.strip, text.splitlines()):
        line = _tsv_unescape(line)
        depth = len(line) - len(line.lstrip(" "))
        header = re.sub(r" \(alias [^()]*\)$", "", re.sub(r"\s*\(children \d+\)$", "", line.strip()))
        kind, _, name = header.partition(" ")
        node = AstNode(kind, name)
        del stack[depth:]
        if len(stack) != depth or (root is not None and not stack):
            raise AdtechError(f"cannot read ClickHouse's parse of the statement at {line.strip()!r}: "
                              "give one plain SELECT")
        if stack:
            stack[-1].children.append(node)
        else:
            root = node
        stack.append(node)
    if root is None:
        raise AdtechError("ClickHouse's parse of the statement is empty: give one plain SELECT")
    return root


def refusal(root: AstNode, verb: str) -> str | None:
    """Why a parsed statement is not one read of analytics and system tables, or None."""
    statement = root
    if root.kind == "Explain":
        statement = next((child for child in root.children if child.kind != "Set"), root)
        verb = f"EXPLAIN {re.sub(r'Query$', '', statement.kind).upper()}"
    if statement.kind == "Set":
        return f"{NO_SETTINGS}: SET is refused"
    if not _reads(statement.kind):
        return (f"{ONLY_READS}: {verb} is refused; the pipeline owns what is in ClickHouse: "
                "change it with adtech migrate / adtech sync")
    for node in {id(root): root, id(statement): statement}.values():
        if reason := _output_clause(node):
            return reason
    return _first_refusal(root, parent=None)


def _reads(kind: str) -> bool:
    return kind in READ_STATEMENTS or kind.startswith(("ShowCreate", "Exists"))


def _output_clause(statement: AstNode) -> str | None:
    """INTO OUTFILE (a file written by chDB, client-side) or FORMAT (adtech picks the format)."""
    for child in statement.children:
        if child.kind == "Literal":
            return ("adtech query writes no files: INTO OUTFILE is refused; redirect its output instead, "
                    'e.g. adtech query --format csv "SELECT ..." > kpis.csv')
        if child.kind == "Identifier" and statement.kind in WITH_BODY:
            return f"adtech query chooses the output format: FORMAT {child.name} is refused; use --format table or csv"
    return None


def _first_refusal(node: AstNode, parent: AstNode | None) -> str | None:
    if reason := _node_refusal(node, parent):
        return reason
    for child in node.children:
        if reason := _first_refusal(child, node):
            return reason
    return None


def _node_refusal(node: AstNode, parent: AstNode | None) -> str | None:
    """What one node reads outside analytics and system, if anything."""
    if node.kind == "Function" and parent is not None and parent.kind == "TableExpression":
        return (f"{ONLY_DATABASES}: the table function {node.name}() is refused; read a table instead, "
                f"e.g. FROM {DATABASE}.mv_campaign_ctr")
    if node.kind == "Function" and (node.name == "file" or node.name.startswith(("dict", "joinGet"))):
        return f"{ONLY_DATABASES}: the function {node.name}() reads outside them and is refused"
    if node.kind == "TableIdentifier":
        return _table_refusal(node.name)
    if node.kind == "Function" and node.name in IN_FUNCTIONS and node.children:
        operands = node.children[0].children
        if len(operands) == 2 and operands[1].kind == "Identifier":  # `x IN db.table` reads db.table
            return _table_refusal(operands[1].name)
    if node.kind == "ShowTables" and node.children and node.children[0].kind == "Identifier":
        return _database_refusal(node.children[0].name, node.children[0].name)
    if node.kind.startswith(("ShowCreate", "Exists")):
        database, _, _ = node.name.partition(" ")  # "db table", or " table" in the current database
        return _database_refusal(database, node.name.strip().replace(" ", ".")) if database else None
    return None


def _table_refusal(name: str) -> str | None:
    """``db.table`` (as EXPLAIN AST prints it, unquoted), or an unqualified name of analytics."""
    database, dot, table = name.partition(".")
    if not dot:
        return None
    if "." in table:  # a name with a dot in it: which part is the database cannot be told
        return f"{ONLY_DATABASES}: {name} is refused (quote no dots into names)"
    return _database_refusal(database, name)


def _database_refusal(database: str, what: str) -> str | None:
    if database in READABLE_DATABASES:
        return None
    if what == database:
        return f"{ONLY_DATABASES}: database {database} is refused"
    return f"{ONLY_DATABASES}: {what} (database {database}) is refused"


_TSV_ESCAPES = {"\\": "\\", "'": "'", "t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", "0": "\0"}


def _tsv_unescape(line: str) -> str:
    return re.sub(r"\\(.)", lambda m: _TSV_ESCAPES.get(m[1], m[0]), line)


def _refused(reason: str) -> AdtechError:
    """ClickHouse's refusal as one line, in adtech query's words where it means one of its rules."""
    if f"Database {DATABASE} does not exist" in reason:  # the current database, before any migration
        return AdtechError(f"this ClickHouse has no database {DATABASE} yet: run adtech migrate (or adtech demo) first")
    if "Multi-statements are not allowed" in reason:
        return AdtechError("adtech query runs one statement: give one statement per adtech query")
    if "(READONLY)" in reason and "Cannot modify" in reason:
        return AdtechError(f"{NO_SETTINGS}: {reason}")
    if "(READONLY)" in reason:
        return AdtechError(f"{ONLY_READS}: the pipeline owns what is in ClickHouse; change it with "
                           "adtech migrate / adtech sync")
    return AdtechError(f"ClickHouse refused the query: {reason}")


def print_table(frame: pl.DataFrame, out: TextIO = sys.stdout) -> None:
    """Every row and column, with their types, then the row count (as psql does)."""
    with pl.Config(**TABLE_STYLE):
        print(frame, file=out)
    print(f"({frame.height:,} row{'s' if frame.height != 1 else ''})", file=out)


def write_csv(frame: pl.DataFrame, out: TextIO = sys.stdout) -> None:
    """A header line, then one line per row (RFC 4180 quoting); NULL is an empty field."""
    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    if nested:
        raise AdtechError(f"column {nested[0]!r} is an array or a tuple, which CSV cannot hold: "
                          f"select toString({nested[0]}) instead, or use --format table")
    frame.write_csv(out)


def _reason(exc: ClickHouseError, clickhouse: ClickHouse) -> str:
    """ClickHouse's own message (a server's comes after the driver's line naming the URL), its
    first line, redacted, cut where ClickHouse starts listing every token it expected or echoes
    the check's own query."""
    text = redact_text(str(exc), [clickhouse.target.password])
    marker = "DB::Exception: "
    if marker in text:
        text = text.rsplit(marker, 1)[1]  # chDB nests ClickHouse's message in its own
    line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    line = re.sub(r" \(version [^)]*\)\.?", "", line.split(". Expected one of:", 1)[0].split(_CHECK_SCOPE, 1)[0])
    return re.sub(r"( \([A-Z_]+\))\1$", r"\1", line.rstrip(" :."))[:300]  # a nested error's code once
