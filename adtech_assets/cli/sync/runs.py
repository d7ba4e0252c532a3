"""The Dagster half of ``adtech sync``: the pass that leaves ClickHouse equal to Postgres, as runs.

1. runs of processes that died are marked failed (``runtime.run_liveness``);
2. the planner finds what differs (drift in ClickHouse, new rows, and, when the write counters
   say so, updates and deletes) and marks it pending in ClickHouse (``engine.planner``); the source
   tables whose write counters moved since their last recorded observation are read meanwhile,
   in a thread (row count, newest change), and recorded in the instance as runless observations
   before any run (``sync.plan``, which the CLI runs before it has loaded Dagster);
3. one run of the ``sync`` job per range of consecutive pending days (a day joins its
   neighbours' run when the tables it adds or lacks cost little to reload: ``PassPlan.load_ranges``):
   the facts that differ, then their rollup days, with the blocking checks judging those
   days on their data; the first run also loads the dims that differ (no day pending: one run of
   the dims), the last also refreshes the KPI views unless an earlier run failed (a failed
   blocking check stops them within the run). A run costs about a second of Dagster's own work,
   so the usual pass is one run.

Runs execute in this process against the given instance, tagged with what launched them
(``adtech/trigger``) and, for day loads, which days (``adtech/days`` and Dagster's partition
range tags), so the UI lists them under their job with those tags.

Nothing changed: no Dagster run at all (and from the CLI, no Dagster: ``sync.plan``). The pass
fails (exit 1) when a check fails, a step fails, or a day is still pending afterwards, and says
which.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from dagster import (
    AssetCheckSeverity,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
)

from adtech_assets.catalog import DAILY_TABLES, DIMENSION_SOURCES
from adtech_assets.cli.sync.plan import (
    PlannedPass,
    idle_report,
    observations_due,
    planning,
    say_repairs,
)
from adtech_assets.cli.sync.report import CheckOutcome, SyncReport
from adtech_assets.db.connections import preflight
from adtech_assets.defs.assets.sources import change_metadata, source_observation
from adtech_assets.defs.jobs import day_runs
from adtech_assets.defs.jobs import sync as sync_job
from adtech_assets.defs.keys import DIM_KEYS, KPI_KEYS, TRIGGER_TAG
from adtech_assets.defs.location import build_definitions
from adtech_assets.defs.resources import ClickHouseResource, PostgresResource
from adtech_assets.defs.step_failures import adtech_error_of
from adtech_assets.engine.ledger import pending_days
from adtech_assets.engine.write_counters import read_counters
from adtech_assets.errors import AdtechError
from adtech_assets.runtime.run_liveness import (
    fail_dead_runs,
    instance_home,
    worker_tags,
)
from adtech_assets.runtime.worker_marks import record_observed_counters

# Step-level logs go to the run's event log (the UI); the console shows adtech's lines only: a
# failure is the AdtechError's one line, or the summary's STEP FAILED / CHECK FAILED lines,
# not Dagster's log of it with its stack (that stays in the run's log in the UI).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}



def _record(report: SyncReport, result: ExecuteInProcessResult, instance: DagsterInstance) -> None:
    """The run's step failures and check results into the report. A check that was planned but
    never evaluated (it errored, or its asset's step failed) counts as failed. A step that
    failed on a problem the user must fix (an AdtechError: config, schema, data) ends the pass
    with that one line; one that could not reach a database after its retries (a
    TransientError) fails the pass like any failed step."""
    report.run_ids.append(result.run_id)
    failures = {}
    for event in result.get_step_failure_events():
        user = event.step_failure_data.user_failure_data
        failures[event.step_key] = failure_text(event.step_failure_data)
        report.errors.append(f"{event.step_key}: {failures[event.step_key]}")
        if adtech_error_of(event.step_failure_data) == AdtechError.__name__ and user.description:
            raise AdtechError(user.description)
    evaluations = result.get_asset_check_evaluations()
    evaluated = {(e.asset_key, e.check_name) for e in evaluations}
    planned_events = instance.get_records_for_run(
        result.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED, limit=1000).records
    for event in (record.event_log_entry.dagster_event for record in planned_events):
        planned = event.event_specific_data
        if (planned.asset_key, planned.check_name) not in evaluated:
            reason = failures.get(event.step_key) or "not evaluated: a step it depends on failed"
            report.checks.append(CheckOutcome(planned.asset_key.to_user_string(), planned.check_name,
                                              passed=False, metadata={"error": reason}))
    for evaluation in evaluations:
        report.checks.append(
            CheckOutcome(
                asset=evaluation.asset_key.to_user_string(),
                check=evaluation.check_name,
                passed=evaluation.passed,
                metadata={k: getattr(v, "value", v) for k, v in evaluation.metadata.items()},
                blocking=evaluation.severity == AssetCheckSeverity.ERROR,
            )
        )


def failure_text(failure) -> str:
    """What a step failure says in one line: the AdtechError's line, else Dagster's wrapper and
    the first line of the error under it ("Exceeded max_retries of 2" alone names no cause)."""
    user, error = failure.user_failure_data, failure.error
    if user and user.description:
        return user.description
    if error is None:
        return "failed"
    head = error.message.strip().splitlines()[0] if error.message.strip() else error.cls_name or "failed"
    if error.cause is None or not error.cause.message.strip():
        return head
    if error.cls_name and error.cls_name.startswith("Dagster"):  # "dagster._core.errors.X: Error occurred ..."
        head = head.split(f"{error.cls_name}: ", 1)[-1]
    return f"{head.rstrip(':')}: {error.cause.message.strip().splitlines()[0]}"


def run_sync(
    instance: DagsterInstance,
    resources: dict,
    say: Callable[[str], None] = lambda _: None,
    full: bool = False,
    trigger: str = "adtech sync",
    preflighted: bool = False,
    planned: PlannedPass | None = None,
) -> SyncReport:
    """One pass; ``trigger`` is what the runs' ``adtech/trigger`` tag says launched them;
    ``preflighted``: the caller has just run ``preflight`` on these resources (the CLI does,
    before it loads the code location), so it is not run again; ``planned``: the caller has
    planned the pass and read the due observations (``sync.plan``), so it does neither again.

    One ClickHouse session spans the pass: the embedded engine is opened once (each open has a
    cost) and its lock is held from the plan to the last run, so no other process changes
    ClickHouse between the two."""
    with resources["clickhouse"].session():
        return _sync_pass(instance, resources, say, full, trigger, preflighted, planned)


def _sync_pass(instance: DagsterInstance, resources: dict, say: Callable[[str], None], full: bool,
               trigger: str, preflighted: bool, planned: PlannedPass | None) -> SyncReport:
    postgres: PostgresResource = resources["postgres"]
    clickhouse: ClickHouseResource = resources["clickhouse"]
    if not preflighted:
        preflight(postgres, clickhouse)
    report = SyncReport()
    report.dead_runs = fail_dead_runs(instance)
    for run_id in report.dead_runs:
        say(f"run {run_id} was left STARTED by a process that is gone: marked failed")

    definitions: list[Definitions] = []  # built on the first run: an idle pass needs none

    def run(job_name: str, tags: dict[str, str] | None = None, assets: list[AssetKey] | None = None
            ) -> ExecuteInProcessResult:
        """One run of the named job (of only ``assets`` among its assets, with their checks)."""
        if not definitions:
            definitions.append(build_definitions(resources))
        result = definitions[0].resolve_job_def(job_name).execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET, asset_selection=assets,
            tags={TRIGGER_TAG: trigger, **(tags or {}), **worker_tags()},
        )
        _record(report, result, instance)
        return result

    if planned is None:
        counters = read_counters(postgres)
        due = observations_due(instance_home(instance), counters)
        with clickhouse.session() as ch, planning(postgres, ch, full, counters, due) as made:
            planned = made()
    # the sources whose write counters moved: row count, newest change, before any run
    change = change_metadata(planned.plan.slot, planned.plan.why_scans)
    for table, stats in planned.observed.items():
        instance.report_runless_asset_event(source_observation(
            table, stats, planned.counters.get(table), None if table in DIMENSION_SOURCES else change))
    report.sources_observed = list(planned.observed)
    if planned.observed and (home := instance_home(instance)):
        record_observed_counters(home, planned.counters)
    plan = planned.plan
    if plan.idle:
        return replace(idle_report(plan, say), dead_runs=report.dead_runs, sources_observed=report.sources_observed)
    say_repairs(plan, say)
    report.days_loaded, report.days_outside_partitions = plan.days, plan.outside_partitions
    report.reasons = plan.reasons

    if plan.dims_changed:
        say(f"dims: {', '.join(plan.dims_changed)} differ from Postgres")
    runs: list = day_runs(plan) or [None]  # no day differs: one run of the dims and the views
    for position, day_run in enumerate(runs):
        assets = [DIM_KEYS[table] for table in plan.dims_changed] if position == 0 else []
        tags = {}
        if day_run is not None:
            days = (day_run.last - day_run.first).days + 1
            say(f"facts: loading {day_run.first} .. {day_run.last} ({days} day{'s' if days > 1 else ''}, "
                f"{', '.join(k.path[-1] for k in day_run.assets)}): "
                # why, each kind once for the whole range (the tables are named above): a day's
                # "clicks 2026-11-06: 9 rows not loaded yet" reads "rows not loaded yet"
                + ("; ".join(dict.fromkeys(
                    " ".join(word for word in plan.reasons[day].split(": ", 1)[-1].split(" (")[0].split()
                             if not word[0].isdigit())
                    for day in plan.days if day_run.first <= day <= day_run.last)) or day_run.reason))
            assets, tags = assets + day_run.assets, day_run.tags
        last_run = position == len(runs) - 1
        if last_run and not (report.failed_checks or report.errors):
            say("kpis: refreshing the five views")
            assets = assets + KPI_KEYS
        result = run(sync_job.name, tags, assets)
        if last_run:
            materialized = {event.asset_key for event in result.get_asset_materialization_events()}
            report.kpis_refreshed = set(KPI_KEYS) <= materialized
    if not report.kpis_refreshed:
        say("kpis: not refreshed, a check or a step failed")
        return report

    with clickhouse.session() as ch:
        left = sorted(d for d, p in pending_days(ch, DAILY_TABLES).items()
                      if d in set(plan.days) and p.since <= planned.loads_started)
    if left:
        report.errors.append(f"{len(left)} day(s) still differ after their reload, first {left[0]}: "
                             "see the runs' check results")
    return report
