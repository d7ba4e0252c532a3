"""What a dimension's ClickHouse table must write to equal its source table now.

The whole source table is compared with what ClickHouse holds after deduplication, column by
column: rows that are new or differ (whatever their ``updated_at`` says, so an update that does
not touch it is seen too, and drift in ClickHouse is repaired), and ids gone from the source.
Dimensions are small (thousands of rows): reading both sides costs milliseconds, which is why
the planner can afford it on every pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from adtech_assets.catalog import DimSpec
from adtech_assets.db.clickhouse.client import ClickHouseSession
from adtech_assets.db.postgres.client import Postgres
from adtech_assets.engine.snapshots import snapshot_bounds
from adtech_assets.errors import AdtechError

if TYPE_CHECKING:
    import polars as pl


def _decimals(table: pa.Table, spec: DimSpec) -> pa.Table:
    """ADBC hands Postgres numeric over as text; make it the exact decimal ClickHouse stores.
    A value that is no such decimal (the source column's type changed) fails naming its row."""
    for name, (precision, scale) in spec.decimals.items():
        column = table[name]
        if isinstance(column.type, pa.ExtensionType):
            column = pa.chunked_array([chunk.storage for chunk in column.chunks], column.type.storage_type)
        try:
            converted = pc.cast(column, pa.decimal128(precision, scale))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise _not_convertible(spec, name, table[spec.id_column], column, precision, scale) from None
        table = table.set_column(table.schema.get_field_index(name), name, converted)
    return table


def _not_convertible(spec: DimSpec, name: str, ids: pa.ChunkedArray, column: pa.ChunkedArray,
                     precision: int, scale: int) -> AdtechError:
    """The first row whose value does not convert, as one line (dims are small: row by row)."""
    target = pa.decimal128(precision, scale)
    for row_id, value in zip(ids.to_pylist(), column.to_pylist()):
        try:
            pc.cast(pa.array([value], column.type), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return AdtechError(
                f"source row {spec.source} id {row_id} has {name} = {value!r}, which is not a decimal "
                f"of {precision} digits with {scale} after the point ({spec.table}.{name} is Decimal({precision}, "
                f"{scale})): fix the value in Postgres, or the column's type (adtech reads numeric({precision}, {scale}))"
            )
    return AdtechError(f"{spec.source}.{name} (of type {column.type}) cannot be read as Decimal({precision}, {scale}): "
                       f"give the column the type numeric({precision}, {scale}) in Postgres")


@dataclass
class DimensionChanges:
    upserts: pa.Table  # source rows, in ClickHouse's column names, that ClickHouse lacks or holds otherwise
    deleted_ids: list[int]
    version: int  # the snapshot horizon of the read, the _version these rows get

    @property
    def empty(self) -> bool:
        return not self.upserts.num_rows and not self.deleted_ids


def _comparable(table: pa.Table) -> pl.DataFrame:
    import polars as pl  # only a dimension's comparison needs it: a fact run's process skips its import

    frame = pl.from_arrow(table)
    return frame.with_columns(
        pl.col(name).dt.replace_time_zone(None)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    )


def dimension_changes(spec: DimSpec, postgres: Postgres, ch: ClickHouseSession) -> DimensionChanges:
    """What ClickHouse must write to equal the source table now."""
    snapshot = postgres.fetch("current_snapshot")[0][0]  # before the read: the read is at least this new
    _, version = snapshot_bounds(snapshot)
    source = postgres.read_arrow("dim_rows", table=spec.source, columns=spec.source_columns)
    source = _decimals(source.rename_columns([spec.id_column if c == "id" else c for c in source.column_names]), spec)
    live = ch.query_arrow("ops/dim_live_rows", table=spec.table)
    source_frame, live_frame = _comparable(source), _comparable(live.select(source.column_names))
    differing = source_frame.join(live_frame, on=source.column_names, how="anti", nulls_equal=True)
    upserts = source.filter(pc.is_in(source[spec.id_column], differing[spec.id_column].to_arrow().cast(pa.int32())))
    deleted = live_frame.join(source_frame, on=spec.id_column, how="anti")[spec.id_column].to_list()
    return DimensionChanges(upserts, deleted, version)
