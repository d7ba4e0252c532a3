"""The four Postgres source tables, as observable source assets (kind postgres).

Observing one reads its row count (exact up to 10M rows, else the statistics' live rows:
``engine.source_stats``), highest id and newest ``created_at`` / ``updated_at``, and
records them with the table's write counters (``pg_stat_user_tables``); the data version
changes whenever any of them does, so the UI shows when a source moved. The same observation
is recorded by *Observe* in the UI, by ``adtech sync`` and by the ``postgres_changes`` sensor
(``source_observations``): the last two only for tables whose write counters moved since
their latest observation, because counting a table of millions of rows is a scan.
"""

from __future__ import annotations

from dagster import (
    AssetObservation,
    AssetRecordsFilter,
    DagsterInstance,
    DataVersion,
    MetadataValue,
    ObserveResult,
    observable_source_asset,
)

from adtech_assets.catalog import DIMENSION_SOURCES, SOURCE_TABLES
from adtech_assets.db.postgres.change_log import SlotStatus
from adtech_assets.db.postgres.client import Postgres
from adtech_assets.defs.keys import source_key
from adtech_assets.defs.resources import PostgresResource
from adtech_assets.defs.step_failures import as_step_failure
from adtech_assets.engine.change_source import (
    describe_slot,
    read_change_log,
    scans_note,
)
from adtech_assets.engine.source_stats import (
    EXACT_COUNT_ROWS,
    SourceStats,
    read_source_stats,
)
from adtech_assets.engine.write_counters import Counters, counters_text, read_counters

COUNTERS_KEY = "write_counters"
# The engine the UI shows on the node. ``observable_source_asset`` takes no ``kinds`` (1.13 drops
# the argument silently), so the kind is given as the tag that ``kinds=`` sets on assets.
POSTGRES_KIND_TAG = {"dagster/kind/postgres": ""}
# What Dagster reads an observation's data version from (ObserveResult sets the same tags).
DATA_VERSION_TAGS = ("dagster/data_version", "dagster/data_version_is_user_provided")


def observation_parts(stats: SourceStats, counters: list[int] | None) -> tuple[DataVersion, dict]:
    """A source's data version and metadata: ``dagster/row_count`` (and how it was read), highest
    id, newest change and the write counters they were read at."""
    return DataVersion(f"{stats.rows}:{stats.max_id}:{stats.newest}"), {
        "dagster/row_count": MetadataValue.int(stats.rows),
        "row_count_read_as": MetadataValue.text(
            "count(*)" if stats.rows_exact else
            f"statistics' live rows (pg_stat_user_tables.n_live_tup; counted exactly up to {EXACT_COUNT_ROWS:,})"),
        "max_id": MetadataValue.int(stats.max_id),
        "newest_change": MetadataValue.text(str(stats.newest)),
        COUNTERS_KEY: MetadataValue.text(counters_text(counters)),
    }


def change_metadata(status: SlotStatus | None, why_scans: str | None, lag: float | None = None) -> dict:
    """What the event tables' changes are read from, shown on their nodes: the change log's slot,
    the WAL it holds and its lag in bytes and seconds, or why scans are used instead."""
    if why_scans:
        return {"change_source": MetadataValue.text(scans_note(why_scans).removeprefix("note: "))}
    return {"change_source": MetadataValue.text(f"Postgres change log: {describe_slot(status, lag)}"),
            "change_log_wal_held_bytes": MetadataValue.int(status.held_bytes or 0),
            **({"change_log_lag_seconds": MetadataValue.float(lag)} if lag is not None else {})}


def observed_change_metadata(postgres: Postgres) -> dict:
    reading = read_change_log(postgres)
    return change_metadata(reading.status, reading.why_scans, reading.lag)


def source_observation(table: str, stats: SourceStats, counters: list[int] | None,
                       extra: dict | None = None) -> AssetObservation:
    """The runless observation of a source, as a pass records it (``extra``: the change source,
    for an event table)."""
    version, metadata = observation_parts(stats, counters)
    metadata.update(extra or {})
    return AssetObservation(asset_key=source_key(table), metadata=metadata,
                            tags=dict(zip(DATA_VERSION_TAGS, (version.value, "true"))))


def observe_table(postgres: Postgres, table: str) -> tuple[DataVersion, dict]:
    version, metadata = observation_parts(read_source_stats(postgres, [table])[table], read_counters(postgres).get(table))
    if table not in DIMENSION_SOURCES:
        metadata.update(observed_change_metadata(postgres))
    return version, metadata


def _latest_counters(instance: DagsterInstance, table: str) -> str | None:
    records = instance.fetch_observations(AssetRecordsFilter(asset_key=source_key(table)), limit=1).records
    if not records:
        return None
    entry = records[0].event_log_entry.asset_observation.metadata.get(COUNTERS_KEY)
    return entry.value if entry is not None else None


def source_observations(instance: DagsterInstance, postgres: Postgres, counters: Counters) -> list[AssetObservation]:
    """Observations of the source tables whose write counters differ from those recorded with
    their latest observation in ``instance`` (or that were never observed): what the sensor
    records, so the graph shows every source's row count and newest change. (``adtech sync``
    decides without Dagster, from the counters its Dagster home last recorded: ``cli.sync.plan``.)"""
    moved = [t for t in SOURCE_TABLES if _latest_counters(instance, t) != counters_text(counters.get(t))]
    if not moved:
        return []
    extra = observed_change_metadata(postgres) if any(t not in DIMENSION_SOURCES for t in moved) else {}
    return [source_observation(table, stats, counters.get(table), None if table in DIMENSION_SOURCES else extra)
            for table, stats in read_source_stats(postgres, moved).items()]


def _build(table: str):
    @observable_source_asset(
        key=source_key(table),
        group_name="sources",
        tags=POSTGRES_KIND_TAG,
        description=f"PostgreSQL table public.{table} (the operational source).",
    )
    @as_step_failure
    def _source(postgres: PostgresResource) -> ObserveResult:
        version, metadata = observe_table(postgres, table)
        return ObserveResult(data_version=version, metadata=metadata)

    return _source


source_assets = [_build(table) for table in SOURCE_TABLES]
