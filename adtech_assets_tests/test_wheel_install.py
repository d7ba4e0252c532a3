"""The package installs as a package: the sdist and the wheel are built (the wheel from the
sdist, as ``uv build`` does) from a clean export of the checkout (what a commit of it would hold,
so a build takes seconds whatever the demo left in ``.data/``), and hold the code and its SQL
only, whatever lies beside them; the wheel is installed into a fresh venv outside the repository,
and that venv's ``adtech`` migrates an empty database, seeds a small sample and syncs it into
chDB, run from a directory outside the repository. The SQL (top-level ``clickhouse_ddl/`` and
``seeds/`` in the repo) must come from inside the installed package.

Dependencies are pinned to the project's lock (``uv export``), so they install from uv's cache;
the index is asked only when the cache cannot answer offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from adtech_assets.catalog import KPI_VIEWS
from adtech_assets.db.sql_files import CLICKHOUSE_DIR, SEEDS_DIR, postgres_migrations
from adtech_assets.settings import PROJECT_ROOT

from .checkout_export import clean_export
from .conftest import fresh_database

SQL_FOLDERS = ("clickhouse_ddl", "seeds")
# What the sdist holds at its top level (PKG-INFO and .gitignore are hatch's own additions).
SDIST_TOP_LEVEL = {"adtech_assets", *SQL_FOLDERS, "README.md", "pyproject.toml", "PKG-INFO", ".gitignore"}
# What a checkout may hold that no package may: the demo's databases, a venv, benchmark data,
# caches (each path is planted in a copy of the checkout, never in the checkout itself).
LOCAL_ONLY = {
    ".data/postgres/base/16384/2619": 2_000_000,
    ".data/clickhouse/store/all_1_1_0/data.bin": 1000,
    ".data/dagster/history/runs.db": 1000,
    ".venv/lib/python3.11/site-packages/local.py": 10,
    "benchmarks/data/impressions_10m.csv": 1000,
    ".pytest_cache/v/cache/lastfailed": 10,
    "adtech_assets/__pycache__/settings.cpython-311.pyc": 10,
    "seeds/__pycache__/generate.cpython-311.pyc": 10,
    "adtech_assets/.data/dagster/runs.db": 10,
}


@dataclass(frozen=True)
class Installed:
    wheel: Path
    sdist: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def adtech(self) -> Path:
        return self.venv / "bin" / "adtech"


def _run(command: list, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=timeout, **kwargs)
    assert done.returncode == 0, f"{command} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _uv(uv: str, *args, **kwargs) -> subprocess.CompletedProcess:
    """``uv <args>`` from the cache alone if it can, else with the index."""
    offline = subprocess.run([uv, *map(str, args), "--offline"], capture_output=True, text=True, timeout=300, **kwargs)
    return offline if offline.returncode == 0 else _run([uv, *args], **kwargs)


def _outside_the_repo(path: Path) -> Path:
    assert not path.resolve().is_relative_to(PROJECT_ROOT), f"{path} must be outside {PROJECT_ROOT}"
    return path


def _build(uv: str, project: Path, dist: Path, *args: str) -> None:
    _uv(uv, "build", "--quiet", *args, "--out-dir", dist, project, cwd=project)


def _uv_or_skip() -> str:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("needs uv on PATH to build the wheel")
    return uv


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> Installed:
    """The sdist and wheel of a clean export of this checkout, and a fresh venv with the wheel
    installed; once per session."""
    uv = _uv_or_skip()
    root = _outside_the_repo(tmp_path_factory.mktemp("wheel"))
    dist = root / "dist"
    _build(uv, clean_export(root / "export"), dist)
    [wheel] = dist.glob("adtech_assets-*.whl")
    [sdist] = dist.glob("adtech_assets-*.tar.gz")
    constraints = root / "constraints.txt"
    constraints.write_text(_run([uv, "export", "--frozen", "--no-hashes", "--no-emit-project", "--quiet"],
                                cwd=PROJECT_ROOT).stdout)
    venv = root / "venv"
    _run([uv, "venv", "--quiet", "--python", Path(sys.executable), venv], cwd=root)
    _uv(uv, "pip", "install", "--quiet", "--python", venv / "bin" / "python", "--constraint", constraints, wheel,
        cwd=root)
    return Installed(wheel=wheel, sdist=sdist, venv=venv)


def _clean_env(**settings: str) -> dict[str, str]:
    """The environment of a user of the installed package: nothing of this repository on
    PATH or PYTHONPATH, no project settings but ``settings``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ADTECH_", "DAGSTER_", "PYTHON", "UV_")) and k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and not Path(p).resolve().is_relative_to(PROJECT_ROOT))
    return {**env, **settings}


def _files_under(folder: str) -> set[str]:
    return {p.relative_to(PROJECT_ROOT).as_posix() for p in (PROJECT_ROOT / folder).rglob("*.sql")}


def test_the_wheel_ships_the_sql_inside_the_package_and_the_sdist_keeps_the_folders(installed):
    repo_files = set().union(*map(_files_under, SQL_FOLDERS))
    assert len(repo_files) > 10
    with zipfile.ZipFile(installed.wheel) as wheel:
        in_wheel = set(wheel.namelist())
    assert {f"adtech_assets/{f}" for f in repo_files} <= in_wheel
    assert not {n for n in in_wheel if n.startswith(SQL_FOLDERS)}, "the SQL goes inside the package"
    with tarfile.open(installed.sdist) as sdist:
        in_sdist = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert repo_files <= in_sdist


def _local_only(name: str) -> bool:
    return name in LOCAL_ONLY or "__pycache__/" in name or ".data/" in name


def _sdist_names(sdist: Path) -> set[str]:
    with tarfile.open(sdist) as archive:
        return {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}


def _wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_packages_hold_the_code_and_its_sql_only_whatever_lies_in_the_checkout(tmp_path):
    """A checkout after ``adtech demo`` (its databases in ``.data/``), with a venv, benchmark data
    and caches: neither the sdist nor a wheel (from the sdist, or straight from the tree as
    ``pip install .`` builds it) holds any of it."""
    uv = _uv_or_skip()
    project = clean_export(_outside_the_repo(tmp_path / "checkout"))
    for name, size in LOCAL_ONLY.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_bytes(os.urandom(size))
    _build(uv, project, tmp_path / "dist")
    _build(uv, project, tmp_path / "tree", "--wheel")
    [sdist] = (tmp_path / "dist").glob("*.tar.gz")
    wheels = [*(tmp_path / "dist").glob("*.whl"), *(tmp_path / "tree").glob("*.whl")]
    assert len(wheels) == 2

    in_sdist = _sdist_names(sdist)
    assert not {n for n in in_sdist if _local_only(n)}
    assert {n.split("/")[0] for n in in_sdist} == SDIST_TOP_LEVEL
    assert sdist.stat().st_size < 1_000_000, "code and SQL: a few hundred kB"
    for wheel in wheels:
        in_wheel = _wheel_names(wheel)
        assert not {n for n in in_wheel if _local_only(n)}, wheel
        top_level = {n.split("/")[0] for n in in_wheel}
        assert {t for t in top_level if not t.endswith(".dist-info")} == {"adtech_assets"}, wheel


def test_from_the_source_checkout_the_sql_is_read_from_the_top_level_folders():
    assert Path(CLICKHOUSE_DIR) == PROJECT_ROOT / "clickhouse_ddl"
    assert Path(SEEDS_DIR) == PROJECT_ROOT / "seeds"


@pytest.mark.long(44)
def test_the_installed_wheel_migrates_seeds_and_syncs_from_outside_the_repo(installed, pg_server_url, tmp_path):
    cwd = _outside_the_repo(tmp_path / "somewhere")
    cwd.mkdir()
    clickhouse_url = f"chdb://{tmp_path / 'clickhouse'}"
    with fresh_database(pg_server_url, "adtech_wheel") as pg_url:
        env = _clean_env(ADTECH_PG_URL=pg_url, ADTECH_CLICKHOUSE_URL=clickhouse_url)

        # The installed package is the one that runs, and it reads its SQL from itself.
        probe = _run([installed.python, "-c", (
            "import json, sys, sysconfig, adtech_assets, adtech_assets.settings as s, adtech_assets.db.sql_files as q\n"
            "print(json.dumps({'file': adtech_assets.__file__, 'purelib': sysconfig.get_paths()['purelib'],\n"
            "  'sql': [str(q.CLICKHOUSE_DIR), str(q.SEEDS_DIR)], 'source_checkout': s.SOURCE_CHECKOUT,\n"
            "  'data_dir': str(s.data_dir()), 'sys_path': sys.path}))")], cwd=cwd, env=env)
        found = json.loads(probe.stdout)
        purelib = Path(found["purelib"]).resolve()
        assert purelib.is_relative_to(installed.venv.resolve())
        assert Path(found["file"]).resolve() == purelib / "adtech_assets" / "__init__.py"
        assert [Path(p).resolve() for p in found["sql"]] == [purelib / "adtech_assets" / f for f in SQL_FOLDERS]
        assert found["source_checkout"] is False
        assert Path(found["data_dir"]) == cwd.resolve() / ".data", "an installed package keeps data in ./.data"
        assert not [p for p in found["sys_path"] if p and Path(p).resolve().is_relative_to(PROJECT_ROOT)]

        migrated = _run([installed.adtech, "migrate"], cwd=cwd, env=env)
        for migration in postgres_migrations():
            assert f"V{migration.version}__{migration.name}" in migrated.stdout, migrated.stdout
        with psycopg.connect(pg_url) as conn:
            versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == [m.version for m in postgres_migrations()]

        _run([installed.adtech, "seed", "batch", "--impressions", "2000", "--days", "3"], cwd=cwd, env=env)
        synced = _run([installed.adtech, "sync"], cwd=cwd, env=env)
        assert "KPIs refreshed" in synced.stdout, synced.stdout

        # Read back with the venv's own ClickHouse client (not through Dagster: a faster start).
        kpis = _run([installed.python, "-c", (
            "import json, sys, clickhouse_connect\n"
            "client = clickhouse_connect.get_client(dsn=sys.argv[1])\n"
            "count = lambda sql: client.query(sql).result_rows[0][0]\n"
            "print(json.dumps({'rows': {v: count(f'SELECT count() FROM analytics.{v}') for v in sys.argv[2:]},\n"
            "                  'impressions': count('SELECT sum(impressions) FROM analytics.mv_daily_performance')}))"),
            clickhouse_url, *KPI_VIEWS], cwd=cwd, env=env)
        result = json.loads(kpis.stdout)
        assert set(result["rows"]) == set(KPI_VIEWS)
        assert all(rows > 0 for rows in result["rows"].values()), result
        assert result["impressions"] == 2000, result

    # Dagster's run history went to ./.data/dagster of the working directory, not into the venv.
    assert (cwd / ".data" / "dagster" / "dagster.yaml").is_file()
    assert not (purelib / ".data").exists()
