"""Problems in the source and in a run give one clear line, not a traceback, and are not
retried when a retry cannot help:

- ``adtech sync`` on a source whose column was renamed or whose table was dropped exits 2 with
  one line naming what the source lacks against what adtech reads and saying to restore it,
  never to run ``adtech migrate`` when the migrations are up to date (and saying so when they
  are behind); on a value that cannot be converted, one line naming table, row id, column and
  value. A step that meets such a value fails once, unretried.
- ``dagster asset materialize --partition-range`` given the later day first fails once,
  unretried, saying which order to give.
- A Postgres blip during the checks: they retry like the loads and pass; a check that still
  cannot reach Postgres counts as failed in ``adtech sync``'s summary (never "n/n passed").

The ``adtech`` and ``dagster`` commands run as parallel processes, as a user runs them."""

from __future__ import annotations

import subprocess
import threading
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from dagster import (
    AssetKey,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    materialize,
)

from adtech_assets.catalog import DIMS, SOURCE_COLUMNS
from adtech_assets.cli.sync.command import print_report
from adtech_assets.cli.sync.report import SyncReport
from adtech_assets.cli.sync.runs import QUIET, _record
from adtech_assets.defs.location import ALL_ASSETS, ALL_CHECKS
from adtech_assets.defs.resources import PostgresResource
from adtech_assets.settings import PROJECT_ROOT
from adtech_assets_tests.conftest import fresh_database
from adtech_assets_tests.helpers import (
    add_advertiser,
    add_campaign,
    add_events,
    cli_command,
    cli_env,
    pg_execute,
    sync,
)

TODAY = datetime.now(timezone.utc).date()
BROKEN_BID = "abc"

# case -> (statements on a migrated source with one advertiser and campaign; words the line
# must hold; words it must not hold). {campaign} is the id of a campaign whose bid is 'abc'.
CASES: dict[str, tuple[list[str], list[str], list[str]]] = {
    "source column renamed": (
        ["ALTER TABLE campaign RENAME COLUMN bid TO bid_amount"],
        ["lacks column campaign.bid", "it has bid_amount instead", "migrations are up to date",
         "rename the column back"],
        ["adtech migrate"]),
    "source table dropped": (
        ["DROP TABLE clicks"],
        ["lacks table clicks", "id, campaign_id, created_at", "migrations are up to date", "recreate the table"],
        ["adtech migrate"]),
    "source never migrated": (
        None,  # an empty database
        ["lacks table advertiser", "migrations are behind", "run `adtech migrate`"],
        []),
    "value that is no decimal": (
        ["ALTER TABLE campaign ALTER bid TYPE text",
         f"INSERT INTO campaign (name, bid, budget) VALUES ('broken', '{BROKEN_BID}', '10.00')"],
        ["campaign id {campaign}", f"bid = '{BROKEN_BID}'", "Decimal(10, 2)", "fix the value in Postgres"],
        ["Traceback", "max_retries"]),
}
REVERSED = (TODAY - timedelta(days=1), TODAY - timedelta(days=3))


def test_source_columns_are_what_the_dims_read():
    for spec in DIMS:
        assert SOURCE_COLUMNS[spec.source] == spec.source_columns


@pytest.fixture(scope="module")
def outcomes(pg_server_url, template_database, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("errors")
    with ExitStack() as databases:
        running = {}
        for n, (case, (statements, words, absent)) in enumerate(CASES.items()):
            template = template_database if statements is not None else None
            url = databases.enter_context(fresh_database(pg_server_url, "adtech_errors", template=template))
            values = {}
            if statements is not None:
                postgres = PostgresResource(url=url)
                add_campaign(postgres, "ok", add_advertiser(postgres, "a"), bid="2.50")
                for statement in statements:
                    pg_execute(postgres, statement)
                values["campaign"] = str(pg_execute(postgres, "SELECT max(id) FROM campaign")[0][0])
            env = cli_env(tmp / f"case{n}", ADTECH_PG_URL=url, ADTECH_CLICKHOUSE_URL=f"chdb://{tmp}/case{n}/clickhouse")
            running[case] = (subprocess.Popen(cli_command("sync"), env=env, cwd=PROJECT_ROOT, text=True,
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE),
                             [w.format(**values) for w in words], absent)
        # the reversed range, as the README's CI block runs dagster (same machine, same moment)
        url = databases.enter_context(fresh_database(pg_server_url, "adtech_errors", template=template_database))
        env = cli_env(tmp / "reversed", ADTECH_PG_URL=url, ADTECH_CLICKHOUSE_URL=f"chdb://{tmp}/reversed/clickhouse")
        (tmp / "reversed" / "dagster_home").mkdir(parents=True)
        (tmp / "reversed" / "dagster_home" / "dagster.yaml").touch()
        reversed_range = subprocess.Popen(
            [str(PROJECT_ROOT / ".venv" / "bin" / "dagster"), "asset", "materialize", "-m", "adtech_assets.definitions",
             "--select", "analytics/fact_impressions", "--partition-range", f"{REVERSED[0]}...{REVERSED[1]}"],
            env=env, cwd=PROJECT_ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        done = {}
        for case, (process, words, absent) in running.items():
            out, err = process.communicate(timeout=300)
            done[case] = (subprocess.CompletedProcess(process.args, process.returncode, out, err), words, absent)
        out, _ = reversed_range.communicate(timeout=300)
        done["reversed range"] = subprocess.CompletedProcess(reversed_range.args, reversed_range.returncode, out, "")
        yield done


@pytest.mark.parametrize("case", CASES)
def test_a_broken_source_is_one_clear_line_and_exit_2(outcomes, case):
    result, words, absent = outcomes[case]
    lines = result.stderr.splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert len(lines) == 1 and lines[0].startswith("adtech: error: "), result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in lines[0], (word, lines[0])
    for word in absent:
        assert word not in lines[0], (word, lines[0])


def test_a_reversed_partition_range_fails_once_saying_which_order(outcomes):
    result = outcomes["reversed range"]
    first, last = REVERSED
    assert result.returncode != 0, result.stdout[-3000:]
    assert (f"the partition range {first}...{last} holds no day: give the earlier day first: "
            f"--partition-range {last}...{first}") in result.stdout, result.stdout[-3000:]
    assert "empty sequence" not in result.stdout
    assert result.stdout.count('STEP_START - Started execution of step "analytics__fact_impressions"') == 1
    assert "STEP_UP_FOR_RETRY" not in result.stdout and "STEP_RESTARTED" not in result.stdout


def step_events(instance: DagsterInstance, run_id: str, step_key: str) -> list[DagsterEventType]:
    records = instance.get_records_for_run(run_id, limit=10_000).records
    return [r.event_log_entry.dagster_event.event_type for r in records
            if r.event_log_entry.dagster_event and r.event_log_entry.step_key == step_key]


def test_a_value_that_cannot_be_converted_fails_its_step_once(resources, postgres):
    add_campaign(postgres, "ok", add_advertiser(postgres, "a"), bid="2.50")
    pg_execute(postgres, "ALTER TABLE campaign ALTER bid TYPE text")
    broken = pg_execute(postgres, f"INSERT INTO campaign (name, bid, budget) VALUES ('b', '{BROKEN_BID}', '1') RETURNING id")[0][0]
    instance = DagsterInstance.ephemeral()
    started = time.monotonic()
    result = materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.assets(AssetKey(["analytics", "dim_campaign"])),
                         resources=resources, instance=instance, raise_on_error=False, run_config=QUIET)
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert f"source row campaign id {broken} has bid = '{BROKEN_BID}'" in failure.step_failure_data.user_failure_data.description
    events = step_events(instance, result.run_id, "analytics__dim_campaign")
    assert events.count(DagsterEventType.STEP_START) == 1
    assert DagsterEventType.STEP_UP_FOR_RETRY not in events
    assert time.monotonic() - started < 30  # a retry would wait 2 s and more per attempt


def allow_connections(server_url: str, database: str, allowed: bool) -> None:
    """A Postgres "blip" no client can get past, superusers included: ALLOW_CONNECTIONS, and
    the connections this process keeps for reuse dropped with it."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
    if not allowed:
        terminate_backends(server_url, database)


def terminate_backends(server_url: str, database: str) -> int:
    """Terminate every other connection to ``database`` (as a server restart would); how many."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        return admin.execute("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                             "WHERE datname = %s AND pid <> pg_backend_pid()", (database,)).fetchone()[0]


def database_of(url: str) -> str:
    """The database a connection string names (an embedded server's URL ends in ``?host=...``)."""
    from psycopg.conninfo import conninfo_to_dict

    return conninfo_to_dict(url)["dbname"]


def fact_checks_run(resources, instance):
    """The checks of fact_impressions alone, as the UI's "Execute checks" runs them."""
    return materialize([*ALL_ASSETS, *ALL_CHECKS], selection=AssetSelection.checks_for_assets(
        AssetKey(["analytics", "fact_impressions"])), resources=resources, instance=instance,
        raise_on_error=False, run_config=QUIET)


def loaded_source(resources, postgres):
    campaign = add_campaign(postgres, "c", add_advertiser(postgres, "a"))
    add_events(postgres, "impressions", [(campaign, datetime.combine(TODAY - timedelta(days=1), datetime.min.time()))] * 5)
    assert sync(resources).ok


def test_checks_retry_through_a_postgres_blip(resources, postgres, pg_url, pg_server_url, tmp_path):
    loaded_source(resources, postgres)
    (tmp_path / "dagster").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "dagster"))
    database = database_of(pg_url)
    allow_connections(pg_server_url, database, False)

    def end_the_blip_after_a_retry() -> None:  # the first attempt has failed: Postgres comes back
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if _retried(instance):
                break
            time.sleep(0.05)
        allow_connections(pg_server_url, database, True)

    watcher = threading.Thread(target=end_the_blip_after_a_retry, daemon=True)
    watcher.start()
    try:
        result = fact_checks_run(resources, instance)
    finally:
        watcher.join(timeout=150)
        allow_connections(pg_server_url, database, True)
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {"row_counts_match_postgres": True, "no_rows_outside_partitions": True,
                           "change_log_keeps_up": True}, result.get_step_failure_events()
    retried = {r.event_log_entry.step_key for r in instance.get_records_for_run(result.run_id, limit=10_000).records
               if r.event_log_entry.dagster_event_type == DagsterEventType.STEP_UP_FOR_RETRY}
    assert retried, "the blip was seen and retried"


def _retried(instance: DagsterInstance) -> bool:
    runs = instance.get_runs(limit=1)
    return bool(runs) and any(
        r.event_log_entry.dagster_event_type == DagsterEventType.STEP_UP_FOR_RETRY
        for r in instance.get_records_for_run(runs[0].run_id, limit=10_000).records)


@pytest.mark.long(20)
def test_a_check_that_cannot_reach_postgres_counts_as_failed_in_the_summary(resources, postgres, pg_url, pg_server_url,
                                                                            tmp_path, capsys):
    loaded_source(resources, postgres)
    (tmp_path / "dagster").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "dagster"))
    allow_connections(pg_server_url, database_of(pg_url), False)
    try:
        result = fact_checks_run(resources, instance)  # every attempt fails: about 10 s of retries
    finally:
        allow_connections(pg_server_url, database_of(pg_url), True)
    report = SyncReport()
    _record(report, result, instance)
    report.kpis_refreshed = True
    assert print_report(report) == 1
    out, err = capsys.readouterr()
    assert "0/3 checks passed" in out, out
    assert "CHECK FAILED analytics/fact_impressions row_counts_match_postgres" in err
    assert "is not currently accepting connections" in err, err


def test_a_stream_reconnects_when_the_server_dropped_its_idle_connection(postgres, pg_url, pg_server_url):
    """Streams reuse this process's idle ADBC connections (a connect costs ~40 ms); one that the
    server terminated meanwhile is replaced, not returned as an error."""
    add_advertiser(postgres, "before")
    columns = SOURCE_COLUMNS["advertiser"]
    assert postgres.read_arrow("dim_rows", table="advertiser", columns=columns)["name"].to_pylist() == ["before"]
    assert terminate_backends(pg_server_url, database_of(pg_url)) >= 1, "the stream's connection was not kept for reuse"
    add_advertiser(postgres, "after")
    names = postgres.read_arrow("dim_rows", table="advertiser", columns=columns)["name"].to_pylist()
    assert sorted(names) == ["after", "before"]


def test_a_small_query_reconnects_when_the_server_dropped_its_idle_connection(postgres, pg_url, pg_server_url):
    """Small queries (``fetch``: the sensor's write counters, snapshots, counts) reuse a kept
    connection too (a connect is ~10x the sensor's catalog read); one that the server
    terminated meanwhile is replaced."""
    add_advertiser(postgres, "before")
    assert postgres.fetch("dimension_id_count", table="advertiser", params={"max_id": 10**9}) == [(1,)]
    assert terminate_backends(pg_server_url, database_of(pg_url)) >= 1, "the query's connection was not kept for reuse"
    add_advertiser(postgres, "after")
    assert postgres.fetch("dimension_id_count", table="advertiser", params={"max_id": 10**9}) == [(2,)]


def test_an_adtech_error_leaves_a_step_as_a_failure_retried_only_when_transient():
    from dagster import Failure

    from adtech_assets.defs.step_failures import ERROR_CLASS, as_step_failure
    from adtech_assets.errors import AdtechError, TransientError

    def raising(error):
        @as_step_failure
        def compute(context, postgres):
            raise error
        return compute

    for error, retried in ((AdtechError("a column is gone: add it"), False), (TransientError("refused: retry"), True)):
        with pytest.raises(Failure) as raised:
            raising(error)(None, None)
        assert raised.value.description == str(error) and raised.value.allow_retries is retried
        assert raised.value.metadata[ERROR_CLASS].value == type(error).__name__
    with pytest.raises(ZeroDivisionError):  # anything else leaves as it is, for the retry policy
        as_step_failure(lambda: 1 / 0)()
