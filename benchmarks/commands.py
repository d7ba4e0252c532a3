"""How a benchmark runs a whole command, as a user types it: from the project root, timed, and
ending the benchmark with the tail of what it printed when it fails or gives no answer in time."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def run(argv: list[str], env: dict | None = None, timeout: float | None = None,
        stdout=subprocess.PIPE) -> tuple[float, str]:
    """``argv`` from the project root: its wall-clock seconds and its output (stdout, unless sent
    elsewhere, then stderr)."""
    started = time.monotonic()
    try:
        out = subprocess.run(argv, env=env, cwd=PROJECT_ROOT, stdout=stdout, stderr=subprocess.PIPE,
                             text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        tail = "".join(x if isinstance(x, str) else (x or b"").decode(errors="replace")
                       for x in (exc.stdout, exc.stderr))
        sys.exit(f"{' '.join(argv)}: no answer within {timeout:.0f} s:\n{tail[-3000:]}")
    seconds = time.monotonic() - started
    output = (out.stdout or "") + out.stderr
    if out.returncode:
        sys.exit(f"{' '.join(argv)} failed ({out.returncode}):\n{output[-3000:]}")
    return seconds, output
