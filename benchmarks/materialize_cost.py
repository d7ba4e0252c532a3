"""What a CI job pays for a load besides the load: ``dagster asset materialize`` and ``dg launch``
timed as whole commands, as a user types them, beside their floors, in one run; not a test.

    uv run python benchmarks/materialize_cost.py [--pg-url URL] [--home adtech|plain]

The issue: in CI the whole-history load at 10M impressions, the whole command, must take at
most 2.5 times the read floor, and one day at most 3 s. On the seeded benchmark database
(``load_benchmark.py`` seeds it; this script only reads it), a fresh embedded ClickHouse and a
fresh ``DAGSTER_HOME`` in a temporary folder:

  read floor      psql binary COPY of impressions (id, campaign_id, created_at) to /dev/null,
                  best of 2
  check's read    the Postgres side of the facts' content check over the same days, alone (the
                  SQL the checks step runs after the load), and a count of their rows per day
                  (the cheapest read a check independent of the load could make), best of 2
  start-up floor  ``uv run python -c pass`` (uv and the interpreter), ``uv run python -c "import
                  dagster"`` and ``uv run dagster --version``, each the whole command, median of 3
  setup           ``uv sync --compile-bytecode``, ``uv run adtech migrate``, then ``uv run dg launch --assets 'group:dims'``
                  (not timed)
  materialize     ``uv run dagster asset materialize -m adtech_assets.definitions --select
                  analytics/fact_impressions --partition-range <first>...<last>`` over every day
                  impressions has, then the middle day with ``--partition``, median of 3
  dg launch       the same with ``uv run dg launch --assets analytics/fact_impressions``

Each timed command is a new process from the project root (``uv`` from ``PATH``), its seconds
beside the read floor; the run's own time is read from its record in ``DAGSTER_HOME`` (start to
end), and the rest of the command, start-up and exit, is its fixed cost. The second whole-history
load (``dg launch``) replaces days the first one loaded: the same read and insert. Beside each
whole-history command: its checks step, and the CPU seconds the whole machine spent meanwhile
(``/proc/stat``: Postgres's processes included), which bound what two cores can overlap.

``--home adtech`` (the default) leaves the new home to ``adtech migrate``, which gives it the
``dagster.yaml`` adtech writes (``instance_yaml``), as in the README's CI block; ``--home plain``
writes the one that block wrote before (telemetry off, nothing else), which migrate keeps.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psycopg
from commands import PROJECT_ROOT, run
from figures import print_figures

from adtech_assets.cli.home import instance_yaml

FACT = "analytics/fact_impressions"
CHECKS_STEP = "fact_checks"  # the step of the facts' checks that the CLI runs with the asset
PLAIN_YAML = "telemetry:\n  enabled: false\n"  # the README's CI block
READ_FLOOR_SQL = "COPY (SELECT id, campaign_id, created_at FROM impressions) TO STDOUT (FORMAT binary)"
# The cheapest read of the same days that a check independent of the load could make
DAY_COUNT_SQL = ("SELECT created_at::date, count(*) FROM impressions "
                 "WHERE created_at >= %s AND created_at < %s GROUP BY 1")
COMMAND_TIMEOUT = 900  # seconds: a whole-history load at 10M takes well under a minute on two cores
REPEAT = 3


def busy_core_seconds() -> float:
    """CPU seconds spent by the whole machine so far (every process, Postgres's too), from
    ``/proc/stat``: a command's delta is all the work it caused, whichever process did it."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def read_floor(url: str) -> tuple[float, float]:
    """Seconds and the machine's CPU seconds of the read floor."""
    cpu_before = busy_core_seconds()
    seconds = run(["psql", url, "-qc", READ_FLOOR_SQL], timeout=300, stdout=subprocess.DEVNULL)[0]
    return seconds, busy_core_seconds() - cpu_before


def check_read(url: str, first: date, last: date, count_only: bool = False) -> tuple[float, float]:
    """Seconds and CPU seconds of the content check's Postgres side over [first, last], alone:
    the SQL (``postgres_day_fingerprints``) that the checks step runs after the load; or, with
    ``count_only``, of counting the rows per day."""
    from adtech_assets.engine.fingerprints import postgres_day_fingerprints

    with psycopg.connect(url) as conn:
        started, cpu_before = time.monotonic(), busy_core_seconds()
        if count_only:
            conn.execute(DAY_COUNT_SQL, (first, last + timedelta(days=1))).fetchall()
        else:
            postgres_day_fingerprints(conn, "impressions", first, last + timedelta(days=1))
        return time.monotonic() - started, busy_core_seconds() - cpu_before


@dataclass
class Timed:
    """One whole command: its wall clock, its run's own time (start to end in its record), the
    checks step's, and the CPU seconds the machine spent meanwhile."""

    whole: float
    run: float
    checks: float = 0.0
    cpu: float = 0.0
    startup: float = 0.0  # the command's start to its run's

    @property
    def fixed(self) -> float:
        return self.whole - self.run


def run_ids(home: Path) -> set[str]:
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        return {record.dagster_run.run_id for record in instance.get_run_records()}


def newest_run(home: Path, before: set[str], argv: list[str]) -> tuple[float, float, dict[str, float]]:
    """Start and end of the one run ``argv`` added to ``home`` (it must have succeeded), and its
    steps' own seconds: where the run's time goes."""
    from dagster import DagsterInstance, DagsterRunStatus

    with DagsterInstance.from_config(str(home)) as instance:
        new = [r for r in instance.get_run_records() if r.dagster_run.run_id not in before]
        if len(new) != 1 or new[0].dagster_run.status != DagsterRunStatus.SUCCESS:
            sys.exit(f"{' '.join(argv)}: expected one successful new run in {home}, found "
                     f"{[(r.dagster_run.run_id, r.dagster_run.status.value) for r in new]}")
        steps = {s.step_key: s.end_time - s.start_time
                 for s in instance.get_run_step_stats(new[0].dagster_run.run_id) if s.start_time and s.end_time}
    return new[0].start_time, new[0].end_time, steps


def timed_run(argv: list[str], env: dict, home: Path) -> Timed:
    before = run_ids(home)
    cpu_before, started = busy_core_seconds(), time.time()
    seconds, _ = run(argv, env, timeout=COMMAND_TIMEOUT)
    cpu = busy_core_seconds() - cpu_before
    run_start, run_end, steps = newest_run(home, before, argv)
    timed = Timed(seconds, run_end - run_start, steps.get(CHECKS_STEP, 0.0), cpu, run_start - started)
    print(f"  {timed.whole:6.2f} s whole, run {timed.run:6.2f} s, fixed {timed.fixed:5.2f} s "
          f"(start-up {timed.startup:4.2f} s), "
          f"{timed.cpu:5.2f} CPU s: {' '.join(argv[2:])}\n"
          f"         steps: {', '.join(f'{key} {sec:.2f} s' for key, sec in steps.items())}", flush=True)
    return timed


def median_of(samples: list[Timed]) -> Timed:
    return Timed(*(statistics.median(getattr(s, name) for s in samples)
                   for name in ("whole", "run", "checks", "cpu", "startup")))


def median_seconds(argv: list[str], env: dict) -> float:
    return statistics.median(run(argv, env, timeout=300)[0] for _ in range(REPEAT))


def fresh_bytecode(package: Path) -> tuple[int, int]:
    """How many of ``package``'s modules have a ``.pyc`` that Python will use (one whose recorded
    source mtime and size match the ``.py``), of how many: a stale or missing one is compiled
    again by every process where bytecode is not written."""
    sources = list(package.rglob("*.py"))
    fresh = 0
    for source in sources:
        try:
            header = Path(importlib.util.cache_from_source(str(source))).read_bytes()[:16]
        except OSError:
            continue
        stat = source.stat()
        flags = int.from_bytes(header[4:8], "little")
        fresh += flags != 0 or (int.from_bytes(header[8:12], "little") == int(stat.st_mtime) & 0xFFFFFFFF
                                and int.from_bytes(header[12:16], "little") == stat.st_size & 0xFFFFFFFF)
    return fresh, len(sources)


def bytecode_state() -> str:
    """Whether Python writes bytecode here, and how much of dagster's and adtech's is there."""
    site = Path(sysconfig.get_paths()["purelib"])
    packages = {"dagster": site / "dagster", "dagster_dg_cli": site / "dagster_dg_cli",
                "adtech_assets": PROJECT_ROOT / "adtech_assets"}
    counts = ", ".join(f"{name} {'%d/%d' % fresh_bytecode(path)}" for name, path in packages.items())
    return (f"bytecode: sys.dont_write_bytecode={sys.dont_write_bytecode}, "
            f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '(unset)')}; "
            f"{site / 'dagster' / '__pycache__'} "
            f"{'exists' if (site / 'dagster' / '__pycache__').is_dir() else 'is MISSING'}; "
            f"modules with a current .pyc: {counts}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/adtech_bench")
    parser.add_argument("--home", choices=["adtech", "plain"], default="adtech",
                        help="the dagster.yaml of the new DAGSTER_HOME: adtech's, or the README's CI block's")
    args = parser.parse_args()
    uv = shutil.which("uv") or sys.exit("uv is not on the PATH")

    with psycopg.connect(args.pg_url) as conn:
        first, last, rows = conn.execute(
            "SELECT min(created_at)::date, max(created_at)::date, count(*) FROM impressions").fetchone()
    if not rows:
        sys.exit(f"no impressions in {args.pg_url}: seed it first (benchmarks/load_benchmark.py)")
    days = (last - first).days + 1
    middle: date = first + timedelta(days=days // 2)
    load_before = os.getloadavg()[0]
    print(f"{rows:,} impressions over {days} days ({first} .. {last}); uv: {uv}; "
          f"load average {load_before:.1f}", flush=True)

    floor, floor_cpu = min(read_floor(args.pg_url) for _ in range(2))
    fingerprint, fingerprint_cpu = min(check_read(args.pg_url, first, last) for _ in range(2))
    day_count, day_count_cpu = min(check_read(args.pg_url, first, last, count_only=True) for _ in range(2))
    print(f"read floor {floor:.2f} s; the check's Postgres fingerprint alone {fingerprint:.2f} s", flush=True)

    with tempfile.TemporaryDirectory(prefix="adtech-materialize-") as tmp:
        home = Path(tmp) / "dagster"
        env = {**os.environ, "ADTECH_PG_URL": args.pg_url, "ADTECH_CLICKHOUSE_URL": f"chdb://{tmp}/clickhouse",
               "ADTECH_DATA_DIR": f"{tmp}/data", "DAGSTER_HOME": str(home)}
        for name in ("ADTECH_SYNC_INTERVAL_SECONDS", "ADTECH_VERIFY_INTERVAL_SECONDS", "ADTECH_PARTITIONS_START"):
            env.pop(name, None)  # the defaults, as a user has them

        start_pass = median_seconds(["uv", "run", "python", "-c", "pass"], env)
        start_dagster = median_seconds(["uv", "run", "python", "-c", "import dagster"], env)
        start_version = median_seconds(["uv", "run", "dagster", "--version"], env)
        print(f"start-up: python -c pass {start_pass:.2f} s, import dagster {start_dagster:.2f} s, "
              f"dagster --version {start_version:.2f} s", flush=True)

        run(["uv", "sync", "--frozen", "--compile-bytecode", "--quiet"], env, timeout=COMMAND_TIMEOUT)  # the CI block's first step
        home.mkdir()
        if args.home == "plain":  # written first: adtech migrate keeps a dagster.yaml that has settings
            (home / "dagster.yaml").write_text(PLAIN_YAML)
        run(["uv", "run", "adtech", "migrate"], env, timeout=COMMAND_TIMEOUT)  # as the README's CI block: writes adtech's settings
        settings_text = (home / "dagster.yaml").read_text() if (home / "dagster.yaml").exists() else ""
        yaml_source = ("telemetry off only, as the CI block wrote before" if settings_text == PLAIN_YAML
                       else "adtech's, written by adtech migrate" if settings_text == instance_yaml(home)
                       else "other")
        print(f"DAGSTER_HOME/dagster.yaml: {yaml_source}", flush=True)
        run(["uv", "run", "dg", "launch", "--assets", "group:dims"], env, timeout=COMMAND_TIMEOUT)

        whole_range, one_day = f"{first}...{last}", ["--partition", middle.isoformat()]
        materialize = ["uv", "run", "dagster", "asset", "materialize", "-m", "adtech_assets.definitions",
                       "--select", FACT]
        launch = ["uv", "run", "dg", "launch", "--assets", FACT]
        m_all = timed_run([*materialize, "--partition-range", whole_range], env, home)
        m_day = median_of([timed_run([*materialize, *one_day], env, home) for _ in range(REPEAT)])
        l_all = timed_run([*launch, "--partition-range", whole_range], env, home)
        l_day = median_of([timed_run([*launch, *one_day], env, home) for _ in range(REPEAT)])

    def whole_history(label: str, t: Timed) -> list[tuple]:
        return [(f"{label}, {days} days, whole command / read floor",
                 f"{t.whole / floor:.2f} ({t.whole:.2f} s: run {t.run:.2f} s, fixed {t.fixed:.2f} s, "
                 f"{t.startup:.2f} s of it before the run)",
                 "<= 2.5x read floor", t.whole / floor <= 2.5),
                ("  its checks step; the command less it / read floor (derived)",
                 f"{t.checks:.2f} s; {(t.whole - t.checks) / floor:.2f}", "", None),
                ("  CPU seconds, the whole machine, over the command", f"{t.cpu:.2f} CPU s", "", None)]

    def day(label: str, t: Timed) -> tuple:
        return (f"{label}, one day ({middle}), whole command, median of {REPEAT}",
                f"{t.whole:.2f} s (run {t.run:.2f} s, fixed {t.fixed:.2f} s; {t.whole / floor:.2f}x read floor)",
                "<= 3 s", t.whole <= 3)

    figures = [
        ("read floor: psql binary COPY to /dev/null, best of 2", f"{floor:.2f} s ({floor_cpu:.2f} CPU s)", "", None),
        (f"the content check's Postgres fingerprint of the {days} days, alone, best of 2",
         f"{fingerprint:.2f} s ({fingerprint_cpu:.2f} CPU s)", "", None),
        ("  a count of its rows per day instead, alone, best of 2",
         f"{day_count:.2f} s ({day_count_cpu:.2f} CPU s)", "", None),
        (f"start-up floor: uv run python -c pass, median of {REPEAT}", f"{start_pass:.2f} s", "", None),
        (f"  uv run python -c 'import dagster', median of {REPEAT}", f"{start_dagster:.2f} s", "", None),
        (f"  uv run dagster --version, median of {REPEAT}", f"{start_version:.2f} s", "", None),
        *whole_history("dagster asset materialize", m_all),
        day("dagster asset materialize", m_day),
        *whole_history("dg launch", l_all),
        day("dg launch", l_day),
    ]
    print(f"\n{rows:,} impressions over {days} days ({first} .. {last}), {os.cpu_count()} cores, "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; --home {args.home} "
          f"(dagster.yaml: {yaml_source})\n{bytecode_state()}")
    print_figures(figures)


if __name__ == "__main__":
    main()
