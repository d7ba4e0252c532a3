"""Appending the rows a fact day gained since its load, instead of reloading the whole day.

A day that only gained rows (today's impressions arriving, late rows of a past day) is pending
with its last load intact in ClickHouse. A reload reads every row of the day again (3M at 100M
impressions); an append reads only new rows, and checks the result on the data before anyone
can see it:

1. the days' rows with an id above the highest one ClickHouse holds (of any day) are read into
   a staging table, in one query that the primary key bounds;
2. then, per day, Postgres's fingerprint of the day's rows up to the highest id read must equal
   what the manifest recorded for the day plus the staged rows' fingerprint (every column is a
   sum over rows): ClickHouse's day and the staged rows are then exactly Postgres's day up to
   that id;
3. the staged rows are attached to the day's partition in one step (readers see the day
   without them or with all of them), the day is fingerprinted in ClickHouse (another run may
   have attached the same rows), and the manifest records the sum.

A row of the day updated or deleted since its load, or one committed late below the highest id
read (its id was taken before an earlier load and committed after it), moves the fingerprint in
(2): that day is reloaded whole instead (``load_fact_days``). Rows that arrive after (1) have
higher ids and are left to the next pass, as after a reload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from adtech_assets.catalog import DAILY_TABLES, FactSpec
from adtech_assets.db.clickhouse.client import ClickHouseSession
from adtech_assets.db.postgres.client import Postgres
from adtech_assets.engine.fingerprints import (
    Fingerprint,
    clickhouse_day_fingerprints,
    postgres_day_fingerprints,
)
from adtech_assets.engine.ledger import (
    Manifest,
    clickhouse_now,
    parts_signatures,
    pending_days,
    read_manifest,
    record_loads,
)
from adtech_assets.engine.loads.facts import stage_fact_rows


@dataclass(frozen=True)
class Appended:
    fingerprint: Fingerprint  # the whole day's, as recorded
    rows: int  # the rows appended


def _appendable(spec: FactSpec, days: list[date], ch: ClickHouseSession, manifest: Manifest) -> list[date]:
    """Of ``days``, those a pass found pending for ``spec.table`` (new rows, as a rule) whose
    ClickHouse content is still what their load recorded: a current manifest entry with rows,
    and the day's parts as they were right after that load. Others (and days a user reloads
    from the UI, which no pass marked) are reloaded whole."""
    pending = pending_days(ch, DAILY_TABLES)
    signatures = parts_signatures(ch, [spec.table])
    appendable = []
    for day in days:
        entry = manifest.get((spec.table, day))
        if (day in pending and spec.table in pending[day].tables and entry is not None and entry.rows
                and Fingerprint.is_current(entry.fingerprint)
                and signatures.get((spec.table, day)) == entry.parts_signature):
            appendable.append(day)
    return appendable


def append_new_rows(
    spec: FactSpec, days: list[date], postgres: Postgres, ch: ClickHouseSession
) -> dict[date, Appended]:
    """Append to each of ``days`` that qualifies the rows it gained, where Postgres confirms
    that is all that changed; returns those days. The others must be reloaded whole."""
    manifest = read_manifest(ch)
    days = _appendable(spec, days, ch, manifest)
    if not days:
        return {}
    started_at = clickhouse_now(ch)  # before the read: pending days marked earlier resolve
    loaded = {day: Fingerprint.from_text(manifest[(spec.table, day)].fingerprint) for day in days}
    highest = ch.scalar("checks/max_id", table=spec.table, id_column=spec.id_column) or 0
    appended: dict[date, Appended] = {}
    with ch.staging_table(spec.table) as staging:
        staged = stage_fact_rows(spec, min(days), max(days), postgres, ch, staging, after_id=highest)
        bound = max(highest, ch.scalar("checks/max_id", table=staging, id_column=spec.id_column) or 0)
        with postgres.connect() as conn:  # day by day: only those days are scanned
            live = {day: postgres_day_fingerprints(conn, spec.source, day, day + timedelta(days=1), bound)
                    .get(day, Fingerprint.empty()) for day in days}
        for day in days:
            new = staged.get(day, Fingerprint.empty())
            if live[day] == loaded[day] + new:
                appended[day] = Appended(loaded[day] + new, new.rows)
                if new.rows:
                    ch.command("ops/attach_partition_from", table=spec.table, day=day, staging=staging)
    # ClickHouse has no compare-and-swap: a run appending the same day at the same time on a
    # server would attach the same rows twice. What was attached is checked; a day that is not
    # what this load expects is left to be reloaded whole (a reload converges whoever runs it).
    attached = [day for day, a in appended.items() if a.rows]
    if attached:
        now = clickhouse_day_fingerprints(ch, spec.table, spec.id_column, min(attached), max(attached) + timedelta(days=1))
        appended = {day: a for day, a in appended.items()
                    if not a.rows or now.get(day, Fingerprint.empty()) == a.fingerprint}
    record_loads(ch, spec.table, {day: a.fingerprint for day, a in appended.items()}, started_at)
    return appended
