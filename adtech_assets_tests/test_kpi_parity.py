"""The five KPI views give, to the row, what the same KPI computed directly on Postgres gives.

Generated data with the edge cases the reference got wrong or never met: a campaign without
events, an advertiser without campaigns, a campaign without advertiser, events without a
campaign, events at 23:59:59.999999 and 00:00:00 UTC on adjacent days, a campaign with
impressions but no clicks (and one with clicks but no impressions), a day with only clicks.
Everything is loaded by ``adtech sync`` (``run_sync``); each view is compared with the query in
``ground_truth/<view>.sql``, sorted, value by value and type by type: counts exactly, ctr floats
bit for bit, decimals exactly. The result must not depend on the machine's TZ.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pprint import pformat

from adtech_assets.db.postgres.sample_data import SeedWindow, seed_batch
from adtech_assets.defs.resources import ClickHouseResource, PostgresResource
from adtech_assets.settings import PROJECT_ROOT
from adtech_assets_tests.helpers import (
    add_advertiser,
    add_campaign,
    add_events,
    ch_scalar,
    kpi_differences,
    sync,
)

WINDOW = SeedWindow(start=datetime(2025, 3, 1), end=datetime(2025, 3, 15))
LAST_MICROSECOND = datetime(2025, 3, 10, 23, 59, 59, 999999)
MIDNIGHT = datetime(2025, 3, 11, 0, 0, 0)
CLICKS_ONLY_DAY = date(2025, 3, 15)  # right after the window: no impressions that day


def seed_edge_cases(postgres: PostgresResource) -> dict[str, int]:
    """A few thousand random rows (repeatable: fixed seed and window) plus hand-made edge cases."""
    seed_batch(postgres, advertisers=6, campaigns=25, impressions=4000, ctr=0.08, window=WINDOW, seed=0.42)

    acme = add_advertiser(postgres, "Acme, \"quoted\" & café ☕", created_at=datetime(2025, 3, 1))
    add_advertiser(postgres, "Advertiser without campaigns", updated_at=datetime(2025, 3, 2))
    ids = {
        "no_events": add_campaign(postgres, "Campaign without events", acme, bid="0.01", budget="99999999.99"),
        "no_advertiser": add_campaign(postgres, "Campaign without advertiser", None, bid="3.33"),
        "no_clicks": add_campaign(postgres, "Impressions but no clicks", acme, bid="2.50"),
        "clicks_only": add_campaign(postgres, "Clicks but no impressions", acme, bid="1.10"),
        "midnight": add_campaign(postgres, "Events around midnight", acme, bid="0.07", budget="0.01"),
    }
    add_events(postgres, "impressions", [
        (ids["no_advertiser"], datetime(2025, 3, 5, 12)), (ids["no_advertiser"], datetime(2025, 3, 6, 12)),
        (ids["no_clicks"], datetime(2025, 3, 7, 8)), (ids["no_clicks"], datetime(2025, 3, 7, 9)),
        (ids["midnight"], LAST_MICROSECOND), (ids["midnight"], LAST_MICROSECOND),
        (ids["midnight"], MIDNIGHT),
        (None, LAST_MICROSECOND), (None, MIDNIGHT), (None, datetime(2025, 3, 3, 3)),
    ])
    add_events(postgres, "clicks", [
        (ids["no_advertiser"], datetime(2025, 3, 5, 12, 1)),
        (ids["midnight"], LAST_MICROSECOND), (ids["midnight"], MIDNIGHT), (ids["midnight"], MIDNIGHT),
        (ids["clicks_only"], datetime(2025, 3, 8, 1)),
        (None, MIDNIGHT),
        (ids["clicks_only"], datetime.combine(CLICKS_ONLY_DAY, datetime.min.time())),
        (None, datetime.combine(CLICKS_ONLY_DAY, datetime.min.time()) + timedelta(hours=23, minutes=59,
                                                                                   seconds=59, microseconds=999999)),
    ])
    return ids


def sync_and_compare(postgres: PostgresResource, clickhouse: ClickHouseResource) -> dict:
    """Seed, sync, and return the views that differ from their ground truth (empty: parity)."""
    ids = seed_edge_cases(postgres)
    report = sync({"postgres": postgres, "clickhouse": clickhouse})
    assert report.ok, (report.failed_checks, report.errors)
    assert CLICKS_ONLY_DAY in report.days_loaded and date(2025, 3, 1) in report.days_loaded

    # the edge cases really are in the views, not only equal on both sides by accident
    def one(statement: str, **params):
        return ch_scalar(clickhouse, statement, **params)

    assert one("SELECT impressions + clicks FROM analytics.mv_campaign_ctr WHERE campaign_id = {i:Int32}",
               i=ids["no_events"]) == 0
    assert one("SELECT count() FROM analytics.mv_advertiser_performance WHERE campaign_count = 0") == 1
    assert one("SELECT advertiser_name IS NULL FROM analytics.mv_campaign_ctr WHERE campaign_id = {i:Int32}",
               i=ids["no_advertiser"]) == 1
    assert one("SELECT cost_per_click IS NULL FROM analytics.mv_campaign_efficiency WHERE campaign_id = {i:Int32}",
               i=ids["no_clicks"]) == 1
    assert one("SELECT groupArray((event_date, impressions, clicks)) FROM "
               "(SELECT * FROM analytics.mv_campaign_daily_performance WHERE campaign_id = {i:Int32} "
               "ORDER BY event_date)", i=ids["midnight"]) == [
        (date(2025, 3, 10), 2, 1), (date(2025, 3, 11), 1, 2)]
    # events without a campaign count in the daily totals, and are no campaign's row (not campaign 0)
    assert one("SELECT count() FROM analytics.mv_campaign_daily_performance WHERE campaign_id NOT IN "
               "(SELECT campaign_id FROM analytics.dim_campaign)") == 0
    assert one("SELECT (impressions, clicks, daily_ctr) FROM analytics.mv_daily_performance "
               "WHERE event_date = {d:Date}", d=CLICKS_ONLY_DAY) == (0, 2, 0.0)
    return kpi_differences(postgres, clickhouse)


def test_kpi_views_equal_postgres_ground_truth(postgres, clickhouse):
    differences = sync_and_compare(postgres, clickhouse)
    assert not differences, pformat(differences, width=140)


@contextmanager
def process_timezone(name: str):
    previous = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = previous
        time.tzset()


def test_kpi_views_equal_ground_truth_under_non_utc_process_tz(postgres, clickhouse):
    with process_timezone("America/Los_Angeles"):
        assert time.localtime(0).tm_hour == 16  # the Python side really runs in Los Angeles
        differences = sync_and_compare(postgres, clickhouse)
    assert not differences, pformat(differences, width=140)


def test_kpi_views_equal_ground_truth_when_the_engine_starts_in_a_non_utc_tz(pg_url, clickhouse_path):
    """chDB reads TZ once, when a process first opens it: a fresh process started in Los Angeles
    runs the embedded engine itself (not only Python) in that zone."""
    script = (
        "from adtech_assets.defs.resources import ClickHouseResource, PostgresResource\n"
        "from adtech_assets_tests.helpers import ch_scalar\n"
        "from adtech_assets_tests.test_kpi_parity import sync_and_compare\n"
        f"ch = ClickHouseResource(url='chdb://{clickhouse_path}')\n"
        "assert ch_scalar(ch, 'SELECT timezone()') == 'America/Los_Angeles', ch_scalar(ch, 'SELECT timezone()')\n"
        f"differences = sync_and_compare(PostgresResource(url={pg_url!r}), ch)\n"
        "assert not differences, differences\n"
        "print('parity')\n"
    )
    env = {**os.environ, "TZ": "America/Los_Angeles"}
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and "parity" in done.stdout, done.stderr[-3000:]
