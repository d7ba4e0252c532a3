"""The pipeline reads the source with a role that may only CONNECT and SELECT the four source
tables, created by the deployment's own script (deploy/postgres/reader_role.sql)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import psycopg
import pytest

from adtech_assets.catalog import DIMS, FACTS
from adtech_assets.db.clickhouse.schema import ensure_schema
from adtech_assets.defs.resources import PostgresResource
from adtech_assets.engine.loads.dims import load_dimension
from adtech_assets.engine.loads.facts import load_fact_days
from adtech_assets_tests.postgres_roles import (
    create_reader_role,
    drop_role,
    with_credentials,
)

SOURCE_TABLES = ["advertiser", "campaign", "impressions", "clicks"]
DAYS = [date(2025, 3, 1), date(2025, 3, 2)]


@pytest.fixture
def reader_url(pg_url) -> Iterator[str]:
    role = f"adtech_reader_{uuid.uuid4().hex[:8]}"
    create_reader_role(pg_url, role, "reader-pw")
    create_reader_role(pg_url, role, "reader-pw")  # idempotent, as each `docker compose up` runs it
    yield with_credentials(pg_url, role, "reader-pw")
    drop_role(pg_url, role)


def seed_source(owner_url: str) -> None:
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("INSERT INTO advertiser (name, updated_at) VALUES ('acme', '2025-03-01 10:00'), ('globex', NULL)")
        conn.execute(
            "INSERT INTO campaign (name, bid, budget, advertiser_id) VALUES ('spring', 1.25, 100.00, 1), ('fall', 0.50, 50.00, 2)"
        )
        conn.execute(
            "INSERT INTO impressions (campaign_id, created_at) VALUES "
            "(1, '2025-03-01 00:00:00'), (1, '2025-03-01 23:59:59.999999'), (2, '2025-03-02 12:00'), (NULL, '2025-03-02 13:00')"
        )
        conn.execute("INSERT INTO clicks (campaign_id, created_at) VALUES (1, '2025-03-01 00:00:05'), (2, '2025-03-02 12:00:01')")


def test_the_reader_role_can_read_the_source_tables_and_nothing_else(pg_url, reader_url):
    with psycopg.connect(reader_url, autocommit=True) as conn:
        for table in SOURCE_TABLES:
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        for forbidden in (
            "SELECT * FROM schema_migrations",
            "INSERT INTO advertiser (name) VALUES ('x')",
            "UPDATE campaign SET bid = 0",
            "DELETE FROM clicks",
            "CREATE TABLE scratch (id int)",
            "TRUNCATE impressions",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(forbidden)


def test_dims_and_facts_load_through_the_reader_role(pg_url, reader_url, clickhouse):
    seed_source(pg_url)
    postgres = PostgresResource(url=reader_url)

    with clickhouse.session() as ch:
        ensure_schema(ch)
        for spec in DIMS:
            load_dimension(spec, postgres, ch)
        loaded = {spec.table: {day: fingerprint.rows for day, fingerprint in load_fact_days(spec, DAYS, postgres, ch).items()}
                  for spec in FACTS}
        rows = {spec.table: ch.scalar("ops/count_rows", table=spec.table) for spec in [*DIMS, *FACTS]}

    assert loaded == {
        "fact_impressions": {DAYS[0]: 2, DAYS[1]: 2},
        "fact_clicks": {DAYS[0]: 1, DAYS[1]: 1},
    }
    assert rows == {"dim_advertiser": 2, "dim_campaign": 2, "fact_impressions": 4, "fact_clicks": 2}
