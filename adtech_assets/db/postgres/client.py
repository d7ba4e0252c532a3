"""The source PostgreSQL: one surface for small queries (psycopg) and bulk reads (ADBC -> Arrow).

Bulk reads stream Arrow record batches from the ADBC driver, which reads Postgres's binary COPY
protocol straight into columns; nothing is materialized as Python tuples. Every session runs in
UTC because the source ``timestamp`` columns hold UTC.
"""

from __future__ import annotations

import atexit
import hashlib
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime
from functools import cache, partial
from typing import Any, Optional

import psycopg
import pyarrow as pa
from psycopg import pq, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from adtech_assets.catalog import SOURCE_COLUMNS, SOURCE_TABLES
from adtech_assets.db.postgres.embedded import embedded_postgres_url
from adtech_assets.db.postgres.fact_window import uncrossed_bounds_dropped
from adtech_assets.db.sql_files import postgres_migrations, postgres_sql
from adtech_assets.errors import AdtechError, TransientError
from adtech_assets.redaction import (
    SECRET_KEYS,
    first_line,
    redact_conninfo,
    redact_text,
)
from adtech_assets.settings import (
    PG_URL,
    data_dir,
    libpq_environment,
    validate_identifier,
)

UTC_OPTIONS = "-c TimeZone=UTC -c DateStyle=ISO"  # the change log decodes ISO text
# Arrow batches of about 16 MiB: bounded memory whatever the size of the range read.
BATCH_SIZE_HINT_BYTES = str(16 * 1024 * 1024)


class _IdleConnections:
    """Connections of this process that finished their work cleanly, by connection string, for
    the next use to take: a connect costs far more than a small query (ADBC reads the type
    catalog; psycopg's handshake alone is ten times the catalog read of the sensor's idle tick). Each is checked with a round trip (``ping``) before reuse, since the server
    may have restarted or dropped it meanwhile; a few per string at most; all closed at exit."""

    KEEP = 2

    def __init__(self, ping: Callable[[Any], None]) -> None:
        self._ping = ping
        self._lock = threading.Lock()
        self._idle: dict[str, list] = {}
        atexit.register(self.close_all)  # before interpreter teardown, when a driver can still close

    @staticmethod
    def _key(conninfo: str) -> str:
        """What a connection was opened with: the string and libpq's environment (``PGPASSWORD``,
        ``PGUSER``, ...), so that a changed credential never reuses one opened under the old;
        hashed, so that the pool keeps no password."""
        environment = sorted(libpq_environment().items())
        return hashlib.sha256(repr((conninfo, environment)).encode()).hexdigest()

    def take(self, conninfo: str):
        key = self._key(conninfo)
        while True:
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None:
                return None
            try:
                self._ping(conn)
                return conn
            except Exception:  # gone: terminated, server restarted, database dropped
                _close_quietly(conn)

    @contextmanager
    def lease(self, conninfo: str, url: str, connect: Callable[[str], Any]) -> Iterator[Any]:
        """A kept connection, else ``connect(conninfo)`` (a failure is ``connection_error``);
        kept again when the block ends cleanly, closed when it raises (a stream broken off, a
        query that failed: the connection may be mid-protocol)."""
        conn = self.take(conninfo)
        if conn is None:
            try:
                conn = connect(conninfo)
            except Exception as exc:  # psycopg.Error; adbc's OperationalError/ProgrammingError
                raise connection_error(url, exc) from None
        try:
            yield conn
        except BaseException:
            _close_quietly(conn)
            raise
        self.give_back(conninfo, conn)

    def close_all(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                _close_quietly(conn)

    def give_back(self, conninfo: str, conn) -> None:
        with self._lock:
            idle = self._idle.setdefault(self._key(conninfo), [])
            if len(idle) < self.KEEP:
                idle.append(conn)
                return
        _close_quietly(conn)


class _AdbcConnection:
    """One ADBC connection on the driver manager's C-level API, which is all a stream needs:
    its DB-API layer imports pyarrow.dataset and pandas for what we never use."""

    def __init__(self, conninfo: str):
        import adbc_driver_manager
        import adbc_driver_postgresql

        self._database = adbc_driver_postgresql.connect(conninfo)
        try:
            self._connection = adbc_driver_manager.AdbcConnection(self._database)  # autocommit
        except BaseException:
            self._database.close()
            raise

    @contextmanager
    def stream(self, query: str, options: Mapping[str, str] | None = None) -> Iterator[pa.RecordBatchReader]:
        from adbc_driver_manager import AdbcStatement

        statement = AdbcStatement(self._connection)
        try:
            if options:
                statement.set_options(**options)
            statement.set_sql_query(query)
            handle, _ = statement.execute_query()
            with pa.RecordBatchReader._import_from_c(handle.address) as reader:
                yield reader
        finally:
            statement.close()

    def ping(self) -> None:
        with self.stream("SELECT 1") as reader:
            reader.read_all()

    def close(self) -> None:
        try:
            self._connection.close()
        finally:
            self._database.close()


def _close_quietly(conn: _AdbcConnection | psycopg.Connection) -> None:
    try:
        conn.close()
    except Exception:
        pass


_idle_adbc = _IdleConnections(ping=_AdbcConnection.ping)
_idle_psycopg = _IdleConnections(ping=lambda conn: conn.execute("SELECT 1").fetchall())


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
    return [str(v) for k, v in params.items() if k in SECRET_KEYS] + [libpq_environment().get("PGPASSWORD", "")]


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


def _resolve(url: Optional[str], embedded_dir: str) -> str:
    """The configured connection string (validated once), else the embedded server's URL, asked
    for at every use: a server stopped meanwhile (``adtech stop``) is started again, so a
    long-lived process (the UI's sensors) recovers at its next use instead of failing until
    restarted."""
    if url:
        return _validated_conninfo(url)
    from pathlib import Path

    return embedded_postgres_url(Path(embedded_dir))


_validated_conninfo = cache(validated_conninfo)


def connection_error(conninfo: str, exc: Exception) -> AdtechError:
    """One line naming the server (secrets redacted), the server's or the driver's reason, and
    what to do. Transient (a step retries it) unless the server answered and refused: a server
    restarting is the common cause, while wrong credentials or a missing database stay wrong."""
    secrets = conninfo_secrets(conninfo)
    text = redact_text(str(exc), secrets)
    server = redact_conninfo(conninfo)
    fatal = re.search(r"FATAL:\s+([^\n]+)", text)  # the server's own words, after libpq's preamble
    reason = fatal[1].strip() if fatal else first_line(exc, secrets)
    if _CREDENTIALS_REJECTED.search(text):
        return AdtechError(f"Postgres at {server} rejected the credentials of user {_user(conninfo, text)} "
                           f"({reason}): fix the user or password in {PG_URL} (or PGPASSWORD)")
    if database := re.search(r'database "([^"]*)" does not exist', text):
        return AdtechError(f"cannot connect to Postgres at {server}: {reason}: create database "
                           f"{database[1]} or name an existing one in {PG_URL}")
    refused = "no pg_hba.conf" in text
    return (AdtechError if refused else TransientError)(
        f"cannot connect to Postgres at {server}: {first_line(exc, secrets)}. "
        f"Check that the server is running and {PG_URL} is right"
    )


# What a server says when it refuses who connects (libpq, asyncpg and ADBC quote it alike).
_CREDENTIALS_REJECTED = re.compile(
    r'authentication failed|no password supplied|password is required|role "[^"]*" does not exist')


def _user(conninfo: str, text: str) -> str:
    """The user a refused connection tried: as the server names it, else as libpq would pick it."""
    named = re.search(r'(?:for user|role) "([^"]*)"', text)
    if named:
        return named[1]
    try:
        user = conninfo_to_dict(conninfo).get("user")
    except psycopg.Error:
        user = None
    if user:
        return str(user)
    import getpass

    return libpq_environment().get("PGUSER") or getpass.getuser()


def privilege_error(postgres: Postgres, exc: psycopg.errors.InsufficientPrivilege, command: str,
                    needs: str) -> AdtechError:
    """A statement the connected role may not run: one line naming the role, what it lacks (in
    the server's words), why ``command`` needs it, and the two ways on: run it as the owner, or
    grant the role what it lacks (the owner's rights once the tables exist, else CREATE on the
    schema). The names come from a new connection: the failed one may be mid-transaction."""
    lacks = (getattr(exc.diag, "message_primary", None) or first_line(exc)).strip()
    url = postgres.resolved_url()
    with postgres.connect(autocommit=True) as conn:
        role, tables_owner, database_owner, schema = conn.execute(postgres_sql("source_owners")).fetchone()
    owner = tables_owner or database_owner
    whose = "tables'" if tables_owner else "database's"
    grant = (f"GRANT {_quoted(owner)} TO {_quoted(role)}" if tables_owner
             else f"GRANT CREATE ON SCHEMA {_quoted(schema)} TO {_quoted(role)}")
    return AdtechError(
        f"role {role} lacks the privileges `{command}` needs on the source Postgres at {redact_conninfo(url)} "
        f"({lacks}; it {needs}): run `{command}` as the {whose} owner, "
        f"{owner} (set {PG_URL} to that user), or have {owner} run: {grant}")


def _quoted(name: str) -> str:
    """A role or schema name as SQL takes it: bare when plain, else double-quoted."""
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else '"' + name.replace('"', '""') + '"'


class Postgres:
    """The operational database we copy from. Read-only use: SELECT on the four source tables
    suffices for the pipeline (migrations and the generator need more). Plain, so a pass that
    runs nothing needs no Dagster; ``PostgresResource`` is the same with Dagster config."""

    def __init__(self, url: Optional[str] = None, embedded_data_dir: Optional[str] = None,
                 connect_timeout_seconds: int = 10):
        self.url, self.embedded_data_dir = url, embedded_data_dir
        self.connect_timeout_seconds = connect_timeout_seconds

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
            try:
                yield conn
            except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
                raise self.schema_error(exc) from None

    def check_source_schema(self) -> None:
        """Every table and column adtech reads exists (one catalog query): else an AdtechError
        that names what is missing and what to do."""
        problems = self.source_schema_problems()
        if problems:
            raise AdtechError(problems)

    def source_schema_problems(self) -> str | None:
        """What the source lacks against ``SOURCE_COLUMNS``, and what to do; None when nothing."""
        with self.connect(autocommit=True) as conn:
            found: dict[str, list[str]] = {}
            for table, column in conn.execute(postgres_sql("source_columns"), {"tables": list(SOURCE_COLUMNS)}):
                found.setdefault(table, []).append(column)
            tables_gone, columns_gone = [], []
            for table, expected in SOURCE_COLUMNS.items():
                if table not in found:
                    tables_gone.append(f"table {table} (adtech reads its columns {', '.join(expected)})")
                elif lacking := [c for c in expected if c not in found[table]]:
                    extra = [c for c in found[table] if c not in expected]
                    columns_gone.append(
                        f"column{'s' if len(lacking) > 1 else ''} {', '.join(f'{table}.{c}' for c in lacking)}"
                        + (f" (it has {', '.join(extra)} instead)" if extra else "")
                    )
            if not tables_gone and not columns_gone:
                return None
            fix = " or ".join([*(["recreate the table"] if tables_gone else []),
                               *(["rename the column back or add it"] if columns_gone else [])])
            return (f"the source Postgres at {redact_conninfo(self.resolved_url())} lacks "
                    f"{'; '.join(tables_gone + columns_gone)}: {_migration_advice(conn, fix)}")

    def schema_error(self, exc: Exception) -> AdtechError:
        """A query that failed on a missing table or column: what the source lacks, when the
        catalog says so, else the driver's reason."""
        problems = self.source_schema_problems()
        url = self.resolved_url()
        return AdtechError(problems or (
            f"a query on the source Postgres failed: {first_line(exc, conninfo_secrets(url))}. "
            "Compare the source schema with seeds/migrations"
        ))

    def fetch(
        self, query_name: str, params: dict[str, Any] | Sequence[Any] = (), *, table: str | None = None
    ) -> list[tuple]:
        """A small result (counts, a snapshot) of ``adtech_assets/db/sql/<name>.sql``, whose
        ``{table}`` placeholder, if any, is bound as a quoted identifier; one statement, in its
        own transaction, on a connection this process keeps for the next one."""
        url = self.resolved_url()
        connect = partial(psycopg.connect, autocommit=True, connect_timeout=self.connect_timeout_seconds)
        try:
            with _idle_psycopg.lease(with_utc_session(url), url, connect) as conn:
                return conn.execute(table_query(query_name, table), params).fetchall()
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
            raise self.schema_error(exc) from None

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

        COPY takes no bind parameters, so each ``params`` item fills the query's ``{name}``
        placeholder as a typed literal quoted by psycopg (``sql.Literal``, never string
        formatting). Literals, unlike session settings, let Postgres plan for the range: a
        sequential scan for a month (faster than the index scan it picks for an unknown bound),
        the index for a day.
        """
        from adbc_driver_manager import ProgrammingError

        url = self.resolved_url()
        query = table_query(query_name, table, columns, literals=params).as_string()
        with _idle_adbc.lease(with_utc_session(url), url, _AdbcConnection) as conn, ExitStack() as stream:
            try:
                reader = stream.enter_context(
                    conn.stream(query, {"adbc.postgresql.batch_size_hint_bytes": BATCH_SIZE_HINT_BYTES}))
            except ProgrammingError as exc:
                problems = self.source_schema_problems()
                raise (AdtechError(problems) if problems else query_error(query_name, exc, url)) from None
            yield reader

    @contextmanager
    def fact_batches(self, source: str, window: Mapping[str, Any],
                     names: tuple[str, str, str]) -> Iterator[Iterator[pa.RecordBatch]]:
        """A fact read's rows (``read_<source>.sql`` over ``window``) as Arrow batches named
        ``names``, read ahead in a thread while the caller consumes them.

        Over asyncpg's binary COPY, decoded with numpy (``fact_copy``), where asyncpg connects
        as libpq would, without the time bounds that no row crosses; else over ADBC. Both give
        the same columns and types.
        """
        from adtech_assets.db.postgres import fact_copy
        from adtech_assets.db.postgres.read_ahead import read_ahead

        query_name = f"read_{source}"
        url = self.resolved_url()
        params = fact_copy.connect_params(with_utc_session(url), self.connect_timeout_seconds)
        if params is None:
            with self.arrow_reader(query_name, window) as reader:
                yield read_ahead(lambda put: [put(fact_copy.from_arrow(batch, names)) for batch in reader])
            return
        extent = table_query("read_extent", source).as_string()

        def query(lowest: datetime | None, highest: datetime | None, undated: bool) -> str:
            bounds = uncrossed_bounds_dropped(window, lowest, highest, undated)
            return table_query(query_name, literals=bounds).as_string()

        yield read_ahead(lambda put: self._copy_fact_rows(params, extent, query, query_name, names, put))

    def _copy_fact_rows(self, params: dict[str, Any], extent: str, query: Callable[..., str], query_name: str,
                        names: tuple[str, str, str], deliver: Callable[[pa.RecordBatch], None]) -> None:
        """``fact_copy.copy_fact_rows``, its failures said as the ADBC path says them."""
        import asyncpg

        from adtech_assets.db.postgres import fact_copy

        url = self.resolved_url()
        try:
            fact_copy.copy_fact_rows(params, extent, query, names, deliver)
        except fact_copy.ConnectFailed as failed:
            raise connection_error(url, failed.__cause__) from None
        except (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError) as exc:
            raise AdtechError(self.source_schema_problems() or first_line(exc)) from None
        except fact_copy.LayoutError as exc:
            raise AdtechError(f"reading Postgres ({query_name}) gave rows of another layout ({exc}): compare "
                              "the source's column types with seeds/migrations") from None
        except (OSError, asyncpg.exceptions.ConnectionDoesNotExistError, asyncpg.exceptions.PostgresConnectionError,
                asyncpg.exceptions.OperatorInterventionError) as exc:  # the server went away mid-read
            raise TransientError(f"reading Postgres ({query_name}) at {redact_conninfo(url)} was cut off: "
                                 f"{first_line(exc, conninfo_secrets(url))}") from None
        except asyncpg.PostgresError as exc:
            raise query_error(query_name, exc, url) from None

    def read_arrow(self, query_name: str, params: Mapping[str, Any] | None = None, **query: Any) -> pa.Table:
        """A whole (small) result as one Arrow table, e.g. a dimension's changed rows."""
        with self.arrow_reader(query_name, params, **query) as reader:
            return reader.read_all()


def table_query(
    query_name: str,
    table: str | None = None,
    columns: Sequence[str] = (),
    literals: Mapping[str, Any] | None = None,
) -> sql.Composable:
    """A named query with ``{table}`` and ``{columns}`` bound as quoted identifiers (ours, from an
    allow-list) and ``literals`` as values quoted by psycopg (for COPY, which takes no bind
    parameters); other values stay driver placeholders."""
    text = postgres_sql(query_name)
    if table is None and not literals:
        return sql.SQL(text)
    if table is not None and table not in SOURCE_TABLES:
        raise ValueError(f"not a source table: {table!r}")
    names = {}
    if table is not None:
        names = {"table": sql.Identifier(table), "columns": sql.SQL(", ").join(map(sql.Identifier, columns))}
    values = {validate_identifier(k, "parameter"): sql.Literal(v) for k, v in (literals or {}).items()}
    return sql.SQL(text).format(**names, **values)


def query_error(query_name: str, exc: Exception, conninfo: str) -> AdtechError:
    """A failed read whose cause is not a table or column missing from the source."""
    return AdtechError(
        f"reading Postgres ({query_name}) failed: {first_line(exc, conninfo_secrets(conninfo))}. "
        "Compare the source schema with seeds/migrations"
    )


def _migration_advice(conn: psycopg.Connection, fix: str) -> str:
    """What to do about a missing table or column, from the migrations' state: run them when
    they are behind, else restore the schema (they cannot help)."""
    latest = max(m.version for m in postgres_migrations())
    try:
        (applied,), = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()
    except psycopg.errors.UndefinedTable:
        applied = 0
    except psycopg.Error:  # e.g. the read-only role may not read the bookkeeping
        return (f"restore it in Postgres ({fix}) or point {PG_URL} at the right database; "
                "if the source was never migrated, run `adtech migrate` as its owner")
    if applied < latest:
        return f"the source's migrations are behind (V{applied} of V{latest} applied): run `adtech migrate`"
    return (f"its migrations are up to date (V{latest}), so the schema was changed outside them: restore it "
            f"({fix}) or point {PG_URL} at the right database")

