"""What adtech keeps beside Dagster's storage in the Dagster home, so that a pass can tell
without Dagster (importing it is half of a pass that finds nothing to do) that it needs
nothing of it:

- **run workers**: a process that runs a step marks its run worker (host, pid, start time) in
  ``.adtech-workers/``, and the worker removes its own mark when it exits normally. A mark
  whose process is gone is a worker that may have died with a run STARTED: the next pass looks
  in Dagster's run storage (``runtime.run_liveness.fail_dead_runs``), which clears the marks it settled.
  A step process leaves its parent's mark in place, so a multiprocess run costs the next pass
  that look once.
- **observed counters**: the sources' write counters when ``adtech sync`` last recorded the
  sources' observations here; while they are the counters now, no observation is due.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
from pathlib import Path

from adtech_assets.engine.write_counters import Counters

WORKERS = ".adtech-workers"
OBSERVED_COUNTERS = ".adtech-observed-counters.json"
_marked: set[Path] = set()  # the marks this process made


def process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), '' where unknown: it tells
    a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not started or process_start(pid) == started


def _forget(mark: Path) -> None:
    mark.unlink(missing_ok=True)


def mark_worker(home: str | os.PathLike, pid: int, started: str) -> None:
    """Mark ``pid`` as a run worker of this host; the worker itself removes the mark at exit."""
    mark = Path(home) / WORKERS / f"{socket.gethostname()}~{pid}~{started}"
    if mark in _marked:
        return
    try:
        mark.parent.mkdir(exist_ok=True)
        mark.touch()
    except OSError:  # a home we cannot write to: the run history is the only record, as before
        return
    _marked.add(mark)
    if pid == os.getpid():
        atexit.register(_forget, mark)


def dead_worker_marks(home: str | os.PathLike) -> list[Path]:
    """The marks of this host's run workers that are gone."""
    host, dead = socket.gethostname(), []
    try:
        marks = list((Path(home) / WORKERS).iterdir())
    except OSError:
        return []
    for mark in marks:
        mark_host, _, rest = mark.name.partition("~")
        pid, _, started = rest.partition("~")
        if mark_host == host and pid.isdigit() and not alive(int(pid), started):
            dead.append(mark)
    return dead


def clear_marks(marks: list[Path]) -> None:
    for mark in marks:
        _forget(mark)


def observed_counters(home: str | os.PathLike) -> Counters | None:
    try:
        return json.loads((Path(home) / OBSERVED_COUNTERS).read_text())
    except (OSError, ValueError):
        return None


def record_observed_counters(home: str | os.PathLike, counters: Counters) -> None:
    path = Path(home) / OBSERVED_COUNTERS
    try:
        staged = path.with_name(f"{path.name}.{os.getpid()}")
        staged.write_text(json.dumps(counters, sort_keys=True))
        staged.replace(path)
    except OSError:
        pass  # the next pass observes again: slower, never wrong
