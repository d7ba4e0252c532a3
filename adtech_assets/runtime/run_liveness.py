"""Runs of a dead process do not stay STARTED.

Dagster's run monitoring cannot see whether the default run launcher's workers (nor an
``adtech sync`` or ``dagster asset materialize`` process) are alive. So each run that opens
ClickHouse records its worker process (host, pid and the process's start time, which tells a
reused pid apart), as run tags and as a mark in the Dagster home (``runtime.worker_marks``); a
planning pass then marks the runs of workers on this host that are gone as failed. Their days
stay pending in ClickHouse, so the same pass reloads them.
"""

from __future__ import annotations

import multiprocessing
import os
import socket

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from adtech_assets.runtime.worker_marks import (
    alive,
    clear_marks,
    dead_worker_marks,
    mark_worker,
    process_start,
)

# The UI lists a run's tags in key order (its backfill and partition tags first): under a prefix
# that sorts after ``adtech/`` and ``dagster/``, these follow what launched the run and its days.
HOST_TAG = "worker/host"
PID_TAG = "worker/pid"
STARTED_TAG = "worker/started"
# The same tags as runs recorded by releases before the rename carry them (still settled)
_FORMER_TAGS = ("adtech/worker_host", "adtech/worker_pid", "adtech/worker_started")
LIVE_STATUSES = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


def _run_worker_pid() -> int:
    """The run worker: this process, or its parent when this is a multiprocess-executor step."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None and parent.pid else os.getpid()


def worker_tags() -> dict[str, str]:
    pid = _run_worker_pid()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(pid), STARTED_TAG: process_start(pid)}


def instance_home(instance: DagsterInstance) -> str | None:
    """The instance's folder on disk (the Dagster home), None for one without."""
    try:
        return instance.root_directory
    except Exception:  # an instance without a home on disk
        return None


def register_worker(instance: DagsterInstance | None, run_id: str | None) -> None:
    """Tag the run with its worker process, once, and mark the worker in the Dagster home."""
    if instance is None or not run_id:
        return
    tags = worker_tags()
    home = instance_home(instance)
    if home:
        mark_worker(home, int(tags[PID_TAG]), tags[STARTED_TAG])
    run = instance.get_run_by_id(run_id)
    if run is not None and PID_TAG not in run.tags:
        instance.add_run_tags(run_id, tags)


def fail_dead_runs(instance: DagsterInstance) -> list[str]:
    """Mark in-progress runs whose worker on this host is gone as failed; returns their ids.
    The marks of the workers found gone before the look are cleared after it."""
    host = socket.gethostname()
    home = instance_home(instance)
    settled = dead_worker_marks(home) if home else []
    dead = []
    for host_tag, pid_tag, started_tag in ((HOST_TAG, PID_TAG, STARTED_TAG), _FORMER_TAGS):
        for run in instance.get_runs(RunsFilter(statuses=LIVE_STATUSES, tags={host_tag: host})):
            pid = int(run.tags.get(pid_tag, "0") or 0)
            if pid and not alive(pid, run.tags.get(started_tag, "")):
                instance.report_run_failed(run, message=f"its worker process (pid {pid} on {host}) is gone")
                dead.append(run.run_id)
    clear_marks(settled)
    return dead
