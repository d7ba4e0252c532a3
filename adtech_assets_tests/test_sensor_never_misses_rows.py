"""The postgres_changes sensor requests exactly what changed and never misses a row: late
commits of long transactions, late rows for past days, dimension updates in long transactions.
Real concurrent Postgres connections; the cursor round-trips through the sensor context."""

from datetime import datetime, timedelta, timezone

import psycopg
from dagster import DagsterInstance, build_sensor_context

from adtech_assets.definitions import defs
from adtech_assets.sensors import postgres_changes

TODAY = datetime.now(timezone.utc).replace(tzinfo=None, hour=12, minute=0, second=0, microsecond=0)


def _writer(pg_url: str) -> psycopg.Connection:
    conn = psycopg.connect(pg_url, options="-c TimeZone=UTC")
    # commit counters reach the statistics collector at this session's next transaction end
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.commit()
    return conn


def _tick(instance, postgres, cursor):
    context = build_sensor_context(
        instance=instance, cursor=cursor, resources={"postgres": postgres},
        definitions=defs,
    )
    result = postgres_changes.evaluate_tick(context)
    return result.run_requests or [], result.cursor


def _requested_days(requests) -> set[str]:
    days = set()
    for request in requests:
        if request.partition_key:
            days.add(request.partition_key)
        elif "dagster/asset_partition_range_start" in request.tags:
            first = datetime.fromisoformat(request.tags["dagster/asset_partition_range_start"])
            last = datetime.fromisoformat(request.tags["dagster/asset_partition_range_end"])
            days |= {(first + timedelta(days=n)).date().isoformat() for n in range((last - first).days + 1)}
    return days


def _seed_campaign(pg_url: str) -> int:
    with psycopg.connect(pg_url) as conn:
        adv = conn.execute("INSERT INTO advertiser (name) VALUES ('a') RETURNING id").fetchone()[0]
        return conn.execute(
            "INSERT INTO campaign (name, bid, budget, advertiser_id) VALUES ('c', 1, 100, %s) RETURNING id", (adv,)
        ).fetchone()[0]


def _insert_impression(conn: psycopg.Connection, campaign: int, at: datetime) -> None:
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("INSERT INTO impressions (campaign_id, created_at) VALUES (%s, %s)", (campaign, at))


def test_long_transaction_committing_late_still_arrives(pg_url, postgres):
    campaign = _seed_campaign(pg_url)
    instance = DagsterInstance.ephemeral()
    _, cursor = _tick(instance, postgres, None)  # first look: everything so far

    early_day, late_day = TODAY - timedelta(days=2), TODAY - timedelta(days=1)
    slow, fast = _writer(pg_url), _writer(pg_url)
    _insert_impression(slow, campaign, early_day)  # stays open
    _insert_impression(fast, campaign, late_day)
    fast.commit()

    requests, cursor = _tick(instance, postgres, cursor)
    assert _requested_days(requests) == {late_day.date().isoformat()}

    requests, cursor = _tick(instance, postgres, cursor)  # idle: nothing committed since
    assert _requested_days(requests) == set()

    slow.commit()
    requests, cursor = _tick(instance, postgres, cursor)
    assert _requested_days(requests) == {early_day.date().isoformat()}, "the late commit was missed"
    slow.close()
    fast.close()


def test_row_inserted_today_for_three_days_ago_reloads_that_day(pg_url, postgres):
    campaign = _seed_campaign(pg_url)
    instance = DagsterInstance.ephemeral()
    writer = _writer(pg_url)
    _insert_impression(writer, campaign, TODAY)
    writer.commit()
    _, cursor = _tick(instance, postgres, None)

    three_days_ago = TODAY - timedelta(days=3)
    _insert_impression(writer, campaign, three_days_ago)
    writer.commit()
    requests, _ = _tick(instance, postgres, cursor)
    assert _requested_days(requests) == {three_days_ago.date().isoformat()}
    writer.close()


def test_campaign_update_in_long_transaction_requests_dims(pg_url, postgres):
    campaign = _seed_campaign(pg_url)
    instance = DagsterInstance.ephemeral()
    _, cursor = _tick(instance, postgres, None)

    slow = _writer(pg_url)
    slow.execute("SELECT pg_stat_force_next_flush()")
    slow.execute("UPDATE campaign SET name = 'renamed', updated_at = now() WHERE id = %s", (campaign,))
    requests, cursor = _tick(instance, postgres, cursor)
    assert not [r for r in requests if r.job_name == "refresh_dims_and_kpis"], "nothing committed yet"

    slow.commit()
    requests, cursor = _tick(instance, postgres, cursor)
    assert [r for r in requests if r.job_name == "refresh_dims_and_kpis"], "the committed update was missed"
    slow.close()


def test_idle_tick_requests_nothing(pg_url, postgres):
    _seed_campaign(pg_url)
    instance = DagsterInstance.ephemeral()
    _, cursor = _tick(instance, postgres, None)
    requests, cursor2 = _tick(instance, postgres, cursor)
    assert requests == []
