"""The source PostgreSQL: one resource for small queries (psycopg) and bulk reads (ADBC -> Arrow).

Bulk reads stream Arrow record batches from the ADBC driver, which reads Postgres's binary COPY
protocol straight into columns; nothing is materialized as Python tuples. Every session runs in
UTC because the source ``timestamp`` columns hold UTC.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from contextlib import contextmanager
from functools import cache
from typing import Any, Optional

import adbc_driver_postgresql.dbapi as adbc
import psycopg
import pyarrow as pa
from psycopg import pq, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from dagster import ConfigurableResource
from pydantic import Field

from adtech_assets.errors import AdtechError, TransientError
from adtech_assets.redaction import SECRET_KEYS, first_line, redact_conninfo
from adtech_assets.resources.embedded_postgres import embedded_postgres_url
from adtech_assets.settings import PG_URL, data_dir, validate_identifier
from adtech_assets.sql_files import postgres_sql

UTC_OPTIONS = "-c TimeZone=UTC"
SOURCE_TABLES = ("advertiser", "campaign", "impressions", "clicks")
# Arrow batches of about 16 MiB: bounded memory whatever the size of the range read.
BATCH_SIZE_HINT_BYTES = str(16 * 1024 * 1024)


def with_utc_session(conninfo: str) -> str:
    """The connection string, in keyword form, with ``-c TimeZone=UTC`` added to its options."""
    options = conninfo_to_dict(conninfo).get("options")
    return make_conninfo(conninfo, options=f"{options} {UTC_OPTIONS}" if options else UTC_OPTIONS)


def conninfo_secrets(conninfo: str) -> list[str]:
    """The secret values a driver's message could quote: the conninfo's and ``PGPASSWORD``."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.Error:
        params = {}
    return [str(v) for k, v in params.items() if k in SECRET_KEYS] + [os.environ.get("PGPASSWORD", "")]


_HINT = f"set {PG_URL} to postgresql://user:password@host:port/database or 'host=... dbname=... user=...'"


def validated_conninfo(conninfo: str) -> str:
    """Either form libpq accepts, a URL or keywords. A string libpq cannot parse is never
    quoted back, since a password may be anywhere in it; libpq's reason keeps keyword names only."""
    scheme = re.match(r"\s*([A-Za-z][A-Za-z0-9+.-]*)://", conninfo)
    if scheme and scheme.group(1) not in ("postgresql", "postgres"):
        raise AdtechError(f"{PG_URL}={redact_conninfo(conninfo)!r} is not a Postgres URL: {_HINT}")
    try:
        conninfo_to_dict(conninfo)
    except psycopg.Error as exc:
        reason = re.sub(r'"([^"]*)"', lambda m: m[0] if m[1] in _keywords() else '"..."', first_line(exc))
        raise AdtechError(f"{PG_URL} is not a connection string libpq accepts ({reason}): {_HINT}") from None
    return conninfo


@cache
def _keywords() -> frozenset[str]:
    """What libpq's parse errors may quote safely: its keyword names, and the '=' it missed."""
    return frozenset(option.keyword.decode() for option in pq.Conninfo.get_defaults()) | {"="}


@cache
def _resolve(url: Optional[str], embedded_dir: str) -> str:
    if url:
        return validated_conninfo(url)
    from pathlib import Path

    return embedded_postgres_url(Path(embedded_dir))


def connection_error(conninfo: str, exc: Exception) -> AdtechError:
    """One line naming the server (secrets redacted) and the driver's first line of reason.
    Transient (a step retries it) unless the server answered and refused: a server restarting
    is the common cause, while wrong credentials or a missing database stay wrong."""
    refused = any(words in str(exc) for words in ("authentication failed", "does not exist", "no pg_hba.conf"))
    return (AdtechError if refused else TransientError)(
        f"cannot connect to Postgres at {redact_conninfo(conninfo)}: "
        f"{first_line(exc, conninfo_secrets(conninfo))}. "
        f"Check that the server is running and {PG_URL} is right"
    )


class PostgresResource(ConfigurableResource):
    """The operational database we copy from. Read-only use: SELECT on the four source tables
    suffices for the pipeline (migrations and the generator need more)."""

    url: Optional[str] = Field(
        default=None,
        repr=False,
        description="libpq connection string (postgresql:// URL or keywords); unset: the embedded server",
    )
    embedded_data_dir: Optional[str] = Field(
        default=None, description="Data folder of the embedded server (default: ADTECH_DATA_DIR)"
    )
    connect_timeout_seconds: int = 10

    def resolved_url(self) -> str:
        return _resolve(self.url or None, self.embedded_data_dir or str(data_dir()))

    @contextmanager
    def connect(self, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        url = self.resolved_url()
        try:
            conn = psycopg.connect(
                with_utc_session(url), autocommit=autocommit, connect_timeout=self.connect_timeout_seconds
            )
        except psycopg.Error as exc:
            raise connection_error(url, exc) from None
        with conn:
            yield conn

    def fetch(
        self, query_name: str, params: dict[str, Any] | Sequence[Any] = (), *, table: str | None = None
    ) -> list[tuple]:
        """A small result (counts, a snapshot) of ``adtech_assets/sql/<name>.sql``, whose
        ``{table}`` placeholder, if any, is bound as a quoted identifier."""
        with self.connect() as conn:
            return conn.execute(table_query(query_name, table), params).fetchall()

    @contextmanager
    def arrow_reader(
        self,
        query_name: str,
        params: Mapping[str, Any] | None = None,
        *,
        table: str | None = None,
        columns: Sequence[str] = (),
    ) -> Iterator[pa.RecordBatchReader]:
        """A query's result as a stream of bounded Arrow batches, read over binary COPY by ADBC.

        COPY takes no bind parameters, so values travel as session settings instead: each
        ``params`` item is bound (never formatted) into ``set_config('adtech.<name>', ...)`` and
        the query reads it as ``current_setting('adtech.<name>')``, which the planner still
        uses for index range scans. ``None`` is sent as ''.
        """
        url = self.resolved_url()
        try:
            conn = adbc.connect(with_utc_session(url), autocommit=True)
        except Exception as exc:  # adbc raises OperationalError/ProgrammingError subclasses
            raise connection_error(url, exc) from None
        try:
            with conn.cursor() as cur:
                for name, value in (params or {}).items():
                    cur.execute(
                        "SELECT set_config($1, $2, false)",
                        parameters=[f"adtech.{validate_identifier(name, 'parameter')}", _setting(value)],
                    )
                    cur.fetchall()
                cur.adbc_statement.set_options(
                    **{"adbc.postgresql.batch_size_hint_bytes": BATCH_SIZE_HINT_BYTES}
                )
                try:
                    cur.execute(table_query(query_name, table, columns).as_string())
                except adbc.ProgrammingError as exc:
                    raise query_error(query_name, exc, url) from None
                yield cur.fetch_record_batch()
        finally:
            conn.close()

    def read_arrow(self, query_name: str, params: Mapping[str, Any] | None = None, **query: Any) -> pa.Table:
        """A whole (small) result as one Arrow table, e.g. a dimension's changed rows."""
        with self.arrow_reader(query_name, params, **query) as reader:
            return reader.read_all()


def table_query(query_name: str, table: str | None = None, columns: Sequence[str] = ()) -> sql.Composable:
    """A named query with ``{table}`` and ``{columns}`` bound as quoted identifiers (ours, from an
    allow-list); values stay driver placeholders or session settings."""
    text = postgres_sql(query_name)
    if table is None:
        return sql.SQL(text)
    if table not in SOURCE_TABLES:
        raise ValueError(f"not a source table: {table!r}")
    return sql.SQL(text).format(
        table=sql.Identifier(table), columns=sql.SQL(", ").join(map(sql.Identifier, columns))
    )


def query_error(query_name: str, exc: Exception, conninfo: str) -> AdtechError:
    """A failed read, most often a source schema that drifted from ``seeds/migrations``."""
    return AdtechError(
        f"reading Postgres ({query_name}) failed: {first_line(exc, conninfo_secrets(conninfo))}. "
        "If the source schema changed, compare it with seeds/migrations and run `adtech migrate`"
    )


def _setting(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value)
