"""Dagster's SQLite event log, storing a batch of asset events in one transaction per database.

A single-run backfill of N days stores N ASSET_MATERIALIZATION_PLANNED events when the run is
created and N ASSET_MATERIALIZATION events when its step ends. The stock SQLite storage opens an
engine and commits twice for each: most of a 31-day load's Dagster overhead.
Dagster hands such events over as one batch when ``DAGSTER_EVENT_BATCH_SIZE`` is set, and its
Postgres storage writes a batch at once; this storage does the same for SQLite, with what
``store_event`` does for each asset event (its row in the run's database and in the index, its
tags) and the asset's entry updated once, to the last event, so what is stored is the same, in
two transactions.

Each run has a database of its own, which the stock storage creates with Dagster's migration
tool (create the tables, check and stamp the revision), a fixed cost of every run. This storage
creates one such database per Dagster release, with Dagster's own code, as a template in the
same folder and copies it for each new run (about a millisecond).

``adtech`` writes it into a new Dagster home's ``dagster.yaml`` (``cli.home.instance_yaml``), in the
folder Dagster's own would use (``<home>/history/runs``): runs stored before are still read.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import dagster
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sqlalchemy_compat import db_result
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

BATCH_SIZE_VARIABLE = "DAGSTER_EVENT_BATCH_SIZE"
BATCH_SIZE = "1000"  # a batch is one step's events for one asset: a backfill of up to 1000 days


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with ``store_event_batch`` for asset events."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir, inst_data)
        # Dagster batches only where this is set; every process that opens the instance (the
        # adtech command, run workers, the UI, the daemon) creates this storage first.
        os.environ.setdefault(BATCH_SIZE_VARIABLE, BATCH_SIZE)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> BatchingSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _connect(self, shard: str) -> AbstractContextManager:
        if shard != INDEX_SHARD_NAME and shard not in self._initialized_dbs and self._created_from_template(shard):
            self._initialized_dbs.add(shard)
        return super()._connect(shard)

    def _created_from_template(self, run_id: str) -> bool:
        """Create a new run's database as a copy of the template; False where it exists (or
        another process is creating it): Dagster's own initialization then checks it."""
        path = Path(self.path_for_shard(run_id))
        if path.exists():
            return False
        copy = path.with_name(f".{run_id}.{uuid.uuid4().hex}.copy")  # not *.db: not a run's
        try:
            shutil.copyfile(self._template(), copy)
            os.link(copy, path)  # a whole file, and never over one another process has begun
        except FileExistsError:
            return False
        finally:
            copy.unlink(missing_ok=True)
        return True

    def _template(self) -> Path:
        """An empty run database as Dagster's own code makes it (tables, WAL mode, the
        migration revision stamped), made once per Dagster release."""
        template = Path(self._base_dir) / f".run-template-{dagster.__version__}.sqlite"
        if not template.exists():
            building = template.with_name(f".{template.name}.{uuid.uuid4().hex}")
            engine = create_engine(f"sqlite:///{building}", poolclass=NullPool)
            try:
                self._initdb(engine)
            finally:
                engine.dispose()  # the last connection closed: the WAL is checkpointed into the file
            os.replace(building, template)
        return template

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        run_ids = {event.run_id for event in events}
        if len(events) < 2 or len(run_ids) != 1 or not all(
            event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS for event in events
        ):
            super().store_event_batch(events)  # one at a time, as Dagster would
            return
        statements = [self.prepare_insert_event(event) for event in events]
        with self.run_connection(run_ids.pop()) as conn:
            for statement in statements:
                conn.execute(statement)
        with self.index_transaction() as conn:
            event_ids = []
            for statement in statements:
                with db_result(conn, statement) as result:
                    event_ids.append(result.inserted_primary_key[0])
            if None in event_ids:
                raise DagsterInvariantViolationError("Cannot store asset event tags for null event id.")
            self._store_asset_event_tags(conn, events, event_ids)
            # an asset's entry keeps its latest event: the last of the batch for each asset, as
            # Dagster's Postgres storage does
            latest = {event.dagster_event.asset_key: (event, event_id) for event, event_id in zip(events, event_ids)}
            for event, event_id in latest.values():
                self._store_asset_event(conn, event, event_id)
