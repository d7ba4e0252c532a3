"""A full disk is one line naming the folder, the disk's free space and what to do, and the first
pass after space is freed heals.

The disk is made "full" for the embedded ClickHouse the way ClickHouse itself refuses writes
when its disks run low: the MergeTree setting ``min_free_disk_bytes_to_perform_insert``, set
above any disk's free space, makes every insert into the table fail with ClickHouse's own
NOT_ENOUGH_SPACE (error 243), as a full disk's "Cannot reserve ..., not enough space" does.
Each ``adtech sync`` is a real process, as a user runs it.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest

from adtech_assets.db.clickhouse.client import ClickHouse
from adtech_assets.defs.resources import ClickHouseResource

from .helpers import (
    add_advertiser,
    add_campaign,
    add_events,
    assert_converged,
    cli_env,
    run_cli,
)

TODAY = datetime.now(timezone.utc).date()
# More free bytes than any disk has: every insert into a table with this threshold is refused
THRESHOLD = 1 << 62


def refuse_inserts(clickhouse: ClickHouse, tables: list[str] | None, threshold: int) -> None:
    """Set the free-space threshold of inserts on ``tables`` (None: every MergeTree table)."""
    with clickhouse.session() as ch:
        if tables is None:
            tables = [row[0] for row in ch.client.query(
                "SELECT name FROM system.tables WHERE database = 'analytics' AND engine LIKE '%MergeTree'"
            ).result_rows]
        for table in tables:
            setting = (f"MODIFY SETTING min_free_disk_bytes_to_perform_insert = {threshold}" if threshold
                       else "RESET SETTING min_free_disk_bytes_to_perform_insert")
            ch.client.command(f"ALTER TABLE analytics.`{table}` {setting}")


def events_on(postgres, campaign: int, days_ago: int, count: int) -> None:
    moment = datetime.combine(TODAY - timedelta(days=days_ago), time(12))
    add_events(postgres, "impressions", [(campaign, moment)] * count)


def assert_one_line_naming_the_disk(result, data_dir) -> None:
    lines = result.stderr.splitlines()
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-3000:])
    assert len(lines) == 1, result.stderr[-3000:]
    line = lines[0]
    assert line.startswith(f"adtech: error: no room to write in {data_dir / 'clickhouse'} (NOT_ENOUGH_SPACE): "), line
    assert " free of " in line and "on its disk" in line, line
    assert "free space on that disk or set ADTECH_DATA_DIR to a folder on another disk" in line, line
    assert "max_retries" not in result.stdout + result.stderr


@pytest.mark.long(45)
def test_a_full_disk_is_one_line_and_the_next_pass_heals(postgres, pg_url, tmp_path):
    campaign = add_campaign(postgres, "c", add_advertiser(postgres, "a"))
    events_on(postgres, campaign, 2, 5)
    env = cli_env(tmp_path, ADTECH_PG_URL=pg_url)  # the embedded ClickHouse under ADTECH_DATA_DIR
    data_dir = tmp_path / "data"
    clickhouse = ClickHouse(url=f"chdb://{data_dir / 'clickhouse'}", lock_timeout_seconds=120)
    first = run_cli(["sync"], env)
    assert first.returncode == 0, first.stderr[-3000:]

    # the disk fills while a day loads: its step fails at once, and the pass says why in one line
    events_on(postgres, campaign, 1, 7)
    refuse_inserts(clickhouse, ["fact_impressions"], THRESHOLD)
    assert_one_line_naming_the_disk(run_cli(["sync"], env), data_dir)

    # a pass started while the disk is still full: the same line, not a traceback
    refuse_inserts(clickhouse, None, THRESHOLD)
    assert_one_line_naming_the_disk(run_cli(["sync"], env), data_dir)

    # space freed: the next pass loads what stayed pending, and ClickHouse equals Postgres
    refuse_inserts(clickhouse, None, 0)
    healed = run_cli(["sync"], env)
    assert healed.returncode == 0, (healed.stdout[-2000:], healed.stderr[-3000:])
    assert_converged(postgres, ClickHouseResource(url=clickhouse.url, lock_timeout_seconds=120))
