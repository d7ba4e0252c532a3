"""Credentials come only from the environment and never show: not in error messages (a wrong
password included), not in tracebacks or reprs, not in logs, not in what a Dagster run records.

A wrong password needs a server that checks passwords; the test servers trust local
connections, so these tests start a throwaway embedded one with scram-sha-256 auth."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from dagster import EnvVar, asset, instance_for_test, materialize

from adtech_assets.assets.dims import dim_assets
from adtech_assets.errors import AdtechError
from adtech_assets.migrations import migrate
from adtech_assets.resources import ClickHouseResource, PostgresResource
from adtech_assets_tests.conftest import with_database
from adtech_assets_tests.postgres_roles import password_checking_postgres, with_credentials

RIGHT = "right-Pw-8d2f0a"
WRONG = "wrong-Pw-51c9e7"
SECRETS = (RIGHT, WRONG, "secretpw")


@pytest.fixture(scope="module")
def source_url(tmp_path_factory) -> Iterator[str]:
    """A migrated source database on a server that checks passwords; the URL has the right one."""
    with password_checking_postgres(tmp_path_factory.mktemp("password-pg") / "pg", RIGHT) as admin_url:
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


def test_a_wrong_postgres_password_is_one_clear_line_without_the_password(source_url):
    postgres = PostgresResource(url=with_credentials(source_url, "postgres", WRONG))
    with pytest.raises(AdtechError) as small_query:
        postgres.fetch("current_snapshot")
    with pytest.raises(AdtechError) as bulk_read:
        postgres.read_arrow("advertiser_ids")
    for error in (small_query.value, bulk_read.value):
        assert "password authentication failed" in str(error)
        assert "\n" not in str(error)
        assert_no_secret(error_text(error))


def test_the_right_password_connects(source_url):
    assert PostgresResource(url=source_url).fetch("current_snapshot")


def test_the_cli_reports_a_wrong_password_without_it(source_url, monkeypatch, capsys):
    from adtech_assets.cli import main

    monkeypatch.setenv("ADTECH_PG_URL", with_credentials(source_url, "postgres", WRONG))
    assert main(["seed", "stats"]) == 2
    out, err = capsys.readouterr()
    assert "password authentication failed" in err
    assert_no_secret(out, err)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://adtech:secretpw@127.0.0.1:1/adtech",  # nothing listens there
        "mysql://adtech:secretpw@127.0.0.1/adtech",  # not a Postgres URL
    ],
)
def test_postgres_errors_never_show_the_password(url):
    with pytest.raises(AdtechError) as error:
        PostgresResource(url=url, connect_timeout_seconds=2).fetch("current_snapshot")
    assert_no_secret(error_text(error.value))


@pytest.mark.parametrize(
    "url",
    [
        "http://u:secretpw@127.0.0.1:1",  # nothing listens there
        "http://u:secretpw@127.0.0.1:notaport",  # malformed
        "ftp://u:secretpw@127.0.0.1:8123",  # not a ClickHouse URL
    ],
)
def test_clickhouse_errors_never_show_the_password(url):
    with pytest.raises(AdtechError) as error:
        with ClickHouseResource(url=url).session():
            pass
    assert_no_secret(error_text(error.value))


def test_resources_built_from_the_environment_do_not_hold_the_values(monkeypatch):
    from adtech_assets.definitions import build_resources

    monkeypatch.setenv("ADTECH_PG_URL", "postgresql://adtech:secretpw@db:5432/adtech")
    monkeypatch.setenv("ADTECH_CLICKHOUSE_URL", "http://adtech:secretpw@clickhouse:8123")
    resources = build_resources()
    assert_no_secret(repr(resources), str(resources))


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
    for path in [p for p in Path(storage).rglob("*") if p.is_file()]:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret!r} stored in {path}"
