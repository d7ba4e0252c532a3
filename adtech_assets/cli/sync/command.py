"""``adtech sync``: plan without Dagster (``sync.plan``), and only when there is something to
run, import Dagster and run it (``sync.runs``); print what the pass did."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence

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
from adtech_assets.engine.planner import outside_note
from adtech_assets.engine.write_counters import read_counters
from adtech_assets.runtime.gc_tuning import freeze_imports
from adtech_assets.settings import partitions_start


def print_report(report: SyncReport, rows_outside: Mapping[str, Sequence[int]] | None = None) -> int:
    """What the pass did, failed checks and steps on stderr; the exit code (1: not equal).
    ``rows_outside``: the plan's count of source rows no partition holds, said once."""
    for label, checks in (("CHECK FAILED", report.failed_checks), ("CHECK WARNING", report.warnings)):
        for check in checks:
            counts = {k: v for k, v in check.metadata.items() if k.startswith(
                ("postgres_", "clickhouse_", "rows_", "mismatches", "differences", "error"))}
            print(f"{label} {check.asset} {check.check}: {counts}", file=sys.stderr)
    for error in report.errors:
        print(f"STEP FAILED {error}", file=sys.stderr)
    if note := outside_note(rows_outside or {}):
        print(note, file=sys.stderr)
    passed = sum(c.passed for c in report.checks)
    if not report.run_ids and report.ok:
        say("sync: ClickHouse equals Postgres; nothing to load (0 Dagster runs)")
    else:
        say(f"sync: {len(report.days_loaded)} day(s) loaded, {passed}/{len(report.checks)} checks passed, "
            f"KPIs {'refreshed' if report.kpis_refreshed else 'NOT refreshed'} ({len(report.run_ids)} Dagster runs)")
    return 0 if report.ok else 1


def sync(args: argparse.Namespace) -> int:
    """One pass (``adtech sync``, and the demo's): Dagster is imported only when there is
    something to run, a source observation to record, or a dead run to settle."""
    home = dagster_home()
    partitions_start()  # a bad ADTECH_PARTITIONS_START is refused before any database is opened
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
                    return print_report(idle_report(quiet.plan, say), quiet.plan.rows_outside)
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
    return print_report(report, made.plan.rows_outside)
