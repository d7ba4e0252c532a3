"""Sensors and schedules that keep ClickHouse equal to Postgres by themselves.

``postgres_changes`` (running by default, every ``ADTECH_SYNC_INTERVAL_SECONDS``, 5 s): the
planner's pass (``engine.planner``), as run requests: the dims when they differ, and every pending fact
day not already in a queued or running run, one run per range of consecutive days (those that
differ and their rollup days, with their checks; ``PassPlan.load_ranges``). An idle tick reads only the Postgres write counters; at least
every ``ADTECH_VERIFY_INTERVAL_SECONDS`` (120 s) it also looks for drift in ClickHouse, and
fingerprints Postgres when updates or deletes moved the counters (at most that often). The
cursor store is ClickHouse's, shared with ``adtech sync``; the sensor's own cursor only keeps
the counters and times of its last looks, to tell an idle tick. Source tables whose write
counters moved are observed (row count, newest change, data version) with the tick's result,
at most every ``OBSERVE_SOURCES_SECONDS`` (60 s); an idle tick observes nothing.

``rollup_follows_facts``: when fact days are materialized without their rollup days (a fact-only
backfill from the UI, a hand-launched day), requests those rollup days, whatever their age.

``kpis_follow_rollup``: when rollup days were rebuilt after the views' last refresh and no day
load is in flight, requests ``refresh_kpis``, so the views' row counts and previews in the UI
follow the data.

``scheduled_sync`` and ``scheduled_dims`` (only when ``ADTECH_SYNC_CRON`` is set): the same pass
at fixed times.

``reconcile_with_postgres`` (``ADTECH_RECONCILE_CRON``, default hourly at :17): the same pass
again, fingerprinting Postgres whatever the counters say.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import date

from dagster import (
    AssetRecordsFilter,
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    schedule,
    sensor,
)

from adtech_assets.db.clickhouse.schema import ensure_schema
from adtech_assets.defs.assets.sources import source_observations
from adtech_assets.defs.jobs import (
    DayRun,
    day_runs,
    load_days,
    refresh_dims_and_kpis,
    refresh_kpis,
)
from adtech_assets.defs.jobs import sync as sync_job
from adtech_assets.defs.keys import (
    DAYS_TAG,
    FACT_KEYS,
    KPI_KEYS,
    ROLLUP_KEY,
    TRIGGER_TAG,
)
from adtech_assets.defs.resources import ClickHouseResource, PostgresResource
from adtech_assets.engine.change_source import scans_note, unread_changes
from adtech_assets.engine.days import day_ranges, days_between
from adtech_assets.engine.planner import PassPlan, frozen_note, outside_note, plan_pass
from adtech_assets.engine.write_counters import Counters, read_counters
from adtech_assets.errors import AdtechError
from adtech_assets.runtime.run_liveness import fail_dead_runs
from adtech_assets.settings import (
    reconcile_cron,
    reconcile_lookback_days,
    sync_cron,
    sync_interval_seconds,
    verify_interval_seconds,
)

# What the three sensors share: on by default, every ADTECH_SYNC_INTERVAL_SECONDS. The daemon
# looks at its sensors every 5 s and skips one whose minimum interval has not quite passed: with
# the minimum equal to the interval, jitter made it skip every other look (a tick every ~10 s).
EVERY_SYNC_INTERVAL = {
    "minimum_interval_seconds": max(1, sync_interval_seconds() - 1),
    "default_status": DefaultSensorStatus.RUNNING,
}
# A tick waits this long for the embedded engine, then leaves the look to the next tick.
SENSOR_LOCK_SECONDS = 5
# An idle tick peeks at the change log; a peek re-decodes the server's WAL from the oldest
# transaction open when the slot last moved, so while one costs more than this, idle ticks whose
# counters did not move peek at most every PEEK_BACKOFF_SECONDS (README: Change capture).
PEEK_BUDGET_SECONDS = 0.1
PEEK_BACKOFF_SECONDS = 30
# The sensor observes the source tables whose write counters moved (row count, newest change) at
# most this often: counting a table of millions of rows is a scan, and an idle tick does none.
OBSERVE_SOURCES_SECONDS = 60
# One view stands for the five: refresh_kpis materializes them together.
KPI_KEY = KPI_KEYS[0]
IN_FLIGHT = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
             DagsterRunStatus.STARTED]


def day_run_request(run: DayRun, reason: str | None = None) -> RunRequest:
    """One run of ``load_days`` for the run's days: a single partition, or a single-run range;
    tagged with why (``adtech/trigger``) and which days (``adtech/days``)."""
    tags = {TRIGGER_TAG: (reason or run.reason)[:200], DAYS_TAG: run.tags[DAYS_TAG]}
    if run.first == run.last:
        return RunRequest(job_name=load_days.name, asset_selection=run.assets, partition_key=run.first.isoformat(),
                          tags=tags)
    return RunRequest(job_name=load_days.name, asset_selection=run.assets, tags={**tags, **run.tags})


def day_requests(requests: list[RunRequest]) -> list[RunRequest]:
    """A schedule's ``load_days`` requests, each with a run key (a schedule that returns several
    must key them; the key is scoped to the tick): its days (``adtech/days``) and assets."""
    return [
        request.with_replaced_attrs(run_key=":".join(
            [request.tags[DAYS_TAG], *(key.to_user_string() for key in request.asset_selection or [])]))
        for request in requests if request.job_name == load_days.name
    ]


def _run_days(tags: dict[str, str]) -> set[date]:
    if "dagster/partition" in tags:
        return {date.fromisoformat(tags["dagster/partition"])}
    if "dagster/asset_partition_range_start" in tags:
        return set(days_between(date.fromisoformat(tags["dagster/asset_partition_range_start"]),
                                date.fromisoformat(tags["dagster/asset_partition_range_end"])))
    return set()


def _in_flight(instance: DagsterInstance) -> tuple[list, set[date]]:
    runs = instance.get_runs(RunsFilter(statuses=IN_FLIGHT))
    return runs, set().union(*(_run_days(run.tags) for run in runs))


def run_requests(plan: PassPlan, in_flight: list, busy_days: set[date]) -> list[RunRequest]:
    """The plan's runs, less what the queued or running runs ``in_flight`` already cover (they
    may still fail: their days stay pending and a later tick requests them again)."""
    requests = []
    if plan.dims_changed and not any(run.job_name in (refresh_dims_and_kpis.name, sync_job.name) for run in in_flight):
        requests.append(RunRequest(job_name=refresh_dims_and_kpis.name,
                                   tags={TRIGGER_TAG: f"differ from Postgres: {', '.join(plan.dims_changed)}"}))
    requests += [day_run_request(run) for run in day_runs(plan, [d for d in plan.days if d not in busy_days])]
    return requests


def _warn_outside_partitions(plan: PassPlan, log) -> None:
    """The notes `adtech sync` prints, in the tick's log: the source rows no partition holds
    now, and changes found by scans rather than the change log."""
    for note in (outside_note(plan.rows_outside), frozen_note(plan), plan.why_scans and scans_note(plan.why_scans), plan.restart):
        if note:
            log.warning(note.removeprefix("note: "))


@dataclass
class SensorMemo:
    """The sensor's own cursor: what it saw at its last looks, to tell an idle tick."""

    counters: Counters = field(default_factory=dict)
    looked_at: float = 0.0
    fingerprinted_at: float = 0.0
    fingerprint_owed: bool = False
    observed_counters: Counters = field(default_factory=dict)  # at the last look at the sources' observations
    observed_at: float = 0.0  # when the sensor last recorded an observation
    peeked_at: float = 0.0  # when an idle tick last peeked at the change log
    peek_seconds: float = 0.0  # what that peek took

    @classmethod
    def from_json(cls, text: str | None) -> "SensorMemo":
        try:
            return cls(**json.loads(text)) if text else cls()
        except (TypeError, ValueError):  # a cursor of an older release
            return cls()

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def automated_pass(
    instance: DagsterInstance, postgres: PostgresResource, clickhouse: ClickHouseResource, log, **options
) -> tuple[PassPlan, list[RunRequest]]:
    """One planner pass as run requests: what the sensor and every schedule do."""
    fail_dead_runs(instance)
    in_flight, busy_days = _in_flight(instance)
    with clickhouse.session(lock_timeout_seconds=SENSOR_LOCK_SECONDS) as ch:
        ensure_schema(ch)
        plan = plan_pass(postgres, ch, busy_days=busy_days, **options)
    _warn_outside_partitions(plan, log)
    return plan, run_requests(plan, in_flight, busy_days)


def _log_has_news(postgres: PostgresResource, memo: SensorMemo, now: float) -> bool:
    """Whether the change log holds an unread change (one peek), unless the last peek was
    expensive (a long transaction on the server) and was made less than the backoff ago."""
    if memo.peek_seconds > PEEK_BUDGET_SECONDS and now - memo.peeked_at < PEEK_BACKOFF_SECONDS:
        return False
    started = time.monotonic()
    news = unread_changes(postgres)
    memo.peeked_at, memo.peek_seconds = now, time.monotonic() - started
    return news


@sensor(
    name="postgres_changes",
    **EVERY_SYNC_INTERVAL,
    jobs=[load_days, refresh_dims_and_kpis],
    description="Requests the dims and the fact days that differ from Postgres (new rows, updates, deletes, drift).",
)
def postgres_changes(context: SensorEvaluationContext, postgres: PostgresResource, clickhouse: ClickHouseResource):
    memo = SensorMemo.from_json(context.cursor)
    now = time.time()
    try:
        counters = read_counters(postgres)
        verify = now - memo.looked_at >= verify_interval_seconds()
        observe = counters != memo.observed_counters and now - memo.observed_at >= OBSERVE_SOURCES_SECONDS
        backing_off = memo.peek_seconds > PEEK_BUDGET_SECONDS  # as the last peek left it
        # the counters are statistics, late by up to a second or more: the change log is not
        changed = counters != memo.counters or _log_has_news(postgres, memo, now)
        if not changed and not verify and not observe:
            if backing_off or memo.peek_seconds > PEEK_BUDGET_SECONDS:  # entered, kept or left: saved
                return SensorResult(skip_reason="no source rows changed", cursor=memo.to_json())
            return SkipReason("no source rows changed")  # a cheap peek: the cursor stays as it was
        observations = source_observations(context.instance, postgres, counters) if observe else []
        if observe:
            memo.observed_counters = counters
            memo.observed_at = now if observations else memo.observed_at
        if not changed and not verify:  # only the sources' observation was owed
            return SensorResult(skip_reason="no source rows changed", cursor=memo.to_json(), asset_events=observations)
        fingerprint_allowed = now - memo.fingerprinted_at >= verify_interval_seconds()
        plan, requests = automated_pass(context.instance, postgres, clickhouse, context.log,
                                        fingerprint_allowed=fingerprint_allowed, counters=counters)
    except AdtechError as exc:
        return SkipReason(str(exc))
    memo = SensorMemo(
        counters=counters,
        # a look owed to the rate limit is not a look: the next tick past the limit makes it
        looked_at=memo.looked_at if plan.fingerprint_owed else now,
        fingerprinted_at=now if plan.fingerprinted else memo.fingerprinted_at,
        fingerprint_owed=plan.fingerprint_owed,
        observed_counters=memo.observed_counters,
        observed_at=memo.observed_at,
        peeked_at=memo.peeked_at,
        peek_seconds=memo.peek_seconds,
    )
    if not requests:
        return SensorResult(skip_reason="ClickHouse equals Postgres", cursor=memo.to_json(), asset_events=observations)
    return SensorResult(run_requests=requests, cursor=memo.to_json(), asset_events=observations)


@sensor(
    name="rollup_follows_facts",
    **EVERY_SYNC_INTERVAL,
    jobs=[load_days],
    description="Requests rollup days whose fact days were materialized after them (backfills, hand runs).",
)
def rollup_follows_facts(context: SensorEvaluationContext):
    after = int(context.cursor or 0)
    stale: set[str] = set()
    newest, hold = after, None
    for fact_key in FACT_KEYS.values():
        records = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=fact_key, after_storage_id=after), limit=1000, ascending=True
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
    requests = [day_run_request(DayRun(first, last, [ROLLUP_KEY], "facts newer than rollup"))
                for first, last in day_ranges(days)]
    cursor = newest if hold is None else min(newest, hold)
    return SensorResult(run_requests=requests, cursor=str(cursor))


@sensor(
    name="kpis_follow_rollup",
    **EVERY_SYNC_INTERVAL,
    jobs=[refresh_kpis],
    description="Refreshes the KPI views' metadata (row counts, previews) once rollup days were rebuilt after it.",
)
def kpis_follow_rollup(context: SensorEvaluationContext):
    """The views are plain views, always current; what goes stale is what the UI shows of them
    (row count, preview), recorded when they are materialized. After rollup days are rebuilt by a
    run that did not refresh the views (the sensor's day loads, a backfill), and once no day load
    is in flight, request ``refresh_kpis`` (again after a failed one). A few indexed reads of the
    instance per tick."""
    rollup = context.instance.fetch_materializations(AssetRecordsFilter(asset_key=ROLLUP_KEY), limit=1).records
    view = context.instance.fetch_materializations(AssetRecordsFilter(asset_key=KPI_KEY), limit=1).records
    if not rollup or (view and view[0].storage_id > rollup[0].storage_id):
        return SkipReason("the views were refreshed after the rollup's last rebuild")
    in_flight = {run.job_name for run in context.instance.get_runs(RunsFilter(statuses=IN_FLIGHT))}
    if in_flight & {load_days.name, refresh_kpis.name, refresh_dims_and_kpis.name, sync_job.name}:
        return SkipReason("day loads or a refresh in flight: the views are refreshed after them")
    return RunRequest(job_name=refresh_kpis.name, tags={TRIGGER_TAG: "rollup days rebuilt"})


def _scheduled_sync_defs() -> list:
    """With ``ADTECH_SYNC_CRON``: the sensor's pass at fixed times, as two schedules (a schedule
    targets one job): the pending fact days, and the dims with the views."""
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
        description=f"The fact days that differ from Postgres, at fixed times ({cron}).",
    )
    def scheduled_sync(context: ScheduleEvaluationContext, postgres: PostgresResource, clickhouse: ClickHouseResource):
        _, requests = automated_pass(context.instance, postgres, clickhouse, context.log)
        return day_requests(requests) or SkipReason("no fact day differs from Postgres")

    scheduled_dims = ScheduleDefinition(
        name="scheduled_dims",
        **at_fixed_times,
        job=refresh_dims_and_kpis,
        description=f"The dims and the KPI views, at fixed times ({cron}).",
    )
    return [scheduled_sync, scheduled_dims]


@schedule(
    name="reconcile_with_postgres",
    job=load_days,
    cron_schedule=reconcile_cron(),
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Fingerprint Postgres day by day; reload the days that differ from ClickHouse.",
)
def reconcile_schedule(context: ScheduleEvaluationContext, postgres: PostgresResource, clickhouse: ClickHouseResource):
    """The reconciliation sweep: the pass with Postgres fingerprinted whatever the write counters
    say. The counters gate the sensor's fingerprints and can miss what the statistics collector
    never saw (counters off, a reset between two looks, a change applied below SQL); the sweep
    fingerprints every day of the history (or the last ``ADTECH_RECONCILE_LOOKBACK_DAYS``, a cost
    knob) and requests the days that differ through the same asset runs as the sensor."""
    _, requests = automated_pass(context.instance, postgres, clickhouse, context.log,
                                 full=True, lookback_days=reconcile_lookback_days())
    return day_requests(requests) or SkipReason("every day equals Postgres")


sensors = [postgres_changes, rollup_follows_facts, kpis_follow_rollup]
schedules = [*_scheduled_sync_defs(), reconcile_schedule]
