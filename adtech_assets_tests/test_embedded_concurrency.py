"""Two processes can use one embedded ClickHouse directory at once (as Dagster's step processes
do): chDB admits one process per directory, so sessions take turns on a file lock and both
succeed. Waiting has a limit, and running out of it, or finding the directory held by a program
outside adtech, gives one clear AdtechError, never chDB's raw error."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adtech_assets.defs.resources import ClickHouseResource
from adtech_assets.errors import AdtechError
from adtech_assets.settings import PROJECT_ROOT

WORKER = """
import json, os, sys, time
from adtech_assets.db.clickhouse.schema import ensure_schema
from adtech_assets.defs.resources import ClickHouseResource
path, tag, go = sys.argv[1], sys.argv[2], sys.argv[3]
clickhouse = ClickHouseResource(url=f"chdb://{path}", lock_timeout_seconds=120)
print("ready", flush=True)
while not os.path.exists(go):  # both start together, however long their imports took
    time.sleep(0.01)
# Sessions until this process has seen the other's rows (and had three turns): taking turns is
# then shown by the data, however slow the machine; a lock that starved one process would
# run into the time limit instead.
sessions, inserted, others, give_up = [], 0, 0, time.time() + 120
while time.time() < give_up and not (others and len(sessions) >= 3):
    with clickhouse.session() as ch:
        opened = time.time()
        ensure_schema(ch)
        ch.client.command("CREATE TABLE IF NOT EXISTS analytics.concurrency_probe "
                          "(tag String, n UInt32) ENGINE = MergeTree ORDER BY (tag, n)")
        ch.client.command("INSERT INTO analytics.concurrency_probe SELECT {t:String}, number + {base:UInt32} "
                          "FROM numbers(100)", parameters={"t": tag, "base": inserted})
        inserted += 100
        seen, others = ch.client.query("SELECT countIf(tag = {t:String}), countIf(tag != {t:String}) "
                                       "FROM analytics.concurrency_probe", parameters={"t": tag}).result_rows[0]
        assert seen == inserted, (seen, inserted)
        sessions.append((opened, time.time()))
    time.sleep(0.2)  # longer than a waiter's lock poll (50 ms): the other process gets its turn
print(json.dumps({"tag": tag, "inserted": inserted, "others_seen": others, "sessions": sessions}))
"""

HOLDER = """
import sys, time
from adtech_assets.defs.resources import ClickHouseResource
from adtech_assets.db.clickhouse.schema import ensure_schema
with ClickHouseResource(url=f"chdb://{sys.argv[1]}").session() as ch:
    ch.client.query("SELECT 1")
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""

RAW_CHDB_HOLDER = """
import sys, time, chdb
conn = chdb.connect(sys.argv[1])
conn.query("SELECT 1")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
"""


def start(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *args], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until_holding(process: subprocess.Popen) -> None:
    line = process.stdout.readline()
    assert line.strip() == "holding", (line, process.stderr.read() if process.poll() is not None else "")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not gone within 30 s (a loaded machine is slow to exit)."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=60)


def test_two_processes_using_one_embedded_directory_both_succeed(clickhouse_path: Path, tmp_path: Path):
    go = tmp_path / "go"
    workers = [start(WORKER, str(clickhouse_path), tag, str(go)) for tag in ("first", "second")]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    go.touch()
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))

    assert all(r["others_seen"] and len(r["sessions"]) >= 3 for r in results), results
    # they took turns: no session of one process overlapped a session of the other
    first, second = ([tuple(s) for s in r["sessions"]] for r in results)
    overlaps = [(a, b) for a in first for b in second if a[0] < b[1] and b[0] < a[1]]
    assert overlaps == []
    # and really interleaved, rather than one running entirely after the other
    assert min(s[0] for s in second) < max(s[1] for s in first) and min(s[0] for s in first) < max(s[1] for s in second)

    with ClickHouseResource(url=f"chdb://{clickhouse_path}").session() as ch:
        counts = dict(ch.client.query("SELECT tag, count() FROM analytics.concurrency_probe GROUP BY tag").result_rows)
    assert counts == {r["tag"]: r["inserted"] for r in results}


def test_lock_timeout_is_a_clear_adtech_error(clickhouse_path: Path):
    holder = start(HOLDER, str(clickhouse_path), "30")
    try:
        wait_until_holding(holder)
        impatient = ClickHouseResource(url=f"chdb://{clickhouse_path}", lock_timeout_seconds=0.5)
        started = time.monotonic()
        with pytest.raises(AdtechError) as raised:
            with impatient.session():
                pass
        waited = time.monotonic() - started
    finally:
        stop(holder)
    message = str(raised.value)
    assert 0.4 <= waited < 10
    assert str(clickhouse_path) in message and "busy" in message and f"pid {holder.pid}" in message
    assert "\n" not in message

    # once the holder is gone, the directory is usable again from this process
    with ClickHouseResource(url=f"chdb://{clickhouse_path}", lock_timeout_seconds=5).session() as ch:
        assert ch.client.query("SELECT 1").result_rows == [(1,)]


def test_a_directory_held_by_a_program_outside_adtech_gives_a_clear_error(clickhouse_path: Path):
    clickhouse_path.mkdir(parents=True)
    holder = start(RAW_CHDB_HOLDER, str(clickhouse_path), "30")
    try:
        wait_until_holding(holder)
        with pytest.raises(AdtechError) as raised:
            with ClickHouseResource(url=f"chdb://{clickhouse_path}", lock_timeout_seconds=5).session() as ch:
                ch.client.query("SELECT 1")
    finally:
        stop(holder)
    message = str(raised.value)
    assert str(clickhouse_path) in message and "\n" not in message
    assert "Traceback" not in message
