"""Dagster's run queue, with the backfill daemon's interval as one more of its settings.

A backfill launched from the UI (a range of days) is only recorded by the webserver; the daemon's
backfill loop creates its run, and in Dagster 1.13 that loop waits a fixed 30 s between passes
(``DEFAULT_DAEMON_INTERVAL_SECONDS``, read by ``dagster._daemon.backfill``; no instance setting or
environment variable changes it: dagster-io/dagster#11649). A click waited up to 30 s for its run.

This run coordinator is Dagster's ``QueuedRunCoordinator`` with a ``backfill_interval_seconds``
setting: the daemon process opens it (to find out it must dequeue runs) before it starts its
daemons' threads, and it sets the interval the backfill loop then reads. Only the daemon has
loaded that loop; other processes (webserver, runs, the CLI) are left as they are. A pass with no
backfill to work on is three small queries on the run storage. (The same constant paces the asset
daemon only without sensors, ``auto_materialize: use_sensors: false``, which adtech does not set.)
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from dagster import Field, IntSource, QueuedRunCoordinator
from dagster._serdes import ConfigurableClassData

DAEMON_CONTROLLER = "dagster._daemon.controller"


class PromptQueuedRunCoordinator(QueuedRunCoordinator):
    """``QueuedRunCoordinator`` plus ``backfill_interval_seconds`` (default: Dagster's 30 s)."""

    backfill_interval_seconds: int | None = None

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {
            **super().config_type(),
            "backfill_interval_seconds": Field(
                IntSource, is_required=False,
                description="Seconds between the backfill daemon's passes (Dagster's default: 30).",
            ),
        }

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]):
        coordinator = super().from_config_value(inst_data, config_value)
        coordinator.backfill_interval_seconds = config_value.get("backfill_interval_seconds")
        if coordinator.backfill_interval_seconds is not None:
            set_backfill_daemon_interval(coordinator.backfill_interval_seconds)
        return coordinator


def set_backfill_daemon_interval(seconds: int) -> None:
    """The interval the backfill loop reads when the daemon starts it, in a process that has
    loaded the daemon controller (``dagster-daemon run`` imports it before it opens the instance);
    elsewhere nothing runs that loop, and importing the controller would cost seconds."""
    if seconds < 1:
        raise ValueError(f"backfill_interval_seconds in dagster.yaml is {seconds}: set it to 1 or more seconds")
    controller = sys.modules.get(DAEMON_CONTROLLER)
    if controller is not None:
        controller.DEFAULT_DAEMON_INTERVAL_SECONDS = seconds
