"""``adtech slot``: the change log's replication slot, as the source server sees it, and how to
drop it. A slot keeps every WAL segment written since the position adtech last confirmed: a
pipeline stopped for good must drop it, or the source's disk fills (up to
``max_slot_wal_keep_size``, past which the server invalidates the slot)."""

from __future__ import annotations

import argparse

from adtech_assets.cli.output import say
from adtech_assets.db.connections import from_environment
from adtech_assets.db.postgres.change_log import adtech_slots, opened
from adtech_assets.engine.change_source import (
    describe_slot,
    lag_seconds,
    size,
    slot_for,
)
from adtech_assets.errors import AdtechError


def cmd_slot(args: argparse.Namespace) -> int:
    postgres, _ = from_environment()
    slot = slot_for(postgres)
    with opened(postgres, slot) as log:
        status = log.status()
        if args.drop:
            if not status.exists:
                say(f"slot {slot}: none to drop")
                return 0
            if status.active_pid:
                raise AdtechError(f"slot {slot} is in use by pid {status.active_pid}: stop the pipeline first")
            log.drop()
            say(f"dropped slot {slot}: the source keeps no WAL for adtech now. The next pass creates it again "
                "and fingerprints the whole history once; set ADTECH_CHANGE_SOURCE=scan to never use one")
            return 0
        say(describe_slot(status, lag_seconds(postgres, status)) if not status.unavailable() else f"no change log: {status.unavailable()}")
    others = [row for row in adtech_slots(postgres) if row["slot_name"] != slot]
    for row in others:
        say(f"other slot {row['slot_name']} (database {row['database']}, {row['wal_status']}): holds "
            f"{size(row['held_bytes'])}; drop it if no pipeline reads it: "
            f"ADTECH_SLOT={row['slot_name']} adtech slot --drop (with ADTECH_PG_URL on its database)")
    return 0
