"""``dg dev`` for the benchmarks that time what a user sees with the UI running: started on a free
port in its own process group, stopped as a user stops it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DG = PROJECT_ROOT / ".venv" / "bin" / "dg"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_dagster_dev(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    """``dg dev`` with ``env``, its output in ``log``; returns the process and the UI's URL."""
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen([str(DG), "dev", "--host", "127.0.0.1", "--port", str(port)], cwd=PROJECT_ROOT,
                                   env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return process, f"http://127.0.0.1:{port}"


def stop(process: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM to the process group, then SIGKILL if anything is left."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 15)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
