"""Decode what a pgoutput slot returns into the days each event table's changes touch.

pgoutput's messages (protocol version 1, "Logical Replication Message Formats" in the Postgres
docs) are read through ``pg_logical_slot_peek_binary_changes``: one message per row. Only what
the planner needs is kept: per table, the days of the rows inserted, the days an update leaves
and enters, the days of the rows deleted, the ids whose old row the server did not send (a
table without ``REPLICA IDENTITY FULL``: ClickHouse tells their day), and the tables truncated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from struct import Struct

_INT16, _INT32, _INT64 = Struct(">h"), Struct(">i"), Struct(">q")
NO_DAY = None  # created_at NULL, or a value ClickHouse's Date cannot hold: no partition loads it


@dataclass
class TableChanges:
    days: set[date | None] = field(default_factory=set)  # days inserts and updates touched (None: no day)
    deleted_days: set[date | None] = field(default_factory=set)  # days rows were deleted from
    ids_without_day: set[int] = field(default_factory=set)  # old rows of updates sent as their key only
    deleted_ids: set[int] = field(default_factory=set)  # deleted rows sent as their key only
    inserts: int = 0
    updates: int = 0
    deletes: int = 0
    truncated: bool = False

    @property
    def changes(self) -> int:
        return self.inserts + self.updates + self.deletes


@dataclass
class _Relation:
    name: str
    id_index: int | None
    day_index: int | None


@dataclass
class Decoded:
    tables: dict[str, TableChanges] = field(default_factory=dict)
    transactions: int = 0

    def table(self, name: str) -> TableChanges:
        return self.tables.setdefault(name, TableChanges())


class PgOutputDecoder:
    """Feed it the messages in order (``feed``); ``decoded`` holds what they changed."""

    def __init__(self, id_column: str = "id", day_column: str = "created_at") -> None:
        self.id_column, self.day_column = id_column, day_column
        self.relations: dict[int, _Relation] = {}
        self.decoded = Decoded()
        self._days: dict[bytes, date | None] = {}

    def feed_all(self, messages: Iterable[bytes]) -> Decoded:
        for message in messages:
            self.feed(message)
        return self.decoded

    def feed(self, message: bytes) -> None:
        kind = message[0]
        if kind == 0x49:  # I: insert, then 'N' and the new tuple
            relation = self.relations[_INT32.unpack_from(message, 1)[0]]
            values, _ = _tuple(message, 6)
            changes = self.decoded.table(relation.name)
            changes.inserts += 1
            changes.days.add(self._day(values, relation))
        elif kind == 0x55:  # U: update, optional 'K'/'O' old tuple, then 'N' new tuple
            relation = self.relations[_INT32.unpack_from(message, 1)[0]]
            changes = self.decoded.table(relation.name)
            changes.updates += 1
            marker, old, position = message[5], None, 5
            if marker in (0x4B, 0x4F):  # K: old key (the key changed), O: the whole old row
                old, position = _tuple(message, 6)
            new, _ = _tuple(message, position + 1)  # after 'N'
            changes.days.add(self._day(new, relation))
            if old is not None:
                self._old_row(marker, old, relation, changes)
            else:  # the key did not change and the old row was not sent: the id's day in ClickHouse
                self._key_only(new, relation, changes)
        elif kind == 0x44:  # D: delete, 'K' key or 'O' old row
            relation = self.relations[_INT32.unpack_from(message, 1)[0]]
            changes = self.decoded.table(relation.name)
            changes.deletes += 1
            old, _ = _tuple(message, 6)
            if message[5] == 0x4F:
                changes.deleted_days.add(self._day(old, relation))
            elif relation.id_index is not None and old[relation.id_index] is not None:
                changes.deleted_ids.add(int(old[relation.id_index]))
        elif kind == 0x52:  # R: relation, before the first change of a table in a session
            self._relation(message)
        elif kind == 0x54:  # T: truncate, the relations' ids
            count = _INT32.unpack_from(message, 1)[0]
            for n in range(count):
                relation = self.relations.get(_INT32.unpack_from(message, 6 + 4 * n)[0])
                if relation is not None:
                    self.decoded.table(relation.name).truncated = True
        elif kind == 0x43:  # C: commit
            self.decoded.transactions += 1
        # B (begin), Y (type), O (origin), M (message): nothing to keep

    def _old_row(self, marker: int, old: list[bytes | None], relation: _Relation, changes: TableChanges) -> None:
        if marker == 0x4F:  # the whole old row (REPLICA IDENTITY FULL): its day
            changes.days.add(self._day(old, relation))
        else:
            self._key_only(old, relation, changes)

    def _key_only(self, row: list[bytes | None], relation: _Relation, changes: TableChanges) -> None:
        """An old row the server sent as its key only: ClickHouse knows the day of the id."""
        if relation.id_index is not None and row[relation.id_index] is not None:
            changes.ids_without_day.add(int(row[relation.id_index]))

    def _relation(self, message: bytes) -> None:
        relid = _INT32.unpack_from(message, 1)[0]
        position = 5
        _namespace, position = _cstring(message, position)
        name, position = _cstring(message, position)
        position += 1  # replica identity setting
        (columns,) = _INT16.unpack_from(message, position)
        position += 2
        names = []
        for _ in range(columns):
            position += 1  # flags
            column, position = _cstring(message, position)
            names.append(column)
            position += 8  # type oid, type modifier
        self.relations[relid] = _Relation(
            name,
            names.index(self.id_column) if self.id_column in names else None,
            names.index(self.day_column) if self.day_column in names else None,
        )

    def _day(self, values: list[bytes | None], relation: _Relation) -> date | None:
        if relation.day_index is None:
            return NO_DAY
        value = values[relation.day_index]
        if value is None:
            return NO_DAY
        head = value[:10]
        day = self._days.get(head, 0)
        if day == 0:
            day = self._days[head] = _parse_day(head)
        if day is not NO_DAY and value.endswith(b" BC"):
            return NO_DAY
        return day


POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def begin_time(message: bytes) -> datetime | None:
    """The commit time a BEGIN message carries (microseconds since 2000-01-01 UTC)."""
    if not message or message[0] != 0x42:
        return None
    (micros,) = _INT64.unpack_from(message, 9)
    return POSTGRES_EPOCH + timedelta(microseconds=micros)


def _parse_day(head: bytes) -> date | None:
    """The day of a timestamp's text (``YYYY-MM-DD ...``); None for one ClickHouse's ``Date``
    cannot hold (before 1970, after 2149-06-06, infinity, years past 9999)."""
    try:
        day = date.fromisoformat(head.decode())
    except ValueError:
        return NO_DAY
    return day if date(1970, 1, 1) <= day <= date(2149, 6, 6) else NO_DAY


def _cstring(message: bytes, position: int) -> tuple[str, int]:
    end = message.index(0, position)
    return message[position:end].decode(), end + 1


def _tuple(message: bytes, position: int) -> tuple[list[bytes | None], int]:
    """A TupleData at ``position``: each column's text (None for NULL or an unchanged TOAST
    value), and the position after it."""
    (columns,) = _INT16.unpack_from(message, position)
    position += 2
    values: list[bytes | None] = []
    for _ in range(columns):
        kind = message[position]
        position += 1
        if kind in (0x74, 0x62):  # t: text, b: binary
            (length,) = _INT32.unpack_from(message, position)
            position += 4
            values.append(message[position:position + length])
            position += length
        else:  # n: NULL, u: unchanged TOAST
            values.append(None)
    return values, position
