"""SQL lives in .sql files, read by name: ClickHouse in ``clickhouse_ddl/``, Postgres reads in
``adtech_assets/sql/``, migrations and the generator in ``seeds/``. Python never formats values
into SQL: ClickHouse statements use server-side parameters (``{day:Date}``, ``{t:Identifier}``),
Postgres statements use driver placeholders."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from adtech_assets.settings import PROJECT_ROOT

CLICKHOUSE_DIR = PROJECT_ROOT / "clickhouse_ddl"
POSTGRES_DIR = Path(__file__).resolve().parent / "sql"
SEEDS_DIR = PROJECT_ROOT / "seeds"


@cache
def _read(path: Path) -> str:
    return path.read_text()


def clickhouse_sql(name: str) -> str:
    return _read(CLICKHOUSE_DIR / f"{name}.sql")


def postgres_sql(name: str) -> str:
    return _read(POSTGRES_DIR / f"{name}.sql")


def seed_sql(name: str) -> str:
    return _read(SEEDS_DIR / f"{name}.sql")


def split_statements(script: str) -> list[str]:
    """Split a script of ';'-terminated statements (our files hold no ';' inside literals)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
