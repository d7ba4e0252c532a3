"""The ``adtech`` command: migrate, seed, sync, demo, query, slot and stop.

Problems the user can fix (config, reachability, credentials) print as one line on stderr
and exit 2; a failed check exits 1.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import sys
import time
import warnings
from collections.abc import Sequence

from adtech_assets.cli.output import say
from adtech_assets.errors import AdtechError
from adtech_assets.runtime.gc_tuning import collect_less


def _resources() -> dict:
    """The two databases as the environment configures them, without Dagster (a command that
    runs nothing in Dagster never imports it)."""
    from adtech_assets.db.connections import from_environment

    postgres, clickhouse = from_environment()
    return {"postgres": postgres, "clickhouse": clickhouse}


def cmd_migrate(args: argparse.Namespace) -> int:
    from adtech_assets import settings
    from adtech_assets.cli.home import dagster_home
    from adtech_assets.db.migrations import migrate, migrate_clickhouse

    resources = _resources()
    applied = migrate(resources["postgres"])
    say(f"migrations applied: {', '.join(f'V{m.version}__{m.name}' for m in applied) or 'none (up to date)'}")
    changes = migrate_clickhouse(resources["postgres"], resources["clickhouse"])
    adopted = " (adopted the tables of an earlier release: their data is kept)" if changes.adopted else ""
    say(f"ClickHouse schema applied: {', '.join(changes.labels) or 'none (up to date)'}{adopted}")
    if settings.dagster_home():  # the instance `dg launch` and `dagster` open here: adtech's settings too
        say(f"Dagster instance: {dagster_home()}")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    import psycopg

    from adtech_assets.db.postgres import sample_data as sd
    from adtech_assets.db.postgres.client import privilege_error

    pg = _resources()["postgres"]
    window = sd.SeedWindow.last_days(args.days)
    # the window, as the rows get it: --days back from now, so N days touch N + 1 UTC dates
    spread = (f"spread over the last {args.days} day(s), {window.start:%Y-%m-%d %H:%M} .. "
              f"{window.end:%Y-%m-%d %H:%M} UTC ({(window.end.date() - window.start.date()).days + 1} "
              "dates; --days N sets it)")
    seed = args.seed
    started = time.monotonic()
    try:
        if args.verb == "batch" and args.if_empty and any(n for t, n, *_ in sd.stats(pg) if t == "impressions"):
            say("the source already holds impressions: nothing seeded (--if-empty)")
        elif args.verb == "batch":
            say(f"seeding {args.advertisers} advertisers, {args.campaigns} campaigns, "
                f"{args.impressions} impressions {spread} ...")
            counts = sd.seed_batch(pg, advertisers=args.advertisers, campaigns=args.campaigns,
                                   impressions=args.impressions, ctr=args.ctr, window=window, seed=seed)
            say(f"inserted {counts} in {time.monotonic() - started:.1f} s")
        elif args.verb in ("advertisers", "campaigns", "impressions"):
            count = args.count or getattr(args, args.verb)
            inserted = getattr(sd, f"seed_{args.verb}")(pg, count, window, seed)
            say(f"inserted {inserted} {args.verb} {spread} in {time.monotonic() - started:.1f} s")
        elif args.verb == "clicks":
            inserted = sd.seed_clicks(pg, args.ctr, window, after_id=args.after_id, seed=seed)
            say(f"inserted {inserted} clicks in {time.monotonic() - started:.1f} s")
        elif args.verb == "stats":
            for table, rows, first, last in sd.stats(pg):
                print(f"{table:<12} {rows:>12,}  {first or '-'}  ..  {last or '-'}")
        elif args.verb == "reset":
            sd.reset(pg)
            say("emptied advertiser, campaign, impressions and clicks")
    except psycopg.errors.InsufficientPrivilege as exc:  # e.g. the pipeline's read-only role
        raise privilege_error(pg, exc, f"adtech seed {args.verb}", "writes the source tables") from None
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from adtech_assets.cli.sync.command import sync

    return sync(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from adtech_assets.cli.demo import print_kpis, where_things_live
    from adtech_assets.cli.home import dagster_home
    from adtech_assets.db.postgres import sample_data as sd

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
    from adtech_assets.cli.query import print_table, read_query, write_csv

    frame = read_query(_resources()["clickhouse"], args.sql)
    if args.format == "csv":
        write_csv(frame)
    else:
        print_table(frame)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    """Stops the embedded server. A process that kept sessions on it (the UI's code server, its
    daemon, a run) starts it again at its next use: the user is told, not refused."""
    from adtech_assets.db.postgres.embedded import (
        other_sessions,
        stop_embedded_postgres,
    )
    from adtech_assets.settings import PG_URL, data_dir, pg_url

    folder = data_dir()
    sessions = other_sessions(folder)
    if stop_embedded_postgres(folder):
        say(f"stopped the embedded Postgres in {folder / 'postgres'} (its data stays; the next adtech "
            "command, or the UI at its next use, starts it again)")
        if sessions:
            whose = "another process was" if sessions == 1 else "other processes were"
            say(f"{sessions} session{'s' if sessions > 1 else ''} of {whose} open (a running UI, daemon or "
                "run): such a process starts it again at its next use; stop it first (Ctrl-C on `dg dev`) "
                "to keep Postgres stopped")
    else:
        say(f"no embedded Postgres is running in {folder / 'postgres'}: nothing to stop")
    if pg_url():
        say(f"{PG_URL} is set: adtech uses that server and never starts or stops it")
    return 0


def cmd_slot(args: argparse.Namespace) -> int:
    from adtech_assets.cli.slot import cmd_slot as slot

    return slot(args)


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
        p.add_argument("--days", type=int, default=30,
                       help="spread rows over the last N days, from N days back to now: N + 1 UTC dates "
                            "(31 with the default 30)")
        p.add_argument("--seed", type=float, default=None, help="random seed in [-1, 1] for repeatable data")

    seed = sub.add_parser("seed", help="generate sample data in Postgres (set-based)")
    seed.add_argument("verb", choices=["batch", "advertisers", "campaigns", "impressions", "clicks", "stats", "reset"])
    seed.add_argument("--count", type=int, default=None,
                      help="rows for advertisers/campaigns/impressions, spread over --days (by default the "
                           "last 30 days: 31 UTC dates)")
    seed.add_argument("--after-id", type=int, default=0, help="clicks: only for impressions with id above this")
    seed.add_argument("--if-empty", action="store_true", help="batch: only when the source has no impressions yet")
    sample_options(seed, impressions=100_000)
    seed.set_defaults(func=cmd_seed)

    demo = sub.add_parser("demo", help="migrate, seed if empty, sync and print the KPIs (embedded engines)")
    sample_options(demo, impressions=1_000_000)
    demo.set_defaults(func=cmd_demo)

    query = sub.add_parser("query", help="run one read-only SQL statement on ClickHouse (answered by a run holding the embedded engine)")
    query.add_argument("sql", help='e.g. "SELECT * FROM analytics.mv_campaign_ctr ORDER BY ctr DESC LIMIT 5"')
    query.add_argument("--format", choices=["table", "csv"], default="table",
                       help="table (default): aligned columns and a row count; csv: a header line, then rows")
    query.set_defaults(func=cmd_query)

    slot = sub.add_parser("slot", help="show the change log's replication slot on the source (WAL it holds), or drop it")
    slot.add_argument("--drop", action="store_true",
                      help="drop the slot (a pipeline stopped for good must, or the source keeps WAL for it)")
    slot.set_defaults(func=cmd_slot)

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
