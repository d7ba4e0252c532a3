"""Where a pass learns what changed in the event tables: Postgres's change log, or scans.

**The change log** (``ADTECH_CHANGE_SOURCE=auto`` on a server with ``wal_level=logical``, or
``log``): every committed insert, update, delete and truncate of ``impressions`` and ``clicks``,
in commit order, from a logical slot (``db.postgres.change_log``). Each change names its days:
an insert its row's day, an update the day it leaves and the day it enters, a delete the day it
leaves (the old row is in the log: migration V3 sets ``REPLICA IDENTITY FULL``; where a table
sends only its key, ClickHouse tells the day of the id). A pass marks those days pending in
ClickHouse, records the position it read to in its cursor, and only then advances the slot: a
crash in between reads the changes again (a day reloaded twice, never one lost). The whole
history is fingerprinted once when the slot is created (the fingerprint's snapshot is taken
after the slot's start, so every change is in one or the other), when the server invalidated
it (``max_slot_wal_keep_size``), and when another reader advanced it past this pipeline's
position.

**Scans** (no logical decoding: ``wal_level`` is ``replica``, no REPLICATION privilege, a
standby, or ``ADTECH_CHANGE_SOURCE=scan``): new rows by the ids above a low-water mark of the
id sequence and the xmin of each row version (``engine.snapshots``), with a balance of the
statistics' insert counter against the rows found, so that an explicit id below the mark (a
reused id) makes the pass fingerprint the table; updates and deletes by the write counters.
Counters are statistics: what they miss (a backend that has not reported yet, a reset) waits
for the sweep's fingerprint pass (``ADTECH_RECONCILE_CRON``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from adtech_assets import settings
from adtech_assets.catalog import FACTS
from adtech_assets.db.clickhouse.client import ClickHouseSession
from adtech_assets.db.postgres.change_log import (
    ChangeLog,
    SlotStatus,
    database_name,
    default_slot_name,
    has_unread,
    lsn_value,
    oldest_unread,
    opened,
    read_status,
)
from adtech_assets.db.postgres.client import Postgres
from adtech_assets.db.postgres.pgoutput import Decoded, TableChanges
from adtech_assets.errors import AdtechError, TransientError

LOG, SCAN = "change log", "scans"


@dataclass
class ChangeSource:
    """What a pass reads its changes from, and (change log) what the log holds for it."""

    mode: str  # LOG or SCAN
    why_scans: str | None = None  # the reason the change log is not used
    slot: str | None = None
    upto: str | None = None  # the position this pass read to
    restart: str | None = None  # why the whole history must be fingerprinted now
    decoded: Decoded = field(default_factory=Decoded)
    status: SlotStatus | None = None
    _log: ChangeLog | None = None

    def changes(self, source: str) -> TableChanges:
        return self.decoded.tables.get(source, TableChanges())

    def days(self, ch: ClickHouseSession, source: str, frozen_before: date | None = None) -> set[date]:
        """The days ``source``'s changes touched that a partition can hold: those the log
        names, and for old rows sent as their key only, the days ClickHouse holds their ids on.
        Deletes on days before ``frozen_before`` (a purge under retention) are left out."""
        changes = self.changes(source)
        spec = next(spec for spec in FACTS if spec.source == source)

        def days_of(ids: set[int]) -> set[date]:
            return {row["day"] for row in ch.rows("state/days_of_ids", table=spec.table, id_column=spec.id_column,
                                                  ids=sorted(ids))} if ids else set()

        deleted = {day for day in changes.deleted_days | days_of(changes.deleted_ids) if day is not None}
        days = {day for day in changes.days | days_of(changes.ids_without_day) if day is not None}
        return days | {day for day in deleted if frozen_before is None or day >= frozen_before}

    def advance(self) -> None:
        """Confirm what this pass read (after it is marked and the cursor is written)."""
        if self._log is not None and self.upto is not None:
            self._log.advance(self.upto)


_databases: dict[str, str] = {}  # per source URL: its database's name (it does not change)


def slot_for(postgres: Postgres) -> str:
    """``ADTECH_SLOT``, else ``adtech_<database>``."""
    if named := settings.slot_name():
        return named
    url = postgres.resolved_url()
    if url not in _databases:
        _databases[url] = database_name(postgres)
    return default_slot_name(_databases[url])


def unread_changes(postgres: Postgres) -> bool:
    """Whether a pass would find something in the change log (the sensor's idle tick: one peek
    of one change). False with scans: the write counters tell those."""
    if settings.change_source() == "scan":
        return False
    return has_unread(postgres, slot_for(postgres))


def change_log_state(postgres: Postgres) -> tuple[SlotStatus | None, str | None]:
    """(the slot as the server has it, why scans are used instead): for the UI's metadata and
    the change log's check."""
    if settings.change_source() == "scan":
        return None, f"{settings.CHANGE_SOURCE}=scan"
    status = read_status(postgres, slot_for(postgres))
    return status, status.unavailable()


@dataclass(frozen=True)
class ChangeLogReading:
    """The change log as the UI and the checks show it, read once: the slot, why scans are used
    instead (None: the log is), and the lag in seconds (None under scans)."""

    status: SlotStatus | None
    why_scans: str | None
    lag: float | None


def read_change_log(postgres: Postgres) -> ChangeLogReading:
    status, why_scans = change_log_state(postgres)
    return ChangeLogReading(status, why_scans, None if why_scans else lag_seconds(postgres, status))


def size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("bytes", "kB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TB"


def lag_seconds(postgres: Postgres, status: SlotStatus) -> float:
    """Seconds since the oldest change the slot holds unconfirmed was committed (0: none)."""
    oldest = oldest_unread(postgres, status.slot) if status.exists else None
    return max(0.0, (datetime.now(timezone.utc) - oldest).total_seconds()) if oldest else 0.0


def describe_slot(status: SlotStatus, lag: float | None = None) -> str:
    """One line on a slot's state, as `adtech slot`, the check and the source's metadata show it."""
    if not status.exists:
        return f"slot {status.slot}: none (the next pass creates it)"
    return (f"slot {status.slot} ({status.wal_status}): holds {size(status.held_bytes)} of WAL on the source, "
            f"{size(status.unread_bytes)} not confirmed yet"
            + (f", the oldest unread change {lag:.0f} s old" if lag else ", no change unread" if lag == 0 else "")
            + f"; max_slot_wal_keep_size={status.max_slot_wal_keep_size}"
            + (f", in use by pid {status.active_pid}" if status.active_pid else ""))


def scans_note(why: str) -> str:
    return (f"note: changes are found by scans, not Postgres's change log ({why}): updates and deletes "
            "are seen through statistics counters and the sweep's fingerprints (README: Change capture)")


def _ready(log: ChangeLog, status: SlotStatus, read_to: str | None) -> str | None:
    """Make the slot readable; returns why the whole history must be fingerprinted, if it must."""
    slot = status.slot
    if not status.exists:
        log.create()
        return f"slot {slot} created"
    if status.lost:
        log.drop()
        log.create()
        return (f"slot {slot} was invalidated by the server (it held more WAL than "
                f"max_slot_wal_keep_size={status.max_slot_wal_keep_size}): recreated")
    if read_to is None:
        return f"first read of slot {slot} by this ClickHouse"
    if lsn_value(status.confirmed_lsn) > lsn_value(read_to):
        return (f"slot {slot} was advanced past this pipeline's position by another reader "
                "(another pipeline on the same database? give each its own ADTECH_SLOT)")
    return None


@contextmanager
def change_source(postgres: Postgres, read_to: str | None) -> Iterator[ChangeSource]:
    """The change source of one pass. ``read_to``: the position the previous pass of this
    ClickHouse read to (its cursor). With the change log, the slot's lock is held until the
    block ends; the caller calls ``advance`` once its marks and cursor are written."""
    wanted = settings.change_source()
    if wanted == "scan":
        yield ChangeSource(SCAN, why_scans=f"{settings.CHANGE_SOURCE}=scan")
        return
    slot = slot_for(postgres)
    with opened(postgres, slot) as log:
        status = log.status()
        why = status.unavailable()
        if why:
            if wanted == "log":
                raise AdtechError(f"{settings.CHANGE_SOURCE}=log, but the change log is unavailable: {why}. "
                                  "Set wal_level=logical and restart Postgres (README: Change capture), "
                                  f"or set {settings.CHANGE_SOURCE}=auto to fall back to scans")
            yield ChangeSource(SCAN, why_scans=why, slot=slot, status=status)
            return
        try:
            restart = _ready(log, status, read_to)
        except TransientError as exc:  # a long transaction on the server: scans this pass
            if wanted == "log":
                raise
            yield ChangeSource(SCAN, why_scans=str(exc), slot=slot, status=status)
            return
        if restart:
            status = log.status()
        upto = status.current_lsn
        # after a restart the pass fingerprints the whole history in a snapshot taken after
        # ``upto``: what the slot holds before it is in that snapshot, so it is not decoded
        # (a slot left by a ClickHouse that was reset may hold gigabytes)
        decoded = Decoded() if restart else log.read(upto)
        yield ChangeSource(LOG, slot=slot, upto=upto, restart=restart, decoded=decoded, status=status, _log=log)
