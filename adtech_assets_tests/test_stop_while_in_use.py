"""``adtech stop`` while a long-lived process uses the embedded Postgres (the UI's code server,
whose sensors tick every few seconds): the stop says so, and that process's next use starts
the server again instead of failing "cannot connect" until someone restarts the UI.

The long-lived process is a subprocess holding the code location's Postgres resource, as the
code server does; a real embedded server in a data directory of its own."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading

import pytest

from adtech_assets.settings import PROJECT_ROOT

from .helpers import cli_env, run_cli
from .test_stop_command import alive, postmaster_pid

ANSWER_TIMEOUT = 120  # a start of the embedded server on a loaded machine

# Reads a command per line; "use" reads the source catalog through a new resource, as a sensor
# tick does (its connection stays in the process's pool), and answers "ok" or the error's line.
LONG_LIVED = """
import sys
from adtech_assets.defs.resources import PostgresResource
for line in sys.stdin:
    try:
        PostgresResource().fetch("source_columns", {"tables": ["impressions"]})
        print("ok", flush=True)
    except Exception as exc:
        print(f"error {type(exc).__name__}: {exc}", flush=True)
"""


class LongLived:
    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen([sys.executable, "-c", LONG_LIVED], env=env, cwd=PROJECT_ROOT, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.answers: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.answers.put(line.rstrip("\n"))

    def use(self) -> str:
        self.process.stdin.write("use\n")
        self.process.stdin.flush()
        try:
            return self.answers.get(timeout=ANSWER_TIMEOUT)
        except queue.Empty:
            pytest.fail(f"the long-lived process did not answer within {ANSWER_TIMEOUT} s")

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)


def test_a_long_lived_process_starts_the_server_again_after_adtech_stop(data_dir, tmp_path):
    env = cli_env(tmp_path, ADTECH_DATA_DIR=str(data_dir), ADTECH_PG_URL="")
    user = LongLived(env)
    try:
        assert user.use() == "ok"  # started the embedded server, which stays up
        first = postmaster_pid(data_dir)
        assert first and alive(first)

        stopped = run_cli(["stop"], env)
        assert stopped.returncode == 0, stopped.stderr
        assert "stopped the embedded Postgres" in stopped.stdout
        assert "1 session of another process was open" in stopped.stdout, stopped.stdout

        # its next use (the next sensor tick) starts it again and succeeds
        assert user.use() == "ok"
        again = postmaster_pid(data_dir)
        assert again and again != first and alive(again)
        assert user.use() == "ok"
    finally:
        user.close()

    # nobody holds a session now: the stop says nothing more
    quiet = run_cli(["stop"], env)
    assert "stopped the embedded Postgres" in quiet.stdout and "session" not in quiet.stdout, quiet.stdout
