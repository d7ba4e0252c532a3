"""Sensors and schedules that keep ClickHouse in step with Postgres by themselves.

``postgres_changes`` (running by default, every ``ADTECH_SYNC_INTERVAL_SECONDS``, 30 s):
  - an idle tick reads the write counters of the four tables (``pg_stat_user_tables``): no
    movement, nothing else is queried;
  - advertiser / campaign moved: a run of the dims (and the KPI views after them);
  - impressions / clicks moved: the fact days whose rows changed since the previous tick's
    Postgres snapshot (``change_detection``: index-bound, late commits and late rows for past
    days included) become one run per range of consecutive days (facts + rollup days).
  The cursor (snapshots, checkpoints, counters) lives in the sensor cursor and survives restarts.

``rollup_follows_facts``: when fact days are materialized without their rollup days (a fact-only
backfill from the UI, a hand-launched day), requests those rollup days, whatever their age.

``scheduled_sync`` and ``scheduled_dims`` (only when ``ADTECH_SYNC_CRON`` is set): the same pass
at fixed times, the change cursor kept in the Dagster instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    schedule,
    sensor,
)

from adtech_assets.assets.facts import FACTS
from adtech_assets.assets.rollups import ROLLUP_KEY
from adtech_assets.change_detection import ChangeCursor, detect_changed_days
from adtech_assets.errors import AdtechError
from adtech_assets.jobs import load_days, refresh_dims_and_kpis
from adtech_assets.partitions import day_ranges, partition_range_tags, split_by_partitions
from adtech_assets.resources import PostgresResource
from adtech_assets.settings import sync_cron, sync_interval_seconds

DIMENSION_SOURCES = ("advertiser", "campaign")
SCHEDULE_CURSOR_KEY = "adtech/scheduled_sync_cursor"


def range_run_request(first: date, last: date, reason: str, assets: list[AssetKey] | None = None) -> RunRequest:
    """One run of ``load_days`` for [first, last]: a single partition, or a single-run range."""
    tags = {"adtech/trigger": reason}
    if first == last:
        return RunRequest(job_name=load_days.name, asset_selection=assets, partition_key=first.isoformat(), tags=tags)
    return RunRequest(job_name=load_days.name, asset_selection=assets, tags={**tags, **partition_range_tags(first, last)})


@dataclass
class SyncPlan:
    run_requests: list[RunRequest]
    cursor: ChangeCursor
    changed_days: list[date]
    outside_partitions: list[date]


def plan_sync(postgres: PostgresResource, cursor: ChangeCursor) -> SyncPlan:
    """What changed since ``cursor``: the runs to request and the cursor to keep."""
    counters = dict(postgres.fetch("write_counters"))
    advanced = ChangeCursor(tables=dict(cursor.tables), counters=counters)
    requests: list[RunRequest] = []
    def moved(table: str) -> bool:
        # 0 means the collector is off (track_counts) or never wrote: then always look.
        return not counters.get(table) or counters.get(table) != cursor.counters.get(table)

    if any(moved(t) for t in DIMENSION_SOURCES):
        requests.append(RunRequest(job_name=refresh_dims_and_kpis.name, tags={"adtech/trigger": "dims changed"}))
    days: set[date] = set()
    for spec in FACTS:
        if spec.source in cursor.tables and not moved(spec.source):
            continue  # nothing committed since the last look: keep the old snapshot
        found, advanced.tables[spec.source] = detect_changed_days(postgres, spec.source, cursor.tables.get(spec.source))
        days |= found
    inside, outside = split_by_partitions(d.isoformat() for d in days)
    requests += [range_run_request(first, last, "source rows changed") for first, last in day_ranges(inside)]
    return SyncPlan(requests, advanced, inside, outside)


def _warn_outside_partitions(plan: SyncPlan, log) -> None:
    if plan.outside_partitions:
        log.warning(f"{len(plan.outside_partitions)} changed day(s) fall outside the partitions: "
                    f"{[d.isoformat() for d in plan.outside_partitions[:5]]} (see check no_rows_outside_partitions)")


@sensor(
    name="postgres_changes",
    minimum_interval_seconds=sync_interval_seconds(),
    default_status=DefaultSensorStatus.RUNNING,
    jobs=[load_days, refresh_dims_and_kpis],
    description="Requests the dims and exactly the fact days that changed in Postgres since the last tick.",
)
def postgres_changes(context: SensorEvaluationContext, postgres: PostgresResource):
    try:
        plan = plan_sync(postgres, ChangeCursor.from_json(context.cursor))
    except AdtechError as exc:
        return SkipReason(str(exc))
    _warn_outside_partitions(plan, context.log)
    if not plan.run_requests:
        return SensorResult(skip_reason="no source rows changed", cursor=plan.cursor.to_json())
    return SensorResult(run_requests=plan.run_requests, cursor=plan.cursor.to_json())


@sensor(
    name="rollup_follows_facts",
    minimum_interval_seconds=sync_interval_seconds(),
    default_status=DefaultSensorStatus.RUNNING,
    jobs=[load_days],
    description="Requests rollup days whose fact days were materialized after them (backfills, hand runs).",
)
def rollup_follows_facts(context: SensorEvaluationContext):
    after = int(context.cursor or 0)
    stale: set[str] = set()
    newest, hold = after, None
    for spec in FACTS:
        records = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=spec.key, after_storage_id=after), limit=1000, ascending=True
        ).records
        for record in records:
            run = context.instance.get_run_by_id(record.run_id)
            if run is not None and not run.is_finished:
                # its own rollup step may still come: look again once the run has ended
                hold = record.storage_id - 1 if hold is None else min(hold, record.storage_id - 1)
                continue
            newest = max(newest, record.storage_id)
            partition = record.partition_key
            if partition is None:
                continue
            rollup = context.instance.fetch_materializations(
                AssetRecordsFilter(asset_key=ROLLUP_KEY, asset_partitions=[partition],
                                   after_storage_id=record.storage_id),
                limit=1,
            ).records
            if not rollup:
                stale.add(partition)
    days = sorted(date.fromisoformat(p) for p in stale)
    requests = [
        range_run_request(first, last, "facts newer than rollup", assets=[ROLLUP_KEY])
        for first, last in day_ranges(days)
    ]
    cursor = newest if hold is None else min(newest, hold)
    return SensorResult(run_requests=requests, cursor=str(cursor))


def _scheduled_sync_defs() -> list:
    """With ``ADTECH_SYNC_CRON``: the sensor's pass at fixed times, as two schedules (a schedule
    targets one job): the changed fact days, and the (incremental) dims with the views."""
    cron = sync_cron()
    if not cron:
        return []

    at_fixed_times = {
        "cron_schedule": cron,
        "execution_timezone": "UTC",
        "default_status": DefaultScheduleStatus.RUNNING,
    }

    @schedule(
        name="scheduled_sync",
        **at_fixed_times,
        job=load_days,
        description=f"The fact days changed in Postgres, at fixed times ({cron}).",
    )
    def scheduled_sync(context: ScheduleEvaluationContext, postgres: PostgresResource):
        storage = context.instance.run_storage
        cursor = ChangeCursor.from_json(storage.get_cursor_values({SCHEDULE_CURSOR_KEY}).get(SCHEDULE_CURSOR_KEY))
        cursor.counters = {}  # every scheduled pass looks, whatever the write counters say
        plan = plan_sync(postgres, cursor)
        _warn_outside_partitions(plan, context.log)
        storage.set_cursor_values({SCHEDULE_CURSOR_KEY: plan.cursor.to_json()})
        days = [r for r in plan.run_requests if r.job_name == load_days.name]
        return days or SkipReason("no fact rows changed")

    scheduled_dims = ScheduleDefinition(
        name="scheduled_dims",
        **at_fixed_times,
        job=refresh_dims_and_kpis,
        description=f"The incremental dims and the KPI views, at fixed times ({cron}).",
    )
    return [scheduled_sync, scheduled_dims]


sensors = [postgres_changes, rollup_follows_facts]
schedules = _scheduled_sync_defs()
