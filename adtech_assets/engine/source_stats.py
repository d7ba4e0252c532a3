"""What an observation of a source table reads: its row count, highest id and newest change.

A count is a scan, so a pass reads these only for the
tables whose write counters moved since their latest observation (the Dagster side records
them: ``defs.assets.sources``), and counts exactly only a table the statistics put at up to
``EXACT_COUNT_ROWS`` rows. Above that the row count is the statistics' live rows
(``pg_stat_user_tables.n_live_tup``: exact deltas of committed writes since the last VACUUM or
ANALYZE estimated it), and the observation says so: a pass after new rows stays flat in history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from adtech_assets.catalog import DIMENSION_SOURCES
from adtech_assets.db.postgres.client import Postgres, table_query

EXACT_COUNT_ROWS = 10_000_000


@dataclass(frozen=True)
class SourceStats:
    rows: int
    max_id: int
    newest: datetime | None  # created_at, or for a dimension also updated_at
    rows_exact: bool = True  # counted, or else the statistics' live rows


def read_source_stats(postgres: Postgres, tables: list[str]) -> dict[str, SourceStats]:
    """Each table's stats, read on one connection."""
    stats = {}
    with postgres.connect() as conn:
        for table in tables:
            if table in DIMENSION_SOURCES:  # small: counted in the scan that finds its newest change
                (max_id, newest, rows), = conn.execute(table_query("observe_dimension", table)).fetchall()
                exact = True
            else:
                (max_id, newest, rows), = conn.execute(table_query("observe_events", table),
                                                       {"relation": f"public.{table}"}).fetchall()
                exact = rows is None or rows <= EXACT_COUNT_ROWS
                if exact:
                    (rows,), = conn.execute(table_query("count_rows", table)).fetchall()
            stats[table] = SourceStats(rows, max_id, newest, exact)
    return stats
