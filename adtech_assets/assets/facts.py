"""Facts: ``fact_impressions`` and ``fact_clicks``, one ClickHouse partition per UTC day.

A load of days [first, last] reads exactly ``created_at`` in [first, last + 1) from Postgres,
streamed as bounded Arrow batches into a private staging table, then swaps each day in with
``REPLACE PARTITION``: readers see the old day or the new one, never a half-loaded day;
re-running a day never duplicates; rows deleted at the source disappear; a day that became
empty is dropped. Reading from Postgres and inserting into ClickHouse overlap in two threads.
"""


import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pyarrow as pa
from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, asset

from adtech_assets.assets import CLICKHOUSE_ASSET, DAILY
from adtech_assets.assets.sources import source_key
from adtech_assets.partitions import day_ranges, days_between, run_days
from adtech_assets.resources import ClickHouseResource, PostgresResource
from adtech_assets.resources.clickhouse import ClickHouseSession


@dataclass(frozen=True)
class FactSpec:
    table: str
    source: str
    id_column: str

    @property
    def key(self) -> AssetKey:
        return AssetKey(["analytics", self.table])


FACTS = [
    FactSpec("fact_impressions", "impressions", "impression_id"),
    FactSpec("fact_clicks", "clicks", "click_id"),
]


_DONE = object()


def _prefetch(batches: Iterator[pa.RecordBatch], depth: int = 4) -> Iterator[pa.RecordBatch]:
    """Read ahead in a thread so Postgres decoding and ClickHouse inserts overlap. The queue is
    bounded, so memory stays a few batches whatever the range."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        buffer.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            buffer.put(exc)

    worker = threading.Thread(target=produce, name="postgres-reader", daemon=True)
    worker.start()
    try:
        while (item := buffer.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=30)


def load_fact_days(
    spec: FactSpec, days: Iterable[date], postgres: PostgresResource, ch: ClickHouseSession
) -> dict[date, int]:
    """Replace the given days of ``spec.table`` with Postgres's rows; returns rows per day."""
    loaded: dict[date, int] = {}
    for first, last in day_ranges(days):
        window = {"window_start": datetime.combine(first, datetime.min.time()),
                  "window_end": datetime.combine(last + timedelta(days=1), datetime.min.time())}
        with ch.staging_table(spec.table) as staging:
            with postgres.arrow_reader(f"read_{spec.source}", window) as reader:
                for batch in _prefetch(iter(reader)):
                    ch.insert_arrow(staging, batch)
            counts = ch.query_arrow("ops/staged_day_counts", staging=staging).to_pylist()
            staged = {row["event_date"]: row["rows"] for row in counts}
            for day in days_between(first, last):
                loaded[day] = staged.get(day, 0)
                ch.replace_partition(spec.table, day, staging, loaded[day])
    return loaded


def build_fact_asset(spec: FactSpec) -> AssetsDefinition:
    @asset(
        name=spec.table,
        **CLICKHOUSE_ASSET,
        group_name="facts",
        deps=[source_key(spec.source)],
        **DAILY,
        description=f"Postgres `{spec.source}` by UTC day of created_at; each day replaced atomically.",
    )
    def _fact(
        context: AssetExecutionContext, postgres: PostgresResource, clickhouse: ClickHouseResource
    ) -> MaterializeResult:
        days = run_days(context)
        with clickhouse.session() as ch:
            ch.apply_ddl()
            loaded = load_fact_days(spec, days, postgres, ch)
        total = sum(loaded.values())
        context.log.info(f"{spec.table}: {total} rows over {len(days)} day(s)")
        return MaterializeResult(
            metadata={
                "rows_loaded": total,
                "days": len(days),
                "first_day": min(days).isoformat(),
                "last_day": max(days).isoformat(),
            }
        )

    return _fact


fact_assets = [build_fact_asset(spec) for spec in FACTS]
