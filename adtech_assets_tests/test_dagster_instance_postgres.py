"""The deployment's Dagster instance (deploy/dagster.yaml, the file the compose stack ships)
against a real Postgres: runs, events and schedules live there, a materialization's history
survives a restart of every process, and the ``clickhouse`` pool limit is enforced."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
import yaml
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    QueuedRunCoordinator,
    execute_job,
    materialize,
    reconstructable,
)
from dagster_postgres import (
    PostgresEventLogStorage,
    PostgresRunStorage,
    PostgresScheduleStorage,
)

from adtech_assets.catalog import DIMS
from adtech_assets.defs.assets.dims import dim_assets
from adtech_assets.defs.keys import CLICKHOUSE_POOL, table_key
from adtech_assets.settings import PROJECT_ROOT
from adtech_assets_tests.clickhouse_pool_job import POOL, two_clickhouse_writes
from adtech_assets_tests.conftest import fresh_database

INSTANCE_YAML = PROJECT_ROOT / "deploy" / "dagster.yaml"


@pytest.fixture
def dagster_db(pg_server_url) -> Iterator[str]:
    """A fresh database for Dagster's storage, as the stack's dagster-postgres provides."""
    with fresh_database(pg_server_url, "dagster_test") as url:
        yield url


@pytest.fixture
def dagster_home(tmp_path, dagster_db, monkeypatch) -> Path:
    """``DAGSTER_HOME`` holding deploy/dagster.yaml as shipped, its ``{env: DAGSTER_PG_*}``
    settings pointed at ``dagster_db``."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(INSTANCE_YAML, home / "dagster.yaml")
    url = urlsplit(dagster_db)
    if url.hostname is None:
        # The embedded test server listens on a Unix socket only, which dagster-postgres reaches
        # through libpq's `host` parameter rather than a host name; nothing else changes.
        config = yaml.safe_load(INSTANCE_YAML.read_text())
        config["storage"]["postgres"]["postgres_db"]["params"] = {"host": parse_qs(url.query)["host"][0]}
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    settings = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": url.hostname or "localhost",
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_USER": url.username or "postgres",
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_DB": url.path.lstrip("/"),
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return home


def configured_pool_limit() -> int:
    return yaml.safe_load(INSTANCE_YAML.read_text())["concurrency"]["pools"]["default_limit"]


def test_instance_storage_is_postgres(dagster_home):
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, QueuedRunCoordinator), type(coordinator)
        assert coordinator.backfill_interval_seconds == 1  # a UI backfill gets its run within seconds


def test_a_materialization_survives_a_restart(dagster_home, dagster_db, pg_url, resources):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO advertiser (name) VALUES ('a'), ('b')")
    [dim_advertiser] = [a for a in dim_assets if a.key == table_key(DIMS[0].table)]

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        result = materialize([dim_advertiser], instance=instance, resources=resources)
        assert result.success
        run_id = result.run_id

    # A new process (as after a restart of webserver, daemon and code location) finds the run
    # and its materialization in Postgres through DAGSTER_HOME alone.
    probe = f"""
import json
from dagster import AssetKey, DagsterInstance
with DagsterInstance.get() as instance:
    run = instance.get_run_by_id({run_id!r})
    event = instance.get_latest_materialization_event(AssetKey({table_key(DIMS[0].table).path!r}))
    print(json.dumps({{
        "status": run.status.value,
        "run_id": event.run_id,
        "rows_upserted": event.asset_materialization.metadata["rows_upserted"].value,
    }}))
"""
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(found.stdout.strip().splitlines()[-1]) == {
        "status": DagsterRunStatus.SUCCESS.value,
        "run_id": run_id,
        "rows_upserted": 2,
    }
    with psycopg.connect(dagster_db) as conn:
        assert conn.execute("SELECT count(*) FROM runs WHERE run_id = %s", (run_id,)).fetchone()[0] == 1
        stored = conn.execute(
            "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
            (run_id,),
        ).fetchone()[0]
        assert stored == 1


def test_every_real_clickhouse_step_is_in_the_clickhouse_pool():
    """The stand-in job below proves the limit is enforced; this proves the real steps use it."""
    from adtech_assets.defs.location import ALL_ASSETS, ALL_CHECKS

    clickhouse_assets = [a for a in ALL_ASSETS
                         if any("dagster/kind/clickhouse" in tags for tags in getattr(a, "tags_by_key", {}).values())]
    assert sum(len(a.keys) for a in clickhouse_assets) == 10  # 2 dims, 2 facts, the rollup, 5 KPI views
    assert len(clickhouse_assets) == 6  # the five views are one step
    assert {a.op.name: a.op.pool for a in clickhouse_assets} == {a.op.name: CLICKHOUSE_POOL for a in clickhouse_assets}
    uses_clickhouse = [c for c in ALL_CHECKS if "clickhouse" in c.required_resource_keys]
    assert uses_clickhouse and all(c.node_def.pool == CLICKHOUSE_POOL for c in uses_clickhouse)


def test_the_clickhouse_pool_limit_is_configured_and_enforced(dagster_home):
    assert POOL == CLICKHOUSE_POOL
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        pool_config = instance.get_concurrency_config().pool_config
        assert pool_config.default_pool_limit == configured_pool_limit() > 1
        assert pool_config.pool_granularity.value == "op"
        assert instance.event_log_storage.get_concurrency_info(POOL).limit == configured_pool_limit()

        # What `dagster instance concurrency set clickhouse 1` does: an explicit limit, kept in
        # Postgres, overriding the default. Two independent writes must then run one at a time.
        limit = 1
        instance.event_log_storage.set_concurrency_slots(POOL, limit)
        info = instance.event_log_storage.get_concurrency_info(POOL)
        assert (info.slot_count, info.using_default_limit) == (limit, False)

        with execute_job(reconstructable(two_clickhouse_writes), instance=instance) as result:
            assert result.success
            events = instance.all_logs(result.run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS})
        windows = {}
        for event in events:
            windows.setdefault(event.step_key, []).append(event.timestamp)
        (start_a, end_a), (start_b, end_b) = sorted(windows.values())
        assert end_a <= start_b, f"steps overlapped: {windows}"
        assert instance.event_log_storage.get_concurrency_info(POOL).claimed_slots == []
