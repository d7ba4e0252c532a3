"""Real engines for every test: a Postgres database per test session (from
``ADTECH_TEST_PG_URL``, or an embedded server when unset), cloned per test from a migrated
template, and a fresh embedded ClickHouse (chDB) directory per test. Nothing is mocked."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from adtech_assets.cli.demo import compile_bytecode_once
from adtech_assets.db.migrations import migrate
from adtech_assets.db.postgres.embedded import (
    embedded_postgres_url,
    stop_embedded_postgres,
)
from adtech_assets.defs.resources import ClickHouseResource, PostgresResource
from adtech_assets.runtime.gc_tuning import collect_less, freeze_imports

TEST_PG_URL = "ADTECH_TEST_PG_URL"


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextmanager
def fresh_database(server_url: str, prefix: str, template: str | None = None) -> Iterator[str]:
    """A new database on the test server (optionally cloned from ``template``), dropped after;
    yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    clone = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"{clone}')
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """An admin URL of the Postgres server the tests use: ``ADTECH_TEST_PG_URL``, or an embedded
    server in its own temporary folder (not under pytest's basetemp, which another pytest run
    may reset to owner-only access while the server, running as its own user, still needs it)."""
    url = os.environ.get(TEST_PG_URL)
    if url:
        yield url
        return
    folder = Path(tempfile.mkdtemp(prefix="adtech-test-pg-"))
    # embedded-postgres keeps an inter-process lock file there until exit: outside the folder
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="adtech-test-run-"))
    server_url = embedded_postgres_url(folder)
    yield server_url
    stop_embedded_postgres(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def data_dir(monkeypatch) -> Iterator[Path]:
    """An ``ADTECH_DATA_DIR`` of the test's own for an embedded Postgres that the test starts and
    stops, in its own temporary folder for the reason ``pg_server_url`` gives; stopped and
    removed after. ``XDG_RUNTIME_DIR`` is this test's while it runs: the embedded server sets it
    in the process that starts it, and a later test's processes must not inherit a folder gone
    or widened to 0755 (platformdirs then warns on their output)."""
    folder = Path(tempfile.mkdtemp(prefix="adtech-data-"))
    (folder / "run").mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder / "run"))
    yield folder
    stop_embedded_postgres(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def template_database(pg_server_url) -> Iterator[str]:
    """A migrated database that each test clones (CREATE DATABASE ... TEMPLATE is fast)."""
    with fresh_database(pg_server_url, "adtech_tmpl") as url:
        migrate(PostgresResource(url=url))
        yield urlsplit(url).path.lstrip("/")


@pytest.fixture
def pg_url(pg_server_url, template_database) -> Iterator[str]:
    """A fresh, migrated, empty source database for one test; dropped after it."""
    with fresh_database(pg_server_url, "adtech_test", template=template_database) as url:
        yield url


@pytest.fixture
def postgres(pg_url) -> PostgresResource:
    return PostgresResource(url=pg_url)


@pytest.fixture
def clickhouse_path(tmp_path) -> Path:
    return tmp_path / "clickhouse"


@pytest.fixture
def clickhouse(clickhouse_path) -> ClickHouseResource:
    return ClickHouseResource(url=f"chdb://{clickhouse_path}", lock_timeout_seconds=120)


@pytest.fixture
def adtech_env(monkeypatch, pg_url, clickhouse_path, tmp_path) -> None:
    """The environment of `adtech` run in this process: this test's databases, its own data
    directory and Dagster home, and no setting from outside."""
    for name in list(os.environ):
        if name.startswith(("ADTECH_", "DAGSTER_")) and not name.startswith("ADTECH_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ADTECH_PG_URL", pg_url)
    monkeypatch.setenv("ADTECH_CLICKHOUSE_URL", f"chdb://{clickhouse_path}")
    monkeypatch.setenv("ADTECH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))


@pytest.fixture
def resources(postgres, clickhouse) -> dict:
    return {"postgres": postgres, "clickhouse": clickhouse}


def pytest_collection_finish(session) -> None:
    """As the adtech command does (cli.run): once the test modules (and Dagster) are imported,
    freeze what they made and collect the young generation less often; the collector walked
    those objects over and over (~22 CPU-s of the suite's workers)."""
    collect_less()
    freeze_imports()


def pytest_configure(config) -> None:
    if not hasattr(config, "workerinput"):  # once, in the controller, before the workers start
        compile_bytecode_once()  # where PYTHONDONTWRITEBYTECODE is set, as the demo does
    config.addinivalue_line(
        "markers", "long(seconds): a test that takes about this long on a quiet machine; long tests start first"
    )


def pytest_collection_modifyitems(config, items) -> None:
    """Under xdist's worksteal each worker starts on a contiguous share of the collection and an
    idle worker steals from the end of another's queue. A long test collected late starts last
    and runs alone while the other workers idle (measured: the README test, 130 s under a CPU
    hog, began at minute 7 of 9). So the ``long`` tests go to the heads of the shares, heaviest
    first onto the lightest share; the other tests fill the shares in collection order, which
    keeps a module's tests (and its module fixtures) together."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 0))
    long_tests = sorted((item for item in items if item.get_closest_marker("long")),
                        key=lambda item: -item.get_closest_marker("long").args[0])
    if workers < 2 or not long_tests:
        return
    sizes, left = [], len(items)
    for share in range(workers, 0, -1):  # the split of WorkStealingScheduling.check_schedule
        sizes.append(left // share)
        left -= sizes[-1]
    heads: list[list] = [[] for _ in sizes]
    weights = [0.0] * workers
    for item in long_tests:
        share = min((s for s in range(workers) if len(heads[s]) < sizes[s]), key=lambda s: weights[s])
        heads[share].append(item)
        weights[share] += item.get_closest_marker("long").args[0]
    rest = iter(item for item in items if not item.get_closest_marker("long"))
    items[:] = [item for share, head in enumerate(heads)
                for item in head + [next(rest) for _ in range(sizes[share] - len(head))]]
