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

from adtech_assets.migrations import migrate
from adtech_assets.resources import ClickHouseResource, PostgresResource
from adtech_assets.resources.embedded_postgres import embedded_postgres_url, stop_embedded_postgres

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
def resources(postgres, clickhouse) -> dict:
    return {"postgres": postgres, "clickhouse": clickhouse}
