"""Facts: ``fact_impressions`` and ``fact_clicks``, one ClickHouse partition per UTC day.

Each run's days are replaced atomically from Postgres (``engine.loads.facts``); a day that a
pass found pending and that only gained rows since its load gets those rows appended instead,
once Postgres confirms that is all that changed (``engine.loads.appends``).
"""

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from adtech_assets.catalog import FACTS, FactSpec
from adtech_assets.db.clickhouse.schema import ensure_schema
from adtech_assets.defs.assets import CLICKHOUSE_ASSET, DAILY
from adtech_assets.defs.assets.metadata import record_day_metadata, table_name
from adtech_assets.defs.keys import refuse_frozen, run_days, source_key
from adtech_assets.defs.resources import ClickHouseResource, PostgresResource
from adtech_assets.defs.step_failures import as_step_failure
from adtech_assets.engine.ledger import read_manifest
from adtech_assets.engine.loads.appends import append_new_rows
from adtech_assets.engine.loads.facts import load_fact_days


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
            ensure_schema(ch)
            refuse_frozen(context, days, lambda: {day for table, day in read_manifest(ch) if table == spec.table})
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
