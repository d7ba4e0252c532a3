"""What a ClickHouse table or view looks like in the UI: Dagster's standard table metadata.

``dagster/column_schema`` (from ``system.columns``) and ``dagster/row_count`` for the dims and
the KPI views, and a preview of a view's first rows as table metadata. Each is one small query
(the dims are thousands of rows, the views days x campaigns), cheap enough for every refresh.
The daily tables record per day (partition) what the load already computed: its rows and its
fingerprint, no extra query.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from collections.abc import Callable, Mapping
from typing import Any

from dagster import AssetExecutionContext, MetadataValue, TableColumn, TableRecord, TableSchema

from adtech_assets.fingerprints import Fingerprint
from adtech_assets.resources.clickhouse import DATABASE, ClickHouseSession

PREVIEW_ROWS = 10


def column_schema(ch: ClickHouseSession, table: str) -> TableSchema:
    """The columns of ``analytics.<table>`` in order, with their ClickHouse types."""
    columns = ch.rows("ops/table_columns", table=table)
    return TableSchema(columns=[
        TableColumn(name=c["name"], type=c["type"], description=c["comment"] or None) for c in columns
    ])


def table_name(table: str) -> MetadataValue:
    """``dagster/table_name``: where the asset lives, as the UI names it."""
    return MetadataValue.text(f"{DATABASE}.{table}")


def table_metadata(ch: ClickHouseSession, table: str, row_count: int | None = None) -> dict[str, Any]:
    """``dagster/row_count`` (counted unless given) and ``dagster/column_schema`` of a table or view,
    with ``dagster/table_name`` so the UI names where it lives."""
    rows = row_count if row_count is not None else ch.scalar("ops/count_rows", table=table)
    return {
        "dagster/row_count": MetadataValue.int(int(rows)),
        "dagster/column_schema": MetadataValue.table_schema(column_schema(ch, table)),
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


def view_preview(ch: ClickHouseSession, view: str, order_by: str, descending: bool,
                 schema: TableSchema, limit: int = PREVIEW_ROWS) -> MetadataValue:
    """The view's first ``limit`` rows by ``order_by`` (NULLs last)."""
    name = "ops/view_head_desc" if descending else "ops/view_head_asc"
    return preview(ch.rows(name, view=view, order_by=order_by, limit=limit), schema)


def record_day_metadata(context: AssetExecutionContext, days: Mapping[date, Fingerprint],
                        extra: Callable[[Fingerprint], dict[str, Any]] = lambda _: {}) -> None:
    """Give each day of a (possibly multi-day, single-run) materialization its own metadata: its
    rows as ``dagster/row_count`` and ``dagster/partition_row_count`` (the day's, not the run's
    total) and its content fingerprint. Totals of the run belong in the run's log."""
    for day, fingerprint in days.items():
        context.add_asset_metadata(
            {"dagster/row_count": fingerprint.rows, "dagster/partition_row_count": fingerprint.rows,
             "fingerprint": fingerprint.text, **extra(fingerprint)},
            partition_key=day.isoformat(),
        )
