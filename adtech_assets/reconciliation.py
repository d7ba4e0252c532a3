"""The reconciliation sweep: the planner's pass with Postgres fingerprinted whatever the write
counters say.

The counters gate the sensor's Postgres fingerprints; they can miss what the statistics
collector never saw (counters off, a reset between two looks, a change applied below SQL). On a
schedule (``ADTECH_RECONCILE_CRON``, default hourly at :17) the sweep fingerprints every day of
the history (or the last ``ADTECH_RECONCILE_LOOKBACK_DAYS``, a cost knob) and requests, through
the same asset runs as the sensor (so the blocking checks judge them), the days that differ.
"""

from dagster import DefaultScheduleStatus, ScheduleEvaluationContext, SkipReason, schedule

from adtech_assets.jobs import load_days
from adtech_assets.resources import ClickHouseResource, PostgresResource
from adtech_assets.sensors import automated_pass, day_requests
from adtech_assets.settings import reconcile_cron, reconcile_lookback_days


@schedule(
    name="reconcile_with_postgres",
    job=load_days,
    cron_schedule=reconcile_cron(),
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Fingerprint Postgres day by day; reload the days that differ from ClickHouse.",
)
def reconcile_schedule(context: ScheduleEvaluationContext, postgres: PostgresResource, clickhouse: ClickHouseResource):
    _, requests = automated_pass(context.instance, postgres, clickhouse, context.log,
                                 full=True, lookback_days=reconcile_lookback_days())
    return day_requests(requests) or SkipReason("every day equals Postgres")
