"""What finding one change costs Postgres, at each size given: the planner's pass (the change
log read, the marks) apart from the loads that follow it, beside a whole-table fingerprint (the
scans' answer to an UPDATE) and the whole ``adtech sync``; not a test.

    uv run python benchmarks/change_cost.py --database adtech_bench_10000000 --database adtech_bench_100000000

Each database (seeded by ``change_capture.py`` or ``load_benchmark.py``) gets a fresh embedded
ClickHouse and a first ``adtech sync``; then, 3 times: one UPDATE moving an old row by a day,
the Postgres CPU of ``plan_pass`` alone (this database's backends, sampled from /proc as
``change_capture.DatabaseCpu`` does), then of the ``adtech sync`` that reloads its two days.
The slot is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402
from change_capture import (  # noqa: E402
    SYNC,
    DatabaseCpu,
    first_syncs,
    old_day,
    pipeline_env,
    run,
    update_old_row,
)

from adtech_assets.db.clickhouse.client import ClickHouse  # noqa: E402
from adtech_assets.db.postgres.client import Postgres  # noqa: E402
from adtech_assets.engine.fingerprints import postgres_day_fingerprints  # noqa: E402
from adtech_assets.engine.planner import EVERY_DAY, plan_pass  # noqa: E402

SERVER = "postgresql://postgres@127.0.0.1:5432/"


def cpu_of(database: str, work) -> tuple[float, float, object]:
    """(Postgres CPU s, wall s, result) of ``work()`` on ``database``'s backends."""
    sampler = DatabaseCpu(database).start()
    started = time.monotonic()
    result = work()
    wall = time.monotonic() - started
    return sampler.stop(), wall, result


def measure(database: str, tmp: Path) -> None:
    url = SERVER + database
    tmp.mkdir(parents=True)
    env = pipeline_env(url, tmp, database)
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT count(*) FROM impressions").fetchone()[0]
    print(f"{database}: {rows:,} impressions", flush=True)
    first_syncs(env)
    postgres, clickhouse = Postgres(url=url), ClickHouse(url=env["ADTECH_CLICKHOUSE_URL"])
    os.environ.update({k: v for k, v in env.items() if k.startswith("ADTECH_")})

    def whole_fingerprint():
        with postgres.connect() as conn:
            return postgres_day_fingerprints(conn, "impressions", *EVERY_DAY)

    fingerprint_cpu, fingerprint_wall, _ = cpu_of(database, whole_fingerprint)
    plans, syncs = [], []
    day = old_day(url)
    for attempt in range(1, 4):
        update_old_row(url, day).commit(url)

        def planned():
            with clickhouse.session() as ch:
                return plan_pass(postgres, ch)

        plan_cpu, plan_wall, plan = cpu_of(database, planned)
        sync_cpu, sync_wall, done = cpu_of(database, lambda: run(SYNC, env))
        plans.append(plan_cpu)
        syncs.append(sync_cpu)
        print(f"  UPDATE {attempt}: plan_pass {plan_cpu:.3f} s Postgres CPU ({plan_wall:.2f} s wall, "
              f"{plan.change_source}, days {', '.join(map(str, plan.days))}); the adtech sync that loads them "
              f"{sync_cpu:.3f} s ({sync_wall:.2f} s wall, exit {done.code})", flush=True)
    print(f"  {database}: finding one UPDATE, median of 3: {statistics.median(plans):.3f} s of Postgres CPU; "
          f"the whole sync (two days reloaded and checked): {statistics.median(syncs):.3f} s; "
          f"a whole-table fingerprint (scans' way): {fingerprint_cpu:.2f} s ({fingerprint_wall:.1f} s wall)",
          flush=True)
    run(["uv", "run", "adtech", "slot", "--drop"], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", action="append", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="adtech-change-cost-") as tmp:
        for database in args.database:
            measure(database, Path(tmp) / database)


if __name__ == "__main__":
    main()
