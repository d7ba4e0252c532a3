"""SQL lives in .sql files, read by name: ClickHouse in ``clickhouse_ddl/``, Postgres reads in
``adtech_assets/db/sql/``, migrations and the generator in ``seeds/``. Both engines' versioned
files (``V<n>__<name>.sql``) are found here, by one rule. Python never formats values
into SQL: ClickHouse statements use server-side parameters (``{day:Date}``, ``{t:Identifier}``),
Postgres statements use driver placeholders.

``clickhouse_ddl/`` and ``seeds/`` are top-level folders of the repository; the wheel ships them
inside the package (``adtech_assets/clickhouse_ddl``, ``adtech_assets/seeds``: hatch
``sources`` in pyproject.toml). They are read through ``importlib.resources`` from there,
and from the source checkout's top-level folders when the package runs from the repo (an
editable install, ``uv run``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable

from adtech_assets.errors import AdtechError
from adtech_assets.settings import PROJECT_ROOT

_PACKAGE = files("adtech_assets")


def _sql_folder(name: str) -> Traversable:
    """``name`` as shipped in the installed package, else the source checkout's top-level one."""
    packaged = _PACKAGE / name
    return packaged if packaged.is_dir() else PROJECT_ROOT / name


CLICKHOUSE_DIR = _sql_folder("clickhouse_ddl")
POSTGRES_DIR = _PACKAGE / "db" / "sql"
SEEDS_DIR = _sql_folder("seeds")
POSTGRES_MIGRATIONS_DIR = SEEDS_DIR / "migrations"
_FOLDERS = {"clickhouse": CLICKHOUSE_DIR, "postgres": POSTGRES_DIR, "seeds": SEEDS_DIR}


@cache
def _read(folder: str, name: str) -> str:
    resource = _FOLDERS[folder]
    for part in name.split("/"):
        resource = resource / part
    return resource.read_text()


def clickhouse_sql(name: str) -> str:
    return _read("clickhouse", f"{name}.sql")


def postgres_sql(name: str) -> str:
    return _read("postgres", f"{name}.sql")


def seed_sql(name: str) -> str:
    return _read("seeds", f"{name}.sql")


def sql_files(folder: Traversable) -> list[Traversable]:
    """The ``.sql`` files directly in ``folder``, by name."""
    return sorted((f for f in folder.iterdir() if f.is_file() and f.name.endswith(".sql")), key=lambda f: f.name)


def split_statements(script: str) -> list[str]:
    """Split a script of ';'-terminated statements (our files hold no ';' inside literals)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


_VERSIONED = re.compile(r"^V(\d+)__(\w+)\.sql$")


@dataclass(frozen=True)
class VersionedFile:
    version: int
    name: str
    path: Traversable


def versioned_files(folder: Traversable, where: str) -> list[VersionedFile]:
    """``V<n>__<name>.sql`` in ``folder`` (``where`` names it in messages), by version (V10
    after V9). A file named otherwise, or two files of one version, is refused."""
    found = []
    for path in sql_files(folder):
        match = _VERSIONED.match(path.name)
        if not match:
            raise AdtechError(f"{where}/{path.name} is not named V<version>__<name>.sql: rename it")
        found.append(VersionedFile(int(match[1]), match[2], path))
    found.sort(key=lambda f: f.version)
    versions = [f.version for f in found]
    if len(set(versions)) != len(versions):
        raise AdtechError(f"two files in {where} share a version ({versions}): renumber one")
    return found


def postgres_migrations() -> list[VersionedFile]:
    """The Postgres migrations this code ships, by version."""
    return versioned_files(POSTGRES_MIGRATIONS_DIR, "seeds/migrations")
