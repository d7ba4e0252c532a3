"""The embedded engine's streaming insert (resources/native_stream.py, ClickHouseSession.batch_insert):
the rows it lands are the rows insert_arrow lands, whatever the batches (NULLs, slices, empty
ones); its failures are raised, not lost, and leave no FIFO behind."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from adtech_assets.db.clickhouse.client import render
from adtech_assets.db.clickhouse.native_stream import native_block
from adtech_assets.db.clickhouse.schema import ensure_schema
from adtech_assets.defs.resources import ClickHouseResource

START = datetime(2026, 11, 1)
NAMES = ["impression_id", "campaign_id", "created_at"]


def batch(first_id: int, rows: int, nulls_every: int = 0) -> pa.RecordBatch:
    """Rows of fact_impressions over five weeks from START, a NULL campaign every ``nulls_every``."""
    ids = list(range(first_id, first_id + rows))
    return pa.RecordBatch.from_arrays([
        pa.array(ids, pa.int32()),
        pa.array([None if nulls_every and i % nulls_every == 0 else (i * 7) % 1000 - 3 for i in ids], pa.int32()),
        pa.array([START + timedelta(seconds=(i % 86_400) * 37, microseconds=i % 999_999) for i in ids], pa.timestamp("us", tz="UTC")),
    ], names=NAMES)


BATCHES = [
    batch(1, 5_000),
    batch(5_001, 0),  # empty
    batch(5_001, 20_000, nulls_every=3).slice(1_000, 15_000),  # an offset into the buffers, NULLs
    batch(-2_000_000_000, 300, nulls_every=1),  # all NULL, negative ids
]


@pytest.fixture
def ch(clickhouse: ClickHouseResource, tmp_path, monkeypatch):
    # FIFO folders go to this test's own temporary folder: other tests' loads run beside it
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with clickhouse.session() as session:
        ensure_schema(session)
        yield session


def rows_of(ch, table: str) -> list[tuple]:
    return ch.client.query(f"SELECT impression_id, campaign_id, created_at FROM analytics.{table} "
                           "ORDER BY impression_id").result_rows


def fifo_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("adtech-insert-*"))


def test_a_stream_lands_the_rows_insert_arrow_lands(ch):
    before = fifo_folders()
    with ch.staging_table("fact_impressions") as streamed, ch.staging_table("fact_impressions") as one_by_one:
        with ch.batch_insert(streamed) as insert:
            for b in BATCHES:
                insert(b)
        for b in BATCHES:
            ch.insert_arrow(one_by_one, b)
        landed = rows_of(ch, streamed)
        assert landed == rows_of(ch, one_by_one)
        assert len(landed) == 5_000 + 15_000 + 300
        assert sum(1 for _, campaign, _ in landed if campaign is None) == 5_000 + 300
    assert fifo_folders() == before


def test_a_caller_that_fails_midway_sees_its_own_error(ch):
    before = fifo_folders()
    with ch.staging_table("fact_impressions") as staging:
        with pytest.raises(ZeroDivisionError):
            with ch.batch_insert(staging) as insert:
                insert(BATCHES[0])
                1 / 0
    assert fifo_folders() == before


def test_an_insert_the_engine_refuses_is_raised(ch):
    """The statement fails before it reads (its table is gone): the engine's error is raised."""
    before = fifo_folders()
    with ch.staging_table("fact_impressions") as staging:
        with pytest.raises(Exception, match="UNKNOWN_TABLE|does not exist"):
            with ch.batch_insert(staging) as insert:
                ch.command("ops/drop_table", table=staging)
                insert(BATCHES[0])
    assert fifo_folders() == before


def test_columns_native_cannot_take_as_they_are_go_through_arrow(ch):
    """A column of another width (int64 for Int32) is converted by the engine's Arrow reader."""
    wide = batch(1, 100).set_column(0, "impression_id", pa.array(range(1, 101), pa.int64()))
    with ch.staging_table("fact_impressions") as staging:
        with ch.batch_insert(staging) as insert:
            insert(wide)
        assert [r[0] for r in rows_of(ch, staging)] == list(range(1, 101))


def test_a_block_is_the_arrow_buffers_with_a_native_header():
    parts = native_block(batch(1, 3, nulls_every=2), {"impression_id": "Int32", "campaign_id": "Nullable(Int32)",
                                                       "created_at": "DateTime64(6, 'UTC')"})
    assert parts[0] == b"\x03\x03"  # three columns, three rows
    assert bytes(parts[1]) == b"\x0dimpression_id\x05Int32"
    assert bytes(parts[2]) == (1).to_bytes(4, "little") + (2).to_bytes(4, "little") + (3).to_bytes(4, "little")
    assert bytes(parts[4]) == b"\x00\x01\x00"  # the null map: the second row's campaign is NULL
    with pytest.raises(ValueError, match="NULLs"):
        native_block(batch(1, 3, nulls_every=2), {"impression_id": "Int32", "campaign_id": "Int32",
                                                   "created_at": "DateTime64(6, 'UTC')"})


def test_the_infile_path_is_quoted_and_the_columns_are_identifiers():
    statement, values = render("ops/insert_native_from_file", {
        "table": "_staging_x", "columns": ["a", "b"], "path": "/tmp/it's\\here"})
    assert "INSERT INTO analytics.`_staging_x` (`a`, `b`) FROM INFILE '/tmp/it\\'s\\\\here'\n" in statement
    assert values is None
    with pytest.raises(Exception, match="identifier"):
        render("ops/insert_native_from_file", {"table": "t", "columns": ["a; DROP"], "path": "/p"})
