"""Postgres's change log as adtech reads it: a logical replication slot with the pgoutput plugin
and the publication ``adtech_changes`` (migration V3), read with SQL functions (psycopg has no
replication protocol; none is needed).

A reader holds the slot's advisory lock on its own connection from its peek until it advances
the slot, so the sensor, a schedule and ``adtech sync`` take turns. Peeking does not consume:
the slot moves only when ``advance`` is called, after what the changes touched is marked pending
in ClickHouse (at least once: a crash in between reads the same changes again).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from adtech_assets.catalog import FACTS
from adtech_assets.db.postgres.client import Postgres, table_query
from adtech_assets.db.postgres.pgoutput import Decoded, PgOutputDecoder, begin_time
from adtech_assets.errors import AdtechError, TransientError

PUBLICATION = "adtech_changes"
EVENT_SOURCES = [spec.source for spec in FACTS]
LOCK_WAIT = "120s"  # another pass reading the slot: it reads for seconds, never minutes
# Creating a slot waits for every transaction running on the server then to end; a pass waits
# this long, then goes on with scans and tries again at the next pass.
CREATE_WAIT = "5s"


def default_slot_name(database: str) -> str:
    """``adtech_<database>``: one slot per source database, named so an operator knows whose it is."""
    return "adtech_" + re.sub(r"[^a-z0-9_]", "_", database.lower())[:56]


@dataclass(frozen=True)
class SlotStatus:
    """The server's side of the change log, read in one query."""

    slot: str
    wal_level: str
    in_recovery: bool
    can_replicate: bool
    database: str
    published_tables: int
    current_lsn: str | None
    exists: bool
    slot_database: str | None
    plugin: str | None
    active_pid: int | None
    wal_status: str | None  # reserved, extended, unreserved, lost
    confirmed_lsn: str | None
    held_bytes: int | None  # WAL kept on the server's disk for the slot
    unread_bytes: int | None
    safe_wal_size: int | None
    max_slot_wal_keep_size: str

    @property
    def lost(self) -> bool:
        return self.exists and self.wal_status == "lost"

    def unavailable(self) -> str | None:
        """Why this server cannot give adtech its change log, in a few words; None when it can."""
        if self.wal_level != "logical":
            return f"wal_level is {self.wal_level}, not logical"
        if self.in_recovery:
            return "the source is a standby (read the primary)"
        if not self.can_replicate:
            return "the role has no REPLICATION privilege (needed to create and read a slot)"
        if self.exists and self.slot_database != self.database:
            return f"slot {self.slot} belongs to database {self.slot_database}: set ADTECH_SLOT"
        if self.exists and self.plugin != "pgoutput":
            return f"slot {self.slot} uses the {self.plugin} plugin, not pgoutput: drop it or set ADTECH_SLOT"
        return None


def lsn_value(lsn: str | None) -> int:
    """An LSN's text (``16/B374D848``) as a number, to compare two."""
    if not lsn:
        return 0
    high, low = lsn.split("/")
    return (int(high, 16) << 32) | int(low, 16)


class ChangeLog:
    """The slot ``slot`` of the source, on a connection of its own holding the slot's lock."""

    def __init__(self, conn: psycopg.Connection, slot: str) -> None:
        self.conn, self.slot = conn, slot

    def status(self) -> SlotStatus:
        row = self.conn.cursor(row_factory=dict_row).execute(
            table_query("change_log_status"),
            {"slot": self.slot, "publication": PUBLICATION, "tables": EVENT_SOURCES}).fetchone()
        return SlotStatus(slot=self.slot, **row)

    def create(self) -> str:
        """Create the publication when it is gone (as migration V3 does) and the slot; returns
        the slot's start. Changes committed after it are in the log."""
        if self.status().published_tables < len(EVENT_SOURCES):
            self._run("change_log_create_publication", {}, "create the publication adtech_changes")
        _set(self.conn, "statement_timeout", CREATE_WAIT)
        try:
            return self._run("change_log_create_slot", {"slot": self.slot}, f"create the slot {self.slot}")[0]
        finally:
            _set(self.conn, "statement_timeout", "0")

    def drop(self) -> None:
        self._run("change_log_drop_slot", {"slot": self.slot}, f"drop the slot {self.slot}")

    def read(self, upto: str) -> Decoded:
        """What the transactions committed before ``upto`` changed (streamed, not consumed)."""
        decoder = PgOutputDecoder()
        cursor = self.conn.cursor()
        try:
            for (data,) in cursor.stream(table_query("change_log_peek"),
                                         {"slot": self.slot, "upto": upto, "publication": PUBLICATION}):
                decoder.feed(data)
        except psycopg.errors.ObjectInUse as exc:
            raise TransientError(f"the change log's slot {self.slot} is in use by another reader ({exc})") from None
        return decoder.decoded

    def advance(self, upto: str) -> str:
        """Confirm every change before ``upto``: the server may recycle its WAL."""
        return self._run("change_log_advance", {"slot": self.slot, "upto": upto}, f"advance the slot {self.slot}")[0]

    def _oldest_writer(self) -> str:
        row = self.conn.execute(table_query("change_log_oldest_writer")).fetchone()
        return f", the oldest since {row[2]:%H:%M:%S} UTC (pid {row[0]}, database {row[1]})" if row else ""

    def _run(self, name: str, params: dict, what: str) -> tuple:
        try:
            return self.conn.execute(table_query(name), params).fetchone()
        except psycopg.errors.InsufficientPrivilege as exc:
            raise AdtechError(f"cannot {what}: {str(exc).splitlines()[0]}; grant the role REPLICATION "
                              "(and ownership of the event tables for the publication), or set "
                              "ADTECH_CHANGE_SOURCE=scan") from None
        except psycopg.errors.QueryCanceled:
            raise TransientError(f"cannot {what} yet: it waits for the transactions running on the server to "
                                 f"end{self._oldest_writer()}; the next pass tries again") from None
        except psycopg.errors.ConfigurationLimitExceeded as exc:
            raise AdtechError(f"cannot {what}: {str(exc).splitlines()[0]}; drop unused slots "
                              "(`adtech slot --list`) or raise max_replication_slots") from None


@contextmanager
def opened(postgres: Postgres, slot: str) -> Iterator[ChangeLog]:
    """The slot on a connection of its own, with the slot's lock held until the block ends."""
    with postgres.connect(autocommit=True) as conn:
        _set(conn, "lock_timeout", LOCK_WAIT)
        try:
            conn.execute(table_query("change_log_lock"), {"slot": slot})
        except psycopg.errors.LockNotAvailable:
            raise TransientError(f"another pass held the change log's slot {slot} for {LOCK_WAIT}; "
                                 "the next pass tries again") from None
        _set(conn, "lock_timeout", "0")
        yield ChangeLog(conn, slot)


def read_status(postgres: Postgres, slot: str) -> SlotStatus:
    """The slot's state without taking its lock (metadata, checks, `adtech slot`)."""
    with postgres.connect(autocommit=True) as conn:
        return ChangeLog(conn, slot).status()


def _first_unread(postgres: Postgres, slot: str) -> bytes | None:
    """The first message the slot holds unconfirmed (a BEGIN), None when it holds none; raises
    what the server says when the slot cannot be read (absent, in use, no privilege)."""
    rows = postgres.fetch("change_log_oldest_unread", {"slot": slot, "publication": PUBLICATION})
    return rows[0][0] if rows else None


_UNREADABLE = (psycopg.errors.ObjectInUse, psycopg.errors.ObjectNotInPrerequisiteState,
               psycopg.errors.InsufficientPrivilege)  # being read; or no log for this role: scans


def has_unread(postgres: Postgres, slot: str) -> bool:
    """Whether the slot holds a change no pass has confirmed (without its lock: the sensor's idle
    tick). A slot that does not exist yet holds everything; one in use is being read."""
    try:
        return _first_unread(postgres, slot) is not None
    except psycopg.errors.UndefinedObject:
        return True
    except _UNREADABLE:
        return False


def oldest_unread(postgres: Postgres, slot: str) -> datetime | None:
    """The commit time of the oldest change the slot holds unconfirmed (None: none, or the slot
    cannot be read now): the pipeline's lag in time."""
    try:
        message = _first_unread(postgres, slot)
    except (psycopg.errors.UndefinedObject, *_UNREADABLE):
        return None
    return begin_time(message) if message is not None else None


def _set(conn: psycopg.Connection, setting: str, value: str) -> None:
    conn.execute("SELECT set_config(%s, %s, false)", (setting, value))


def database_name(postgres: Postgres) -> str:
    return postgres.fetch("current_database")[0][0]


def adtech_slots(postgres: Postgres) -> list[dict]:
    """Every slot of adtech's on the server (by name), with the WAL each holds."""
    with postgres.connect(autocommit=True) as conn:
        return conn.cursor(row_factory=dict_row).execute(table_query("change_log_slots")).fetchall()
