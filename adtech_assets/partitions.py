"""Daily partitions on the UTC date of ``created_at``, from ``ADTECH_PARTITIONS_START`` through
today (``end_offset=1``: today's partial day is a partition too)."""

from dagster import BackfillPolicy, DailyPartitionsDefinition

from adtech_assets.settings import partitions_start

daily_partitions = DailyPartitionsDefinition(
    start_date=partitions_start().isoformat(), timezone="UTC", end_offset=1
)

# A range of days (UI backfill or --partition-range) runs as one run with one read per range.
single_run_backfill = BackfillPolicy.single_run()
