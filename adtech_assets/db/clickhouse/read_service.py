"""Reads served by the process that holds the embedded engine, so readers need not wait for it.

chDB lets one process at a time open a data directory, and a run keeps it open for all its steps
(``client._embedded_client``): a reader such as ``adtech query`` would wait for the whole run. So
the holder serves reads. While a process holds the engine, a thread of it answers on a Unix socket
beside the lock file, running each statement on a read-only connection of its own (``readonly=1``,
database ``analytics``), beside the holder's own work: chDB runs queries from several threads of a
process at once. A reader that finds the engine held sends its statements there (``connect``).

What a reader sees is what the holder's connection sees: a day being replaced shows its old rows
or its new ones (partitions are swapped atomically), never a mix, as for a reader of a server.

Only the engine's owner can connect: the socket is its user's alone (mode 0600), and the holder
checks the peer's uid where the OS tells it. A process that can connect could open the data
directory itself, so the service grants nothing that the directory's permissions do not.

Wire format, one request at a time per connection: a request is a 4-byte length and a JSON object
``{"kind": "arrow" | "raw", "sql": ..., "parameters": ...}``; an answer is a status byte (0 the
result, 1 ClickHouse's refusal, 2 another failure), an 8-byte length and the body (an Arrow IPC
stream, the raw bytes, or the error's text).
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import socket
import struct
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, DatabaseError

from adtech_assets.errors import AdtechError

_OK, _REFUSED, _FAILED = 0, 1, 2
_REQUEST = struct.Struct("!I")
_ANSWER = struct.Struct("!BQ")
_MAX_REQUEST = 16 << 20
_UNIX_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
_CONNECT_TIMEOUT = 2.0


def socket_path(path: Path) -> Path:
    """Where the holder of ``path`` serves reads: beside its lock file, or, where that path is too
    long for a socket, in a folder of this user's under the temporary directory."""
    beside = path.parent / f".{path.name}.sock"
    if len(os.fsencode(beside)) <= _UNIX_PATH_MAX:
        return beside
    digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / f"adtech-{os.getuid()}" / f"{digest}.sock"


class ReadService:
    """The holder's side: a listening socket and a thread per connected reader. Each waits on
    its socket and on a wake-up pipe, so stopping takes no longer than the statements running."""

    def __init__(self, open_reader: Callable[[], Client], listener: socket.socket, address: Path):
        self.open_reader, self.listener, self.address = open_reader, listener, address
        self.stopping = threading.Event()
        self.wake_read, self.wake_write = os.pipe()
        self.readers: set[threading.Thread] = set()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, name="adtech-read-service", daemon=True)

    @classmethod
    def start(cls, path: Path, open_reader: Callable[[], Client]) -> Optional["ReadService"]:
        """Serve reads of the engine at ``path``, which this process has just opened, each reader
        on a connection from ``open_reader``; None where no socket can be made (readers then wait
        for the engine, as they did before)."""
        address = socket_path(path)
        try:
            _private_folder(address.parent)
            address.unlink(missing_ok=True)  # a holder that died left it; this process holds the lock now
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                listener.bind(os.fspath(address))
                os.chmod(address, 0o600)
                listener.listen(16)
            except OSError:
                listener.close()
                raise
        except OSError:
            return None
        service = cls(open_reader, listener, address)
        service.thread.start()
        return service

    def stop(self) -> None:
        """No new readers; wait for the statements running now (the engine closes after this)."""
        self.stopping.set()
        os.write(self.wake_write, b"!")  # never read: every wait sees it from now on
        self.thread.join()
        with self.lock:
            readers = list(self.readers)
        for reader in readers:
            reader.join()
        os.close(self.wake_read)
        os.close(self.wake_write)
        self.address.unlink(missing_ok=True)  # still ours: the next holder waits for this process's lock

    def _readable(self, sock: socket.socket) -> bool:
        """Wait until ``sock`` has something to read (True) or the service stops (False)."""
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        poller.register(self.wake_read, select.POLLIN)
        ready = {fd for fd, _ in poller.poll()}
        return self.wake_read not in ready

    def _accept(self) -> None:
        with self.listener:
            while self._readable(self.listener):
                try:
                    conn, _ = self.listener.accept()
                except OSError:
                    return
                if not _same_user(conn):
                    conn.close()
                    continue
                thread = threading.Thread(target=self._serve, args=(conn,), name="adtech-reader", daemon=True)
                with self.lock:
                    self.readers.add(thread)
                thread.start()

    def _serve(self, conn: socket.socket) -> None:
        client: Optional[Client] = None
        try:
            with conn:
                while self._readable(conn):
                    request = _receive_request(conn)
                    if request is None:
                        return
                    if client is None:
                        client = self.open_reader()
                    status, body = _answer(client, request)
                    conn.sendall(_ANSWER.pack(status, len(body)))  # bytes, or Arrow's buffer: 1-byte items
                    conn.sendall(body)
        except OSError:
            pass  # the reader went away
        finally:
            if client is not None:
                client.close()
            with self.lock:
                self.readers.discard(threading.current_thread())


def _answer(client: Client, request: dict) -> tuple[int, bytes | memoryview]:
    """The status and body of one answer; an Arrow answer is sent from Arrow's own buffer."""
    try:
        if request.get("kind") == "raw":
            return _OK, client.raw_query(request["sql"])
        table = client.query_arrow(request["sql"], parameters=request.get("parameters"))
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return _OK, memoryview(sink.getvalue())
    except ClickHouseError as exc:
        return _REFUSED, str(exc).encode()
    except Exception as exc:  # an answer the reader cannot be given: say why, keep serving
        return _FAILED, f"{type(exc).__name__}: {exc}".encode()


class HolderGone(Exception):
    """The holder stopped serving before it answered (its run ended): read again, from whoever
    holds the engine next (reads change nothing, so a read may run twice)."""


class RemoteReader:
    """The reader's side: what ``adtech query`` calls on a clickhouse-connect client, sent to the
    holder. Every statement runs on the holder's read-only connection, in database analytics;
    ``settings`` are not sent (that connection's ``readonly=1`` cannot be lowered)."""

    def __init__(self, conn: socket.socket, holder: str, timeout: float):
        self.conn, self.holder, self.timeout = conn, holder, timeout

    def query_arrow(self, sql: str, parameters: dict | None = None, settings: dict | None = None) -> pa.Table:
        body = self._ask({"kind": "arrow", "sql": sql, "parameters": parameters})
        return pa.ipc.open_stream(body).read_all()

    def raw_query(self, sql: str, settings: dict | None = None) -> bytes:
        return bytes(self._ask({"kind": "raw", "sql": sql}))  # as clickhouse-connect's

    def close(self) -> None:
        self.conn.close()

    def _ask(self, request: dict[str, Any]) -> bytearray:
        payload = json.dumps(request).encode()
        try:
            self.conn.sendall(_REQUEST.pack(len(payload)) + payload)
            status, length = _ANSWER.unpack(_receive(self.conn, _ANSWER.size))
            body = _receive(self.conn, length)
        except TimeoutError:
            raise AdtechError(f"{self.holder}, which holds the embedded ClickHouse, gave no answer in "
                              f"{self.timeout:.0f} s: is that process stopped? Retry once it is gone") from None
        except OSError as exc:  # ConnectionError too: the holder closed the connection
            raise HolderGone(f"{self.holder} stopped serving reads ({exc})") from None
        if status == _REFUSED:
            raise DatabaseError(body.decode(errors="replace"))
        if status != _OK:
            raise AdtechError(f"the process holding the embedded ClickHouse ({self.holder}) could not answer: "
                              f"{body.decode(errors='replace')}")
        return body


def connect(path: Path, holder: str = "another process", timeout: float = 3600) -> Optional[RemoteReader]:
    """A reader of the engine at ``path`` through the process holding it, or None when no
    process serves it (none holds it, or its holder serves no reads); each answer is awaited up
    to ``timeout`` seconds."""
    address = socket_path(path)
    if not address.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(_CONNECT_TIMEOUT)
    try:
        conn.connect(os.fspath(address))
    except OSError:  # refused: a socket its holder left behind
        conn.close()
        return None
    conn.settimeout(timeout)
    return RemoteReader(conn, holder, timeout)


def _private_folder(folder: Path) -> None:
    """The socket's folder; one under the shared temporary directory must be this user's alone."""
    if folder.exists():
        if folder.parent == Path(tempfile.gettempdir()):
            info = folder.stat()
            if info.st_uid != os.getuid() or info.st_mode & 0o077:
                raise PermissionError(f"{folder} is not this user's alone")
        return
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)


def _same_user(conn: socket.socket) -> bool:
    peer_credentials = getattr(socket, "SO_PEERCRED", None)
    if peer_credentials is None:
        return True  # the socket's mode keeps other users out
    _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, peer_credentials, struct.calcsize("3i")))
    return uid == os.getuid()


def _receive_request(conn: socket.socket) -> dict | None:
    """The next request, or None when the reader closed the connection."""
    head = conn.recv(_REQUEST.size, socket.MSG_WAITALL)
    if not head:
        return None
    if len(head) < _REQUEST.size:
        raise ConnectionError("the connection closed midway")
    (length,) = _REQUEST.unpack(head)
    if length > _MAX_REQUEST:
        raise OSError("request too large")
    return json.loads(_receive(conn, length))


def _receive(conn: socket.socket, size: int) -> bytearray:
    """``size`` bytes, received into one buffer (an answer of any size is held once, not twice)."""
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        n = conn.recv_into(view[got:], min(size - got, 1 << 20))
        if not n:
            raise ConnectionError("the connection closed midway")
        got += n
    return buffer
