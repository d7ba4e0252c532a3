"""Fact rows over Postgres's binary COPY, decoded a block at a time with numpy.

A fact read (``adtech_assets/db/sql/read_<source>.sql``) returns three columns of fixed wire width
(``int4`` id, ``int8`` campaign with NULL sent as 2^32, ``timestamp``): 34 bytes a row, so a block
of whole rows is one numpy structured array, turned into Arrow columns by a few vectorized casts.
asyncpg hands over the COPY data as large blocks of whole rows (libpq, under ADBC, returns one
row per call and ADBC decodes field by field): measured on 10M impressions, 1.6-2.1 CPU-s
against ADBC's 2.3-2.4 for the same read (benchmarks/load_stages.py), and on uvloop's event loop
the COPY itself 1.4-1.6 CPU-s against asyncio's 1.9-2.0: CPU the ClickHouse insert shares.

asyncpg understands most, not all, of what libpq accepts: ``connect_params`` says which connection
strings it takes as libpq would, and the caller reads the others through ADBC (same columns).
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
from psycopg.conninfo import conninfo_to_dict

from adtech_assets.settings import libpq_environment

NULL_CAMPAIGN = 1 << 32  # outside int4: the read queries send a NULL campaign_id as this
PG_EPOCH_MICROS = 946_684_800_000_000  # 2000-01-01, the origin of Postgres's binary timestamps
ROW = np.dtype([
    ("fields", ">i2"),
    ("id_len", ">i4"), ("id", ">i4"),
    ("campaign_len", ">i4"), ("campaign", ">i8"),
    ("created_len", ">i4"), ("created", ">i8"),
])
_HEADER = b"PGCOPY\n\xff\r\n\x00"  # then a 4-byte flags field and a 4-byte extension length
_TRAILER = b"\xff\xff"
BLOCK_BYTES = 16 * 1024 * 1024  # an Arrow batch's rows (~490k): bounded memory whatever the range
# Postgres sends a COPY 8 KB at a time; a reader that takes each piece as it comes wakes once per
# piece, and those wakeups cost as much CPU as decoding the rows. After a small piece the reader
# pauses a millisecond (asyncpg reads nothing while its sink runs) and the socket fills, so it
# wakes for pieces about twenty times larger (Postgres, too, spends less on waking its reader).
# A reader that is behind gets large pieces and no pause.
SMALL_PIECE_BYTES = 128 * 1024
PAUSE_SECONDS = 0.001

# What asyncpg takes with libpq's meaning; any other keyword (or PG* variable below) is read
# through libpq (ADBC) instead.
_KEYWORDS = {"host", "port", "user", "password", "dbname", "passfile", "sslmode", "connect_timeout",
             "application_name", "options", "target_session_attrs"}
_LIBPQ_ENVIRONMENT = {  # libpq's variables that change a connection, by the keyword they set
    "PGHOSTADDR", "PGSERVICE", "PGSERVICEFILE", "PGOPTIONS", "PGAPPNAME", "PGREQUIRESSL", "PGSSLCERT",
    "PGSSLKEY", "PGSSLROOTCERT", "PGSSLCRL", "PGSSLCRLDIR", "PGSSLCOMPRESSION", "PGREQUIREPEER",
    "PGSSLMINPROTOCOLVERSION", "PGSSLMAXPROTOCOLVERSION", "PGGSSENCMODE", "PGKRBSRVNAME", "PGGSSLIB",
    "PGCHANNELBINDING", "PGCLIENTENCODING", "PGTARGETSESSIONATTRS", "PGLOADBALANCEHOSTS", "PGSYSCONFDIR",
    "PGSSLNEGOTIATION", "PGGSSDELEGATION", "PGSSLCERTMODE",
}


class LayoutError(Exception):
    """COPY data that is not the three fixed-width columns of a fact read."""


class ConnectFailed(Exception):
    """asyncpg could not connect; the cause is the driver's exception."""


def connect_params(conninfo: str, timeout: float) -> dict[str, Any] | None:
    """asyncpg's ``connect`` arguments for a libpq connection string, or None where asyncpg would
    not connect as libpq does (a keyword or a libpq variable it does not handle)."""
    params = conninfo_to_dict(conninfo)
    if set(params) - _KEYWORDS or _LIBPQ_ENVIRONMENT & set(libpq_environment()):
        return None
    settings = _server_settings(params.pop("options", ""))
    if settings is None:
        return None
    if "application_name" in params:
        settings["application_name"] = params.pop("application_name")
    hosts, ports = params.pop("host", None), params.pop("port", None)
    connect: dict[str, Any] = {
        "host": hosts.split(",") if hosts and "," in hosts else hosts,
        "port": [int(p) for p in ports.split(",")] if ports and "," in ports else (int(ports) if ports else None),
        "user": params.pop("user", None),
        "password": params.pop("password", None),
        "database": params.pop("dbname", None),
        "passfile": params.pop("passfile", None),
        "ssl": params.pop("sslmode", None),
        "timeout": _connect_timeout(params.pop("connect_timeout", None), timeout),
        "server_settings": settings,
    }
    if "target_session_attrs" in params:
        connect["target_session_attrs"] = params.pop("target_session_attrs")
    return {k: v for k, v in connect.items() if v is not None}


def _connect_timeout(given: str | None, default: float) -> float:
    """libpq's ``connect_timeout`` where it sets a limit; its 0 (no limit) and an absent one
    take the resource's, as the psycopg connections do."""
    seconds = float(given) if given else 0.0
    return seconds if seconds > 0 else float(default)


def _server_settings(options: str) -> dict[str, str] | None:
    """``-c name=value`` pairs of libpq's ``options``; None for anything else in it."""
    settings, words = {}, shlex.split(options)
    while words:
        word = words.pop(0)
        if word == "-c" and words:
            word = "-c" + words.pop(0)
        name, eq, value = word[2:].partition("=")
        if not word.startswith("-c") or not eq or not name:
            return None
        settings[name] = value
    return settings


def decode_rows(block: memoryview | bytes, names: tuple[str, str, str]) -> pa.RecordBatch:
    """Whole COPY rows (no header, no trailer) as an Arrow batch: ``int32`` id, nullable
    ``int32`` campaign, ``timestamp[us, UTC]`` creation time."""
    if len(block) % ROW.itemsize:
        raise LayoutError(f"{len(block)} bytes are not whole {ROW.itemsize}-byte rows")
    rows = np.frombuffer(block, dtype=ROW)
    lengths = ((rows["fields"] == 3) & (rows["id_len"] == 4) & (rows["campaign_len"] == 8)
               & (rows["created_len"] == 8))
    if not lengths.all():
        bad = int(np.argmin(lengths))
        raise LayoutError(f"row {bad} has {rows['fields'][bad]} fields of lengths "
                          f"{rows['id_len'][bad]}, {rows['campaign_len'][bad]}, {rows['created_len'][bad]}")
    campaign = rows["campaign"].astype(np.int64)
    missing = campaign == NULL_CAMPAIGN
    created = rows["created"].astype(np.int64)
    created += PG_EPOCH_MICROS
    return pa.RecordBatch.from_arrays(
        [
            _arrow_array(rows["id"].astype(np.int32), pa.int32()),
            _arrow_array(campaign.astype(np.int32), pa.int32(), missing),
            _arrow_array(created, pa.timestamp("us", tz="UTC")),
        ],
        names=list(names),
    )


def _arrow_array(values: np.ndarray, type: pa.DataType, missing: np.ndarray | None = None) -> pa.Array:
    """A contiguous numpy array's buffer as an Arrow array (NULL where ``missing``), without a
    copy. Not ``pa.array``: its first call imports pandas, in every loading process."""
    nulls = int(missing.sum()) if missing is not None else 0
    validity = pa.py_buffer(np.packbits(~missing, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(type, len(values), [validity, pa.py_buffer(values)], null_count=nulls)


def from_arrow(batch: pa.RecordBatch, names: tuple[str, str, str]) -> pa.RecordBatch:
    """The same batch as ``decode_rows`` makes, from the read query's rows as ADBC returns them
    (the campaign an ``int64`` with NULL as ``NULL_CAMPAIGN``, the time without a zone)."""
    import pyarrow.compute as pc

    ids, campaign, created = batch.columns
    campaign = pc.if_else(pc.equal(campaign, NULL_CAMPAIGN), pa.scalar(None, pa.int64()), campaign)
    return pa.RecordBatch.from_arrays(
        [ids.cast(pa.int32()), campaign.cast(pa.int32()), created.cast(pa.timestamp("us", tz="UTC"))],
        names=list(names),
    )


class _Blocks:
    """COPY data as asyncpg hands it over (whole rows per chunk, the header in the first), cut
    into blocks of about ``BLOCK_BYTES`` and decoded; paced so that chunks are large
    (``SMALL_PIECE_BYTES``)."""

    def __init__(self, names: tuple[str, str, str], deliver: Callable[[pa.RecordBatch], None]):
        self.names, self.deliver = names, deliver
        self.pending: list[bytes] = []
        self.size = 0
        self.header_seen = False

    async def write(self, chunk: bytes) -> None:
        if not self.header_seen:
            if not chunk.startswith(_HEADER):
                raise LayoutError("the data does not start with a binary COPY header")
            extension = int.from_bytes(chunk[15:19], "big")
            chunk = chunk[19 + extension:]
            self.header_seen = True
        self.pending.append(chunk)
        self.size += len(chunk)
        if self.size >= BLOCK_BYTES:
            self.flush()
        if len(chunk) < SMALL_PIECE_BYTES:
            await asyncio.sleep(PAUSE_SECONDS)

    def flush(self, last: bool = False) -> None:
        """Decode what is pending: blocks of whole rows of at most ``BLOCK_BYTES``, and on the
        last call the rest (less the trailer); the rest stays pending otherwise."""
        data = memoryview(b"".join(self.pending))
        size = BLOCK_BYTES - BLOCK_BYTES % ROW.itemsize
        start = 0
        while len(data) - start >= size:
            self.deliver(decode_rows(data[start:start + size], self.names))
            start += size
        rest = data[start:]
        if last:
            if bytes(rest[-len(_TRAILER):]) != _TRAILER:
                raise LayoutError("the data does not end with a binary COPY trailer")
            if len(rest) > len(_TRAILER):
                self.deliver(decode_rows(rest[:-len(_TRAILER)], self.names))
            self.pending, self.size = [], 0
        else:
            self.pending, self.size = [bytes(rest)], len(rest)


def copy_fact_rows(params: dict[str, Any], extent: str, query: Callable[..., str], names: tuple[str, str, str],
                   deliver: Callable[[pa.RecordBatch], None]) -> None:
    """On a connection of its own, in one read-only snapshot, read ``extent`` (one row) and run
    ``COPY (query(**extent)) TO STDOUT (FORMAT binary)``, handing each decoded batch to
    ``deliver`` (which may block: the read then waits, bounding memory). The query can then rely
    on what ``extent`` saw. Blocks the calling thread, which runs its own event loop."""
    import asyncpg

    async def read() -> None:
        blocks = _Blocks(names, deliver)
        try:
            connection = await asyncpg.connect(**params)
        except Exception as exc:  # OSError, a timeout, the server's refusal
            raise ConnectFailed(exc) from exc
        try:
            await connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            seen = await connection.fetchrow(extent)
            await connection.copy_from_query(query(**dict(seen)), output=blocks.write, format="binary")
        except BaseException:
            connection.terminate()  # mid-COPY: no clean end to wait for
            raise
        await connection.close(timeout=5)  # ends the read-only transaction
        blocks.flush(last=True)

    _run(read())


def _run(coroutine) -> None:
    """Run on uvloop where it is installed: its socket reads and callbacks cost about a third
    less CPU than asyncio's for a COPY's thousands of chunks, CPU the ClickHouse insert uses."""
    try:
        import uvloop
    except ImportError:  # not built for Windows
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)
