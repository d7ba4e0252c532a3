"""What several test modules share: source rows written straight into Postgres, a sync or a
day load through Dagster, ClickHouse and ground-truth rows in comparable form, and the CLI
run as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from dagster import AssetKey, AssetSelection, DagsterInstance, materialize

from adtech_assets.catalog import KPI_VIEWS
from adtech_assets.cli.sync.report import SyncReport
from adtech_assets.cli.sync.runs import run_sync
from adtech_assets.defs.location import ALL_ASSETS, ALL_CHECKS
from adtech_assets.defs.resources import ClickHouseResource, PostgresResource
from adtech_assets.settings import PROJECT_ROOT

GROUND_TRUTH_DIR = Path(__file__).resolve().parent / "ground_truth"
ADTECH = PROJECT_ROOT / ".venv" / "bin" / "adtech"


# ---- Postgres, as the operational system writes it -------------------------------------------

def pg_execute(postgres: PostgresResource, statement: str, params: Sequence | dict = ()) -> list[tuple]:
    """Run one statement in its own committed transaction; rows if it returns any."""
    with postgres.connect() as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def insert_returning_id(postgres: PostgresResource, statement: str, params: Sequence | dict = ()) -> int:
    return pg_execute(postgres, f"{statement} RETURNING id", params)[0][0]


def add_advertiser(postgres: PostgresResource, name: str, **columns: Any) -> int:
    return insert_returning_id(postgres, *_insert("advertiser", {"name": name, **columns}))


def add_campaign(postgres: PostgresResource, name: str, advertiser_id: int | None, bid: str = "1.00",
                 budget: str = "1000.00", **columns: Any) -> int:
    values = {"name": name, "advertiser_id": advertiser_id, "bid": bid, "budget": budget, **columns}
    return insert_returning_id(postgres, *_insert("campaign", values))


def add_events(postgres: PostgresResource, table: str, events: Iterable[tuple[int | None, datetime | None]]) -> None:
    """Impressions or clicks as (campaign_id, created_at UTC) pairs, in one transaction."""
    assert table in ("impressions", "clicks")
    with postgres.connect() as conn, conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {table} (campaign_id, created_at) VALUES (%s, %s)", list(events))


def _insert(table: str, values: dict[str, Any]) -> tuple[str, list]:
    columns = ", ".join(values)
    placeholders = ", ".join(["%s"] * len(values))
    return f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", list(values.values())


def pg_day_count(postgres: PostgresResource, table: str, day: date) -> int:
    return pg_execute(
        postgres,
        f"SELECT count(*) FROM {table} WHERE created_at >= %s AND created_at < %s::date + 1",
        (day, day),
    )[0][0]


# ---- ClickHouse -------------------------------------------------------------------------------

def ch_query(clickhouse: ClickHouseResource, statement: str, **parameters: Any) -> list[dict]:
    with clickhouse.session() as ch:
        return ch.client.query_arrow(statement, parameters=parameters or None).to_pylist()


def ch_scalar(clickhouse: ClickHouseResource, statement: str, **parameters: Any) -> Any:
    with clickhouse.session() as ch:
        return ch.client.query(statement, parameters=parameters or None).result_rows[0][0]


def ch_command(clickhouse: ClickHouseResource, statement: str, **parameters: Any) -> None:
    with clickhouse.session() as ch:
        ch.client.command(statement, parameters=parameters or None)


def ch_day_count(clickhouse: ClickHouseResource, table: str, day: date) -> int:
    return ch_scalar(clickhouse, f"SELECT count() FROM analytics.{table} WHERE event_date = {{d:Date}}", d=day)


# ---- Dagster ----------------------------------------------------------------------------------

def sync(resources: dict, instance: DagsterInstance | None = None) -> SyncReport:
    """One ``adtech sync`` pass in process (the same function the CLI runs)."""
    return run_sync(instance or DagsterInstance.ephemeral(), resources)


def fact_rows(clickhouse, table: str, id_column: str) -> list[tuple]:
    rows = ch_query(clickhouse, f"SELECT {id_column} AS id, campaign_id, created_at FROM analytics.{table}")
    return sorted((r["id"], r["campaign_id"], r["created_at"].replace(tzinfo=None)) for r in rows)


def source_rows(postgres, table: str) -> list[tuple]:
    return sorted(pg_execute(postgres, f"SELECT id, campaign_id, created_at FROM {table} WHERE created_at IS NOT NULL"))


def assert_converged(postgres, clickhouse) -> None:
    with clickhouse.session():  # one opening of the embedded engine for every comparison
        _assert_converged(postgres, clickhouse)


def _assert_converged(postgres, clickhouse) -> None:
    for source, table, id_column in (("impressions", "fact_impressions", "impression_id"),
                                     ("clicks", "fact_clicks", "click_id")):
        assert fact_rows(clickhouse, table, id_column) == source_rows(postgres, source), table
    assert kpi_differences(postgres, clickhouse) == {}


def sync_ok(resources: dict, instance: DagsterInstance | None = None) -> SyncReport:
    """``sync``, which must succeed."""
    report = sync(resources, instance)
    assert report.ok, (report.failed_checks, report.errors)
    return report


def materialize_day(resources: dict, table: str, day: date, instance: DagsterInstance | None = None):
    """Materialize one partition of ``analytics/<table>`` (with its checks), as the UI would."""
    result = materialize(
        [*ALL_ASSETS, *ALL_CHECKS],
        selection=AssetSelection.assets(AssetKey(["analytics", table])),
        partition_key=day.isoformat(),
        resources=resources,
        instance=instance or DagsterInstance.ephemeral(),
    )
    assert result.success
    return result


# ---- KPI rows, comparable across engines ------------------------------------------------------

def _sort_key(row: tuple) -> tuple:
    return tuple((value is None, value if value is not None else 0) for value in row)


def rows_with_types(columns: list[str], rows: Iterable[tuple]) -> tuple[list[str], list[tuple]]:
    """Columns, and rows sorted, each value paired with its Python type so that 1 != 1.0 != Decimal(1)."""
    typed = [tuple((type(v).__name__ if v is not None else None, v) for v in row) for row in rows]
    return columns, sorted(typed, key=lambda row: _sort_key(tuple(v for _, v in row)))


def view_rows(clickhouse: ClickHouseResource, view: str) -> tuple[list[str], list[tuple]]:
    assert view in KPI_VIEWS
    with clickhouse.session() as ch:
        table = ch.client.query_arrow(f"SELECT * FROM analytics.{view}")
    columns = table.column_names
    return rows_with_types(columns, (tuple(r[c] for c in columns) for r in table.to_pylist()))


def ground_truth_rows(postgres: PostgresResource, view: str) -> tuple[list[str], list[tuple]]:
    statement = (GROUND_TRUTH_DIR / f"{view}.sql").read_text()
    with postgres.connect() as conn:
        cur = conn.execute(statement)
        columns = [d.name for d in cur.description]
        return rows_with_types(columns, cur.fetchall())


def kpi_differences(postgres: PostgresResource, clickhouse: ClickHouseResource) -> dict[str, dict]:
    """Per view that differs from its Postgres ground truth: columns and rows on each side only.
    One session for the five views (opening the embedded engine costs 0.1-0.3 s)."""
    with clickhouse.session():
        return _kpi_differences(postgres, clickhouse)


def _kpi_differences(postgres: PostgresResource, clickhouse: ClickHouseResource) -> dict[str, dict]:
    differences = {}
    for view in KPI_VIEWS:
        pg_columns, pg_rows = ground_truth_rows(postgres, view)
        ch_columns, ch_rows = view_rows(clickhouse, view)
        if pg_columns != ch_columns or pg_rows != ch_rows:
            differences[view] = {
                "columns": (pg_columns, ch_columns),
                "postgres_only": [r for r in pg_rows if r not in ch_rows][:10],
                "clickhouse_only": [r for r in ch_rows if r not in pg_rows][:10],
            }
    return differences


# ---- Postgres writes, as the next pass sees them -------------------------------------------------

def settle_counters(postgres, table: str, before: list) -> None:
    """Postgres publishes a transaction's write counters when its backend goes idle or exits,
    a moment after the commit; wait (bounded) until they show, as the next pass would."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if counters(postgres, table) != before:
            return
        time.sleep(0.05)
    raise AssertionError(f"the write counters of {table} never moved")


def counters(postgres, table: str) -> list:
    """The table's insert, update and delete counters (``pg_stat_user_tables``)."""
    return list(pg_execute(postgres, "SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables "
                                     "WHERE relname = %s", (table,))[0])


def change(postgres, table: str, statement: str, params=()) -> None:
    before = counters(postgres, table)
    pg_execute(postgres, statement, params)
    settle_counters(postgres, table, before)


def started_run(instance: DagsterInstance, pid: int, started: str = "") -> str:
    """A run left STARTED on this host by the worker process ``pid``, as a kill -9 leaves it."""
    from adtech_assets.runtime.run_liveness import HOST_TAG, PID_TAG, STARTED_TAG

    return run_left_started(instance, {HOST_TAG: os.uname().nodename, PID_TAG: str(pid), STARTED_TAG: started})


def run_left_started(instance: DagsterInstance, tags: dict[str, str]) -> str:
    """A run of a one-op job with ``tags``, left STARTED."""
    from dagster import job, op
    from dagster._core.events import DagsterEvent, DagsterEventType

    @op
    def noop():
        pass

    @job
    def probe():
        noop()

    run = instance.create_run_for_job(probe, tags=tags)
    instance.report_dagster_event(DagsterEvent(DagsterEventType.RUN_START.value, job_name=run.job_name),
                                  run_id=run.run_id)
    return run.run_id


# ---- the CLI, as a user runs it -----------------------------------------------------------------

def cli_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """A clean environment for ``adtech``: data and Dagster home under ``tmp_path``, plus ``settings``
    (``ADTECH_PG_URL=...`` etc.). Settings given as '' are removed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADTECH_", "DAGSTER_"))}
    env.update(ADTECH_DATA_DIR=str(tmp_path / "data"), DAGSTER_HOME=str(tmp_path / "dagster_home"))
    env.update(settings)
    return {k: v for k, v in env.items() if v != ""}


def cli_command(*args: str) -> list[str]:
    """``adtech <args>`` as installed by ``uv sync`` (the module when the script is missing)."""
    command = [str(ADTECH)] if ADTECH.exists() else [sys.executable, "-m", "adtech_assets.cli.main"]
    return [*command, *args]


def run_cli(args: Sequence[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*args), env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=PROJECT_ROOT)


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out[-3000:]}\n--- stderr\n{self.err[-3000:]}"

    def loaded_days(self) -> set[date]:
        """The days the pass's runs reloaded ("facts: loading <first> .. <last> (...)")."""
        days: set[date] = set()
        for first, last in re.findall(r"facts: loading (\S+) \.\. (\S+) \(", self.out):
            day, last_day = date.fromisoformat(first), date.fromisoformat(last)
            while day <= last_day:
                days.add(day)
                day += timedelta(days=1)
        return days

    def load_reasons(self) -> set[str]:
        """Why the runs reloaded their days, as the "facts: loading" lines say."""
        return set(re.findall(r"^\[[^]]*\] facts: loading .*?\): (.*)$", self.out, re.MULTILINE))


def run_adtech(capsys, *args: str) -> Ran:
    """`adtech <args>` in this process, as a user runs it; its exit code and output."""
    from adtech_assets.cli.main import main

    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return Ran(code, out, err)
