"""The README's promise about ``adtech stop``: the embedded Postgres that ``adtech demo`` (or any
command) started and left running is stopped, its data kept; with nothing running it says so.
A real embedded server, in a data directory of its own."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from .helpers import cli_env, run_cli


def postmaster_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "postgres" / "postmaster.pid"
    return int(pid_file.read_text().split("\n", 1)[0]) if pid_file.exists() else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.long(34)
def test_stop_stops_the_embedded_postgres_and_says_when_nothing_runs(data_dir, tmp_path):
    env = cli_env(tmp_path, ADTECH_DATA_DIR=str(data_dir))
    idle = run_cli(["stop"], env)
    assert idle.returncode == 0, idle.stderr
    assert "no embedded Postgres is running" in idle.stdout

    migrated = run_cli(["migrate"], env)  # starts the embedded server, which stays up
    assert migrated.returncode == 0, migrated.stderr
    pid = postmaster_pid(data_dir)
    assert pid and alive(pid)

    stopped = run_cli(["stop"], env)
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped the embedded Postgres" in stopped.stdout
    deadline = time.monotonic() + 30  # pg_ctl -w returned; the postmaster's exit may lag a little
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(pid)
    assert "no embedded Postgres is running" in run_cli(["stop"], env).stdout

    # the data stayed: the next command starts the server again on the same database
    again = run_cli(["migrate"], env)
    assert again.returncode == 0 and "none (up to date)" in again.stdout, again.stdout + again.stderr
    assert "stopped the embedded Postgres" in run_cli(["stop"], env).stdout
