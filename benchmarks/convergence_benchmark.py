"""Convergence benchmark: what the per-day fingerprint design costs; prints figures, not a test.

    uv run python benchmarks/convergence_benchmark.py [--pg-url URL] [--impressions 10000000]

On the load benchmark's database (10M impressions, ~0.5M clicks over 30 days; seeded by
``load_benchmark.ensure_data`` if it holds fewer), with warm caches, each figure the median of
the stated number of runs with its min and max:

  1. Postgres fingerprint pass over the whole partition window (``postgres_day_fingerprints``),
     impressions and clicks: what an update, a delete or ``--full`` costs (seconds)
  2. the gated Postgres path of a no-op pass: the write counters (``write_counters.read_counters``)
     plus one insert-detection look per fact table (``take_snapshot`` + ``changed_days_since`` in
     a REPEATABLE READ transaction, cursor from the previous look); a no-op pass only reads the
     counters, the looks run when an insert counter moved (ms). Also the first look after the
     initial load, whose cursor holds a single checkpoint (no id bound yet)
  3. ClickHouse side, on an embedded ClickHouse loaded by one in-process ``run_sync``: the drift
     scan ``planner.clickhouse_drift`` with nothing drifted (ms), against fingerprinting every
     day in ClickHouse, which is what the scan would cost without its data-parts gate
  4. a no-op ``adtech sync`` as the user sees it: a new process after the first sync, wall
     time (1 warm-up, then 5 runs), with ADTECH_PG_URL, ADTECH_CLICKHOUSE_URL=chdb://<that
     directory> and a temporary DAGSTER_HOME; ``--full`` (1 warm-up, 3 runs); next to the floor of any such
     process (Python start and the imports of ``adtech sync``). Python's bytecode lives in a
     temporary PYTHONPYCACHEPREFIX and is kept between runs, as an installed release has it (the
     image compiles it; elsewhere the first run writes it); the no-op is also timed without it
     (PYTHONDONTWRITEBYTECODE and an empty prefix: every module compiled on every run)
  5. the same no-op ``adtech sync`` of the previous release (commit c9902bd, before the
     convergence work; 1 warm-up, then 3 runs, both bytecode modes), from a git worktree at
     /tmp/adtech_before with its own venv (``uv sync --frozen``), ClickHouse and Dagster home

The product code is read at start and at the end (read-only git); a change in between (someone
editing or committing while it runs) is reported, as the figures would mix two versions.
Takes ~5-10 minutes on 2 cores. ``--keep-before`` keeps the /tmp worktree for the next run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from load_benchmark import default_pg_url, ensure_data, ensure_database

DEFAULT_BENCH_PG = os.environ.get("ADTECH_BENCH_PG_URL", default_pg_url(10_000_000))
# The benchmark's settings are its own: the partitions start, data dir and URLs of the caller's
# environment would make the in-process figures and the `adtech sync` subprocesses disagree.
for _name in [n for n in os.environ if n.startswith("ADTECH_")]:
    del os.environ[_name]

# Dagster's beta notices about the definitions, once per import: not figures.
warnings.filterwarnings("ignore", message=".*is currently in beta")

REPO = Path(__file__).resolve().parents[1]
BEFORE_COMMIT = "c9902bd"  # the previous release: the parent of the convergence work
BEFORE_TREE = Path("/tmp/adtech_before")


@dataclass
class Figure:
    label: str
    samples: list[float]
    unit: str  # "s" or "ms"; samples are seconds
    note: str = ""
    cpu: list[float] = field(default_factory=list)  # of a process: user + system seconds per run

    def _fmt(self, seconds: float) -> str:
        return f"{seconds * 1000:.1f}" if self.unit == "ms" else f"{seconds:.2f}"

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def row(self) -> str:
        return (f"{self.median * (1000 if self.unit == 'ms' else 1):>9.{1 if self.unit == 'ms' else 2}f} {self.unit:<2}  "
                f"[{self._fmt(min(self.samples))} .. {self._fmt(max(self.samples))}] n={len(self.samples)}")


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(f"  {figure.label:<62} {figure.row()}" + (f"  {figure.note}" if figure.note else ""), flush=True)
        return figure

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  NOTE: {text}", flush=True)


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], object], runs: int) -> tuple[list[float], list[object]]:
    samples, results = [], []
    for _ in range(runs):
        started = time.perf_counter()
        results.append(fn())
        samples.append(time.perf_counter() - started)
    return samples, results


# -- 1. and 2.: Postgres ---------------------------------------------------------------------

def bench_postgres(pg_url: str, runs_s: int, runs_ms: int, out: Results) -> None:
    from adtech_assets.defs.resources import PostgresResource
    from adtech_assets.engine.days import partition_window
    from adtech_assets.engine.fingerprints import postgres_day_fingerprints
    from adtech_assets.engine.snapshots import (
        advance,
        changed_days_since,
        low_water_id,
        take_snapshot,
    )
    from adtech_assets.engine.write_counters import read_counters

    pg = PostgresResource(url=pg_url)
    start, end = partition_window()
    print(f"\n1. Postgres fingerprint pass over the partition window {start} .. {end} (exclusive), seconds")
    for source in ("impressions", "clicks"):
        with pg.connect() as conn:
            samples, results = timed(lambda: postgres_day_fingerprints(conn, source, start, end), runs_s)
        days = results[-1]
        out.add(Figure(f"postgres_day_fingerprints({source})", samples, "s",
                       f"{len(days)} days, {sum(f.rows for f in days.values()):,} rows"))

    def look(source: str, cursor):
        """One insert-detection look as plan_pass makes it: its own connection and transaction."""
        with pg.connect() as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with conn.transaction():
                snapshot, xmax, max_id = take_snapshot(conn, source)
                days = changed_days_since(conn, source, cursor) if cursor is not None else set()
        return advance(cursor, snapshot, xmax, max_id), days

    print("\n2. gated Postgres path of a pass, milliseconds")
    sources = ("impressions", "clicks")
    cursors = {s: None for s in sources}
    for _ in range(3):  # settle the checkpoints as successive passes do (an id bound from the third)
        for s in sources:
            cursors[s], _ = look(s, cursors[s])
    counters_t, looks_t, totals_t, found = [], {s: [] for s in sources}, [], set()
    for _ in range(runs_ms):
        started = time.perf_counter()
        read_counters(pg)
        counters_t.append(time.perf_counter() - started)
        for s in sources:
            t = time.perf_counter()
            cursors[s], days = look(s, cursors[s])
            looks_t[s].append(time.perf_counter() - t)
            found |= days
        totals_t.append(time.perf_counter() - started)
    out.add(Figure("read_counters (all a no-op pass reads in Postgres)", counters_t, "ms"))
    for s in sources:
        out.add(Figure(f"insert-detection look, {s} (steady cursor)", looks_t[s], "ms",
                       f"ids > {low_water_id(cursors[s]):,}"))
    out.add(Figure("counters + one look per fact table", totals_t, "ms"))
    if found:
        out.note(f"insert detection found days with new rows during a no-op look: {sorted(found)}")
    unbounded = [s for s in sources if low_water_id(cursors[s]) == 0]
    if unbounded:
        with psycopg.connect(pg_url) as conn:
            holders = conn.execute(
                "SELECT datname, state, round(extract(epoch FROM now() - xact_start))::int, left(query, 50) "
                "FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_xid IS NOT NULL "
                "ORDER BY age(backend_xid) DESC LIMIT 3").fetchall()
        out.note(f"the steady cursor of {', '.join(unbounded)} has no id bound, so each look read the whole table: "
                 "a transaction that holds an xid since before the looks, in any database of the server, keeps "
                 "the snapshots' xmin behind every checkpoint; oldest now (database, state, seconds open, query): "
                 f"{holders or 'none left'}")

    # After the initial load the planner's cursor holds one checkpoint, and no-op passes do not
    # advance it: the first look after new rows arrive has no id bound (low water id 0).
    for s in sources:
        samples = []
        for _ in range(runs_s):
            first, _ = look(s, None)
            started = time.perf_counter()
            look(s, first)
            samples.append(time.perf_counter() - started)
        out.add(Figure(f"first look after the initial load, {s} (one checkpoint)", samples, "ms",
                       f"ids > {low_water_id(first):,}"))


# -- 3.: ClickHouse --------------------------------------------------------------------------

def initial_sync(pg_url: str, ch_dir: Path, out: Results) -> bool:
    from dagster import DagsterInstance

    from adtech_assets.cli.sync.runs import run_sync
    from adtech_assets.defs.resources import ClickHouseResource, PostgresResource

    progress(f"first full sync in process into {ch_dir} ...")
    started = time.monotonic()
    report = run_sync(DagsterInstance.ephemeral(), {"postgres": PostgresResource(url=pg_url),
                                                     "clickhouse": ClickHouseResource(url=f"chdb://{ch_dir}")})
    wall = time.monotonic() - started
    print(f"\n   first full sync (in process, run_sync): {wall:.1f} s, {len(report.days_loaded)} days loaded, "
          f"{len(report.run_ids)} Dagster runs, ok={report.ok}")
    if not report.ok:
        out.note(f"first sync failed: {report.errors or [c.check for c in report.failed_checks]}")
    return report.ok


def clickhouse_state(ch_dir: Path) -> dict:
    """What ClickHouse says about the loads and the planner's cursor (outside every timed region)."""
    from adtech_assets.catalog import DAILY_TABLES
    from adtech_assets.defs.resources import ClickHouseResource
    from adtech_assets.engine.ledger import pending_days, read_cursor
    from adtech_assets.engine.planner import PlannerCursor
    from adtech_assets.engine.snapshots import low_water_id

    with ClickHouseResource(url=f"chdb://{ch_dir}").session() as ch:
        q = ch.client.query
        cursor = PlannerCursor.from_json(read_cursor(ch))
        return {
            "manifest_written": q("SELECT max(written_at) FROM analytics.load_manifest").result_rows[0][0],
            "pending": len(pending_days(ch, DAILY_TABLES)),
            "cursor": ", ".join(f"{name} {len(c.checkpoints)} checkpoint(s), next look ids > {low_water_id(c):,}"
                                for name, c in sorted(cursor.changes.tables.items())),
        }


def rewritten_since(ch_dir: Path, written) -> int:
    from adtech_assets.defs.resources import ClickHouseResource

    with ClickHouseResource(url=f"chdb://{ch_dir}").session() as ch:
        return ch.client.query("SELECT count() FROM analytics.load_manifest FINAL WHERE written_at > {w:DateTime64(6, 'UTC')}",
                               parameters={"w": written}).result_rows[0][0]


def bench_clickhouse(ch_dir: Path, runs_s: int, runs_ms: int, out: Results) -> None:
    from adtech_assets.catalog import DAILY_TABLES, FACTS, ROLLUP_TABLE
    from adtech_assets.defs.resources import ClickHouseResource
    from adtech_assets.engine.days import partition_window
    from adtech_assets.engine.fingerprints import (
        clickhouse_day_fingerprints,
        rollup_day_fingerprints,
    )
    from adtech_assets.engine.ledger import parts_signatures, read_manifest
    from adtech_assets.engine.planner import clickhouse_drift

    start, end = partition_window()
    print("\n3. ClickHouse drift scan on the loaded embedded ClickHouse, milliseconds")
    with ClickHouseResource(url=f"chdb://{ch_dir}").session() as ch:
        manifest_t, _ = timed(lambda: read_manifest(ch), runs_ms)
        signatures_t, _ = timed(lambda: parts_signatures(ch, DAILY_TABLES), runs_ms)
        drift_t, suspects, found = [], [], {}
        for _ in range(runs_ms):
            manifest = read_manifest(ch)
            signatures = parts_signatures(ch, DAILY_TABLES)
            suspects.append(sum(1 for key, sig in signatures.items()
                                if key not in manifest or manifest[key].parts_signature != sig))
            started = time.perf_counter()
            found |= clickhouse_drift(ch, manifest)
            drift_t.append(time.perf_counter() - started)
        out.add(Figure("read_manifest", manifest_t, "ms", f"{len(manifest)} (table, day) entries"))
        out.add(Figure("parts_signatures (the gate)", signatures_t, "ms"))
        out.add(Figure("clickhouse_drift(ch, read_manifest(ch)), nothing drifted", drift_t, "ms",
                       f"suspect days per run: {suspects}"))
        if found:
            out.note(f"clickhouse_drift found drift right after a successful load: {found}")
        if any(suspects):
            out.note(f"days whose parts changed since their load (merges) were fingerprinted by the drift "
                     f"scan: {suspects} per run")

        def every_daily_table():
            for spec in FACTS:
                clickhouse_day_fingerprints(ch, spec.table, spec.id_column, start, end)
            rollup_day_fingerprints(ch, ROLLUP_TABLE, start, end)

        every_daily_table()  # warm-up: both figures below read warm data
        by_table = {spec.table: spec for spec in FACTS}
        impressions = by_table["fact_impressions"]
        samples, results = timed(lambda: clickhouse_day_fingerprints(ch, impressions.table, impressions.id_column,
                                                                       start, end), runs_s)
        days = results[-1]
        out.add(Figure("clickhouse_day_fingerprints(fact_impressions), all days", samples, "ms",
                       f"{len(days)} days, {sum(f.rows for f in days.values()):,} rows"))

        samples, _ = timed(every_daily_table, runs_s)
        out.add(Figure("fingerprints of all days of every daily table (no gate)", samples, "ms",
                       ", ".join(DAILY_TABLES)))


# -- 4. and 5.: `adtech sync` as a process -----------------------------------------------------

@dataclass
class SyncRun:
    wall: float
    cpu: float
    code: int
    output: str

    @property
    def days_loaded(self) -> int | None:
        m = re.search(r"sync: (\d+) day\(s\) loaded", self.output)
        return int(m.group(1)) if m else (0 if "nothing to load" in self.output else None)

    @property
    def dagster_runs(self) -> int | None:
        m = re.search(r"\((\d+) Dagster runs?\)", self.output)
        return int(m.group(1)) if m else None


def child_env(pg_url: str, ch_dir: Path, dagster_home: Path, pycache: Path, bytecode: bool) -> dict[str, str]:
    """The environment of an `adtech` process: only our ADTECH_* settings. Python's bytecode
    goes to ``pycache`` (PYTHONPYCACHEPREFIX, so no venv is written to): kept between runs with
    ``bytecode``, as an installed release has it (first run, or the image's compiled bytecode);
    otherwise an empty prefix that is never written, so every run compiles every module."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ADTECH_", "DAGSTER_", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX"))
           and k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    dagster_home.mkdir(parents=True, exist_ok=True)
    pycache.mkdir(parents=True, exist_ok=True)
    env.update({"ADTECH_PG_URL": pg_url, "ADTECH_CLICKHOUSE_URL": f"chdb://{ch_dir}",
                "DAGSTER_HOME": str(dagster_home), "PYTHONPYCACHEPREFIX": str(pycache)})
    if not bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_process(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> SyncRun:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return SyncRun(wall, cpu, done.returncode, done.stdout + done.stderr)


def adtech_sync(tree: Path, env: dict[str, str], *args: str) -> SyncRun:
    return run_process([str(tree / ".venv/bin/adtech"), "sync", *args], tree, env)


def sync_series(label: str, tree: Path, env: dict[str, str], runs: int, out: Results, *args: str,
                warmup: int = 1) -> Figure | None:
    progress(f"{label}: {warmup} warm-up + {runs} runs ...")
    done = [adtech_sync(tree, env, *args) for _ in range(warmup + runs)]
    failed = [r for r in done if r.code]
    if failed:
        out.note(f"{label}: exit {failed[0].code}: {failed[0].output.strip()[-1500:]}")
        return None
    summary = ", ".join(f"{r.wall:.2f}s/{r.days_loaded}d/{r.dagster_runs}r" for r in done[warmup:])
    figure = out.add(Figure(label, [r.wall for r in done[warmup:]], "s",
                            f"cpu {statistics.median(r.cpu for r in done[warmup:]):.2f} s; "
                            f"each (wall/days loaded/Dagster runs): {summary}", [r.cpu for r in done[warmup:]]))
    loaded = [r.days_loaded for r in done if r.days_loaded]
    if loaded:
        out.note(f"{label}: a pass after a complete sync loaded days again: {loaded} (warm-up included)")
    new = [r for r in done if "nothing changed" not in r.output]
    if "previous release" not in label and new:
        out.note(f"{label}: {len(new)} pass(es) did not say 'nothing changed': {new[0].output.strip()[-800:]}")
    return figure


def prepare_before(out: Results) -> tuple[Path | None, bool]:
    """The previous release's worktree with its venv; (tree or None, created by this run)."""
    full = subprocess.run(["git", "-C", str(REPO), "rev-parse", BEFORE_COMMIT], capture_output=True, text=True)
    if full.returncode:
        out.note(f"previous release not measured: commit {BEFORE_COMMIT} not found ({full.stderr.strip()})")
        return None, False
    commit, created = full.stdout.strip(), False
    if BEFORE_TREE.exists():
        head = subprocess.run(["git", "-C", str(BEFORE_TREE), "rev-parse", "HEAD"], capture_output=True, text=True)
        if head.stdout.strip() != commit:
            out.note(f"previous release not measured: {BEFORE_TREE} exists and is not a worktree at {BEFORE_COMMIT}")
            return None, False
    else:
        progress(f"git worktree add {BEFORE_TREE} {BEFORE_COMMIT} ...")
        add = subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(BEFORE_TREE), commit],
                             capture_output=True, text=True)
        if add.returncode:
            out.note(f"previous release not measured: git worktree add failed: {add.stderr.strip()}")
            return None, False
        created = True
    uv = shutil.which("uv")
    if uv is None:
        out.note("previous release not measured: no uv on PATH to build its venv")
        return None, created
    progress("uv sync --frozen in the previous release's worktree ...")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    built = subprocess.run([uv, "sync", "--frozen", "--quiet"], cwd=BEFORE_TREE, env=env, capture_output=True, text=True)
    if built.returncode or not (BEFORE_TREE / ".venv/bin/adtech").exists():
        out.note(f"previous release not measured: uv sync --frozen failed: {built.stderr.strip()[-1500:]}")
        return None, created
    return BEFORE_TREE, created


def remove_before() -> None:
    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(BEFORE_TREE)],
                   capture_output=True, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default=DEFAULT_BENCH_PG)
    parser.add_argument("--impressions", type=int, default=10_000_000)
    parser.add_argument("--keep-before", action="store_true",
                        help=f"keep the previous release's worktree {BEFORE_TREE} (and its venv) afterwards")
    args = parser.parse_args()
    runs_s, runs_ms = 3, 5  # repetitions of the second-scale and millisecond-scale figures

    ensure_database(args.pg_url)
    ensure_data(args.pg_url, args.impressions)
    with psycopg.connect(args.pg_url) as conn:
        first, last, rows = conn.execute(
            "SELECT min(created_at)::date, max(created_at)::date, count(*) FROM impressions").fetchone()
        clicks = conn.execute("SELECT count(*) FROM clicks").fetchone()[0]
    print(f"impressions: {rows:,}, clicks: {clicks:,}, {first} .. {last}; "
          f"medians of {runs_s} (seconds-scale) or {runs_ms} (ms-scale) runs, [min .. max]")
    revision, load_at_start = code_revision(), os.getloadavg()[0]
    print(f"code under test: {revision} (HEAD{', plus uncommitted changes' if '+' in revision else ''})")
    out = Results()
    bench_postgres(args.pg_url, runs_s, runs_ms, out)

    results = {}
    with tempfile.TemporaryDirectory(prefix="adtech-convergence-") as tmp:
        tmp = Path(tmp)
        ch_dir = tmp / "clickhouse"
        if initial_sync(args.pg_url, ch_dir, out):
            bench_clickhouse(ch_dir, runs_s, runs_ms, out)
            results.update(bench_processes(args.pg_url, ch_dir, tmp, out))
        print(f"\n5. previous release ({BEFORE_COMMIT}): `adtech sync` as a process after its first sync, wall seconds")
        tree, created = prepare_before(out)
        try:
            if tree is not None:
                results.update(bench_before(args.pg_url, tree, tmp, out))
        finally:
            if created and not args.keep_before:
                remove_before()

    print("\nsummary (median [min .. max] n)")
    for figure in out.figures:
        print(f"  {figure.label:<62} {figure.row()}")
    print(f"\n  no-op `adtech sync`, median wall s (cpu s)   {'this release':>14} {'previous (' + BEFORE_COMMIT + ')':>19} "
          f"{'before / now':>13}")
    for mode in ("bytecode", "compile"):
        now, before = results.get(("now", mode)), results.get(("before", mode))
        label = "with bytecode cache (as installed)" if mode == "bytecode" else "without (compiles every module)"
        cells = [f"{f.median:.2f} ({statistics.median(f.cpu):.2f})" if f else "n/a" for f in (now, before)]
        ratio = (f"{before.median / now.median:.2f} ({statistics.median(before.cpu) / statistics.median(now.cpu):.2f})"
                 if now and before else "n/a")
        print(f"  {label:<42} {cells[0]:>14} {cells[1]:>19} {ratio:>13}")
    if results.get(("now", "full")):
        full = results["now", "full"]
        print(f"  `adtech sync --full` (bytecode cache), median: {full.median:.2f} s ({statistics.median(full.cpu):.2f} s cpu)")
    if code_revision() != revision:
        out.notes.append(f"the product code changed during this run ({revision} -> {code_revision()}: someone "
                         "committed or edited adtech_assets/, clickhouse_ddl/): the figures may mix two versions")
    print(f"  load average (1 min) at start {load_at_start:.1f}, at the end {os.getloadavg()[0]:.1f}, "
          f"on {os.cpu_count()} cores: above the core count, other work competed for the CPU and wall times "
          f"are inflated (cpu seconds much less so)")
    for text in out.notes:
        print(f"  NOTE: {text}")


def bench_processes(pg_url: str, ch_dir: Path, tmp: Path, out: Results) -> dict:
    print("\n4. `adtech sync` as a process after the first sync, wall seconds")
    state = clickhouse_state(ch_dir)
    print(f"   planner cursor after the first sync: {state['cursor']}")
    env = child_env(pg_url, ch_dir, tmp / "dagster-home", tmp / "pycache-now", bytecode=True)
    progress("process start and imports of `adtech sync`: 1 warm-up + 5 runs ...")
    imports = [run_process([str(REPO / ".venv/bin/python"), "-c", "import adtech_assets.cli.main, adtech_assets.cli.sync.runs"],
                           REPO, env) for _ in range(6)][1:]
    out.add(Figure("floor: python start + the imports of `adtech sync`", [r.wall for r in imports], "s",
                   f"cpu {statistics.median(r.cpu for r in imports):.2f} s"))
    found = {("now", "bytecode"): sync_series("adtech sync (no-op)", REPO, env, 5, out)}
    cold = child_env(pg_url, ch_dir, tmp / "dagster-home", tmp / "pycache-empty", bytecode=False)
    found["now", "compile"] = sync_series("adtech sync (no-op), no bytecode cache", REPO, cold, 3, out, warmup=0)
    rewritten = rewritten_since(ch_dir, state["manifest_written"])
    after = clickhouse_state(ch_dir)
    print(f"   after the no-op syncs: {rewritten} load_manifest entries rewritten, {after['pending']} pending days "
          f"(before: {state['pending']}); planner cursor: {after['cursor']}")
    if rewritten:
        out.note(f"the no-op syncs rewrote {rewritten} load_manifest entries (merged parts recorded)")
    found["now", "full"] = sync_series("adtech sync --full (Postgres fingerprinted)", REPO, env, 3, out, "--full")
    return found


def bench_before(pg_url: str, tree: Path, tmp: Path, out: Results) -> dict:
    ch_dir, home = tmp / "clickhouse-before", tmp / "dagster-home-before"
    env = child_env(pg_url, ch_dir, home, tmp / "pycache-before", bytecode=True)
    progress("previous release: first full sync ...")
    first = adtech_sync(tree, env)
    if first.code:
        out.note(f"previous release not measured: its first sync exited {first.code}: {first.output.strip()[-1500:]}")
        return {}
    print(f"   its first full sync (process): {first.wall:.1f} s, {first.days_loaded} days loaded, "
          f"{first.dagster_runs} Dagster runs")
    label = f"adtech sync (no-op), previous release {BEFORE_COMMIT}"
    found = {("before", "bytecode"): sync_series(label, tree, env, 3, out)}
    cold = child_env(pg_url, ch_dir, home, tmp / "pycache-before-empty", bytecode=False)
    found["before", "compile"] = sync_series(f"{label}, no bytecode cache", tree, cold, 3, out, warmup=0)
    return found


def code_revision() -> str:
    """HEAD and a digest of the uncommitted changes to the product code (read-only git calls)."""
    git = ["git", "--no-optional-locks", "-C", str(REPO)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    diff = subprocess.run([*git, "diff", "HEAD", "--", "adtech_assets", "clickhouse_ddl", "pyproject.toml", "uv.lock"],
                          capture_output=True).stdout
    return f"{head}+{hashlib.sha1(diff).hexdigest()[:8]}" if diff else head


if __name__ == "__main__":
    main()
