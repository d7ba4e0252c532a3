"""Dimensions: ``dim_advertiser`` and ``dim_campaign``, ReplacingMergeTree tables by id.

A load writes what ``dim_diff`` finds: the rows that are new or differ, and tombstones for ids
gone from the source, which ``FINAL`` hides. A pass with nothing changed writes nothing. Rows
are versioned by the Postgres snapshot horizon of the read, so the latest read wins.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import pyarrow as pa

from adtech_assets.catalog import DimSpec
from adtech_assets.db.clickhouse.client import ClickHouseSession
from adtech_assets.db.postgres.client import Postgres
from adtech_assets.engine.dim_diff import dimension_changes


@dataclass(frozen=True)
class DimLoad:
    rows_upserted: int
    ids_deleted: int
    version: int
    live_rows: int  # what the table holds after deduplication


def load_dimension(spec: DimSpec, postgres: Postgres, ch: ClickHouseSession) -> DimLoad:
    """Make ClickHouse's dimension equal the source table."""
    changes = dimension_changes(spec, postgres, ch)
    rows = changes.upserts.num_rows
    # from a buffer: pa.array over Python ints imports pandas
    versions = pa.UInt64Array.from_buffers(pa.uint64(), rows, [None, pa.py_buffer(array('Q', [changes.version]) * rows)])
    upserted = ch.insert_arrow(spec.table, changes.upserts.append_column("_version", versions))
    if changes.deleted_ids:
        ch.command("ops/dim_tombstones", table=spec.table, id_column=spec.id_column,
                   ids=changes.deleted_ids, version=changes.version)
    live_rows = ch.scalar("checks/dimension_live_rows", table=spec.table, id_column=spec.id_column)
    return DimLoad(upserted, len(changes.deleted_ids), changes.version, live_rows)
