"""The part of ``adtech sync`` that needs no Dagster: the plan, and the pass itself when the
plan finds nothing to do (importing Dagster is half of such a pass).

Dagster is needed before planning when a source's write counters moved since the latest
observations this Dagster home recorded (they are recorded before any run), and after
planning when there is something to load or a run worker of this host may have died with a
run STARTED (``instance_files``). Otherwise the plan, made by the same ``plan_pass`` as every
pass, is the whole pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from adtech_assets.instance_files import dead_worker_marks, observed_counters
from adtech_assets.planner import PassPlan, plan_pass
from adtech_assets.resources.clickhouse import ClickHouseSession
from adtech_assets.resources.postgres import Postgres
from adtech_assets.state import clickhouse_now
from adtech_assets.sync_report import SyncReport
from adtech_assets.write_counters import Counters, read_counters


@dataclass
class PlannedPass:
    plan: PassPlan
    counters: Counters
    loads_started: datetime  # a day marked pending after this is another pass's


def planned_pass(postgres: Postgres, ch: ClickHouseSession, full: bool, counters: Counters) -> PlannedPass:
    planned = plan_pass(postgres, ch, full=full, counters=counters)
    return PlannedPass(planned, counters, clickhouse_now(ch))


def plan_without_dagster(home: Path, postgres: Postgres, ch: ClickHouseSession, full: bool) -> PlannedPass | None:
    """The pass's plan, when no source observation is due first; None when one is."""
    counters = read_counters(postgres)
    if observed_counters(home) != counters:
        return None
    return planned_pass(postgres, ch, full, counters)


def needs_dagster(planned: PlannedPass, home: Path) -> bool:
    return not planned.plan.idle or bool(dead_worker_marks(home))


def say_repairs(plan: PassPlan, say: Callable[[str], None]) -> None:
    """What the planner repaired itself."""
    if plan.totals_repaired:
        say("agg_campaign_totals differed from the rollup's sums: rebuilt")


def idle_report(plan: PassPlan, say: Callable[[str], None]) -> SyncReport:
    """The report of a pass whose plan found nothing to load."""
    say_repairs(plan, say)
    say("nothing changed: ClickHouse equals Postgres" + (" (fingerprinted)" if plan.fingerprinted else ""))
    return SyncReport(days_outside_partitions=plan.outside_partitions, reasons=plan.reasons, kpis_refreshed=True)
