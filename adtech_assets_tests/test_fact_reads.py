"""Fact reads: asyncpg's binary COPY decoded with numpy gives exactly the rows Postgres holds,
the same batches as the ADBC path that connection strings asyncpg cannot take fall back to; a
reader that is left early stops; and a read that fails says why as the ADBC path does."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from adtech_assets.db.postgres import fact_copy
from adtech_assets.db.postgres.client import table_query
from adtech_assets.db.postgres.fact_window import day_window, uncrossed_bounds_dropped
from adtech_assets.defs.resources import PostgresResource
from adtech_assets.errors import AdtechError, TransientError
from adtech_assets_tests.helpers import (
    add_advertiser,
    add_campaign,
    add_events,
    pg_execute,
)

NAMES = ("impression_id", "campaign_id", "created_at")
DAY = date(2026, 3, 9)
OLD_DAY = date(1999, 12, 31)  # before Postgres's binary epoch: negative microseconds


def read(postgres: PostgresResource, first: date, last: date) -> pa.Table:
    with postgres.fact_batches("impressions", day_window(first, last), NAMES) as batches:
        return pa.Table.from_batches(list(batches), schema=_SCHEMA)


_SCHEMA = pa.schema([("impression_id", pa.int32()), ("campaign_id", pa.int32()),
                     ("created_at", pa.timestamp("us", tz="UTC"))])


def via_adbc(pg_url: str) -> PostgresResource:
    """The same database through a keyword asyncpg does not take: the ADBC path."""
    url = f"{pg_url}{'&' if '?' in pg_url else '?'}keepalives=1"
    assert fact_copy.connect_params(url, 10) is None
    return PostgresResource(url=url)


@pytest.fixture
def events(postgres) -> list[tuple[int | None, datetime]]:
    campaign = add_campaign(postgres, "c", add_advertiser(postgres, "a"))
    midnight = datetime.combine(DAY, datetime.min.time())
    rows = [(campaign, midnight), (None, midnight + timedelta(microseconds=1)),
            (campaign, midnight + timedelta(hours=23, minutes=59, seconds=59, microseconds=999_999)),
            (None, datetime.combine(OLD_DAY, datetime.min.time()) + timedelta(hours=12, microseconds=7)),
            (campaign, midnight + timedelta(days=1))]  # the next day: outside a one-day window
    rows += [(campaign if i % 3 else None, midnight + timedelta(seconds=i)) for i in range(1, 40_000)]
    add_events(postgres, "impressions", rows)
    return rows


def test_copy_rows_are_the_rows_postgres_holds_and_the_adbc_paths(postgres, pg_url, events):
    assert fact_copy.connect_params(postgres.resolved_url(), 10) is not None, "the COPY path is taken"
    expected = pg_execute(postgres, "SELECT id, campaign_id, created_at FROM impressions "
                                    "WHERE created_at >= %s AND created_at < %s ORDER BY id",
                          (OLD_DAY, DAY + timedelta(days=1)))
    ours = read(postgres, OLD_DAY, DAY).sort_by("impression_id")
    assert ours.schema == _SCHEMA
    assert [(r["impression_id"], r["campaign_id"], r["created_at"]) for r in ours.to_pylist()] == [
        (i, c, t.replace(tzinfo=timezone.utc)) for i, c, t in expected]
    assert ours.column("campaign_id").null_count == sum(1 for _, c, _ in expected if c is None) > 0
    assert read(via_adbc(pg_url), OLD_DAY, DAY).sort_by("impression_id").equals(ours)


def test_a_window_around_every_row_reads_the_table_without_testing_a_row(postgres, events):
    """A backfill of the whole history: the read leaves out the time bounds no row crosses (and
    a whole day's read has no id bound), so Postgres plans no per-row filter; same rows."""
    lowest, highest, undated = pg_execute(postgres, table_query("read_extent", "impressions").as_string())[0]
    assert (lowest.date(), highest.date(), undated) == (OLD_DAY, DAY + timedelta(days=1), False)
    around = uncrossed_bounds_dropped(day_window(OLD_DAY, DAY + timedelta(days=1)), lowest, highest, undated)
    assert around == {"window_start": None, "window_end": None, "after_id": None}
    plan = "\n".join(row[0] for row in pg_execute(
        postgres, "EXPLAIN " + table_query("read_impressions", literals=around).as_string()))
    assert "Seq Scan" in plan and "Filter" not in plan, plan
    everything = read(postgres, OLD_DAY - timedelta(days=1), DAY + timedelta(days=2))
    assert everything.num_rows == len(events)
    assert read(postgres, OLD_DAY, DAY + timedelta(days=1)).sort_by("impression_id").equals(
        everything.sort_by("impression_id"))

    inside = day_window(OLD_DAY, DAY)  # the last row is a day later: the upper bound stays
    assert uncrossed_bounds_dropped(inside, lowest, highest, undated) == {**inside, "window_start": None}
    assert read(postgres, OLD_DAY, DAY).num_rows == len(events) - 1
    later = day_window(DAY, DAY + timedelta(days=1))
    assert uncrossed_bounds_dropped(later, lowest, highest, undated) == {**later, "window_end": None}
    assert uncrossed_bounds_dropped(inside, None, None, False) == inside, "an empty table: as asked"


def test_a_row_without_a_time_keeps_the_bounds(postgres, events):
    """Only a time bound keeps a row without a creation time out of every day (its NULL would
    not decode): where one exists, the read keeps its bounds."""
    pg_execute(postgres, "INSERT INTO impressions (campaign_id, created_at) VALUES (NULL, NULL)")
    window = day_window(OLD_DAY, DAY + timedelta(days=1))
    assert uncrossed_bounds_dropped(window, datetime(1999, 1, 1), datetime(2027, 1, 1), True) == window
    assert read(postgres, OLD_DAY, DAY + timedelta(days=1)).num_rows == len(events)


def test_blocks_are_bounded_and_a_reader_left_early_stops(postgres, events, monkeypatch):
    monkeypatch.setattr(fact_copy, "BLOCK_BYTES", 64 * 1024)
    with postgres.fact_batches("impressions", day_window(DAY, DAY), NAMES) as batches:
        sizes = [batch.num_rows for batch in batches]
    assert len(sizes) > 3 and max(sizes) == 64 * 1024 // fact_copy.ROW.itemsize
    assert sum(sizes) == len([e for e in events if e[1].date() == DAY])

    started = time.monotonic()
    with postgres.fact_batches("impressions", day_window(DAY, DAY), NAMES) as batches:
        next(iter(batches))
    assert time.monotonic() - started < 20, "the producer stopped at its next block"


def test_without_an_index_on_created_at_the_read_keeps_its_bounds(postgres, events):
    """The table's span is read from an index that created_at leads; without one it would be two
    scans of the table before every read, so none is made and the read keeps its bounds."""
    pg_execute(postgres, "DROP INDEX impressions_created_at_idx")
    assert pg_execute(postgres, table_query("read_extent", "impressions").as_string()) == [(None, None, None)]
    assert read(postgres, OLD_DAY, DAY + timedelta(days=1)).num_rows == len(events)
    assert read(postgres, OLD_DAY, DAY).num_rows == len(events) - 1


def test_the_reader_pauses_after_a_small_piece_only(monkeypatch):
    """Postgres sends 8 KB pieces: after a small one the reader waits for the socket to fill
    (half the read's CPU went to waking for each); after a large one it reads on at once."""
    pauses = []

    async def sleep(seconds):
        pauses.append(seconds)

    monkeypatch.setattr(fact_copy.asyncio, "sleep", sleep)
    blocks = fact_copy._Blocks(NAMES, lambda batch: None)
    header = fact_copy._HEADER + bytes(8)
    for piece in (header, bytes(34 * 100), bytes(34 * (fact_copy.SMALL_PIECE_BYTES // 34 + 1))):
        fact_copy.asyncio.run(blocks.write(piece))
    assert pauses == [fact_copy.PAUSE_SECONDS] * 2


def test_an_empty_window_gives_no_batch(postgres):
    assert read(postgres, DAY, DAY).num_rows == 0


@pytest.mark.parametrize(
    ("conninfo", "taken"),
    [
        ("postgresql://u:p@h:5433/db?sslmode=require&connect_timeout=3&application_name=x", True),
        ("host=h1,h2 port=5432,5433 dbname=db options='-c TimeZone=UTC -c statement_timeout=0'", True),
        ("postgresql://u@h/db?sslrootcert=/ca.pem", False),
        ("service=analytics", False),
        ("host=h options='--search_path=s'", False),
        ("host=h gssencmode=disable", False),
        ("host=h connect_timeout=0", True),
    ],
)
def test_asyncpg_takes_only_what_it_connects_to_as_libpq_would(conninfo, taken):
    params = fact_copy.connect_params(conninfo, 10)
    assert (params is not None) == taken, params
    if "h1,h2" in conninfo:
        assert params["host"] == ["h1", "h2"] and params["port"] == [5432, 5433]
        assert params["server_settings"] == {"TimeZone": "UTC", "statement_timeout": "0"}
    if "connect_timeout=0" in conninfo:
        assert params["timeout"] == 10, "libpq's 0 is no limit, not an immediate timeout"
    if "connect_timeout=3" in conninfo:
        assert params["timeout"] == 3 and params["ssl"] == "require"
        assert params["server_settings"] == {"application_name": "x"}


def test_a_libpq_variable_asyncpg_ignores_sends_the_read_to_adbc(monkeypatch):
    assert fact_copy.connect_params("host=h dbname=db", 10) is not None
    monkeypatch.setenv("PGSERVICE", "analytics")
    assert fact_copy.connect_params("host=h dbname=db", 10) is None


def test_rows_of_another_layout_are_an_error_not_data():
    good = fact_copy.decode_rows(b"", NAMES)
    assert good.num_rows == 0
    with pytest.raises(fact_copy.LayoutError, match="not whole"):
        fact_copy.decode_rows(b"\x00" * 35, NAMES)
    with pytest.raises(fact_copy.LayoutError, match="row 0 has 0 fields"):
        fact_copy.decode_rows(b"\x00" * 34, NAMES)


def test_an_unreachable_server_is_transient_and_named():
    postgres = PostgresResource(url="postgresql://postgres@127.0.0.1:5999/adtech", connect_timeout_seconds=2)
    with pytest.raises(TransientError, match="127.0.0.1.*5999"):
        read(postgres, DAY, DAY)


def test_a_renamed_source_column_is_named(postgres, events):
    pg_execute(postgres, "ALTER TABLE impressions RENAME COLUMN campaign_id TO campaign")
    with pytest.raises(AdtechError, match="impressions.campaign_id"):
        read(postgres, DAY, DAY)


def test_decoding_imports_no_pandas():
    """``pa.array`` imports pandas on its first call (0.3-0.4 s of every loading process);
    the decode builds its arrays from buffers instead. NULL campaigns stay NULL."""
    script = (
        "import sys, numpy as np\n"
        "from adtech_assets.db.postgres import fact_copy\n"
        "rows = np.zeros(9, dtype=fact_copy.ROW)\n"
        "rows['fields'], rows['id_len'], rows['campaign_len'], rows['created_len'] = 3, 4, 8, 8\n"
        "rows['id'], rows['campaign'] = np.arange(9), np.arange(9) * 3\n"
        "rows['campaign'][[0, 8]] = fact_copy.NULL_CAMPAIGN\n"
        "batch = fact_copy.decode_rows(rows.tobytes(), ('i', 'c', 't'))\n"
        "batch.validate(full=True)\n"
        "assert batch.column('c').to_pylist() == [None, 3, 6, 9, 12, 15, 18, 21, None]\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
