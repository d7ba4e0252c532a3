"""Fact rows from Postgres into a ClickHouse staging table: the one path of every fact load
(whole days replaced: ``assets.facts``; the rows a day gained, appended: ``fact_appends``)."""

from __future__ import annotations

from datetime import date, timedelta

from adtech_assets.days import day_window
from adtech_assets.fingerprints import Fingerprint, clickhouse_day_fingerprints
from adtech_assets.resources import PostgresResource
from adtech_assets.resources.clickhouse import ClickHouseSession
from adtech_assets.tables import FactSpec


def stage_fact_rows(spec: FactSpec, first: date, last: date, postgres: PostgresResource, ch: ClickHouseSession,
                    staging: str, after_id: int | None = None) -> dict[date, Fingerprint]:
    """Stream ``spec``'s rows created in [first, last + 1) with an id above ``after_id`` (any
    id: None) into ``staging`` (the Postgres read runs ahead in a thread while ClickHouse
    inserts); returns the staged rows' fingerprints per day."""
    names = (spec.id_column, "campaign_id", "created_at")
    with (postgres.fact_batches(spec.source, day_window(first, last, after_id), names) as batches,
          ch.batch_insert(staging) as insert):
        for batch in batches:
            insert(batch)
    return clickhouse_day_fingerprints(ch, staging, spec.id_column, first, last + timedelta(days=1))
