"""A role that may not do what a command needs, and credentials a server rejects, are each one
line (exit 2) saying so and what to do, never a traceback and never "check that the server is
running" (issue 24):

- ``adtech migrate`` as the pipeline's read-only role (deploy/postgres/reader_role.sql) names
  the role, what it lacks in Postgres's words, and the two ways on: run it as the tables' owner,
  or the GRANT that would let it; on a database without tables yet, the GRANT is CREATE on the
  schema. ``adtech seed`` as that role likewise.
- A wrong password or an unknown user, in the URL or in ``PGPASSWORD``, says that the server
  rejected the credentials of that user and to fix them in ADTECH_PG_URL (or PGPASSWORD), from
  every read path (psycopg, ADBC, asyncpg), without the password.

Real servers: the test Postgres for roles, a throwaway embedded one that checks passwords."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import psycopg
import pytest

from adtech_assets.db.migrations import migrate
from adtech_assets.db.postgres.fact_window import day_window
from adtech_assets.defs.resources import PostgresResource
from adtech_assets.errors import AdtechError
from adtech_assets_tests.conftest import fresh_database
from adtech_assets_tests.helpers import cli_env, run_cli
from adtech_assets_tests.postgres_roles import (
    create_reader_role,
    drop_role,
    password_checking_postgres,
    password_form,
    with_credentials,
)

PASSWORD = "reader-Pw-3f81"
RIGHT, WRONG = "right-Pw-0c27", "wrong-Pw-94ad"


def one_error_line(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr[-3000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("adtech: error: "), result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "Check that the server is running" not in lines[0]
    return lines[0]


@pytest.fixture
def reader(pg_url) -> Iterator[tuple[str, str]]:
    """The deployment's read-only role on a migrated source: (its name, its URL)."""
    role = f"adtech_reader_{uuid.uuid4().hex[:8]}"
    create_reader_role(pg_url, role, PASSWORD)
    yield role, with_credentials(pg_url, role, PASSWORD)
    drop_role(pg_url, role)


def test_migrate_as_the_read_only_role_says_whose_it_is_to_run(reader, tmp_path):
    role, url = reader
    env = cli_env(tmp_path, ADTECH_PG_URL=url, ADTECH_CLICKHOUSE_URL=f"chdb://{tmp_path}/clickhouse")
    line = one_error_line(run_cli(["migrate"], env))
    with psycopg.connect(url, autocommit=True) as conn:
        [(owner,)] = conn.execute(
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'campaign'::regclass").fetchall()
    for words in (f"role {role} lacks the privileges `adtech migrate` needs", "permission denied for schema public",
                  f"run `adtech migrate` as the tables' owner, {owner}", "ADTECH_PG_URL",
                  f"GRANT {owner} TO {role}"):
        assert words in line, (words, line)
    assert PASSWORD not in line

    seeded = one_error_line(run_cli(["seed", "impressions", "--count", "5"], env))
    for words in (f"role {role} lacks the privileges `adtech seed impressions` needs",
                  "permission denied for table impressions", f"GRANT {owner} TO {role}"):
        assert words in seeded, (words, seeded)


def test_migrate_on_an_empty_database_names_the_grant_on_the_schema(pg_server_url, tmp_path):
    """Before the first migration no table has an owner: the role needs CREATE on the schema."""
    role = f"adtech_plain_{uuid.uuid4().hex[:8]}"
    with fresh_database(pg_server_url, "adtech_privileges") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
            conn.execute(f"GRANT CONNECT ON DATABASE {conn.info.dbname} TO {role}")
        try:
            with pytest.raises(AdtechError) as refused:
                migrate(PostgresResource(url=with_credentials(url, role, PASSWORD)))
        finally:
            drop_role(url, role)
    message = str(refused.value)
    assert f"role {role} lacks" in message and f"GRANT CREATE ON SCHEMA public TO {role}" in message, message
    assert "the database's owner" in message and "\n" not in message


@pytest.fixture(scope="module")
def checking_url() -> Iterator[str]:
    """A migrated source on a server that checks passwords; the URL has the right one."""
    with password_checking_postgres(RIGHT) as admin_url:
        migrate(PostgresResource(url=admin_url))
        yield admin_url


@pytest.mark.parametrize("form", ["userinfo URL", "PGPASSWORD"])
def test_a_rejected_password_says_so_and_where_to_fix_it(checking_url, form, tmp_path):
    settings = password_form(checking_url, "postgres", WRONG, form)
    env = cli_env(tmp_path, ADTECH_CLICKHOUSE_URL=f"chdb://{tmp_path}/clickhouse", **settings)
    line = one_error_line(run_cli(["migrate"], env))
    assert "rejected the credentials of user postgres" in line, line
    assert "password authentication failed" in line
    assert "fix the user or password in ADTECH_PG_URL (or PGPASSWORD)" in line
    assert WRONG not in line and RIGHT not in line


def fact_read(postgres: PostgresResource) -> None:
    with postgres.fact_batches("clicks", day_window(date(2026, 1, 1), date(2026, 1, 1)),
                               ("click_id", "campaign_id", "created_at")) as batches:
        list(batches)


def test_every_read_path_says_the_credentials_were_rejected(checking_url):
    for user, password in (("postgres", WRONG), ("nobody", RIGHT)):
        postgres = PostgresResource(url=with_credentials(checking_url, user, password), connect_timeout_seconds=5)
        for read in (lambda: postgres.fetch("current_snapshot"),
                     lambda: postgres.read_arrow("dim_rows", table="advertiser", columns=("id", "name")),
                     lambda: fact_read(postgres)):
            with pytest.raises(AdtechError) as rejected:
                read()
            message = str(rejected.value)
            assert f"rejected the credentials of user {user}" in message and "ADTECH_PG_URL" in message, message
            assert not rejected.value.retriable and password not in message and "\n" not in message
