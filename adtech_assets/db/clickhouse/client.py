"""ClickHouse: one small surface over clickhouse-connect for both backends.

``ADTECH_CLICKHOUSE_URL`` picks the backend: ``http[s]://...`` is a ClickHouse server,
``chdb:///path`` (and the default) the embedded engine, chDB, driven in process by the same
clickhouse-connect client, so every statement below runs unchanged on both.

chDB lets one process at a time open a data directory, while Dagster runs steps in separate
processes. A session on the embedded engine therefore holds an exclusive file lock on the data
directory; other processes wait for it (up to ``lock_timeout_seconds``) instead of failing, and
nested sessions in one process share the open client. Readers do not wait: the holder serves
their reads on read-only connections of its own (``read_service``, ``ClickHouse.read``).

A write that finds no room leaves a session as one ``AdtechError`` naming the disk, its free
space and what to do (``disk_full_error``), not as the driver's chain of three exceptions.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, TypeVar

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import (
    ClickHouseError,
    DatabaseError,
    OperationalError,
)

from adtech_assets.db.clickhouse import read_service
from adtech_assets.db.clickhouse.cluster import deployment_cluster
from adtech_assets.db.clickhouse.native_stream import NativeStream
from adtech_assets.db.sql_files import clickhouse_sql
from adtech_assets.errors import AdtechError, TransientError, disk_full, exception_chain
from adtech_assets.redaction import first_line
from adtech_assets.settings import (
    CLICKHOUSE_URL,
    DATA_DIR,
    ClickHouseTarget,
    clickhouse_url,
    parse_clickhouse_url,
    validate_identifier,
)

if TYPE_CHECKING:
    import polars as pl

DATABASE = "analytics"
# readonly=1: reads only; no INSERT, DDL, SET or SETTINGS, no table function reaching outside
READ_ONLY = {"readonly": 1}
# How long a reader waits for the engine's lock before it looks again for a holder serving reads
READER_LOOK_SECONDS = 0.25
# A read whose holder keeps going away (runs ending one after another) opens the engine itself at last
READ_ATTEMPTS = 5
_AUTH_FAILED = 516
_NOT_ENOUGH_SPACE = 243
# How ClickHouse says a write found no room: its own reservation check, or the OS's ENOSPC
_NO_SPACE_MARKS = ("NOT_ENOUGH_SPACE", "No space left on device")
T = TypeVar("T")


class ClickHouseSession:
    """An open connection. Statements are named files in ``clickhouse_ddl/`` whose values and
    identifiers are server-side parameters (``{day:Date}``, ``{table:Identifier}``)."""

    def __init__(self, client: Client, target: ClickHouseTarget):
        self.client = client
        self.target = target

    def command(self, name: str, **params: Any) -> None:
        statement, values = render(name, params)
        self.client.command(statement, parameters=values)

    def query_arrow(self, name: str, **params: Any) -> pa.Table:
        statement, values = render(name, params)
        return self.client.query_arrow(statement, parameters=values)

    def rows(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """A small result as dicts of Python values (naive UTC datetimes), decoded by
        clickhouse-connect: pyarrow's ``to_pylist`` imports pandas, whatever the columns."""
        statement, values = render(name, params)
        return list(self.client.query(statement, parameters=values).named_results())

    def query_df(self, name: str, **params: Any) -> pl.DataFrame:
        import polars as pl  # an import that only the demo and `adtech query` need

        return pl.from_arrow(self.query_arrow(name, **params))

    def scalar(self, name: str, **params: Any) -> Any:
        statement, values = render(name, params)
        rows = self.client.query(statement, parameters=values).result_rows
        return rows[0][0] if rows else None

    def insert_arrow(self, table: str, data: pa.Table | pa.RecordBatch) -> int:
        """Insert Arrow columns as they are (their names are the target's column names).

        Sent as one Arrow IPC stream with clickhouse-connect's ``raw_insert``: measured faster
        than ``insert_arrow`` on chDB (no temporary file) and the same on a server.
        """
        if not data.num_rows:
            return 0
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, data.schema) as writer:
            writer.write(data)
        self.client.raw_insert(
            f"{DATABASE}.{validate_identifier(table, 'table')}",
            column_names=data.schema.names,
            insert_block=memoryview(sink.getvalue()),  # no copy into a bytes object
            fmt="ArrowStream",
        )
        return data.num_rows

    @contextmanager
    def batch_insert(self, table: str) -> Iterator[Callable[[pa.RecordBatch], Any]]:
        """Insert Arrow batches into ``table`` as they come. On the embedded engine they are one
        statement reading Native blocks from a FIFO (``native_stream``: no serialization copy,
        no temporary file per batch); on a server each is an ``insert_arrow``. The rows written
        are inserted even if the caller fails midway (load into a staging table)."""
        if not self.target.is_embedded:
            yield lambda batch: self.insert_arrow(table, batch)
            return
        types = {c["name"]: c["type"] for c in self.rows("ops/tables_columns", tables=[table])}

        def run(columns: list[str], path: str) -> None:
            self.command("ops/insert_native_from_file", table=table, columns=columns, path=path)

        stream = NativeStream(run, types, fallback=lambda batch: self.insert_arrow(table, batch))
        try:
            yield stream
        except BaseException:
            with suppress(Exception):  # the caller's error is the one to see
                stream.close()
            raise
        stream.close()

    def insert_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Insert a few rows of Python values (state, bookkeeping) as JSONEachRow: building Arrow
        arrays from Python objects, like clickhouse-connect's ``insert``, imports pandas."""
        if not rows:
            return
        body = "\n".join(json.dumps(row, default=_json_value) for row in rows)
        self.client.raw_insert(f"{DATABASE}.{validate_identifier(table, 'table')}", column_names=list(rows[0]),
                               insert_block=body.encode(), fmt="JSONEachRow")

    @contextmanager
    def read_only(self) -> Iterator[tuple[Client, dict]]:
        """A connection that is read-only for one statement, in database analytics, and the
        settings each call on it takes (``adtech query``). On chDB a connection of its own to the
        engine this session holds, read-only for its whole life: chDB cannot lower ``readonly``
        again once it is set, so the session's own connection is left as it was. On a server the
        session's client, with ``readonly=1`` and the database on each request (HTTP keeps
        nothing between requests)."""
        path = self.target.embedded_path
        if path is None:
            yield self.client, {**READ_ONLY, "database": DATABASE}
            return
        client = _read_only_client(path)
        try:
            yield client, {}
        finally:
            client.close()

    @contextmanager
    def staging_table(self, like: str) -> Iterator[str]:
        """A private empty copy of ``like`` to load into before swapping partitions; dropped after."""
        if deployment_cluster(self.target):
            raise AdtechError(
                "day loads are not yet supported in cluster mode (ADTECH_CLICKHOUSE_CLUSTER): a "
                "staging copy of a Distributed table would write into the live tables. Load into "
                "a single node for now; see docs/deployment.md, 'Cluster mode'"
            )
        staging = f"_staging_{like}_{uuid.uuid4().hex[:12]}"
        self.command("ops/create_staging", staging=staging, target=like)
        try:
            yield staging
        finally:
            self.command("ops/drop_table", table=staging)

    def replace_partition(self, table: str, day: date, staging: str, staged_rows: int) -> None:
        """Atomically make ``table``'s partition ``day`` equal to ``staging``'s: readers see the
        old day or the new one, never a mix. An empty day drops the partition."""
        if staged_rows:
            self.command("ops/replace_partition", table=table, day=day, staging=staging)
        else:
            self.command("ops/drop_partition", table=table, day=day)


class _EmbeddedLock:
    """Process-wide state for the embedded engine: the file lock and the one open client."""

    def __init__(self) -> None:
        self.mutex = threading.RLock()
        self.depth = 0
        self.fd: Optional[int] = None
        self.client: Optional[Client] = None
        self.path: Optional[Path] = None
        self.service: Optional[read_service.ReadService] = None


_embedded = _EmbeddedLock()


class EngineBusy(AdtechError):
    """Another process held the embedded engine for longer than the wait allowed."""


def _read_only_client(path: Path) -> Client:
    """A connection of its own to the engine this process holds, read-only for its whole life,
    in database analytics (chDB cannot lower ``readonly`` again once it is set)."""
    return clickhouse_connect.get_client(dsn=f"chdb://{path}", database=DATABASE, settings=READ_ONLY)


def _lock_file(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


def _check_writable(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        where = (f"point {CLICKHOUSE_URL} at another chdb:///path" if clickhouse_url()
                 else f"set {DATA_DIR} to a writable folder (or {CLICKHOUSE_URL} to another chdb:///path)")
        raise AdtechError(
            f"the embedded ClickHouse data directory {path} is not writable ({exc.strerror}): "
            f"make it writable or {where}"
        ) from None


def _check_not_held_outside(path: Path) -> None:
    """A ClickHouse process outside adtech (another chDB program, clickhouse-local) holding the
    directory would make chDB print its own error; find out first, through the same lock on
    ``status`` that ClickHouse takes, and say so in one line."""
    status = path / "status"
    if not status.exists():
        return
    fd = os.open(status, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except BlockingIOError:
        raise AdtechError(
            f"the embedded ClickHouse at {path} is open in a program outside adtech: "
            "close it (chDB allows one process per directory) and retry"
        ) from None
    finally:
        os.close(fd)


def lock_holder(path: Path) -> int | None:
    """The pid that last took the embedded engine's lock (it writes itself there on taking it)."""
    try:
        text = _lock_file(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _acquire_file_lock(path: Path, timeout: float) -> int:
    lock_path = _lock_file(path)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise busy_error(path, timeout) from None
            time.sleep(0.05)


def busy_error(path: Path, waited: float) -> EngineBusy:
    holder = lock_holder(path)
    return EngineBusy(
        f"the embedded ClickHouse at {path} stayed busy for {waited:.0f} s "
        f"(held by {f'pid {holder}' if holder else 'another process'}): wait for that run to finish, "
        f"or use a ClickHouse server ({CLICKHOUSE_URL}=http://...) for concurrent work"
    )


class ClickHouse:
    """The analytical store. Plain, so a pass that runs nothing needs no Dagster;
    ``ClickHouseResource`` is the same with Dagster config (``url`` through ``EnvVar``)."""

    def __init__(self, url: Optional[str] = None, lock_timeout_seconds: float = 3600,
                 send_receive_timeout_seconds: int = 600):
        self.url, self.lock_timeout_seconds = url, lock_timeout_seconds
        self.send_receive_timeout_seconds = send_receive_timeout_seconds

    @property
    def target(self) -> ClickHouseTarget:
        return parse_clickhouse_url(self.url)

    @contextmanager
    def session(self, lock_timeout_seconds: float | None = None) -> Iterator[ClickHouseSession]:
        """An open connection; on the embedded engine, wait up to ``lock_timeout_seconds``
        (default: the resource's) for another process to release the data directory."""
        target = self.target
        try:
            if target.embedded_path is not None:
                timeout = self.lock_timeout_seconds if lock_timeout_seconds is None else lock_timeout_seconds
                with self._embedded_client(target.embedded_path, timeout) as client:
                    yield ClickHouseSession(client, target)
            else:
                client = self._server_client(target)
                try:
                    yield ClickHouseSession(client, target)
                finally:
                    client.close()
        except AdtechError:
            raise
        except Exception as exc:
            if (full := disk_full_error(exc, target)) is not None:
                raise full from None
            raise

    def read(self, work: Callable[[Any, dict], T]) -> T:
        """``work(client, settings)`` on a read-only connection, in database analytics, with the
        settings each call on it takes (``ClickHouseSession.read_only``): ``adtech query``. On the
        embedded engine held by another process, through that process (``read_service``): the
        reader does not wait for its run; a holder that stops serving midway (its run ended)
        makes ``work`` run again, on whoever holds the engine next or on the engine itself."""
        for _ in range(READ_ATTEMPTS - 1):
            try:
                with self._reader() as (client, settings):
                    return work(client, settings)
            except read_service.HolderGone:
                continue
        with self._reader(remote=False) as (client, settings):
            return work(client, settings)

    @contextmanager
    def _reader(self, remote: bool = True) -> Iterator[tuple[Any, dict]]:
        """A holder's read service while one serves; else this process's own read-only connection,
        waiting for the lock (up to ``lock_timeout_seconds``) and taking a service that appears
        meanwhile."""
        path = self.target.embedded_path
        if path is None or _embedded.depth or not remote:
            with self.session() as ch, ch.read_only() as pair:
                yield pair
            return
        deadline = time.monotonic() + self.lock_timeout_seconds
        while True:
            holder = lock_holder(path)
            service = read_service.connect(path, f"pid {holder}" if holder else "another process",
                                           timeout=self.lock_timeout_seconds)
            if service is not None:
                try:
                    yield service, {}
                finally:
                    service.close()
                return
            entered = False
            try:
                look = min(READER_LOOK_SECONDS, max(0.0, deadline - time.monotonic()))
                with self.session(lock_timeout_seconds=look) as ch, ch.read_only() as pair:
                    entered = True
                    yield pair
                return
            except EngineBusy:
                if entered:
                    raise
                if time.monotonic() >= deadline:
                    raise busy_error(path, self.lock_timeout_seconds) from None

    def _server_client(self, target: ClickHouseTarget) -> Client:
        try:
            return clickhouse_connect.get_client(
                host=target.host,
                port=target.port,
                username=target.username,
                password=target.password,
                secure=target.secure,
                connect_timeout=10,
                send_receive_timeout=self.send_receive_timeout_seconds,
                autogenerate_session_id=False,
            )
        except OperationalError as exc:  # network: refused, timed out, name unknown
            raise TransientError(
                f"cannot reach {target.describe()}: {_first_line(exc, target)}. "
                f"Check that it is running and {CLICKHOUSE_URL} is right"
            ) from None
        except DatabaseError as exc:
            if getattr(exc, "code", None) == _AUTH_FAILED or "Authentication failed" in str(exc):
                raise AdtechError(
                    f"{target.describe()} rejected the credentials for user {target.username!r}: "
                    f"fix the user and password in {CLICKHOUSE_URL}"
                ) from None
            raise AdtechError(f"{target.describe()} refused the connection: {_first_line(exc, target)}") from None
        except ClickHouseError as exc:
            raise AdtechError(f"cannot use {target.describe()}: {_first_line(exc, target)}") from None

    @contextmanager
    def _embedded_client(self, path: Path, lock_timeout_seconds: float) -> Iterator[Client]:
        with _embedded.mutex:
            if _embedded.depth == 0:
                _check_writable(path)
                fd = _acquire_file_lock(path, lock_timeout_seconds)
                try:
                    _check_not_held_outside(path)
                    client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
                except Exception as exc:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
                    if isinstance(exc, AdtechError):
                        raise
                    if (full := disk_full_error(exc, self.target)) is not None:
                        raise full from None
                    raise AdtechError(
                        f"cannot open the embedded ClickHouse at {path}: {_first_line(exc)}. "
                        "Check that no program outside adtech holds it open"
                    ) from None
                _embedded.fd, _embedded.client, _embedded.path = fd, client, path
                _embedded.service = read_service.ReadService.start(path, lambda: _read_only_client(path))
            elif _embedded.path != path:
                raise AdtechError(
                    f"this process already has the embedded ClickHouse at {_embedded.path} open; "
                    f"chDB cannot open a second directory ({path}) in the same process"
                )
            _embedded.depth += 1
            try:
                yield _embedded.client
            finally:
                _embedded.depth -= 1
                if _embedded.depth == 0:
                    if _embedded.service is not None:
                        _embedded.service.stop()  # the statements it runs finish before the engine closes
                    _embedded.client.close()
                    fcntl.flock(_embedded.fd, fcntl.LOCK_UN)
                    os.close(_embedded.fd)
                    _embedded.fd = _embedded.client = _embedded.path = _embedded.service = None


def disk_full_error(exc: BaseException, target: ClickHouseTarget) -> AdtechError | None:
    """The one line for a write that found no room (ClickHouse's NOT_ENOUGH_SPACE, an ENOSPC
    from the engine or from a file of ours), naming the disk, its free space and what to do;
    None for any other error. Not retriable: the next write would find the same disk, so a step
    fails at once, and the first pass after space is freed reloads what stayed pending."""
    chain = exception_chain(exc)
    full_file = next((e.filename for e in chain if isinstance(e, OSError) and e.errno == errno.ENOSPC
                      and e.filename), None)
    said_by_clickhouse = any(isinstance(e, ClickHouseError) or type(e).__module__.startswith("chdb")
                             for e in chain) and any(mark in str(e) for e in chain for mark in _NO_SPACE_MARKS)
    if full_file is None and not said_by_clickhouse:
        return None
    reason = "NOT_ENOUGH_SPACE" if any(getattr(e, "code", None) == _NOT_ENOUGH_SPACE or "NOT_ENOUGH_SPACE" in str(e)
                                       for e in chain) else "No space left on device"
    if full_file is None and target.embedded_path is None:
        return AdtechError(f"{target.describe()} has no room to write ({reason}): free space on the "
                           "server's data disk, then run the pass again")
    elsewhere = (f"point {CLICKHOUSE_URL} at a chdb:///path on another disk" if clickhouse_url()
                 else f"set {DATA_DIR} to a folder on another disk")
    return disk_full(Path(full_file) if full_file is not None else target.embedded_path, reason, elsewhere)


def _json_value(value: Any) -> str:
    """Dates and times as ClickHouse parses them; an aware time in UTC (the state columns' zone)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not a value for JSONEachRow: {value!r}")


def render(name: str, params: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """The statement ``clickhouse_ddl/<name>.sql`` and its server-side parameter values.

    Values always travel as server-side parameters. ``{x:Identifier}`` placeholders are bound
    here instead, validated as plain names and backquoted, because ClickHouse's parser rejects
    parameters in some identifier positions (``CREATE TABLE ... AS t``, ``REPLACE PARTITION ...
    FROM t``); they are always our own table names, never user input. ``{x:Identifiers}`` is
    a list of them, comma-separated; ``{x:Literal}`` a quoted string where ClickHouse takes no
    parameter (``FROM INFILE``).
    """
    statement = clickhouse_sql(name)
    values = {}
    for key, value in params.items():
        if f"{{{key}:Identifier}}" in statement:
            statement = statement.replace(f"{{{key}:Identifier}}", f"`{validate_identifier(value, key)}`")
        elif f"{{{key}:Identifiers}}" in statement:
            names = ", ".join(f"`{validate_identifier(v, key)}`" for v in value)
            statement = statement.replace(f"{{{key}:Identifiers}}", names)
        elif f"{{{key}:Literal}}" in statement:
            statement = statement.replace(f"{{{key}:Literal}}", _string_literal(value))
        else:
            values[key] = value
    return statement, values or None


def _string_literal(text: str) -> str:
    """A quoted ClickHouse string literal, for the one place that takes no parameter (the path of
    ``FROM INFILE``, always our own temporary file)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _first_line(exc: BaseException, target: ClickHouseTarget | None = None) -> str:
    """The root cause's first line, redacted: a driver's wrapper text (URLs, query ids) says
    less than e.g. ``[Errno 111] Connection refused`` at the bottom of its chain."""
    return first_line(exception_chain(exc)[-1], [target.password] if target else [])
