"""The ClickHouse resource's contract, one suite for both backends: the embedded engine (chDB)
always, a ClickHouse server when ``ADTECH_TEST_CLICKHOUSE_URL`` is set (e.g. the compose
stack's: http://adtech:<password>@127.0.0.1:8123). On a server the suite only touches days in
1971, which it removes afterwards."""

import os
from datetime import date, datetime, timedelta, timezone

import polars as pl
import pyarrow as pa
import pytest

from adtech_assets.db.clickhouse.schema import migrate as migrate_schema
from adtech_assets.defs.resources import ClickHouseResource
from adtech_assets.engine.fingerprints import clickhouse_day_fingerprints

SERVER_URL = "ADTECH_TEST_CLICKHOUSE_URL"
DAY, NEXT_DAY = date(1971, 1, 1), date(1971, 1, 2)


@pytest.fixture(params=["embedded", "server"])
def backend(request, tmp_path) -> ClickHouseResource:
    if request.param == "embedded":
        yield ClickHouseResource(url=f"chdb://{tmp_path / 'ch'}", lock_timeout_seconds=60)
        return
    url = os.environ.get(SERVER_URL)
    if not url:
        pytest.skip(f"server backend: set {SERVER_URL} to a ClickHouse server to run it")
    resource = ClickHouseResource(url=url)
    yield resource
    with resource.session() as ch:
        for day in (DAY, NEXT_DAY):
            ch.command("ops/drop_partition", table="fact_impressions", day=day)


def impressions(ids: list[int], at: datetime, campaign: int | None = 7) -> pa.Table:
    return pa.table({
        "impression_id": pa.array(ids, pa.int32()),
        "campaign_id": pa.array([campaign] * len(ids), pa.int32()),
        "created_at": pa.array([at] * len(ids), pa.timestamp("us")),
    })


def day_rows(ch, day: date) -> list[int]:
    """Rows per day in [day, day + 1): an empty list when the day holds nothing."""
    rows = clickhouse_day_fingerprints(ch, "fact_impressions", "impression_id", day, day + timedelta(days=1))
    return [fingerprint.rows for fingerprint in rows.values()]


def test_migrate_is_idempotent_and_creates_every_object(backend):
    with backend.session() as ch:
        migrate_schema(ch)
        assert migrate_schema(ch).applied == []
        names = set(ch.client.query_arrow("SELECT name FROM system.tables WHERE database = 'analytics'")["name"].to_pylist())
    assert {"dim_advertiser", "dim_campaign", "fact_impressions", "fact_clicks", "agg_campaign_daily",
            "load_state", "load_manifest", "pending_days", "pending_loads", "schema_migrations", "mv_campaign_ctr", "mv_daily_performance", "mv_campaign_daily_performance",
            "mv_campaign_efficiency", "mv_advertiser_performance"} <= names


def test_arrow_insert_and_reads_keep_types_and_microseconds(backend):
    last_microsecond = datetime(1971, 1, 1, 23, 59, 59, 999999)
    with backend.session() as ch:
        migrate_schema(ch)
        with ch.staging_table("fact_impressions") as staging:
            assert ch.insert_arrow(staging, impressions([1, 2], last_microsecond)) == 2
            assert ch.insert_arrow(staging, impressions([3], datetime(1971, 1, 2), campaign=None)) == 1
            assert ch.insert_arrow(staging, impressions([], datetime(1971, 1, 2))) == 0
            table = ch.client.query_arrow(
                "SELECT impression_id, campaign_id, created_at, event_date FROM analytics.{s:Identifier} ORDER BY impression_id",
                parameters={"s": staging},
            )
            frame = ch.query_df("checks/day_fingerprints", table=staging, id_column="impression_id",
                                start=DAY, end=NEXT_DAY + timedelta(days=1))
    assert table["created_at"].to_pylist()[0] == last_microsecond.replace(tzinfo=timezone.utc)
    assert table["event_date"].to_pylist() == [DAY, DAY, NEXT_DAY]
    assert table["campaign_id"].to_pylist() == [7, 7, None]
    assert isinstance(frame, pl.DataFrame)
    assert dict(zip(frame["day"], frame["rows"])) == {DAY: 2, NEXT_DAY: 1}


def test_replace_partition_swaps_a_whole_day_and_drops_an_empty_one(backend):
    with backend.session() as ch:
        migrate_schema(ch)
        for ids in ([1, 2, 3], [4]):
            with ch.staging_table("fact_impressions") as staging:
                staged = ch.insert_arrow(staging, impressions(ids, datetime(1971, 1, 1, 12)))
                ch.replace_partition("fact_impressions", DAY, staging, staged)
            assert day_rows(ch, DAY) == [len(ids)], "the day holds exactly the last load, no duplicates"
        with ch.staging_table("fact_impressions") as staging:
            ch.replace_partition("fact_impressions", DAY, staging, 0)
        assert day_rows(ch, DAY) == []
        staging_left = ch.client.query_arrow(
            "SELECT count() AS n FROM system.tables WHERE database = 'analytics' AND name LIKE '\\_staging%'")
    assert staging_left["n"].to_pylist() == [0], "staging tables are dropped after use"
