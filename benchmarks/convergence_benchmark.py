"""Convergence benchmark: what the per-day fingerprint design costs; prints figures, not a test.

    uv run python benchmarks/convergence_benchmark.py [--pg-url URL] [--impressions 10000000]

On the load benchmark's database (10M impressions, ~0.5M clicks over 30 days; seeded by
``load_benchmark.ensure_data`` if it holds fewer), with warm caches, each figure the median of
the stated number of runs with its min and max:

  1. Postgres fingerprint pass over the whole partition window (``postgres_day_fingerprints``),
     impressions and clicks: what an update, a delete or ``--full`` costs (seconds)
  2. the gated Postgres path of a no-op pass: the write counters (``planner.read_counters``)
     plus one insert-detection look per fact table (``take_snapshot`` + ``changed_days_since`` in
     a REPEATABLE READ transaction, cursor from the previous look); a no-op pass only reads the
     counters, the looks run when an insert counter moved (ms). Also the first look after the
     initial load, whose cursor holds a single checkpoint (no id bound yet)
  3. ClickHouse side, on an embedded ClickHouse loaded by one in-process ``run_sync``: the drift
     scan ``planner.clickhouse_drift`` with nothing drifted (ms), against fingerprinting every
     day in ClickHouse, which is what the scan would cost without its data-parts gate
  4. a no-op ``adtech sync`` as the user sees it (a new process, wall time), and ``--full``
  5. the same no-op ``adtech sync`` of the previous release (commit c9902bd, before the
     convergence work), from a git worktree in /tmp with its own venv, ClickHouse and Dagster home

Takes ~5-10 minutes on 2 cores. ``--keep-before`` keeps the /tmp worktree for the next run.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from load_benchmark import DEFAULT_PG, ensure_data, ensure_database

DEFAULT_BENCH_PG = os.environ.get("ADTECH_BENCH_PG_URL", DEFAULT_PG)
# The benchmark's settings are its own: the partitions start, data dir and URLs of the caller's
# environment would make the in-process figures and the `adtech sync` subprocesses disagree.
for _name in [n for n in os.environ if n.startswith("ADTECH_")]:
    del os.environ[_name]

REPO = Path(__file__).resolve().parents[1]
BEFORE_COMMIT = "c9902bd"  # the previous release: the parent of the convergence work
BEFORE_TREE = Path("/tmp/adtech_before")


@dataclass
class Figure:
    label: str
    samples: list[float]
    unit: str  # "s" or "ms"; samples are seconds
    note: str = ""

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
    from adtech_assets.change_detection import advance, changed_days_since, low_water_id, take_snapshot
    from adtech_assets.fingerprints import postgres_day_fingerprints
    from adtech_assets.partitions import partition_window
    from adtech_assets.planner import read_counters
    from adtech_assets.resources import PostgresResource

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

    from adtech_assets.resources import ClickHouseResource, PostgresResource
    from adtech_assets.sync import run_sync

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
    """What ClickHouse says about the loads (outside every timed region)."""
    from adtech_assets.planner import DAILY_TABLES
    from adtech_assets.resources import ClickHouseResource
    from adtech_assets.state import pending_days

    with ClickHouseResource(url=f"chdb://{ch_dir}").session() as ch:
        q = ch.client.query
        return {
            "manifest_written": q("SELECT max(written_at) FROM analytics.load_manifest").result_rows[0][0],
            "manifest_entries": q("SELECT count() FROM analytics.load_manifest FINAL").result_rows[0][0],
            "pending": len(pending_days(ch, DAILY_TABLES)),
            "impressions": q("SELECT count() FROM analytics.fact_impressions").result_rows[0][0],
        }


def rewritten_since(ch_dir: Path, written) -> int:
    from adtech_assets.resources import ClickHouseResource

    with ClickHouseResource(url=f"chdb://{ch_dir}").session() as ch:
        return ch.client.query("SELECT count() FROM analytics.load_manifest FINAL WHERE written_at > {w:DateTime64(6, 'UTC')}",
                               parameters={"w": written}).result_rows[0][0]


def bench_clickhouse(ch_dir: Path, runs_s: int, runs_ms: int, out: Results) -> None:
    from adtech_assets.assets.facts import FACTS
    from adtech_assets.assets.rollups import ROLLUP_TABLE
    from adtech_assets.fingerprints import clickhouse_day_fingerprints, rollup_day_fingerprints
    from adtech_assets.partitions import partition_window
    from adtech_assets.planner import DAILY_TABLES, clickhouse_drift
    from adtech_assets.resources import ClickHouseResource
    from adtech_assets.state import parts_signatures, read_manifest

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

        by_table = {spec.table: spec for spec in FACTS}
        impressions = by_table["fact_impressions"]
        samples, results = timed(lambda: clickhouse_day_fingerprints(ch, impressions.table, impressions.id_column,
                                                                       start, end), runs_s)
        days = results[-1]
        out.add(Figure("clickhouse_day_fingerprints(fact_impressions), all days", samples, "ms",
                       f"{len(days)} days, {sum(f.rows for f in days.values()):,} rows"))

        def every_daily_table():
            for spec in FACTS:
                clickhouse_day_fingerprints(ch, spec.table, spec.id_column, start, end)
            rollup_day_fingerprints(ch, ROLLUP_TABLE, start, end)

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
        return int(m.group(1)) if m else None

    @property
    def dagster_runs(self) -> int | None:
        m = re.search(r"\((\d+) Dagster runs\)", self.output)
        return int(m.group(1)) if m else None

    @property
    def no_op(self) -> bool:
        return self.code == 0 and "nothing changed" in self.output


def child_env(pg_url: str, ch_dir: Path, dagster_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ADTECH_", "DAGSTER_")) and k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    dagster_home.mkdir(parents=True, exist_ok=True)
    return {**env, "ADTECH_PG_URL": pg_url, "ADTECH_CLICKHOUSE_URL": f"chdb://{ch_dir}",
            "DAGSTER_HOME": str(dagster_home)}


def adtech_sync(tree: Path, env: dict[str, str], *args: str, timeout: float = 900) -> SyncRun:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run([str(tree / ".venv/bin/adtech"), "sync", *args], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return SyncRun(wall, cpu, done.returncode, done.stdout + done.stderr)


def sync_series(label: str, tree: Path, env: dict[str, str], runs: int, out: Results, *args: str,
                expect_no_op: bool = True) -> Figure | None:
    progress(f"{label}: {runs} runs ...")
    done = [adtech_sync(tree, env, *args) for _ in range(runs)]
    summary = ", ".join(f"{r.wall:.2f}s/{r.days_loaded}d/{r.dagster_runs}r" for r in done)
    failed = [r for r in done if r.code]
    if failed:
        out.note(f"{label}: exit {failed[0].code}: {failed[0].output.strip()[-1500:]}")
        return None
    figure = out.add(Figure(label, [r.wall for r in done], "s",
                            f"cpu {statistics.median(r.cpu for r in done):.2f} s; runs (wall/days loaded/Dagster runs): {summary}"))
    loaded = [r.days_loaded for r in done if r.days_loaded]
    if expect_no_op and loaded:
        out.note(f"{label}: a pass after a complete sync loaded days again: {loaded}")
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
    out = Results()
    bench_postgres(args.pg_url, runs_s, runs_ms, out)

    sync_noop = sync_full = before_noop = None
    with tempfile.TemporaryDirectory(prefix="adtech-convergence-") as tmp:
        tmp = Path(tmp)
        ch_dir = tmp / "clickhouse"
        if initial_sync(args.pg_url, ch_dir, out):
            bench_clickhouse(ch_dir, runs_s, runs_ms, out)

            print("\n4. `adtech sync` as a process after the first sync, wall seconds")
            state = clickhouse_state(ch_dir)
            env = child_env(args.pg_url, ch_dir, tmp / "dagster-home")
            sync_noop = sync_series("adtech sync (no-op)", REPO, env, 5, out)
            if sync_noop:
                rewritten = rewritten_since(ch_dir, state["manifest_written"])
                after = clickhouse_state(ch_dir)
                print(f"   after the no-op syncs: {rewritten} manifest entries rewritten, "
                      f"{after['pending']} pending days (before: {state['pending']})")
                if rewritten:
                    out.note(f"the no-op syncs rewrote {rewritten} load_manifest entries (merged parts recorded)")
            sync_full = sync_series("adtech sync --full (Postgres fingerprinted)", REPO, env, 3, out, "--full")

        print(f"\n5. previous release ({BEFORE_COMMIT}): `adtech sync` as a process, wall seconds")
        tree, created = prepare_before(out)
        try:
            if tree is not None:
                before_env = child_env(args.pg_url, tmp / "clickhouse-before", tmp / "dagster-home-before")
                progress("previous release: first full sync ...")
                first_run = adtech_sync(tree, before_env)
                if first_run.code:
                    out.note(f"previous release not measured: its first sync exited {first_run.code}: "
                             f"{first_run.output.strip()[-1500:]}")
                else:
                    print(f"   its first full sync (process): {first_run.wall:.1f} s, {first_run.days_loaded} days "
                          f"loaded, {first_run.dagster_runs} Dagster runs")
                    before_noop = sync_series(f"adtech sync (no-op), previous release {BEFORE_COMMIT}", tree,
                                              before_env, 3, out)
        finally:
            if created and not args.keep_before:
                remove_before()

    print("\nsummary (median [min .. max] n)")
    for figure in out.figures:
        print(f"  {figure.label:<62} {figure.row()}")
    if sync_noop and before_noop:
        print(f"\n  no-op `adtech sync`: this release {sync_noop.median:.2f} s, previous release "
              f"{before_noop.median:.2f} s (before / now = {before_noop.median / sync_noop.median:.2f})")
    elif sync_noop:
        print(f"\n  no-op `adtech sync`: this release {sync_noop.median:.2f} s; previous release not measured")
    if sync_full:
        print(f"  `adtech sync --full`: {sync_full.median:.2f} s")
    for text in out.notes:
        print(f"  NOTE: {text}")


if __name__ == "__main__":
    main()
