"""One streaming insert into the embedded engine: Arrow batches written as ClickHouse Native
blocks into a FIFO that a single ``INSERT ... FROM INFILE`` reads while they come.

clickhouse-connect hands an insert to chDB as a file: each batch serialized as an Arrow IPC
stream (copied as it grows), written to a new temporary file, read back and unlinked. Measured on
a 10M-row load, that was about 40 % of the insert's CPU in our process, on a machine whose two
cores the Postgres read and the insert share. Here a batch's column buffers go into the pipe as
they are (Native is the engine's own layout: a null map byte per row, then fixed-width
little-endian values), the engine parses and writes parts while the read goes on, and the pipe's
back-pressure keeps memory bounded. The statement goes through clickhouse-connect like any other.
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

_WIDTHS = {"Int32": 4, "Int64": 8, "UInt32": 4, "UInt64": 8, "DateTime64(6, 'UTC')": 8}
_OPEN_WAIT_SECONDS = 0.005
WRITE_BUFFER_BYTES = 1 << 20
PIPE_BYTES = 1 << 20  # Linux's default limit for an unprivileged process


def supported(schema: pa.Schema, types: Mapping[str, str]) -> bool:
    """Whether each column of ``schema`` is a fixed-width Arrow array of the width of its table
    column (Int32, ..., DateTime64(6, 'UTC'), optionally Nullable), on a little-endian machine."""
    return sys.byteorder == "little" and all(
        _base(types.get(field.name, "")) in _WIDTHS
        and (pa.types.is_integer(field.type) or pa.types.is_timestamp(field.type))
        and field.type.bit_width == 8 * _WIDTHS[_base(types[field.name])]
        for field in schema
    )


def _base(type_name: str) -> str:
    return type_name[len("Nullable("):-1] if type_name.startswith("Nullable(") else type_name


def _varuint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return _varuint(len(data)) + data


def native_block(batch: pa.RecordBatch, types: Mapping[str, str]) -> list[Any]:
    """A batch as one Native block: the pieces to write in order (headers and the Arrow
    buffers themselves, not copies)."""
    parts: list[Any] = [_varuint(batch.num_columns) + _varuint(batch.num_rows)]
    for name, column in zip(batch.schema.names, batch.columns):
        type_name = types[name]
        width = _WIDTHS[_base(type_name)]
        if column.type.bit_width != width * 8:
            raise ValueError(f"column {name} is {column.type}, not the {width}-byte {type_name} of the table")
        parts.append(_string(name) + _string(type_name))
        if type_name.startswith("Nullable("):
            parts.append(bytes(len(column)) if not column.null_count
                         else np.logical_not(column.is_valid().to_numpy(zero_copy_only=False)).view(np.uint8))
        elif column.null_count:
            raise ValueError(f"column {name} has NULLs, which {type_name} cannot hold")
        values = memoryview(column.buffers()[1])
        parts.append(values[column.offset * width:(column.offset + len(column)) * width])
    return parts


class NativeStream:
    """Batches into one table as one statement: call with each batch, then ``close``.

    ``run(names, path)`` executes the insert of columns ``names`` from ``path`` on the engine
    (it returns when the FIFO ends); ``types`` are the table's column types. Batches whose
    columns Native cannot take as they are go to ``fallback`` instead, one by one.
    """

    def __init__(self, run: Callable[[list[str], str], None], types: Mapping[str, str],
                 fallback: Callable[[pa.RecordBatch], Any]):
        self.run, self.types, self.fallback = run, types, fallback
        self.native: bool | None = None  # decided by the first batch
        self.out = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.folder: str | None = None

    def __call__(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        if self.native is None:
            self.native = supported(batch.schema, self.types)
        if not self.native:
            self.fallback(batch)
            return
        if self.out is None:
            self._start(batch.schema.names)
        try:
            for part in native_block(batch, self.types):
                self.out.write(part)
        except BrokenPipeError:  # the statement ended early: its error says why
            self.close()
            raise RuntimeError("the embedded engine stopped reading the insert") from None

    def _start(self, names: list[str]) -> None:
        self.folder = tempfile.mkdtemp(prefix="adtech-insert-")
        path = os.path.join(self.folder, "rows.native")
        os.mkfifo(path, 0o600)

        def insert() -> None:
            try:
                self.run(names, path)
            except BaseException as exc:  # re-raised in the caller's thread
                self.error = exc

        self.thread = threading.Thread(target=insert, name="chdb-insert", daemon=True)
        self.thread.start()
        while True:  # the write end opens once the engine has opened the read end
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError:
                if not self.thread.is_alive():
                    self.close()
                    raise RuntimeError("the embedded engine did not open the insert") from None
                time.sleep(_OPEN_WAIT_SECONDS)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        with suppress(OSError):  # Linux: fewer, larger hand-overs than the default 64 KiB
            fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
        self.out = open(fd, "wb", buffering=WRITE_BUFFER_BYTES)

    def close(self) -> None:
        """End the stream (the rows written so far are inserted), wait for the statement and
        remove the FIFO; the statement's error, if any, is raised here."""
        if self.out is not None:
            out, self.out = self.out, None
            try:
                out.close()
            except BrokenPipeError:
                pass
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.folder is not None:
            for leftover in Path(self.folder).iterdir():
                leftover.unlink()
            os.rmdir(self.folder)
            self.folder = None
        if self.error is not None:
            error, self.error = self.error, None
            raise error
