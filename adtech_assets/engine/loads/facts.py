"""Fact days from Postgres: ``fact_impressions`` and ``fact_clicks``, one partition per UTC day.

A load of days [first, last] reads exactly ``created_at`` in [first, last + 1) from Postgres,
streamed as bounded Arrow batches into a staging table (the Postgres read runs ahead in a thread
while ClickHouse inserts), then swaps each day in (``day_replace``). The same staging read
serves appends of the rows a day gained (``appends``).
"""

from __future__ import annotations

from datetime import date, timedelta

from adtech_assets.catalog import FactSpec
from adtech_assets.db.clickhouse.client import ClickHouseSession
from adtech_assets.db.postgres.client import Postgres
from adtech_assets.db.postgres.fact_window import day_window
from adtech_assets.engine.fingerprints import Fingerprint, clickhouse_day_fingerprints
from adtech_assets.engine.loads.day_replace import replace_days


def stage_fact_rows(spec: FactSpec, first: date, last: date, postgres: Postgres, ch: ClickHouseSession,
                    staging: str, after_id: int | None = None) -> dict[date, Fingerprint]:
    """Stream ``spec``'s rows created in [first, last + 1) with an id above ``after_id`` (any
    id: None) into ``staging``; returns the staged rows' fingerprints per day."""
    names = (spec.id_column, "campaign_id", "created_at")
    with (postgres.fact_batches(spec.source, day_window(first, last, after_id), names) as batches,
          ch.batch_insert(staging) as insert):
        for batch in batches:
            insert(batch)
    return clickhouse_day_fingerprints(ch, staging, spec.id_column, first, last + timedelta(days=1))


def load_fact_days(spec: FactSpec, days: list[date], postgres: Postgres, ch: ClickHouseSession) -> dict[date, Fingerprint]:
    """Replace the given days of ``spec.table`` with Postgres's rows; returns their fingerprints."""
    def stage(staging: str, first: date, last: date) -> dict[date, Fingerprint]:
        return stage_fact_rows(spec, first, last, postgres, ch, staging)

    return replace_days(ch, spec.table, days, stage, Fingerprint.empty())
