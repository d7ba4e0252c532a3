"""The names the Dagster side shares: asset keys, the daily partitions, the ClickHouse pool, the
retry policy and the run tags. Built from ``catalog`` (what is copied) and ``engine.days``
(the partition window), which need no Dagster."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    Backoff,
    DagsterRunStatus,
    DailyPartitionsDefinition,
    Jitter,
    RetryPolicy,
)

from adtech_assets.catalog import DIMS, FACTS, KPI_VIEWS, ROLLUP_TABLE
from adtech_assets.engine.days import partition_window
from adtech_assets.errors import AdtechError
from adtech_assets.settings import RETAIN_BEFORE, retain_before


def table_key(table: str) -> AssetKey:
    """A ClickHouse table or view of the ``analytics`` database."""
    return AssetKey(["analytics", table])


def source_key(table: str) -> AssetKey:
    """A Postgres source table."""
    return AssetKey(["postgres", "public", table])


DIM_KEYS = {spec.table: table_key(spec.table) for spec in DIMS}
FACT_KEYS = {spec.table: table_key(spec.table) for spec in FACTS}
ROLLUP_KEY = table_key(ROLLUP_TABLE)
KPI_KEYS = [table_key(view) for view in KPI_VIEWS]

# Daily partitions on the UTC date of ``created_at``: the window ``partition_window`` defines,
# from ADTECH_PARTITIONS_START through today (``end_offset=1``: today's partial day too).
daily_partitions = DailyPartitionsDefinition(
    start_date=partition_window()[0].isoformat(), timezone="UTC", end_offset=1
)
# A range of days (UI backfill or --partition-range) runs as one run with one read per range.
single_run_backfill = BackfillPolicy.single_run()

# Dagster concurrency pool of every step that uses ClickHouse: set its limit to 1 for the
# embedded engine (one process at a time) so runs queue in Dagster rather than on the lock.
CLICKHOUSE_POOL = "clickhouse"

# Steps that talk to the databases (every asset and every check) retry transient network or
# lock trouble, such as Postgres restarting under a sync. What cannot succeed on a retry (an
# ``AdtechError``) is a ``Failure(allow_retries=False)`` and bypasses it (``defs.step_failures``).
IO_RETRY = RetryPolicy(max_retries=2, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)

# Every run adtech launches says what launched it; a day load says which days, besides
# Dagster's own partition tags.
TRIGGER_TAG = "adtech/trigger"
DAYS_TAG = "adtech/days"


def partition_range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run cover the days [first, last] (a single-run backfill)."""
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


def days_tags(first: date, last: date) -> dict[str, str]:
    """The tags of a run of [first, last]: ``adtech/days`` (``first..last``, or the one day) and
    Dagster's partition range tags, which make the range one run."""
    return {DAYS_TAG: f"{first}..{last}" if first != last else first.isoformat(), **partition_range_tags(first, last)}


def run_days(context: AssetExecutionContext) -> list[date]:
    """The days a run targets: one partition key, or every key of a single-run range. A range
    that holds no day (given end first, or outside the partitions) refuses the run at once,
    unretried (``refuse_run``)."""
    days = [date.fromisoformat(key) for key in context.partition_keys]
    if not days:
        key_range = context.partition_key_range
        hint = (f"give the earlier day first: --partition-range {key_range.end}...{key_range.start}"
                if key_range.start > key_range.end else
                f"give days between {daily_partitions.start.date().isoformat()} and today (UTC)")
        raise refuse_run(context, f"the partition range {key_range.start}...{key_range.end} holds no day: {hint}")
    return days


def refuse_frozen(context: AssetExecutionContext, days: list[date], loaded: Callable[[], set[date]]) -> None:
    """Refuse a load of days before ``ADTECH_RETAIN_BEFORE`` that ClickHouse holds (``loaded()``,
    read only when some day is before it): their rows stay as loaded (Postgres may have purged
    them). Days never loaded load as usual."""
    frozen_before = retain_before()
    if frozen_before is None or min(days) >= frozen_before:
        return
    held = loaded()
    frozen = sorted(day for day in days if day < frozen_before and day in held)
    if frozen:
        raise refuse_run(context, f"{frozen[0]} is frozen by {RETAIN_BEFORE}={frozen_before}: ClickHouse keeps its "
                                  f"rows (Postgres may have purged them); give days from {frozen_before} on, or "
                                  f"unset {RETAIN_BEFORE} to reload it from Postgres")


def refuse_run(context: AssetExecutionContext, message: str) -> AdtechError:
    """The error that fails a step of a run which must do nothing at all, its run first marked
    canceling so that it ends CANCELED rather than FAILURE. Dagster resolves a check planned in
    a failed run that never evaluated it as "Execution failed", in one that ended otherwise as
    skipped; so the checks of such a run read skipped, and the UI keeps showing their last
    evaluation. Every step of the run that meets the problem fails with the same line."""
    run = context.instance.get_run_by_id(context.run_id)
    if run is not None and run.status not in (DagsterRunStatus.CANCELING, DagsterRunStatus.CANCELED):
        context.instance.report_run_canceling(run, message=message)
    return AdtechError(message)
