"""The ``adtech`` command: migrate, seed, sync, demo, query and stop.

Problems the user can fix (config, reachability, credentials) print as one line on stderr
and exit 2; a failed check exits 1.
"""

from __future__ import annotations

import argparse
import atexit
import fcntl
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

from adtech_assets.collector import collect_less, freeze_imports
from adtech_assets.errors import AdtechError

DAGSTER_HOME = "DAGSTER_HOME"
def instance_yaml(home: Path) -> str:
    """What adtech writes into a dagster.yaml it creates (or finds empty): no telemetry (Dagster
    would otherwise print its notice and welcome banner in the first command of every new home);
    the daemon's run queue looks every second instead of every 5 (a sensor's run starts sooner:
    part of the freshness of the KPIs); the SQLite event log that stores a backfill's asset
    events as one batch, in the folder Dagster's own would use (a path, as Dagster's settings
    name folders: a home moved elsewhere gets a new dagster.yaml by removing the old one)."""
    events = json.dumps(str(Path(home).resolve() / "history" / "runs"))  # a quoted YAML scalar
    return f"""\
# Dagster instance settings (https://docs.dagster.io/deployment/oss/dagster-yaml)
telemetry:
  enabled: false
run_queue:
  dequeue_interval_seconds: 1
# Dagster's SQLite event log, storing a backfill's asset events in one transaction
# (adtech_assets/event_log_storage.py); runs and schedules in Dagster's default storage.
event_log_storage:
  module: adtech_assets.event_log_storage
  class: BatchingSqliteEventLogStorage
  config:
    base_dir: {events}
"""


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _resources() -> dict:
    """The two databases as the environment configures them, without Dagster (a command that
    runs nothing in Dagster never imports it)."""
    from adtech_assets.resources import from_environment

    postgres, clickhouse = from_environment()
    return {"postgres": postgres, "clickhouse": clickhouse}


def dagster_home() -> Path:
    """``$DAGSTER_HOME``, or ``<data dir>/dagster`` so that runs keep their history anyway.
    A ``dagster.yaml`` there is kept as it is; a missing or empty one gets ``instance_yaml``."""
    from adtech_assets.settings import DATA_DIR, data_dir

    home = Path(os.environ.get(DAGSTER_HOME) or data_dir() / "dagster").resolve()
    try:
        home.mkdir(parents=True, exist_ok=True)
        settings = home / "dagster.yaml"
        if not settings.exists() or not settings.read_text().strip():
            settings.write_text(instance_yaml(home))
        (home / ".adtech-instance.lock").touch(exist_ok=True)
    except OSError as exc:  # PermissionError, NotADirectoryError (a file on the way), read-only, full
        setting = (f"set {DAGSTER_HOME} to a writable folder" if os.environ.get(DAGSTER_HOME) else
                   f"set {DATA_DIR} (or {DAGSTER_HOME}) to a writable folder")
        raise AdtechError(f"the Dagster home {home} is not writable ({exc.strerror}): {setting}") from None
    os.environ[DAGSTER_HOME] = str(home)
    return home


@contextmanager
def _opened_instance(home: Path):
    """The Dagster instance of ``home``. Its SQLite storage creates its tables on first use, and
    two processes doing that at once fail: the first use is serialized on a lock file."""
    from dagster import DagsterInstance

    with open(home / ".adtech-instance.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        instance = DagsterInstance.get()
        try:
            instance.get_runs(limit=1)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    with instance:
        yield instance


def cmd_migrate(args: argparse.Namespace) -> int:
    from adtech_assets.migrations import migrate, migrate_clickhouse

    resources = _resources()
    applied = migrate(resources["postgres"])
    say(f"migrations applied: {', '.join(f'V{m.version}__{m.name}' for m in applied) or 'none (up to date)'}")
    changes = migrate_clickhouse(resources["postgres"], resources["clickhouse"])
    adopted = " (adopted the tables of an earlier release: their data is kept)" if changes.adopted else ""
    say(f"ClickHouse schema applied: {', '.join(changes.labels) or 'none (up to date)'}{adopted}")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from adtech_assets import sample_data as sd

    pg = _resources()["postgres"]
    window = sd.SeedWindow.last_days(args.days)
    seed = args.seed
    started = time.monotonic()
    if args.verb == "batch" and args.if_empty and any(n for t, n, *_ in sd.stats(pg) if t == "impressions"):
        say("the source already holds impressions: nothing seeded (--if-empty)")
    elif args.verb == "batch":
        say(f"seeding {args.advertisers} advertisers, {args.campaigns} campaigns, "
            f"{args.impressions} impressions over {args.days} day(s) ...")
        counts = sd.seed_batch(pg, advertisers=args.advertisers, campaigns=args.campaigns,
                               impressions=args.impressions, ctr=args.ctr, window=window, seed=seed)
        say(f"inserted {counts} in {time.monotonic() - started:.1f} s")
    elif args.verb in ("advertisers", "campaigns", "impressions"):
        count = args.count or getattr(args, args.verb)
        inserted = getattr(sd, f"seed_{args.verb}")(pg, count, window, seed)
        say(f"inserted {inserted} {args.verb} in {time.monotonic() - started:.1f} s")
    elif args.verb == "clicks":
        inserted = sd.seed_clicks(pg, args.ctr, window, after_id=args.after_id, seed=seed)
        say(f"inserted {inserted} clicks in {time.monotonic() - started:.1f} s")
    elif args.verb == "stats":
        for table, rows, first, last in sd.stats(pg):
            print(f"{table:<12} {rows:>12,}  {first or '-'}  ..  {last or '-'}")
    elif args.verb == "reset":
        sd.reset(pg)
        say("emptied advertiser, campaign, impressions and clicks")
    return 0


def _report_sync(report) -> int:
    for label, checks in (("CHECK FAILED", report.failed_checks), ("CHECK WARNING", report.warnings)):
        for check in checks:
            counts = {k: v for k, v in check.metadata.items() if k.startswith(
                ("postgres_", "clickhouse_", "rows_", "mismatches", "differences", "error"))}
            print(f"{label} {check.asset} {check.check}: {counts}", file=sys.stderr)
    for error in report.errors:
        print(f"STEP FAILED {error}", file=sys.stderr)
    if report.days_outside_partitions:
        print(f"note: {len(report.days_outside_partitions)} pending day(s) fall outside the partitions "
              f"(ADTECH_PARTITIONS_START / future): they load once the partitions hold them; "
              f"see check no_rows_outside_partitions", file=sys.stderr)
    passed = sum(c.passed for c in report.checks)
    if not report.run_ids and report.ok:
        say("sync: ClickHouse equals Postgres; nothing to load (0 Dagster runs)")
    else:
        say(f"sync: {len(report.days_loaded)} day(s) loaded, {passed}/{len(report.checks)} checks passed, "
            f"KPIs {'refreshed' if report.kpis_refreshed else 'NOT refreshed'} ({len(report.run_ids)} Dagster runs)")
    return 0 if report.ok else 1


def cmd_sync(args: argparse.Namespace) -> int:
    from adtech_assets.pass_plan import idle_report, observations_due, plan_needs_dagster, planning
    from adtech_assets.resources import from_environment, preflight
    from adtech_assets.settings import partitions_start
    from adtech_assets.write_counters import read_counters

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
                    return _report_sync(idle_report(quiet.plan, say))
            from adtech_assets.resources import resolved_resources
            from adtech_assets.sync import run_sync  # Dagster is imported while the due reads run

            freeze_imports()

            with _opened_instance(home) as instance:
                say(f"Dagster instance: {home}")
                report = run_sync(instance, resolved_resources(), say, full=full, trigger=f"adtech {args.command}",
                                  preflighted=True, planned=planned())
    return _report_sync(report)


def cmd_demo(args: argparse.Namespace) -> int:
    from adtech_assets import sample_data as sd
    from adtech_assets.demo import print_kpis, where_things_live

    resources = _resources()
    say("migrating the source database")
    cmd_migrate(args)
    if not any(rows for table, rows, *_ in sd.stats(resources["postgres"]) if table == "impressions"):
        say(f"seeding a sample: {args.impressions:,} impressions over {args.days} days (takes a moment)")
        counts = sd.seed_batch(resources["postgres"], advertisers=args.advertisers, campaigns=args.campaigns,
                               impressions=args.impressions, ctr=args.ctr,
                               window=sd.SeedWindow.last_days(args.days), seed=args.seed)
        say(f"seeded {counts}")
    code = cmd_sync(args)
    print_kpis(resources["clickhouse"])
    where_things_live(resources, str(dagster_home()))
    return code


def cmd_query(args: argparse.Namespace) -> int:
    from adtech_assets.query import print_table, read_query, write_csv

    frame = read_query(_resources()["clickhouse"], args.sql)
    if args.format == "csv":
        write_csv(frame)
    else:
        print_table(frame)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from adtech_assets.resources.embedded_postgres import stop_embedded_postgres
    from adtech_assets.settings import PG_URL, data_dir

    folder = data_dir()
    if stop_embedded_postgres(folder):
        say(f"stopped the embedded Postgres in {folder / 'postgres'} (its data stays; the next adtech "
            "command or the UI starts it again)")
    else:
        say(f"no embedded Postgres is running in {folder / 'postgres'}: nothing to stop")
    if os.environ.get(PG_URL):
        say(f"{PG_URL} is set: adtech uses that server and never starts or stops it")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adtech", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply the Postgres migrations and the ClickHouse schema (idempotent)").set_defaults(func=cmd_migrate)
    sync = sub.add_parser("sync", help="one pass that makes ClickHouse equal Postgres: dims, changed days, rollups, checks, views")
    sync.add_argument("--full", action="store_true",
                      help="fingerprint every day in Postgres, whatever its write counters say")
    sync.set_defaults(func=cmd_sync)

    def sample_options(p: argparse.ArgumentParser, impressions: int) -> None:
        p.add_argument("--advertisers", type=int, default=20, help="advertisers per batch")
        p.add_argument("--campaigns", type=int, default=200, help="campaigns per batch")
        p.add_argument("--impressions", type=int, default=impressions, help="impressions per batch")
        p.add_argument("--ctr", type=float, default=0.05, help="mean click-through rate, 0..1")
        p.add_argument("--days", type=int, default=30, help="spread rows over the last N days")
        p.add_argument("--seed", type=float, default=None, help="random seed in [-1, 1] for repeatable data")

    seed = sub.add_parser("seed", help="generate sample data in Postgres (set-based)")
    seed.add_argument("verb", choices=["batch", "advertisers", "campaigns", "impressions", "clicks", "stats", "reset"])
    seed.add_argument("--count", type=int, default=None, help="rows for advertisers/campaigns/impressions")
    seed.add_argument("--after-id", type=int, default=0, help="clicks: only for impressions with id above this")
    seed.add_argument("--if-empty", action="store_true", help="batch: only when the source has no impressions yet")
    sample_options(seed, impressions=100_000)
    seed.set_defaults(func=cmd_seed)

    demo = sub.add_parser("demo", help="migrate, seed if empty, sync and print the KPIs (embedded engines)")
    sample_options(demo, impressions=1_000_000)
    demo.set_defaults(func=cmd_demo)

    query = sub.add_parser("query", help="run one read-only SQL statement on ClickHouse (waits its turn on the embedded engine)")
    query.add_argument("sql", help='e.g. "SELECT * FROM analytics.mv_campaign_ctr ORDER BY ctr DESC LIMIT 5"')
    query.add_argument("--format", choices=["table", "csv"], default="table",
                       help="table (default): aligned columns and a row count; csv: a header line, then rows")
    query.set_defaults(func=cmd_query)

    sub.add_parser("stop", help="stop the embedded Postgres under the data directory, if it runs").set_defaults(func=cmd_stop)
    return parser


def _validate(args: argparse.Namespace) -> None:
    if not 0 <= getattr(args, "ctr", 0) <= 1:
        raise AdtechError(f"--ctr {args.ctr} is not a rate: give a number between 0 and 1")
    if getattr(args, "seed", None) is not None and not -1 <= args.seed <= 1:
        raise AdtechError(f"--seed {args.seed} is out of range: give a number between -1 and 1")
    for name in ("days", "advertisers", "campaigns", "impressions", "count"):
        value = getattr(args, name, None)
        if value is not None and value < (1 if name == "days" else 0):
            raise AdtechError(f"--{name} {value} must be positive")


def main(argv: Sequence[str] | None = None) -> int:
    warnings.filterwarnings("ignore")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    # the driver logs a warning before raising what we turn into one clear line
    logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)
    args = build_parser().parse_args(argv)
    try:
        _validate(args)
        return args.func(args)
    except AdtechError as exc:
        print(f"adtech: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def run() -> None:
    """The ``adtech`` command. Once a command has returned, every database, file and run it used
    is closed; the interpreter's own teardown of the modules it loaded (Dagster's thousands)
    would add about a second to every command, so the process ends here instead, after the
    exit handlers and the standard streams, as a normal exit would run them."""
    collect_less()
    code = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # a reader that went away (`adtech query ... | head`)
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
