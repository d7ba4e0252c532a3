"""Runs of a dead process do not stay STARTED.

Dagster's run monitoring cannot see whether the default run launcher's workers (nor an
``adtech sync`` or ``dagster asset materialize`` process) are alive. So each run that opens
ClickHouse records its worker process (host, pid and the process's start time, which tells a
reused pid apart); each planning pass then marks the runs of workers on this host that are
gone as failed. Their days stay pending in ClickHouse, so the same pass reloads them.
"""

from __future__ import annotations

import multiprocessing
import os
import socket

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

HOST_TAG = "adtech/worker_host"
PID_TAG = "adtech/worker_pid"
STARTED_TAG = "adtech/worker_started"
LIVE_STATUSES = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), '' where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _run_worker_pid() -> int:
    """The run worker: this process, or its parent when this is a multiprocess-executor step."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None and parent.pid else os.getpid()


def worker_tags() -> dict[str, str]:
    pid = _run_worker_pid()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(pid), STARTED_TAG: _process_start(pid)}


def register_worker(instance: DagsterInstance | None, run_id: str | None) -> None:
    """Tag the run with its worker process, once."""
    if instance is None or not run_id:
        return
    run = instance.get_run_by_id(run_id)
    if run is not None and PID_TAG not in run.tags:
        instance.add_run_tags(run_id, worker_tags())


def _alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not started or _process_start(pid) == started


def fail_dead_runs(instance: DagsterInstance) -> list[str]:
    """Mark in-progress runs whose worker on this host is gone as failed; returns their ids."""
    host = socket.gethostname()
    dead = []
    for run in instance.get_runs(RunsFilter(statuses=LIVE_STATUSES, tags={HOST_TAG: host})):
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if pid and not _alive(pid, run.tags.get(STARTED_TAG, "")):
            instance.report_run_failed(run, message=f"its worker process (pid {pid} on {host}) is gone")
            dead.append(run.run_id)
    return dead
