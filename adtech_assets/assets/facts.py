"""Facts: ``fact_impressions`` and ``fact_clicks``, one ClickHouse partition per UTC day.

A load of days [first, last] reads exactly ``created_at`` in [first, last + 1) from Postgres,
streamed as bounded Arrow batches into a private staging table, then swaps each day in with
``REPLACE PARTITION``: readers see the old day or the new one, never a half-loaded day;
re-running a day never duplicates; rows deleted at the source disappear; a day that became
empty is dropped. The Postgres read runs ahead in a thread while the ClickHouse inserts go on.
A day that a pass found pending and that only gained rows since its load gets those rows
appended instead, once Postgres confirms that is all that changed (``fact_appends``).
"""


from datetime import date

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from adtech_assets.assets import CLICKHOUSE_ASSET, DAILY
from adtech_assets.assets.sources import source_key
from adtech_assets.assets.table_metadata import record_day_metadata, table_name
from adtech_assets.fingerprints import Fingerprint
from adtech_assets.days import day_ranges, days_between
from adtech_assets.fact_appends import append_new_rows
from adtech_assets.fact_staging import stage_fact_rows
from adtech_assets.partitions import run_days
from adtech_assets.resources import ClickHouseResource, PostgresResource
from adtech_assets.resources.clickhouse import ClickHouseSession
from adtech_assets.state import clickhouse_now, record_loads
from adtech_assets.step_failures import as_step_failure
from adtech_assets.tables import FACTS, FactSpec


def load_fact_days(
    spec: FactSpec, days: list[date], postgres: PostgresResource, ch: ClickHouseSession
) -> dict[date, Fingerprint]:
    """Replace the given days of ``spec.table`` with Postgres's rows and record each day's
    fingerprint in the load manifest; returns the fingerprints."""
    loaded: dict[date, Fingerprint] = {}
    for first, last in day_ranges(days):
        started_at = clickhouse_now(ch)  # before the read: pending days marked earlier resolve
        with ch.staging_table(spec.table) as staging:
            staged = stage_fact_rows(spec, first, last, postgres, ch, staging)
            fingerprints = {day: staged.get(day, Fingerprint.empty()) for day in days_between(first, last)}
            for day, fingerprint in fingerprints.items():
                ch.replace_partition(spec.table, day, staging, fingerprint.rows)
        record_loads(ch, spec.table, fingerprints, started_at)
        loaded.update(fingerprints)
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
    @as_step_failure
    def _fact(
        context: AssetExecutionContext, postgres: PostgresResource, clickhouse: ClickHouseResource
    ) -> MaterializeResult:
        days = run_days(context)
        with clickhouse.session() as ch:
            ch.ensure_schema()
            appended = append_new_rows(spec, days, postgres, ch)
            loaded = {**{day: a.fingerprint for day, a in appended.items()},
                      **load_fact_days(spec, [day for day in days if day not in appended], postgres, ch)}
        record_day_metadata(context, dict(sorted(loaded.items())), lambda day, _: {
            "load": f"appended {appended[day].rows} new rows" if day in appended else "reloaded whole"})
        total = sum(f.rows for f in loaded.values())
        context.log.info(f"{spec.table}: {total} rows over {len(days)} day(s), {min(days)} .. {max(days)}"
                         + (f"; {len(appended)} day(s) only gained rows: {sum(a.rows for a in appended.values())} "
                            "appended" if appended else ""))
        return MaterializeResult(metadata={"dagster/table_name": table_name(spec.table)})

    return _fact


fact_assets = [build_fact_asset(spec) for spec in FACTS]
