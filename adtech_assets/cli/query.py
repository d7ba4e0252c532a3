"""``adtech query``: one read-only SQL statement against the pipeline's ClickHouse, as a table or CSV.

It goes through the same resource and the same ``session()`` as the pipeline, so on the embedded
engine it waits its turn on the data directory's file lock (a running sync or run finishes its
session first, and a query never makes one fail), and against a server it is one more client.

Guarantees: the statement runs with ``readonly=2`` (reads and session settings only: no DDL, no
INSERT, no ALTER), so a query can never change what the pipeline maintains; one statement per
call; a statement ClickHouse rejects is one line naming ClickHouse's reason.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TextIO

import polars as pl
from clickhouse_connect.driver.exceptions import ClickHouseError

from adtech_assets.db.clickhouse.client import ClickHouse, lock_holder
from adtech_assets.errors import AdtechError
from adtech_assets.redaction import first_line, redact_text

# readonly=2: SELECT, SHOW, DESCRIBE, EXPLAIN and SETTINGS are allowed; writes and DDL are refused
READ_ONLY = {"readonly": 2}
# Say why nothing happens when opening the engine takes longer than this (another process has it).
WAIT_NOTICE_SECONDS = 2.0
TABLE_STYLE = dict(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True, fmt_str_lengths=200,
                   tbl_width_chars=10_000)


def read_query(clickhouse: ClickHouse, statement: str, notice: TextIO = sys.stderr) -> pl.DataFrame:
    """The result of one read-only statement, as columns. Raises ``AdtechError`` (one line) for
    an empty statement, several statements, or anything ClickHouse refuses."""
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
        with clickhouse.session() as ch:
            if timer:
                timer.cancel()
            table = ch.client.query_arrow(statement, settings=READ_ONLY)
    except ClickHouseError as exc:
        reason = _reason(exc, clickhouse)
        if "(READONLY)" in reason:
            raise AdtechError("adtech query only reads (SELECT, SHOW, DESCRIBE, EXPLAIN): the pipeline "
                              "owns what is in ClickHouse; change it with adtech migrate / adtech sync") from None
        raise AdtechError(f"ClickHouse refused the query: {reason}") from None
    except OSError:
        # several statements come back as several results, which is no single Arrow stream
        raise AdtechError("the answer was not one result: give one statement per adtech query") from None
    finally:
        if timer:
            timer.cancel()
    try:
        return pl.from_arrow(table)
    except Exception as exc:  # an Arrow type polars cannot hold
        raise AdtechError(f"cannot show the result ({first_line(exc)}): cast that column with toString()") from None


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
    first line, redacted, cut where ClickHouse starts listing every token it expected."""
    text = redact_text(str(exc), [clickhouse.target.password])
    marker = "DB::Exception: "
    if marker in text:
        text = text.split(marker, 1)[1]
    line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return line.split(". Expected one of:", 1)[0][:300]
