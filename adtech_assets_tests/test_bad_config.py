"""Bad configuration gives one clear line, not a traceback: ``adtech sync`` with an unreachable
or malformed Postgres or ClickHouse URL, an embedded data directory, ``ADTECH_DATA_DIR`` or
``DAGSTER_HOME`` it cannot write, or a partitions start that is no date or lies in the future,
exits 2 and prints exactly one stderr line ``adtech: error: ...`` that names the setting or place
to fix and never contains a password.

The cases run as parallel ``adtech`` processes (each one imports Dagster: seconds of CPU)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from adtech_assets.settings import PROJECT_ROOT
from adtech_assets_tests.conftest import fresh_database
from adtech_assets_tests.helpers import cli_command, cli_env

SECRET = "s3cretPW"
HELD_BY_OUTSIDE_PROGRAM = """
import sys, time, chdb
conn = chdb.connect(sys.argv[1])
conn.query("SELECT 1")
print("holding", flush=True)
time.sleep(3600)  # until the fixture ends it: however slow the machine, it holds through the cases
"""

# case -> (settings; {} for ADTECH_PG_URL means the test's source database; words the line must hold)
CASES: dict[str, tuple[dict[str, str], list[str]]] = {
    "postgres unreachable": ({"ADTECH_PG_URL": f"postgresql://u:{SECRET}@127.0.0.1:1/x"},
                             ["Postgres", "127.0.0.1:1", "ADTECH_PG_URL"]),
    "clickhouse URL ftp://": ({"ADTECH_CLICKHOUSE_URL": "ftp://x"}, ["ADTECH_CLICKHOUSE_URL"]),
    "clickhouse URL chdb://relative": ({"ADTECH_CLICKHOUSE_URL": "chdb://relative"},
                                       ["ADTECH_CLICKHOUSE_URL", "absolute"]),
    "clickhouse URL with a port that is no number": (
        {"ADTECH_CLICKHOUSE_URL": f"http://default:{SECRET}@127.0.0.1:port"}, ["ADTECH_CLICKHOUSE_URL"]),
    "clickhouse server unreachable": ({"ADTECH_CLICKHOUSE_URL": f"http://default:{SECRET}@127.0.0.1:1"},
                                      ["127.0.0.1", "ADTECH_CLICKHOUSE_URL"]),
    "embedded directory under /proc": ({"ADTECH_CLICKHOUSE_URL": "chdb:///proc/forbidden/clickhouse"},
                                       ["/proc/forbidden/clickhouse", "writable"]),
    "embedded directory under a regular file": ({"ADTECH_CLICKHOUSE_URL": "chdb://{tmp}/a_file/clickhouse"},
                                                ["a_file/clickhouse", "writable"]),
    "embedded directory held by a program outside adtech": ({"ADTECH_CLICKHOUSE_URL": "chdb://{tmp}/held"},
                                                            ["{tmp}/held"]),
    "partitions start not a date": ({"ADTECH_PARTITIONS_START": "last tuesday"}, ["ADTECH_PARTITIONS_START"]),
    "partitions start in the future": ({"ADTECH_PARTITIONS_START": "2099-01-01"},
                                       ["ADTECH_PARTITIONS_START='2099-01-01'", "future", "today or earlier"]),
    # Tests run as root, for whom permissions do not stop a write: a path under a regular file
    # (NotADirectoryError) and one under /sys (PermissionError even for root) stand for both kinds.
    "DAGSTER_HOME under a regular file": ({"DAGSTER_HOME": "{tmp}/a_file/dagster"},
                                          ["Dagster home", "{tmp}/a_file/dagster", "Not a directory", "set DAGSTER_HOME"]),
    "DAGSTER_HOME not permitted": ({"DAGSTER_HOME": "/sys/adtech-test/dagster"},
                                   ["/sys/adtech-test/dagster", "not permitted", "set DAGSTER_HOME"]),
    "ADTECH_DATA_DIR under a regular file": ({"ADTECH_DATA_DIR": "{tmp}/a_file/data", "DAGSTER_HOME": "",
                                              "ADTECH_CLICKHOUSE_URL": ""},
                                             ["{tmp}/a_file/data/dagster", "Not a directory", "set ADTECH_DATA_DIR"]),
    "ADTECH_DATA_DIR not permitted": ({"ADTECH_DATA_DIR": "/sys/adtech-test/data", "ADTECH_CLICKHOUSE_URL": ""},
                                      ["/sys/adtech-test/data/clickhouse", "not permitted", "set ADTECH_DATA_DIR"]),
}


@pytest.fixture(scope="module")
def source_url(pg_server_url, template_database):
    """A migrated source database for the cases whose Postgres setting is fine."""
    with fresh_database(pg_server_url, "adtech_badcfg", template=template_database) as url:
        yield url


@pytest.fixture(scope="module")
def outcomes(source_url, tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, list[str]]]:
    tmp = tmp_path_factory.mktemp("bad-config")
    (tmp / "a_file").write_text("a regular file, not a directory\n")
    (tmp / "held").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HELD_BY_OUTSIDE_PROGRAM, str(tmp / "held")],
                              cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        running = {}
        for n, (case, (settings, words)) in enumerate(CASES.items()):
            settings = {k: v.replace("{tmp}", str(tmp)) for k, v in settings.items()}
            env = cli_env(tmp / f"case{n}", **{"ADTECH_PG_URL": source_url,
                                                "ADTECH_CLICKHOUSE_URL": f"chdb://{tmp}/case{n}/clickhouse",
                                                **settings})
            running[case] = (subprocess.Popen(cli_command("sync"), env=env, cwd=PROJECT_ROOT, text=True,
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE),
                             [w.replace("{tmp}", str(tmp)) for w in words])
        done = {}
        for case, (process, words) in running.items():
            out, err = process.communicate(timeout=180)
            done[case] = (subprocess.CompletedProcess(process.args, process.returncode, out, err), words)
        return done
    finally:
        holder.kill()
        holder.wait(timeout=60)


@pytest.mark.parametrize("case", CASES)
def test_bad_config_is_one_clear_line_and_exit_2(outcomes, case):
    result, words = outcomes[case]
    lines = result.stderr.splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("adtech: error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    assert SECRET not in result.stderr + result.stdout
    assert "DB::Exception" not in lines[0], lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
