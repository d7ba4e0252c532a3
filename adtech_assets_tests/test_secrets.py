"""Credentials come only from the environment and never show: not in error messages (a wrong
password included), not in tracebacks or reprs, not in logs, not in what a Dagster run records.
That holds for every form a password can take: in a Postgres URL's userinfo, as its
``?password=`` parameter, in a libpq keyword string, in ``PGPASSWORD``, and in the ClickHouse
URL's userinfo or ``?password=``.

A wrong password needs a server that checks passwords; the test servers trust local
connections, so these tests start a throwaway embedded one with scram-sha-256 auth. The CLI and
``dagster asset materialize`` cases run as parallel processes (each imports Dagster: seconds
of CPU), once per form, and every byte of their ``DAGSTER_HOME`` is searched afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
import traceback
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import psycopg
import pytest
from dagster import EnvVar, asset, instance_for_test, materialize

from adtech_assets.db.migrations import migrate
from adtech_assets.db.postgres.client import connection_error
from adtech_assets.db.postgres.fact_window import day_window
from adtech_assets.defs.assets.dims import dim_assets
from adtech_assets.defs.resources import ClickHouseResource, PostgresResource
from adtech_assets.errors import AdtechError
from adtech_assets.redaction import redact_conninfo, redact_text
from adtech_assets.settings import PROJECT_ROOT, parse_clickhouse_url
from adtech_assets_tests.conftest import with_database
from adtech_assets_tests.helpers import cli_command, cli_env
from adtech_assets_tests.postgres_roles import (
    PASSWORD_FORMS,
    password_checking_postgres,
    password_form,
    with_credentials,
)

RIGHT = "right-Pw-8d2f0a"
WRONG = "wrong-Pw-51c9e7"
CH_SECRET = "chPw-7e41b9"
SECRETS = (RIGHT, WRONG, "secretpw", CH_SECRET)
UNREACHABLE_PG = "postgresql://postgres@127.0.0.1:5999/adtech"  # nothing listens there
CLICKHOUSE_FORMS = {
    "ClickHouse userinfo URL": f"http://default:{CH_SECRET}@127.0.0.1:1",  # nothing listens there
    "ClickHouse ?password= URL": f"http://default@127.0.0.1:1/?password={CH_SECRET}",
}
BULK_READ = dict(table="advertiser", columns=("id", "name"))
FACT = ("click_id", "campaign_id", "created_at")


@pytest.fixture(scope="module")
def source_url() -> Iterator[str]:
    """A migrated source database on a server that checks passwords; the URL has the right one."""
    with password_checking_postgres(RIGHT) as admin_url:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE adtech")
        url = with_database(admin_url, "adtech")
        migrate(PostgresResource(url=url))
        yield url


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into: {text[:300]!r}"


def error_text(error: BaseException) -> str:
    """Everything a user or a log could see of an error: message, repr, full traceback."""
    return f"{error}\n{error!r}\n{''.join(traceback.format_exception(error))}"


def with_form(monkeypatch, url: str, password: str, form: str) -> PostgresResource:
    """A resource given ``password`` the ``form`` way (``PGPASSWORD`` set or cleared to match)."""
    settings = password_form(url, "postgres", password, form)
    if settings["PGPASSWORD"]:
        monkeypatch.setenv("PGPASSWORD", settings["PGPASSWORD"])
    else:
        monkeypatch.delenv("PGPASSWORD", raising=False)
    return PostgresResource(url=settings["ADTECH_PG_URL"], connect_timeout_seconds=2)


def reading_errors(postgres: PostgresResource) -> list[AdtechError]:
    """The errors of a small query (psycopg), a bulk read (ADBC) and a fact read (asyncpg), all
    of which must fail."""
    with pytest.raises(AdtechError) as small_query:
        postgres.fetch("current_snapshot")
    with pytest.raises(AdtechError) as bulk_read:
        postgres.read_arrow("dim_rows", **BULK_READ)
    with pytest.raises(AdtechError) as fact_read:
        with postgres.fact_batches("clicks", day_window(date(2026, 1, 1), date(2026, 1, 1)), FACT) as batches:
            list(batches)
    return [small_query.value, bulk_read.value, fact_read.value]


# ---- each form, in process ----------------------------------------------------------------------

@pytest.mark.parametrize("form", PASSWORD_FORMS)
def test_the_right_password_connects_in_every_form(source_url, form, monkeypatch):
    postgres = with_form(monkeypatch, source_url, RIGHT, form)
    assert postgres.fetch("current_snapshot")
    assert postgres.read_arrow("dim_rows", **BULK_READ).column_names == ["id", "name"]
    with postgres.fact_batches("clicks", day_window(date(2026, 1, 1), date(2026, 1, 1)), FACT) as batches:
        assert list(batches) == []
    assert_no_secret(repr(postgres), str(postgres))


@pytest.mark.parametrize("form", PASSWORD_FORMS)
def test_a_wrong_postgres_password_is_one_clear_line_without_the_password(source_url, form, monkeypatch):
    for error in reading_errors(with_form(monkeypatch, source_url, WRONG, form)):
        assert "password authentication failed" in str(error)
        assert "\n" not in str(error)
        assert_no_secret(error_text(error))


@pytest.mark.parametrize("form", PASSWORD_FORMS)
def test_a_changed_password_never_reuses_a_connection_opened_with_the_old(source_url, form, monkeypatch):
    """This process keeps idle connections for reuse, by what they were opened with: the
    connection string and libpq's environment. The same string with ``PGPASSWORD`` now wrong
    must fail as a new connection would, not borrow one that the right password opened."""
    right = with_form(monkeypatch, source_url, RIGHT, form)
    assert right.fetch("current_snapshot") and right.read_arrow("dim_rows", **BULK_READ).num_rows >= 0
    for error in reading_errors(with_form(monkeypatch, source_url, WRONG, form)):
        assert "password authentication failed" in str(error)


@pytest.mark.parametrize("form", PASSWORD_FORMS)
def test_an_unreachable_server_is_named_without_the_password(form, monkeypatch):
    for error in reading_errors(with_form(monkeypatch, UNREACHABLE_PG, "secretpw", form)):
        assert "127.0.0.1" in str(error) and "5999" in str(error), str(error)
        assert_no_secret(error_text(error))


@pytest.mark.parametrize(
    "url",
    [
        "mysql://adtech:secretpw@127.0.0.1/adtech",  # not a Postgres URL
        "host=127.0.0.1 password secretpw",  # keywords libpq cannot parse: never quoted back
        "host=127.0.0.1 password=pw secretpw",
        "postgresql://adtech:secretpw@[::1/adtech",
        "postgresql://adtech@127.0.0.1/adtech?password=secretpw&sslmod=require",
    ],
)
def test_connection_strings_libpq_rejects_are_not_echoed(url):
    with pytest.raises(AdtechError) as error:
        PostgresResource(url=url, connect_timeout_seconds=2).fetch("current_snapshot")
    assert "ADTECH_PG_URL" in str(error.value)
    assert_no_secret(error_text(error.value))


@pytest.mark.parametrize(
    "conninfo",
    [
        "postgresql://adtech:secretpw@db:5432/adtech",
        "postgresql://adtech@db:5432/adtech?sslmode=require&password=secretpw",
        "host=db port=5432 dbname=adtech password = 'secret pw secretpw' user=adtech",
        "host=db sslpassword=secretpw dbname=adtech",
    ],
)
def test_a_driver_message_that_quotes_the_connection_string_is_redacted(conninfo):
    echoed = psycopg.OperationalError(f'could not connect with "{conninfo}"\nmore detail')
    error = connection_error(conninfo, echoed)
    assert str(error).startswith("cannot connect to Postgres at ") and "\n" not in str(error)
    assert_no_secret(error_text(error), redact_conninfo(conninfo), redact_text(conninfo))


@pytest.mark.parametrize(
    "url",
    [
        *CLICKHOUSE_FORMS.values(),
        "http://u:secretpw@127.0.0.1:notaport",  # malformed
        "http://u@127.0.0.1:notaport/?password=secretpw",
        "ftp://u:secretpw@127.0.0.1:8123",  # not a ClickHouse URL
        "ftp://u@127.0.0.1:8123/?password=secretpw",
    ],
)
def test_clickhouse_errors_never_show_the_password(url):
    with pytest.raises(AdtechError) as error:
        with ClickHouseResource(url=url).session():
            pass
    assert "ADTECH_CLICKHOUSE_URL" in str(error.value)
    assert_no_secret(error_text(error.value))


def test_the_clickhouse_password_parameter_is_the_password():
    target = parse_clickhouse_url(f"http://analyst@127.0.0.1:8123/?password={CH_SECRET}")
    assert (target.username, target.password) == ("analyst", CH_SECRET)
    assert parse_clickhouse_url("http://a:userinfo@h:8123/?password=p%40ss").password == "p@ss"
    resource = ClickHouseResource(url=CLICKHOUSE_FORMS["ClickHouse ?password= URL"])
    assert_no_secret(repr(target), target.describe(), repr(resource))


def test_resources_built_from_the_environment_do_not_hold_the_values(monkeypatch):
    from adtech_assets.defs.resources import build_resources, resolved_resources

    monkeypatch.setenv("ADTECH_PG_URL", "postgresql://adtech:secretpw@db:5432/adtech")
    monkeypatch.setenv("ADTECH_CLICKHOUSE_URL", "http://adtech:secretpw@clickhouse:8123")
    resources = build_resources()
    with ExitStack() as stack:
        initialized = {key: stack.enter_context(resource.process_config_and_initialize_cm())
                       for key, resource in resources.items()}
        resolved = resolved_resources()  # what the CLI uses
        assert resolved["postgres"].url == "postgresql://adtech:secretpw@db:5432/adtech"
        assert_no_secret(repr(resources), str(resources), repr(initialized), repr(resolved), str(resolved))


@asset
def reads_the_source(postgres: PostgresResource) -> None:
    postgres.fetch("current_snapshot")


def test_dagster_runs_record_no_password(source_url, clickhouse, tmp_path, monkeypatch, caplog, capfd):
    """A successful run with the right password and a failed one with a wrong password: no byte
    of either is in the instance's storage (events, run config, captured logs) or the logs."""
    storage = tmp_path / "dagster"
    storage.mkdir()
    resources = {"postgres": PostgresResource(url=EnvVar("ADTECH_PG_URL")), "clickhouse": clickhouse}
    with instance_for_test(temp_dir=str(storage)) as instance:
        monkeypatch.setenv("ADTECH_PG_URL", source_url)
        succeeded = materialize(dim_assets, instance=instance, resources=resources)
        monkeypatch.setenv("ADTECH_PG_URL", with_credentials(source_url, "postgres", WRONG))
        failed = materialize([reads_the_source], instance=instance, resources=resources, raise_on_error=False)

        assert succeeded.success and not failed.success
        [failure] = failed.get_step_failure_events()
        assert "password authentication failed" in str(failure.step_failure_data.error)
        recorded = []
        for run in instance.get_runs():
            recorded += [repr(run.run_config), repr(run.tags)]
            recorded += [repr(entry) for entry in instance.all_logs(run.run_id)]
    assert_no_secret(*recorded, caplog.text, *capfd.readouterr())
    assert_nothing_stored(storage)


def assert_nothing_stored(home: Path) -> None:
    for path in [p for p in home.rglob("*") if p.is_file()]:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret!r} stored in {path}"


# ---- each form, through `adtech sync` and `dagster asset materialize` ------------------------

COMMANDS = ("adtech sync", "dagster asset materialize")
CASES = [(form, command) for form in (*PASSWORD_FORMS, *CLICKHOUSE_FORMS) for command in COMMANDS]


def case_settings(form: str, source_url: str, home: Path) -> dict[str, str]:
    """A Postgres form with the wrong password (the server checks it), or a ClickHouse form
    pointing at nothing, with the right Postgres password in the URL."""
    if form in CLICKHOUSE_FORMS:
        return {"ADTECH_PG_URL": source_url, "ADTECH_CLICKHOUSE_URL": CLICKHOUSE_FORMS[form]}
    return {**password_form(source_url, "postgres", WRONG, form),
            "ADTECH_CLICKHOUSE_URL": f"chdb://{home}/clickhouse"}


def case_command(form: str, command: str) -> list[str]:
    """The dims, through the code location. Step retries are off and a server's steps run in
    process: the same failure is recorded once, in seconds rather than a minute of retries and
    step processes each importing Dagster."""
    if command == "adtech sync":
        return cli_command("sync")
    no_retries = {"retries": {"disabled": {}}}
    executor = {"in_process": no_retries} if form in CLICKHOUSE_FORMS else no_retries
    return [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "adtech_assets.definitions",
            "--select", "group:dims", "--config-json", json.dumps({"execution": {"config": executor}})]


@pytest.fixture(scope="module")
def outcomes(source_url, tmp_path_factory) -> dict[tuple[str, str], tuple[subprocess.CompletedProcess, Path]]:
    """Every case, all processes at once: its result and its ``DAGSTER_HOME``."""
    tmp = tmp_path_factory.mktemp("secret-forms")
    running = {}
    try:
        for n, (form, command) in enumerate(CASES):
            env = cli_env(tmp / f"case{n}", **case_settings(form, source_url, tmp / f"case{n}"))
            Path(env["DAGSTER_HOME"]).mkdir(parents=True)
            process = subprocess.Popen(case_command(form, command), env=env, cwd=PROJECT_ROOT, text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            running[(form, command)] = (process, Path(env["DAGSTER_HOME"]))
        done = {}
        for case, (process, home) in running.items():
            out, err = process.communicate(timeout=300)
            done[case] = (subprocess.CompletedProcess(process.args, process.returncode, out, err), home)
        return done
    finally:
        for process, _ in running.values():
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.parametrize(("form", "command"), CASES)
def test_no_form_of_secret_is_shown_or_stored(outcomes, form, command):
    result, home = outcomes[(form, command)]
    reason = "cannot reach ClickHouse server" if form in CLICKHOUSE_FORMS else "password authentication failed"
    assert result.returncode == (2 if command == "adtech sync" else 1), result.stderr[-2000:]
    assert reason in result.stderr, result.stderr[-2000:]
    if command == "adtech sync":
        assert result.stderr.startswith("adtech: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert_no_secret(result.stdout, result.stderr)
    stored = [p for p in home.rglob("*") if p.is_file()]
    if command != "adtech sync":  # the failure is recorded (so the search below means something)
        assert any(reason.encode() in p.read_bytes() for p in stored), [str(p) for p in stored]
    assert_nothing_stored(home)
