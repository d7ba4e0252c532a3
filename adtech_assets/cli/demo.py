"""What ``adtech demo`` shows: the five KPIs as tables, and where everything lives."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import polars as pl

from adtech_assets.catalog import PREVIEW_ORDER
from adtech_assets.cli.output import say
from adtech_assets.db.clickhouse.client import ClickHouse

# Compiling a fresh environment (about 7,000 files) takes 20-50 s on two busy cores.
COMPILE_TIMEOUT = 600


def print_kpis(clickhouse: ClickHouse, limit: int = 8) -> None:
    """Each view's top rows under a line naming it, its size and order (the row count is there,
    so polars' ``shape:`` line is not)."""
    with pl.Config(tbl_rows=limit, tbl_cols=10, fmt_str_lengths=30, tbl_width_chars=140,
                   tbl_hide_dataframe_shape=True):
        with clickhouse.session() as ch:
            for view, (order_by, descending) in PREVIEW_ORDER.items():
                frame = ch.query_df("ops/select_view", view=view)
                order = f"{order_by} {'DESC' if descending else 'ASC'}"
                print(f"\nanalytics.{view}  ({frame.height:,} rows, ORDER BY {order})")
                print(frame.sort(order_by, descending=descending, nulls_last=True).head(limit))


def compile_bytecode_once() -> None:
    """Where PYTHONDONTWRITEBYTECODE is set (as on this project's machines) Python writes no
    ``.pyc``, so every later process (the UI, ``adtech sync``, the tests' workers) would compile
    Dagster from source again, seconds of CPU each. uv's ``compile-bytecode`` setting compiles at
    install but also checks the whole environment again on every ``uv run`` (astral-sh/uv#12202);
    so the demo, a new user's first command, compiles the environment once instead. A stamp (site-packages' mtime,
    which an install or upgrade moves) spares later demos the check."""
    if not sys.dont_write_bytecode:
        return  # Python writes the .pyc of what it imports
    paths = sysconfig.get_paths()
    folders = sorted({paths["purelib"], paths["platlib"]})
    stamp = Path(sys.prefix) / ".adtech-bytecode"
    if stamp.is_file() and stamp.read_text() == _installed_state(folders):
        return
    say("compiling the Python environment to bytecode, once (PYTHONDONTWRITEBYTECODE is set)")
    try:
        subprocess.run([sys.executable, "-m", "compileall", "-qq", "-j", "0", *folders],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=COMPILE_TIMEOUT)
        stamp.write_text(_installed_state(folders))  # after: compiling adds site-packages/__pycache__
    except subprocess.TimeoutExpired:
        say(f"compiling did not finish in {COMPILE_TIMEOUT} s: run `uv sync --compile-bytecode` once")
    except OSError:
        pass  # an environment this user cannot write to: its installer compiles it


def _installed_state(folders: list[str]) -> str:
    return " ".join(str(Path(folder).stat().st_mtime_ns) for folder in folders)


def where_things_live(resources: dict, dagster_home: str) -> None:
    """Where the data is, and the commands to go on with, each runnable as printed (in the
    repository) and starting fast (``compile_bytecode_once``, before). The embedded Postgres
    keeps running after the demo (the UI and later commands share it): the last line says how
    to stop it."""
    import shlex

    from adtech_assets import settings
    from adtech_assets.redaction import redact_conninfo

    compile_bytecode_once()

    pg_url = redact_conninfo(resources["postgres"].resolved_url())
    # what the commands below need to find the same data; URLs are never printed (secrets)
    env = f"{settings.DATA_DIR}={shlex.quote(settings.raw(settings.DATA_DIR))} " if settings.is_set(settings.DATA_DIR) else ""
    servers = [name for name in (settings.PG_URL, settings.CLICKHOUSE_URL) if settings.is_set(name)]
    lines = [
        "\nWhere things live:",
        f"  Postgres (source):   {pg_url}",
        f"  ClickHouse (target): {resources['clickhouse'].target.describe()}, database analytics",
        f"  Dagster run history: {dagster_home}",
        "",
        f"Open the UI:     {env}DAGSTER_HOME={shlex.quote(dagster_home)} uv run dg dev   then http://127.0.0.1:3000",
        f"Query the KPIs:  {env}uv run adtech query \"SELECT * FROM analytics.mv_campaign_ctr ORDER BY ctr DESC LIMIT 5\"",
        f"Sync again:      {env}uv run adtech sync   (one incremental pass: what changed in Postgres since)",
    ]
    if servers:
        lines.append(f"                 (with the same {' and '.join(servers)} set)")
    if resources["postgres"].url is None:
        lines.append(f"Stop Postgres:   {env}uv run adtech stop   (the embedded Postgres keeps running "
                     "in the background until then)")
    print("\n".join(lines))
