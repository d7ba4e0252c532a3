"""A backfill launched from the UI gets its run within seconds: the instance adtech writes has the
daemon's backfill loop pass every second, as its run queue does, instead of Dagster's fixed 30 s
(``runtime.run_coordinator``). End to end, click to run, ``benchmarks/backfill_start.py``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from dagster import DagsterInstance, QueuedRunCoordinator

from adtech_assets.cli.home import instance_yaml
from adtech_assets.settings import PROJECT_ROOT


def test_the_instance_adtech_writes_paces_the_run_queue_and_the_backfill_daemon(tmp_path):
    (tmp_path / "dagster.yaml").write_text(instance_yaml(tmp_path))
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, QueuedRunCoordinator)  # so the daemon dequeues runs
        assert coordinator.dequeue_interval_seconds == 1
        assert coordinator.backfill_interval_seconds == 1


# What ``dagster-daemon run`` does (it imports the controller, opens the instance, makes its
# daemons), then the backfill daemon's own loop on that instance, with no backfill to work on:
# the seconds between its first two passes (the shutdown event, set after 10 s, bounds the wait).
DAEMON = """
import json, sys, threading, time, types
import dagster._daemon.controller as controller
from dagster import DagsterInstance
from dagster._daemon.daemon import SpanMarker

with DagsterInstance.from_config(sys.argv[1]) as instance:
    daemons = {daemon.daemon_type(): daemon for daemon in controller.create_daemons_from_instance(instance)}
    shutdown = threading.Event()
    threading.Timer(10, shutdown.set).start()
    passes = []
    for item in daemons["BACKFILL"].core_loop(types.SimpleNamespace(instance=instance), shutdown):
        if item is SpanMarker.START_SPAN:
            passes.append(time.monotonic())
            if len(passes) == 2:
                break
    shutdown.set()
    print(json.dumps(passes[1] - passes[0]))
"""


def test_the_daemons_backfill_loop_passes_every_second(tmp_path):
    (tmp_path / "dagster.yaml").write_text(instance_yaml(tmp_path))
    daemon = subprocess.run([sys.executable, "-c", DAEMON, str(tmp_path)], capture_output=True, text=True,
                            timeout=300, cwd=PROJECT_ROOT)
    assert daemon.returncode == 0, daemon.stderr
    between_passes = json.loads(daemon.stdout.strip().splitlines()[-1])
    assert between_passes < 5, f"the backfill loop waited {between_passes:.1f} s between passes"


def test_an_interval_under_a_second_is_refused_with_what_to_do(tmp_path):
    settings = instance_yaml(tmp_path).replace("backfill_interval_seconds: 1", "backfill_interval_seconds: 0")
    (tmp_path / "dagster.yaml").write_text(settings)
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        with pytest.raises(ValueError, match="backfill_interval_seconds in dagster.yaml is 0: set it to 1 or more"):
            instance.run_coordinator  # noqa: B018 (made on first use)
