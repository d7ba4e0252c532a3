"""Readers do not queue behind the process holding the embedded engine (issue 24, item 9): that
process serves their reads on read-only connections of its own, through a socket only its user
can open, and stops serving, without cutting a running read short, before it lets the engine go.
Real chDB, a real second process as the holder."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from clickhouse_connect.driver.exceptions import ClickHouseError

from adtech_assets.db.clickhouse import read_service
from adtech_assets.db.clickhouse.client import lock_holder
from adtech_assets.defs.resources import ClickHouseResource
from adtech_assets.errors import AdtechError
from adtech_assets.settings import PROJECT_ROOT

from .helpers import ch_command, ch_scalar

# Holds the engine, creates a table, then writes into it until told to stop on stdin.
HOLDER = textwrap.dedent("""
    import sys, threading
    from adtech_assets.defs.resources import ClickHouseResource
    clickhouse = ClickHouseResource(url=sys.argv[1])
    with clickhouse.session() as ch:
        ch.client.command("CREATE DATABASE IF NOT EXISTS analytics")
        ch.client.command("CREATE TABLE analytics.held (x UInt64) ENGINE MergeTree ORDER BY x")
        ch.client.command("INSERT INTO analytics.held SELECT number FROM numbers(1000)")
        done = threading.Event()
        def write():
            while not done.is_set():
                ch.client.command("INSERT INTO analytics.held SELECT number FROM numbers(2000000)")
        writer = threading.Thread(target=write)
        writer.start()
        print("holding", flush=True)
        sys.stdin.readline()
        done.set()
        writer.join()
    print("released", flush=True)
""")


@pytest.fixture
def holder(clickhouse: ClickHouseResource):
    """Another process holding the engine and writing into it, until the test ends."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, clickhouse.url], cwd=PROJECT_ROOT, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = process.stdout.readline()
        assert line.strip() == "holding", process.stderr.read()
        yield process
    finally:
        if process.poll() is None:
            process.stdin.write("\n")
            process.stdin.flush()
        assert process.wait(timeout=120) == 0, process.stderr.read()


def test_a_reader_reads_while_another_process_holds_and_writes(clickhouse, holder):
    def work(client, settings):
        assert isinstance(client, read_service.RemoteReader)
        counts = [client.query_arrow("SELECT count() AS n FROM analytics.held", settings=settings).column(0)[0].as_py()
                  for _ in range(3)]
        return counts, lock_holder(clickhouse.target.embedded_path), holder.poll()

    counts, held_by, holder_status = clickhouse.read(work)
    assert held_by == holder.pid and holder_status is None  # still holding: the reads did not wait for it
    assert counts[0] >= 1000 and counts == sorted(counts)  # the holder's own engine, while it writes


def test_what_a_reader_sends_runs_read_only(clickhouse, holder):
    def work(client, _settings):
        with pytest.raises(ClickHouseError, match="READONLY"):
            client.query_arrow("INSERT INTO analytics.held SELECT 1")
        with pytest.raises(ClickHouseError, match="READONLY"):
            client.raw_query("DROP TABLE analytics.held")
        with pytest.raises(ClickHouseError, match="Cannot modify 'readonly'"):
            client.raw_query("SET readonly = 0")
        return client.raw_query("SELECT currentDatabase()").decode().strip()

    assert clickhouse.read(work) == "analytics"


def test_a_read_whose_holder_lets_go_midway_runs_again_on_the_engine(clickhouse, holder):
    """The holder's run ends between two statements of one read: the read runs again, here on
    the engine itself (no process holds it any more), and answers."""
    calls = []

    def work(client, settings):
        calls.append(type(client).__name__)
        client.query_arrow("SELECT 1", settings=settings)
        if len(calls) == 1:
            holder.stdin.write("\n")
            holder.stdin.flush()
            assert holder.stdout.readline().strip() == "released"
        return client.query_arrow("SELECT count() AS n FROM analytics.held", settings=settings).column(0)[0].as_py()

    assert clickhouse.read(work) >= 1000
    assert calls[0] == "RemoteReader" and calls[1] != "RemoteReader" and len(calls) == 2


def test_the_socket_is_the_owners_alone_and_goes_with_the_holder(clickhouse, holder):
    address = read_service.socket_path(clickhouse.target.embedded_path)
    assert stat.S_IMODE(address.stat().st_mode) == 0o600
    holder.stdin.write("\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "released"
    assert not address.exists()


def test_a_socket_left_by_a_dead_holder_is_not_waited_on(clickhouse):
    ch_command(clickhouse, "CREATE DATABASE IF NOT EXISTS analytics")
    address = read_service.socket_path(clickhouse.target.embedded_path)
    left = socket.socket(socket.AF_UNIX)
    left.bind(str(address))  # bound, never listening, closed: what a killed holder leaves
    left.close()
    def work(client, settings):
        assert not isinstance(client, read_service.RemoteReader)
        return client.query_arrow("SELECT 1 AS one", settings=settings).column(0)[0].as_py()

    assert clickhouse.read(work) == 1
    assert ch_scalar(clickhouse, "SELECT 2") == 2


def test_stopping_waits_for_a_running_read_but_not_for_an_idle_reader(clickhouse, tmp_path):
    ch_command(clickhouse, "CREATE DATABASE IF NOT EXISTS analytics")
    with clickhouse.session():
        service = read_service.ReadService.start(tmp_path / "engine", _ReadOnlyOfThisProcess(clickhouse))
        assert service is not None
        idle = read_service.connect(tmp_path / "engine")
        busy = read_service.connect(tmp_path / "engine")
        assert idle.raw_query("SELECT 1").strip() == b"1"
        answers: list = []
        reading = threading.Thread(target=lambda: answers.append(
            busy.query_arrow("SELECT count() AS n FROM numbers(300000000) WHERE sleepEachRow(0) = 0")))
        reading.start()
        running = "SELECT count() FROM system.processes WHERE query LIKE '%sleepEachRow(0) = 0%' AND query NOT LIKE '%system.processes%'"
        for pause in (min(0.01 * 1.5 ** n, 1.0) for n in range(150)):  # until the read runs in the holder
            if idle.raw_query(running).strip() == b"1":
                break
            threading.Event().wait(pause)
        else:
            pytest.fail("the long read never started in the holder")
        stopping = threading.Thread(target=service.stop)
        stopping.start()
        stopping.join(timeout=120)
        reading.join(timeout=120)
        assert not stopping.is_alive() and not reading.is_alive()
        assert answers and answers[0].column(0)[0].as_py() == 300_000_000  # finished, not cut short
        assert not read_service.socket_path(tmp_path / "engine").exists()
        idle.close()
        busy.close()


def test_a_path_too_long_for_a_socket_gets_one_in_a_private_folder(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "clickhouse"
    address = read_service.socket_path(deep)
    assert len(os.fsencode(address)) <= 100
    assert address == read_service.socket_path(Path(str(deep)))  # the same path for every reader
    read_service._private_folder(address.parent)
    assert stat.S_IMODE(address.parent.stat().st_mode) & 0o077 == 0


class _ReadOnlyOfThisProcess:
    """The read-only connections this test process serves, as the holder's session would."""

    def __init__(self, clickhouse: ClickHouseResource):
        self.clickhouse = clickhouse

    def __call__(self):
        from adtech_assets.db.clickhouse.client import _read_only_client

        return _read_only_client(self.clickhouse.target.embedded_path)


def test_a_holder_that_never_answers_is_named_after_the_wait(tmp_path):
    """A holder stopped mid-run (SIGSTOP, a debugger) accepts a connection and never answers: the
    reader waits at most its timeout (the resource's lock timeout), then says whose answer it lacks."""
    engine = tmp_path / "engine"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(read_service.socket_path(engine)))
    listener.listen(1)
    try:
        reader = read_service.connect(engine, "pid 4242", timeout=0.5)
        assert reader is not None
        with pytest.raises(AdtechError, match="pid 4242, which holds the embedded ClickHouse, gave no answer in"):
            reader.raw_query("SELECT 1")
        reader.close()
    finally:
        listener.close()
