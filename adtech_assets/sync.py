"""``adtech sync``: one incremental pass, executed as Dagster runs.

1. the dims (incremental, with their checks);
2. every fact day that changed since the last pass (all days with rows the first time), as one
   run per range of consecutive days: facts, then their rollup days, with checks;
3. the reconciliation checks over every materialized day (so drift or tampering in ClickHouse
   shows even when no day changed);
4. the KPI views, only if every check passed.

The change cursor is stored in ClickHouse (``analytics.load_state``) and advanced only after a
successful pass, so a failed pass is retried in full by the next one. Idempotent: a pass with
nothing new reloads nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from dagster import AssetCheckSeverity, AssetSelection, DagsterInstance, ExecuteInProcessResult, materialize

from adtech_assets.assets.facts import FACTS
from adtech_assets.assets.rollups import ROLLUP_KEY
from adtech_assets.change_detection import ChangeCursor
from adtech_assets.definitions import ALL_ASSETS, ALL_CHECKS
from adtech_assets.partitions import day_ranges, partition_range_tags
from adtech_assets.resources import ClickHouseResource, PostgresResource
from adtech_assets.sensors import plan_sync

SYNC_CURSOR = "sync_cursor"
# Step-level logs go to the run's event log (the UI); the console shows progress lines only.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class CheckOutcome:
    asset: str
    check: str
    passed: bool
    metadata: dict
    blocking: bool = True  # False for WARN-severity results: reported, never a reason to stop


@dataclass
class SyncReport:
    days_loaded: list[date] = field(default_factory=list)
    days_outside_partitions: list[date] = field(default_factory=list)
    checks: list[CheckOutcome] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    kpis_refreshed: bool = False

    @property
    def ok(self) -> bool:
        return self.kpis_refreshed and not self.failed_checks and not self.errors

    @property
    def failed_checks(self) -> list[CheckOutcome]:
        """Failed ERROR-severity checks: they stop the KPI refresh and fail the pass."""
        return [c for c in self.checks if not c.passed and c.blocking]

    @property
    def warnings(self) -> list[CheckOutcome]:
        return [c for c in self.checks if not c.passed and not c.blocking]


def _record(report: SyncReport, result: ExecuteInProcessResult) -> None:
    report.run_ids.append(result.run_id)
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        report.errors.append(f"{event.step_key}: {error.message.strip() if error else 'failed'}")
    for evaluation in result.get_asset_check_evaluations():
        report.checks.append(
            CheckOutcome(
                asset=evaluation.asset_key.to_user_string(),
                check=evaluation.check_name,
                passed=evaluation.passed,
                metadata={k: getattr(v, "value", v) for k, v in evaluation.metadata.items()},
                blocking=evaluation.severity == AssetCheckSeverity.ERROR,
            )
        )


def preflight(postgres: PostgresResource, clickhouse: ClickHouseResource) -> None:
    """Fail fast with one clear line (AdtechError) when either database is unusable, before
    any Dagster run starts and buries the reason in step failures."""
    with postgres.connect() as conn:
        conn.execute("SELECT 1 FROM impressions LIMIT 0")
    with clickhouse.session() as ch:
        ch.apply_ddl()


def run_sync(
    instance: DagsterInstance,
    resources: dict,
    say: Callable[[str], None] = lambda _: None,
) -> SyncReport:
    postgres: PostgresResource = resources["postgres"]
    clickhouse: ClickHouseResource = resources["clickhouse"]
    preflight(postgres, clickhouse)
    report = SyncReport()

    def run(selection: AssetSelection, **kwargs) -> ExecuteInProcessResult:
        result = materialize(
            [*ALL_ASSETS, *ALL_CHECKS], selection=selection, instance=instance,
            resources=resources, raise_on_error=False, run_config=QUIET, **kwargs,
        )
        _record(report, result)
        return result

    say("dims: loading changed advertisers and campaigns")
    run(AssetSelection.groups("dims"))

    with clickhouse.session() as ch:
        cursor = ChangeCursor.from_json(ch.scalar("ops/load_state_get", source=SYNC_CURSOR))
    plan = plan_sync(postgres, cursor)
    report.days_loaded, report.days_outside_partitions = plan.changed_days, plan.outside_partitions
    for first, last in day_ranges(report.days_loaded):
        say(f"facts: loading {first} .. {last} ({(last - first).days + 1} day(s))")
        run(AssetSelection.groups("facts", "rollups"), tags=partition_range_tags(first, last))

    say("checks: reconciling every loaded day with Postgres")
    run(AssetSelection.checks_for_assets(*(spec.key for spec in FACTS), ROLLUP_KEY))
    if report.failed_checks or report.errors:
        say("kpis: not refreshed, a check or a step failed")
        return report

    say("kpis: refreshing the five views")
    result = run(AssetSelection.groups("kpis"))
    report.kpis_refreshed = result.success
    if result.success:
        with clickhouse.session() as ch:
            ch.command("ops/load_state_set", source=SYNC_CURSOR, snapshot=plan.cursor.to_json())
    return report
