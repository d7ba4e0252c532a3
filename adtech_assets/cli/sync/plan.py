"""The part of ``adtech sync`` that needs no Dagster: the plan, the reads of the sources'
observations that are due, and the whole pass when the plan finds nothing to do (importing
Dagster is half of such a pass).

An observation is due for each source whose write counters moved since the observations this
Dagster home last recorded (``runtime.worker_marks``); Dagster records them before any run. Dagster is
needed when one is due, when there is something to load, or when a run worker of this host may
have died with a run STARTED. The due reads (a count is a scan) run in a thread, through the
plan and while a pass that needs Dagster imports it and opens its instance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from adtech_assets.catalog import SOURCE_TABLES
from adtech_assets.cli.sync.report import SyncReport
from adtech_assets.db.clickhouse.client import ClickHouseSession
from adtech_assets.db.postgres.client import Postgres
from adtech_assets.engine.change_source import LOG
from adtech_assets.engine.ledger import clickhouse_now
from adtech_assets.engine.planner import PassPlan, plan_pass
from adtech_assets.engine.source_stats import SourceStats, read_source_stats
from adtech_assets.engine.write_counters import Counters
from adtech_assets.runtime.worker_marks import dead_worker_marks, observed_counters


@dataclass
class PlannedPass:
    plan: PassPlan
    counters: Counters
    loads_started: datetime  # a day marked pending after this is another pass's
    observed: dict[str, SourceStats] = field(default_factory=dict)  # the due observations' reads


def observations_due(home: str | Path | None, counters: Counters) -> list[str]:
    """The sources whose counters moved since the last recorded observations (all of them for
    a home that recorded none)."""
    observed = (observed_counters(home) if home else None) or {}
    return [table for table in SOURCE_TABLES if observed.get(table) != counters.get(table)]


@contextmanager
def planning(postgres: Postgres, ch: ClickHouseSession, full: bool, counters: Counters,
             due: list[str]) -> Iterator[Callable[[], PlannedPass]]:
    """Make the plan while the due reads run in a thread; yields what waits for the reads, so
    that the caller can import Dagster meanwhile. (The plan itself is made here and now: its
    small queries, each waiting for the GIL behind a thread that imports, took longer than the
    imports they would have hidden.)"""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="observe-sources") as background:
        reading = background.submit(read_source_stats, postgres, due) if due else None
        planned = PlannedPass(plan_pass(postgres, ch, full=full, counters=counters), counters, clickhouse_now(ch))

        def result() -> PlannedPass:
            if reading is not None:
                planned.observed = reading.result()
            return planned

        yield result


def plan_needs_dagster(planned: PlannedPass, home: Path) -> bool:
    """Whether a pass with no observation due needs Dagster: something to load, or a run
    worker of this host that is gone (its runs are to be marked failed)."""
    return not planned.plan.idle or bool(dead_worker_marks(home))


def say_repairs(plan: PassPlan, say: Callable[[str], None]) -> None:
    """What the planner repaired itself."""
    if plan.removed_outside:
        days = sorted({day for _, day in plan.removed_outside})
        say(f"removed ClickHouse rows on {len(days)} day(s) outside the partitions (no load writes them), "
            f"first {days[0]}: {', '.join(sorted({table for table, _ in plan.removed_outside}))}")
    if plan.totals_repaired:
        say("agg_campaign_totals differed from the rollup's sums: rebuilt")


def idle_report(plan: PassPlan, say: Callable[[str], None]) -> SyncReport:
    """The report of a pass whose plan found nothing to load."""
    say_repairs(plan, say)
    if plan.frozen:
        say(f"nothing to load: ClickHouse equals Postgres from {plan.frozen_before} on; {len(plan.frozen)} frozen "
            "day(s) before it differ (see the note)")
    elif plan.change_source == LOG:
        say(f"nothing changed: ClickHouse equals Postgres (change log read to {plan.slot.current_lsn if plan.slot else '?'}"
            + (", whole history fingerprinted)" if plan.fingerprinted_history else ")"))
    elif plan.fingerprinted_history:
        say("nothing changed: ClickHouse equals Postgres (whole history fingerprinted)")
    else:
        when = plan.history_fingerprinted_at
        say("nothing new found: ClickHouse's days match their loads and the scans (new ids, write counters) found "
            "no change; whole history last fingerprinted "
            + (f"{when:%Y-%m-%d %H:%M} UTC" if when else "never") + " (`adtech sync --full` does it now)")
    return SyncReport(days_outside_partitions=plan.outside_partitions, reasons=plan.reasons, kpis_refreshed=True)
