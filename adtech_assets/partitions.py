"""Daily partitions on the UTC date of ``created_at``, from ``ADTECH_PARTITIONS_START`` through
today (``end_offset=1``: today's partial day is a partition too)."""

from collections.abc import Iterable
from datetime import date

from dagster import BackfillPolicy, DailyPartitionsDefinition

from adtech_assets.settings import partitions_start

daily_partitions = DailyPartitionsDefinition(
    start_date=partitions_start().isoformat(), timezone="UTC", end_offset=1
)

# A range of days (UI backfill or --partition-range) runs as one run with one read per range.
single_run_backfill = BackfillPolicy.single_run()


def partition_range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run cover the days [first, last] (a single-run backfill)."""
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


def partition_days(keys: Iterable[str]) -> tuple[list[date], list[date]]:
    """Split days (ISO keys) into those the partitions hold and those outside them."""
    valid = set(daily_partitions.get_partition_keys())
    days = sorted(date.fromisoformat(k) for k in keys)
    return [d for d in days if d.isoformat() in valid], [d for d in days if d.isoformat() not in valid]
