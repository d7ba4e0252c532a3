"""Daily partitions on the UTC date of ``created_at``, from ``ADTECH_PARTITIONS_START`` through
today (``end_offset=1``: today's partial day is a partition too)."""

from datetime import date

from dagster import AssetExecutionContext, BackfillPolicy, DailyPartitionsDefinition

from adtech_assets.errors import AdtechError
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


def run_days(context: AssetExecutionContext) -> list[date]:
    """The days a run targets: one partition key, or every key of a single-run range. A range
    that holds no day (given end first, or outside the partitions) fails at once, unretried."""
    days = [date.fromisoformat(key) for key in context.partition_keys]
    if not days:
        key_range = context.partition_key_range
        hint = (f"give the earlier day first: --partition-range {key_range.end}...{key_range.start}"
                if key_range.start > key_range.end else
                f"give days between {daily_partitions.start.date().isoformat()} and today (UTC)")
        raise AdtechError(f"the partition range {key_range.start}...{key_range.end} holds no day: {hint}")
    return days
