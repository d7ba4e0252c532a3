"""What a ClickHouse table or view looks like in the UI: Dagster's standard table metadata.

``dagster/column_schema`` (from ``system.columns``) and ``dagster/row_count`` for the dims and
the KPI views, and a preview of a view's first rows as table metadata: one query for the
schemas and one per view for its count and first rows (the dims are thousands of rows, the views
days x campaigns), cheap enough for every refresh.
The daily tables record per day (partition) what the load already computed: its rows and its
fingerprint, no extra query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from dagster import (
    AssetExecutionContext,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
)

from adtech_assets.db.clickhouse.client import DATABASE, ClickHouseSession
from adtech_assets.engine.fingerprints import Fingerprint

PREVIEW_ROWS = 10


def column_schemas(ch: ClickHouseSession, tables: list[str]) -> dict[str, TableSchema]:
    """The columns of each ``analytics.<table>`` in order, with their ClickHouse types (one query)."""
    columns: dict[str, list[TableColumn]] = {table: [] for table in tables}
    for c in ch.rows("ops/tables_columns", tables=tables):
        columns[c["table"]].append(TableColumn(name=c["name"], type=c["type"], description=c["comment"] or None))
    return {table: TableSchema(columns=cols) for table, cols in columns.items()}


def table_name(table: str) -> MetadataValue:
    """``dagster/table_name``: where the asset lives, as the UI names it."""
    return MetadataValue.text(f"{DATABASE}.{table}")


def table_metadata(table: str, row_count: int, schema: TableSchema) -> dict[str, Any]:
    """``dagster/row_count`` and ``dagster/column_schema`` of a table or view, with
    ``dagster/table_name`` so the UI names where it lives."""
    return {
        "dagster/row_count": MetadataValue.int(int(row_count)),
        "dagster/column_schema": MetadataValue.table_schema(schema),
        "dagster/table_name": table_name(table),
    }


def _cell(value: Any) -> str | int | float | bool | None:
    """A value as table metadata holds it (str, int, float, bool or None)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def preview(rows: list[dict[str, Any]], schema: TableSchema) -> MetadataValue:
    """Rows (already limited) as ``MetadataValue.table``, the UI's table view."""
    return MetadataValue.table(
        records=[TableRecord({k: _cell(v) for k, v in row.items()}) for row in rows],
        schema=schema,
    )


def view_head(ch: ClickHouseSession, view: str, order_by: str, descending: bool,
              limit: int = PREVIEW_ROWS) -> tuple[list[dict[str, Any]], int]:
    """The view's first ``limit`` rows by ``order_by`` (NULLs last) and its row count, from one
    execution of the view."""
    name = "ops/view_head_desc" if descending else "ops/view_head_asc"
    rows = ch.rows(name, view=view, order_by=order_by, limit=limit)
    total = rows[0]["adtech_view_rows"] if rows else 0
    return [{k: v for k, v in row.items() if k != "adtech_view_rows"} for row in rows], total


def record_day_metadata(context: AssetExecutionContext, days: Mapping[date, Fingerprint],
                        extra: Callable[[date, Fingerprint], dict[str, Any]] = lambda *_: {}) -> None:
    """Give each day of a (possibly multi-day, single-run) materialization its own metadata: its
    rows as ``dagster/row_count`` and ``dagster/partition_row_count`` (the day's, not the run's
    total) and its content fingerprint. Totals of the run belong in the run's log."""
    for day, fingerprint in days.items():
        context.add_asset_metadata(
            {"dagster/row_count": fingerprint.rows, "dagster/partition_row_count": fingerprint.rows,
             "fingerprint": fingerprint.text, **extra(day, fingerprint)},
            partition_key=day.isoformat(),
        )
