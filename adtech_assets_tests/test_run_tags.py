"""A run's tags in the UI show what launched it and its days first; the worker tags that settle
the runs of a dead process (host, pid, start) come last, and runs tagged under their former
names are still settled.

The UI lists a run's tags as Dagster's GraphQL API returns them (the stored run's tags, by key;
hidden ``.dagster/`` ones left out), with ``mode``, ``dagster/backfill`` and
``dagster/partition`` moved first (``RunTags.tsx``)."""

from __future__ import annotations

import socket
import subprocess
from datetime import datetime, time, timedelta, timezone

from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.storage.tags import TagType, get_tag_type

from adtech_assets.defs.keys import DAYS_TAG, TRIGGER_TAG, partition_range_tags
from adtech_assets.runtime.run_liveness import (
    HOST_TAG,
    PID_TAG,
    STARTED_TAG,
    fail_dead_runs,
    register_worker,
)

from .helpers import add_advertiser, add_campaign, add_events, run_left_started, sync

TODAY = datetime.now(timezone.utc).date()
WORKER_TAGS = [HOST_TAG, PID_TAG, STARTED_TAG]
UI_FIRST = ["mode", "dagster/backfill", "dagster/partition"]


def as_the_ui_lists(instance: DagsterInstance, run_id: str) -> list[str]:
    """The run's tag keys in the order the UI shows them."""
    keys = [k for k in instance.get_run_by_id(run_id).tags if get_tag_type(k) != TagType.HIDDEN]
    return [k for k in UI_FIRST if k in keys] + [k for k in keys if k not in UI_FIRST]


def local_instance(tmp_path) -> DagsterInstance:
    """An instance on disk, as the UI reads one (an in-memory one keeps tags as given)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return DagsterInstance.from_config(str(home))


def test_a_sync_run_lists_its_trigger_and_days_first_and_the_worker_last(resources, postgres, tmp_path):
    campaign = add_campaign(postgres, "c", add_advertiser(postgres, "a"))
    add_events(postgres, "impressions", [(campaign, datetime.combine(TODAY - timedelta(days=2), time(8)))] * 3)
    with local_instance(tmp_path) as instance:
        report = sync(resources, instance)
        assert report.ok and report.run_ids
        for run_id in report.run_ids:
            keys = as_the_ui_lists(instance, run_id)
            ours = {TRIGGER_TAG, DAYS_TAG} & set(keys)
            assert TRIGGER_TAG in ours and set(keys[:len(ours)]) == ours, keys
            assert keys[-3:] == WORKER_TAGS, keys


def test_a_backfill_from_the_ui_lists_its_range_before_the_worker(tmp_path):
    """The UI's backfill runs carry no adtech tags: their range comes first, then the worker
    tags that the ClickHouse resource adds when the run starts."""
    with local_instance(tmp_path) as instance:
        run_id = run_left_started(instance, {"dagster/backfill": "abcdefgh",
                                          **partition_range_tags(TODAY - timedelta(days=3), TODAY)})
        register_worker(instance, run_id)
        keys = as_the_ui_lists(instance, run_id)
        assert keys == ["dagster/backfill", "dagster/asset_partition_range_end",
                        "dagster/asset_partition_range_start", *WORKER_TAGS], keys


def test_runs_tagged_under_the_former_names_are_still_settled(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    with local_instance(tmp_path) as instance:
        run_id = run_left_started(instance, {"adtech/worker_host": socket.gethostname(),
                                          "adtech/worker_pid": str(gone.pid), "adtech/worker_started": ""})
        assert fail_dead_runs(instance) == [run_id]
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE
