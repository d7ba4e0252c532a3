"""``adtech sync``: plan without Dagster (``sync.plan``), and only when there is something to
run, import Dagster and run it (``sync.runs``); print what the pass did."""

from __future__ import annotations

import argparse
import sys

from adtech_assets.cli.home import dagster_home, opened_instance
from adtech_assets.cli.output import say
from adtech_assets.cli.sync.plan import (
    idle_report,
    observations_due,
    plan_needs_dagster,
    planning,
)
from adtech_assets.cli.sync.report import SyncReport
from adtech_assets.db.connections import from_environment, preflight
from adtech_assets.engine.change_source import LOG, scans_note
from adtech_assets.engine.planner import PassPlan, frozen_note, outside_note
from adtech_assets.engine.write_counters import read_counters
from adtech_assets.runtime.gc_tuning import freeze_imports
from adtech_assets.settings import partitions_start, retain_before


def print_report(report: SyncReport, plan: PassPlan | None = None) -> int:
    """What the pass did, failed checks and steps on stderr; the exit code (1: not equal).
    ``plan``: its notes (source rows no partition holds, changes found by scans), said once;
    a pass whose changes were found by scans never says ClickHouse equals Postgres unless it
    fingerprinted the whole history."""
    for label, checks in (("CHECK FAILED", report.failed_checks), ("CHECK WARNING", report.warnings)):
        for check in checks:
            counts = {k: v for k, v in check.metadata.items() if k.startswith(
                ("postgres_", "clickhouse_", "rows_", "mismatches", "differences", "error", "change_", "wal_held"))}
            print(f"{label} {check.asset} {check.check}: {counts}", file=sys.stderr)
    for error in report.errors:
        print(f"STEP FAILED {error}", file=sys.stderr)
    for note in plan_notes(plan):
        print(note, file=sys.stderr)
    passed = sum(c.passed for c in report.checks)
    if not report.run_ids and report.ok:
        verified = plan is None or (not plan.frozen and (plan.change_source == LOG or plan.fingerprinted_history))
        say(f"sync: {'ClickHouse equals Postgres; ' if verified else ''}nothing to load (0 Dagster runs)")
    else:
        say(f"sync: {len(report.days_loaded)} day(s) loaded, {passed}/{len(report.checks)} checks passed, "
            f"KPIs {'refreshed' if report.kpis_refreshed else 'NOT refreshed'} ({len(report.run_ids)} Dagster runs)")
    return 0 if report.ok else 1


def plan_notes(plan: PassPlan | None) -> list[str]:
    if plan is None:
        return []
    notes = [outside_note(plan.rows_outside), frozen_note(plan), plan.why_scans and scans_note(plan.why_scans),
             plan.restart and f"note: the whole history was fingerprinted: {plan.restart}"]
    return [note for note in notes if note]


def sync(args: argparse.Namespace) -> int:
    """One pass (``adtech sync``, and the demo's): Dagster is imported only when there is
    something to run, a source observation to record, or a dead run to settle."""
    home = dagster_home()
    partitions_start()  # a bad ADTECH_PARTITIONS_START is refused before any database is opened
    retain_before()
    postgres, clickhouse = from_environment()
    full = getattr(args, "full", False)
    # One ClickHouse session for the pass (run_sync's nests in it). A setting or database that
    # cannot work fails here, before Dagster is loaded; a pass with nothing to do never loads it.
    with clickhouse.session() as ch:
        preflight(postgres, clickhouse)
        counters = read_counters(postgres)
        due = observations_due(home, counters)
        with planning(postgres, ch, full, counters, due) as planned:
            if not due:
                quiet = planned()
                if not plan_needs_dagster(quiet, home):
                    return print_report(idle_report(quiet.plan, say), quiet.plan)
            from adtech_assets.cli.sync.runs import (
                run_sync,  # Dagster is imported while the due reads run
            )
            from adtech_assets.defs.resources import resolved_resources

            freeze_imports()

            with opened_instance(home) as instance:
                say(f"Dagster instance: {home}")
                made = planned()
                report = run_sync(instance, resolved_resources(), say, full=full, trigger=f"adtech {args.command}",
                                  preflighted=True, planned=made)
    return print_report(report, made.plan)
