"""Change capture (issue 22, "What it must show"): what a change costs and how soon the views
show it, whole commands as the user runs them, beside their floors, in one run; not a test.

    uv run python benchmarks/change_capture.py [--impressions 10000000] [--database NAME]

Seeds ``NAME`` (default ``adtech_bench_<impressions>``) on the local Postgres with
``load_benchmark.ensure_data`` when it holds fewer impressions, then, on a fresh embedded
ClickHouse and Dagster home under a temporary directory, one first ``uv run adtech sync`` (the
change log path: ``ADTECH_CHANGE_SOURCE`` unset, i.e. auto, on a server with
``wal_level=logical``; refused otherwise), repeated while a transaction open on the server keeps
the slot from being created (those passes use scans), and measures:

  1. ``dg dev`` running (webserver + daemon, the postgres_changes sensor): one UPDATE moving
     ``created_at`` of a random row 20 days old by one day, then one DELETE of such a row, 10
     tries each at a random moment of the sensor's interval: seconds from the COMMIT until
     ``analytics.mv_daily_performance`` equals Postgres (counted directly) on the days it touched
  4. same, 1,000 impressions inserted now (one INSERT): until today's impressions are right
     (then ``dg dev`` is stopped: every other figure is one ``uv run adtech sync``)
  5. the no-op ``adtech sync``, median of 5 (after one that settles), beside
     ``uv run python -c pass`` and the same no-op with ``ADTECH_CHANGE_SOURCE=scan`` (its own
     ClickHouse and Dagster home, first-synced after dg dev stops), the two paths in turns
  2. the Postgres CPU of one pass after one UPDATE of an old row (3 tries): utime + stime from
     /proc/<pid>/stat of the server processes that served this database (its backends, sampled
     every 10 ms while the command runs; their parallel workers included; autovacuum, the
     server's upkeep after the writes, not), beside the same for a psql COPY of the days the
     pass reloads (its floor) and for a no-op pass. The brief's whole-server sum (every process
     named postgres, with the postmaster's cutime/cstime for the backends that exited) is
     printed too: on a shared server it counts other databases' work
  3. 10,000 random old rows moved +1 hour (one UPDATE): one ``adtech sync``, its time, and the
     days its "facts: loading ..." lines reloaded against the days the UPDATE touched
  6. the WAL the slot holds (``pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)``) after
     1,000,000 inserts with the pipeline stopped, and after one ``adtech sync``, beside the WAL
     the inserts wrote (the whole server's WAL: other databases' writes count too), and after
     the next pass 16 s later (the restart point moves only to a running-transactions record,
     which the server logs every 15 s; an open transaction anywhere on the server holds it)
  7. ``adtech sync`` after 100,000 inserts, the change log against the scans, 3 rounds, the
     order alternating, medians side by side

and prints a table of every figure with its target and PASS/FAIL. At the end it drops the slot
(``uv run adtech slot --drop``): its ClickHouse is gone, and a slot nobody reads keeps WAL. The
database is kept for the next run (each run adds ~1.3M impressions; it is not re-seeded).
Takes ~20 minutes at 1M impressions on 2 busy cores, most of it the 30 dg dev tries. Each
stage prints the slot's WAL and the oldest open transaction on the server: with one open, each
read of the slot decodes the server's WAL since it began, which the figures then include.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import psycopg

# The benchmark's settings are its own (the defaults, as a user has them); the caller's would
# make this process (the sensor interval it reads) and the commands disagree.
for _name in [n for n in os.environ if n.startswith("ADTECH_")]:
    del os.environ[_name]

from dg_dev import start_dagster_dev, stop  # noqa: E402
from freshness import breakdown, wait_until_idle  # noqa: E402
from load_benchmark import add_impressions, ensure_data, ensure_database  # noqa: E402

from adtech_assets.cli.home import instance_yaml  # noqa: E402
from adtech_assets.db.postgres.change_log import default_slot_name  # noqa: E402
from adtech_assets.defs.resources import ClickHouseResource  # noqa: E402
from adtech_assets.settings import sync_interval_seconds  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
UV = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
SYNC = [UV, "run", "adtech", "sync"]
TICK = os.sysconf("SC_CLK_TCK")
DAY = timedelta(days=1)
VIEW_DAYS = ("SELECT event_date, impressions FROM analytics.mv_daily_performance "
             "WHERE event_date BETWEEN {first:Date} AND {last:Date}")


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


# ---------------------------------------------------------------- whole commands
@dataclass
class Done:
    seconds: float
    code: int
    output: str

    def days_loaded(self) -> list[date]:
        """The days of its "facts: loading A .. B (N days, ...)" lines."""
        days = []
        for first, last in re.findall(r"facts: loading (\d{4}-\d\d-\d\d) \.\. (\d{4}-\d\d-\d\d)", self.output):
            day, last = date.fromisoformat(first), date.fromisoformat(last)
            while day <= last:
                days.append(day)
                day += DAY
        return days

    def summary(self) -> str:
        lines = self.output.splitlines()
        last = [line for line in lines if "sync:" in line or "FAILED" in line]
        said = [line.strip() for line in lines if line.startswith(("CHECK", "STEP"))]
        return (f"{self.seconds:.2f} s, exit {self.code}: {last[-1].strip() if last else self.output.strip()[-300:]}"
                + "".join(f"\n    {line[:400]}" for line in said))


def run(argv: list[str], env: dict[str, str], timeout: float = 7200) -> Done:
    """One command as the user runs it, timed around subprocess.run."""
    started = time.monotonic()
    out = subprocess.run(argv, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    return Done(time.monotonic() - started, out.returncode, out.stdout + out.stderr)


def sync(env: dict[str, str], label: str) -> Done:
    done = run(SYNC, env)
    print(f"  {label}: {done.summary()}", flush=True)
    if done.code:
        print("    " + done.output.strip()[-3000:].replace("\n", "\n    "), flush=True)
    return done


def uses_scans(done: Done) -> bool:
    return "changes are found by scans" in done.output


def first_syncs(env: dict[str, str], tries: int = 60, wait: float = 20) -> Done:
    """The first ``adtech sync``, then more until one reads the change log: the slot is created
    once no transaction runs on the server, and while one does a pass uses scans and the next
    tries again (older releases: exit 2). Returns the first; exits when none read the log."""
    first = done = sync(env, "first adtech sync")
    for _ in range(tries):
        if done.code not in (0, 2) or not (uses_scans(done) or "did not end within" in done.output):
            break
        time.sleep(wait)
        done = sync(env, "again, until a pass reads the change log")
    if done.code or uses_scans(done):
        sys.exit("the first syncs failed or did not use the change log: nothing to measure")
    return first


def pipeline_env(pg_url: str, tmp: Path, name: str, change_source: str | None = None) -> dict[str, str]:
    """The environment of one pipeline: its own embedded ClickHouse, data dir and Dagster home
    (with the dagster.yaml adtech writes), on ``pg_url``."""
    home = tmp / f"dagster-{name}"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(home))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "DAGSTER_HOME")}
    env.update({"ADTECH_PG_URL": pg_url, "ADTECH_CLICKHOUSE_URL": f"chdb://{tmp / f'clickhouse-{name}'}",
                "ADTECH_DATA_DIR": str(tmp / f"data-{name}"), "DAGSTER_HOME": str(home)})
    if change_source:
        env["ADTECH_CHANGE_SOURCE"] = change_source
    return env


# ---------------------------------------------------------------- Postgres CPU from /proc
def _stat(pid: str) -> tuple[str, int, int, int] | None:
    """(comm, ppid, utime + stime, cutime + cstime) in clock ticks; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    comm, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
    return comm, int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def server_cpu_seconds() -> float:
    """The brief's figure: every process named postgres, utime + stime, plus the cutime + cstime
    of each (the postmaster's holds the backends that exited and were reaped)."""
    total = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit() and (stat := _stat(pid)) and stat[0] == "postgres":
            total += stat[2] + stat[3]
    return total / TICK


class DatabaseCpu:
    """CPU of the server processes serving ``database`` that start after ``start()``: backends
    (their title names the database) and their parallel workers, sampled every ``interval``
    seconds; a process that exits counts with its last sample (so up to ``interval`` of its
    CPU is missed). Other databases' work on a shared server is not counted."""

    def __init__(self, database: str, interval: float = 0.01) -> None:
        self.database, self.interval = database, interval
        self.cpu: dict[str, int] = {}  # ours: the last sample
        self.seen: set[str] = set()
        self.other: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> "DatabaseCpu":
        self.seen = {pid for pid in os.listdir("/proc") if pid.isdigit()}  # what runs already is not ours
        self._thread.start()
        return self

    def _classify(self, pid: str) -> bool | None:
        """Ours, not ours, or None while its title is not set yet (the postmaster's after fork)."""
        title = _cmdline(pid)
        if not title.startswith("postgres: "):
            return None
        if "autovacuum" in title:  # the server's upkeep after the writes, not the pass's reads
            return False
        worker = re.search(r"parallel worker for PID (\d+)", title)
        return self.database in title.split()[1:5] or bool(worker and worker.group(1) in self.cpu)

    def _sample(self) -> None:
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or pid in self.other or (pid in self.seen and pid not in self.cpu):
                continue
            if pid not in self.cpu:
                stat = _stat(pid)
                if stat is None or stat[0] != "postgres":
                    self.seen.add(pid)
                    continue
                ours = self._classify(pid)
                if ours is None:
                    continue
                if not ours:
                    self.other.add(pid)
                    continue
            if (stat := _stat(pid)) is not None:
                self.cpu[pid] = stat[2]

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def stop(self, settle: float = 5) -> float:
        """Once our processes are gone (or ``settle`` seconds passed): their CPU, seconds."""
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in self.cpu):
            time.sleep(self.interval)
        self._stop.set()
        self._thread.join()
        return sum(self.cpu.values()) / TICK


@dataclass
class PgCpu:
    ours: float  # this database's server processes
    server: float  # the whole server (the brief's sum)
    done: Done


def measured_cpu(database: str, argv: list[str], env: dict[str, str]) -> PgCpu:
    before = server_cpu_seconds()
    sampler = DatabaseCpu(database).start()
    done = run(argv, env)
    ours = sampler.stop()
    return PgCpu(ours, server_cpu_seconds() - before, done)


# ---------------------------------------------------------------- Postgres side of a change
def counts_in_postgres(pg_url: str, days: list[date]) -> dict[date, int]:
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT created_at::date, count(*) FROM impressions "
                            "WHERE created_at >= %s AND created_at < %s GROUP BY 1",
                            (midnight(min(days)), midnight(max(days) + DAY))).fetchall()
    found = dict(rows)
    return {day: found.get(day, 0) for day in days}


def counts_in_view(ch_url: str, days: list[date]) -> dict[date, int]:
    # opened and closed on every poll: one process at a time holds the embedded engine
    with ClickHouseResource(url=ch_url, lock_timeout_seconds=600).session() as ch:
        rows = ch.client.query(VIEW_DAYS, parameters={"first": min(days), "last": max(days)}).result_rows
    found = {day: int(n) for day, n in rows}
    return {day: found.get(day, 0) for day in days}


def old_row(pg_url: str, day: date) -> tuple[int, date]:
    """A random impression of ``day`` (the first at or after a random moment of it)."""
    with psycopg.connect(pg_url) as conn:
        for _ in range(20):
            moment = midnight(day) + timedelta(seconds=random.uniform(0, 20 * 3600))
            row = conn.execute("SELECT id, created_at::date FROM impressions WHERE created_at >= %s "
                               "ORDER BY created_at LIMIT 1", (moment,)).fetchone()
            if row and row[1] == day:
                return row
    raise SystemExit(f"no impression found on {day}")


def old_day(pg_url: str) -> date:
    """The day 20 days back, or the middle of the data when it holds none (seeded long ago)."""
    wanted = utc_today() - timedelta(days=20)
    with psycopg.connect(pg_url) as conn:
        if conn.execute("SELECT 1 FROM impressions WHERE created_at >= %s AND created_at < %s LIMIT 1",
                        (midnight(wanted), midnight(wanted + 2 * DAY))).fetchone():
            return wanted
        first, last = conn.execute("SELECT min(created_at)::date, max(created_at)::date FROM impressions "
                                   "WHERE created_at < %s", (midnight(utc_today()),)).fetchone()
    return first + (last - first) // 2


@dataclass
class Change:
    """A change to make: the days it touches and what it does to their impressions."""

    days: list[date]
    delta: dict[date, int]
    statement: str
    params: tuple = ()

    def commit(self, pg_url: str) -> float:
        """Run it in its own transaction; the monotonic time right after its COMMIT."""
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(self.statement, self.params)
            return time.monotonic()


def update_old_row(pg_url: str, day: date) -> Change:
    row_id, _ = old_row(pg_url, day)
    return Change([day, day + DAY], {day: -1, day + DAY: 1},
                  "UPDATE impressions SET created_at = created_at + interval '1 day' WHERE id = %s", (row_id,))


def delete_old_row(pg_url: str, day: date) -> Change:
    row_id, _ = old_row(pg_url, day)
    return Change([day], {day: -1}, "DELETE FROM impressions WHERE id = %s", (row_id,))


def insert_now(pg_url: str, rows: int = 1000) -> Change:
    """``rows`` impressions created now (UTC), one INSERT, over the first 100 campaigns."""
    today = utc_today()
    return Change([today], {today: rows},
                  "INSERT INTO impressions (campaign_id, created_at) "
                  "SELECT c.id, now() AT TIME ZONE 'utc' FROM (SELECT id FROM campaign ORDER BY id LIMIT 100) AS c "
                  "CROSS JOIN generate_series(1, %s)", (rows // 100,))


# ---------------------------------------------------------------- 1. and 4.: with dg dev
def until_right(ch_url: str, committed: float, expected: dict[date, int], timeout: float,
                poll: float) -> float | None:
    """Seconds from ``committed`` until the view shows ``expected``; None at the timeout."""
    days = sorted(expected)
    while time.monotonic() - committed < timeout:
        if counts_in_view(ch_url, days) == expected:
            return time.monotonic() - committed
        time.sleep(poll)
    return None


def freshness_series(label: str, make, args, url: str, ch_url: str) -> list[float]:
    """``args.tries`` times, at a random moment of the sensor's interval: the change ``make()``
    returns is committed, then the seconds until the view equals Postgres on its days (counted
    in Postgres before the change, plus the change; nothing else writes). A timeout counts as
    ``args.timeout``."""
    seconds = []
    for attempt in range(1, args.tries + 1):
        change = make()
        before = counts_in_postgres(args.pg_url, change.days)
        if counts_in_view(ch_url, change.days) != before:
            print(f"  note: before {label} {attempt}, the view differed from Postgres on {change.days}", flush=True)
        expected = {day: n + change.delta.get(day, 0) for day, n in before.items()}
        time.sleep(random.uniform(0, sync_interval_seconds()))
        committed = change.commit(args.pg_url)
        wall = time.time() - (time.monotonic() - committed)
        took = until_right(ch_url, committed, expected, args.timeout, args.poll)
        seconds.append(took if took is not None else args.timeout)
        wait_until_idle(url, quiet_seconds=5, timeout=600)
        print(f"  {label} {attempt}: " + (f"right after {took:.1f} s" if took is not None else
                                           f"NOT right within {args.timeout:.0f} s")
              + f" ({', '.join(map(str, change.days))}; {breakdown(url, wall)})", flush=True)
    print(f"  {label}: median {statistics.median(seconds):.1f} s, max {max(seconds):.1f} s", flush=True)
    return seconds


# ---------------------------------------------------------------- 3.: many updates
def update_spread(pg_url: str, rows: int) -> tuple[int, set[date]]:
    """``rows`` random impressions created before today moved +1 hour, one UPDATE; returns the
    rows moved and the days they left or entered. The rows are drawn uniformly among the old
    ones: random ids, kept when they exist and are old, until there are enough."""
    today = midnight(utc_today())
    with psycopg.connect(pg_url, autocommit=True) as conn:
        low, high = conn.execute("SELECT min(id), max(id) FROM impressions").fetchone()
        picked: set[int] = set()
        for _ in range(20):
            candidates = random.sample(range(low, high + 1), min(high - low + 1, 3 * rows))
            picked |= {i for (i,) in conn.execute("SELECT id FROM impressions WHERE id = ANY(%s) AND created_at < %s",
                                                   (candidates, today))}
            if len(picked) >= rows:
                break
        moved = conn.execute(
            "UPDATE impressions SET created_at = created_at + interval '1 hour' WHERE id = ANY(%s) "
            "RETURNING (created_at - interval '1 hour')::date, created_at::date",
            (random.sample(sorted(picked), min(rows, len(picked))),)).fetchall()
    return len(moved), {day for pair in moved for day in pair}


def copy_floor(pg_url: str, database: str, days: list[date]) -> PgCpu:
    """psql's binary COPY of the impressions of ``days`` to /dev/null: what reading them costs."""
    ranges, days = [], sorted(set(days))
    for day in days:
        if ranges and ranges[-1][1] == day:
            ranges[-1][1] = day + DAY
        else:
            ranges.append([day, day + DAY])
    where = " OR ".join(f"(created_at >= '{a}' AND created_at < '{b}')" for a, b in ranges)
    query = f"COPY (SELECT id, campaign_id, created_at FROM impressions WHERE {where}) TO STDOUT (FORMAT binary)"
    return measured_cpu(database, ["sh", "-c", 'psql "$1" -qc "$2" > /dev/null', "psql", pg_url, query],
                        dict(os.environ))


# ---------------------------------------------------------------- 6.: the slot's WAL
def slot_wal(pg_url: str, slot: str) -> tuple[int | None, str]:
    """(WAL the slot holds, bytes; the server's current position)."""
    with psycopg.connect(pg_url) as conn:
        held = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint "
                            "FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
        lsn = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
    return (held[0] if held else None), lsn


def server_state(pg_url: str, slot: str) -> str:
    """The WAL the slot holds and the oldest transaction open on the server: while one is open
    (in any database), the slot's restart point stays before it, and each read of the slot
    decodes the server's WAL from there."""
    held, _ = slot_wal(pg_url, slot)
    with psycopg.connect(pg_url) as conn:
        oldest = conn.execute(
            "SELECT datname, extract(epoch FROM now() - xact_start)::int FROM pg_stat_activity "
            "WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() ORDER BY xact_start LIMIT 1").fetchone()
    return (f"slot holds {mib(held)}; oldest transaction with an xid on the server: "
            + (f"{oldest[1]} s open, database {oldest[0]}" if oldest else "none"))


def wal_between(pg_url: str, a: str, b: str) -> int:
    with psycopg.connect(pg_url) as conn:
        return conn.execute("SELECT pg_wal_lsn_diff(%s::pg_lsn, %s::pg_lsn)::bigint", (b, a)).fetchone()[0]


def mib(n: int | None) -> str:
    return "no slot" if n is None else f"{n / 2**20:,.1f} MiB"


# ---------------------------------------------------------------- the figures
@dataclass
class Table:
    rows: list[tuple[str, str, str, bool | None]] = field(default_factory=list)

    def add(self, label: str, measured: str, target: str = "", ok: bool | None = None) -> None:
        self.rows.append((label, measured, target, ok))

    def print(self) -> None:
        width = max(len(r[0]) for r in self.rows)
        value = max(len(r[1]) for r in self.rows)
        for label, measured, target, ok in self.rows:
            verdict = "" if ok is None else ("PASS" if ok else "FAIL")
            print(f"{label:<{width}}  {measured:<{value}}  {target:<24} {verdict}".rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impressions", type=int, default=10_000_000)
    parser.add_argument("--database", help="default: adtech_bench_<impressions>")
    parser.add_argument("--tries", type=int, default=10, help="of each change with dg dev running")
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for one change to show")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between two reads of the view")
    args = parser.parse_args()
    database = args.database or f"adtech_bench_{args.impressions}"
    args.pg_url = f"postgresql://postgres@127.0.0.1:5432/{database}"
    started = time.monotonic()

    ensure_database(args.pg_url)
    with psycopg.connect(args.pg_url) as conn:
        wal_level = conn.execute("SHOW wal_level").fetchone()[0]
    if wal_level != "logical":
        sys.exit(f"wal_level is {wal_level}: the change log needs logical (ALTER SYSTEM SET wal_level = logical; "
                 "restart Postgres)")
    ensure_data(args.pg_url, args.impressions)
    with psycopg.connect(args.pg_url) as conn:
        rows, first, last = conn.execute(
            "SELECT count(*), min(created_at)::date, max(created_at)::date FROM impressions").fetchone()
    print(f"{database}: {rows:,} impressions, {first} .. {last}; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    slot = default_slot_name(database)

    with tempfile.TemporaryDirectory(prefix="adtech-change-capture-") as tmp:
        tmp = Path(tmp)
        log_env = pipeline_env(args.pg_url, tmp, "log")
        ch_url = log_env["ADTECH_CLICKHOUSE_URL"]
        try:
            print("first sync (change log):", flush=True)
            first_sync = first_syncs(log_env)
            day = old_day(args.pg_url)

            # 1. and 4.: dg dev running
            log = tmp / "dg-dev.log"
            process, url = start_dagster_dev(log_env, log)
            print(f"dg dev at {url} (sensor interval {sync_interval_seconds()} s); old rows from {day}:", flush=True)
            try:
                wait_until_idle(url, quiet_seconds=2 * sync_interval_seconds() + 5, timeout=900)
                updates = freshness_series("UPDATE of an old row", lambda: update_old_row(args.pg_url, day),
                                           args, url, ch_url)
                deletes = freshness_series("DELETE of an old row", lambda: delete_old_row(args.pg_url, day),
                                           args, url, ch_url)
                inserts = freshness_series("1,000 inserted", lambda: insert_now(args.pg_url), args, url, ch_url)
            except BaseException:
                print(f"dg dev's log, the end:\n{log.read_text()[-3000:]}", flush=True)
                raise
            finally:
                stop(process, grace=15)

            # the scan path's pipeline, for 5. and 7.
            print("ADTECH_CHANGE_SOURCE=scan, its own ClickHouse and Dagster home:", flush=True)
            scan_env = pipeline_env(args.pg_url, tmp, "scan", change_source="scan")
            scan_first = sync(scan_env, "first adtech sync, scans")

            # 5. the no-op pass, both paths in turns (timed without the CPU sampler: it shares the cores)
            print(f"no-op adtech sync (dg dev stopped; {server_state(args.pg_url, slot)}):", flush=True)
            sync(log_env, "change log: settling sync")
            sync(scan_env, "scans: settling sync")
            noops, scan_noops = [], []
            for _ in range(5):
                noops.append(sync(log_env, "change log: no-op"))
                scan_noops.append(sync(scan_env, "scans: no-op"))
            floor = statistics.median(run([UV, "run", "python", "-c", "pass"], log_env).seconds for _ in range(5))
            noop_cpu = []
            for _ in range(3):
                state = server_state(args.pg_url, slot)
                noop_cpu.append(measured_cpu(database, SYNC, log_env))
                print(f"  no-op, Postgres CPU {noop_cpu[-1].ours:.3f} s in {noop_cpu[-1].done.seconds:.2f} s ({state})",
                      flush=True)

            # 2. Postgres CPU of the pass after one UPDATE of an old row
            print(f"Postgres CPU of a pass after one UPDATE of an old row ({database}'s server processes):",
                  flush=True)
            passes, floors = [], []
            for _ in range(3):
                change = update_old_row(args.pg_url, day)
                change.commit(args.pg_url)
                state = server_state(args.pg_url, slot)
                cpu = measured_cpu(database, SYNC, log_env)
                reloaded = cpu.done.days_loaded()
                copy = copy_floor(args.pg_url, database, reloaded or change.days)
                passes.append(cpu)
                floors.append(copy)
                print(f"  {cpu.done.summary()}; reloaded {', '.join(map(str, reloaded))}; Postgres CPU "
                      f"{cpu.ours:.3f} s (whole server {cpu.server:.2f} s); psql COPY of those days "
                      f"{copy.ours:.3f} s ({copy.done.seconds:.2f} s); before the pass: {state}", flush=True)

            # 3. 10,000 updates over the history
            print("10,000 updates spread over the history, one UPDATE, then one adtech sync:", flush=True)
            moved, touched = update_spread(args.pg_url, 10_000)
            spread = sync(log_env, f"after {moved:,} rows moved +1 hour on {len(touched)} days")
            reloaded = set(spread.days_loaded())
            spread_floor = copy_floor(args.pg_url, database, sorted(reloaded or touched))
            print(f"  reloaded {len(reloaded)} days; the UPDATE touched {len(touched)}; psql COPY of those days "
                  f"{spread_floor.done.seconds:.2f} s", flush=True)

            # 6. the slot's WAL with the pipeline stopped
            print("WAL held by the slot (pipeline stopped):", flush=True)
            held_before, lsn0 = slot_wal(args.pg_url, slot)
            add_impressions(args.pg_url, 1_000_000)
            held_stopped, lsn1 = slot_wal(args.pg_url, slot)
            written = wal_between(args.pg_url, lsn0, lsn1)
            after_million = sync(log_env, "adtech sync after 1,000,000 inserts")
            held_after, _ = slot_wal(args.pg_url, slot)
            # the slot's restart point moves only to a running-transactions record the server logs
            # every 15 s, from before which the pass's read began: the next pass may release more
            time.sleep(16)
            sync(log_env, "the next adtech sync, 16 s later")
            held_next, _ = slot_wal(args.pg_url, slot)
            print(f"  held before {mib(held_before)}, after the inserts {mib(held_stopped)} (the server wrote "
                  f"{mib(written)} of WAL meanwhile), after one pass {mib(held_after)}, after the next "
                  f"{mib(held_next)}", flush=True)

            # 7. inserts by the change log vs scans
            print("100,000 inserts: change log vs ADTECH_CHANGE_SOURCE=scan (its own ClickHouse; "
                  f"{server_state(args.pg_url, slot)}):", flush=True)
            sync(scan_env, "scans: settling sync")
            sync(log_env, "change log: settling sync")
            by_path: dict[str, list[Done]] = {"change log": [], "scans": []}
            for attempt in range(3):
                add_impressions(args.pg_url, 100_000)
                order = [("change log", log_env), ("scans", scan_env)]
                for name, env in order if attempt % 2 == 0 else order[::-1]:
                    by_path[name].append(sync(env, f"{name}: after 100,000 inserts"))
        finally:
            dropped = run([UV, "run", "adtech", "slot", "--drop"], log_env)
            print(f"adtech slot --drop: {dropped.output.strip()[-300:]}", flush=True)

    # the table, in the brief's order
    table, n = Table(), args.tries
    for label, series in (("UPDATE of an old row", updates), ("DELETE of an old row", deletes)):
        table.add(f"{label} -> views right, dg dev, {n} tries",
                  f"median {statistics.median(series):.1f} s, max {max(series):.1f} s",
                  "median <= 10 s, max <= 20 s", statistics.median(series) <= 10 and max(series) <= 20)
    ours = statistics.median(c.ours for c in passes)
    table.add("Postgres CPU of the pass after one UPDATE, median of 3",
              f"{ours:.3f} s (max {max(c.ours for c in passes):.3f} s)", "<= 0.5 s", ours <= 0.5)
    table.add("  floor: psql COPY of the days it reloaded", f"{statistics.median(c.ours for c in floors):.3f} s")
    table.add("  a no-op pass, median of 3", f"{statistics.median(c.ours for c in noop_cpu):.3f} s")
    table.add("  the brief's whole-server sum for the pass (other databases' work too)",
              f"{statistics.median(c.server for c in passes):.2f} s")
    table.add(f"10,000 updates over {len(touched)} days: adtech sync", f"{spread.seconds:.2f} s (exit {spread.code})",
              "exit 0", not spread.code)
    table.add("  days reloaded / days the UPDATE touched", f"{len(reloaded)} / {len(touched)}", "the same days",
              reloaded == touched)
    table.add("  floor: psql COPY of those days", f"{spread_floor.done.seconds:.2f} s")
    table.add(f"1,000 inserted -> views right, dg dev, {n} tries",
              f"median {statistics.median(inserts):.1f} s, max {max(inserts):.1f} s", "median <= 5 s, max <= 10 s",
              statistics.median(inserts) <= 5 and max(inserts) <= 10)
    noop = statistics.median(d.seconds for d in noops)
    idle = all("nothing to load" in d.output and not d.code for d in noops)
    table.add("no-op adtech sync, median of 5", f"{noop:.2f} s{'' if idle else ' (NOT all idle)'}", "<= 1 s",
              idle and noop <= 1)
    table.add("  floor: uv run python -c pass, median of 5", f"{floor:.2f} s")
    table.add("  the same no-op with ADTECH_CHANGE_SOURCE=scan",
              f"{statistics.median(d.seconds for d in scan_noops):.2f} s")
    table.add("WAL the slot holds: 1,000,000 inserts, pipeline stopped", mib(held_stopped))
    table.add("  after one adtech sync", f"{mib(held_after)} (the sync: {after_million.seconds:.1f} s, exit "
              f"{after_million.code})")
    table.add("  the server's WAL written during the inserts", mib(written))
    table.add("  after the next adtech sync, 16 s later", mib(held_next))
    table.add("adtech sync after 100,000 inserts, median of 3: change log / scans",
              f"{statistics.median(d.seconds for d in by_path['change log']):.2f} s / "
              f"{statistics.median(d.seconds for d in by_path['scans']):.2f} s", "exit 0",
              not any(d.code for runs in by_path.values() for d in runs))
    table.add("first adtech sync: change log / scans", f"{first_sync.seconds:.1f} s / {scan_first.seconds:.1f} s")

    print(f"\n{database}: {rows:,} impressions at the start, {first} .. {last}; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; the run took {(time.monotonic() - started) / 60:.1f} min")
    table.print()


if __name__ == "__main__":
    main()
