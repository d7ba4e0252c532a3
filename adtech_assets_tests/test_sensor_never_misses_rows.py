"""The planner behind the postgres_changes sensor finds exactly what changed and never misses a
row: late commits of long transactions, late rows for past days, dimension updates in long
transactions. Real concurrent Postgres connections; the cursor round-trips through ClickHouse,
and the sensor itself turns the pending days into run requests."""

from datetime import datetime, timedelta, timezone

import psycopg
from dagster import DagsterInstance

from adtech_assets.catalog import DIMS
from adtech_assets.db.clickhouse.schema import ensure_schema
from adtech_assets.engine.loads.dims import load_dimension
from adtech_assets.engine.planner import plan_pass

TODAY = datetime.now(timezone.utc).replace(tzinfo=None, hour=12, minute=0, second=0, microsecond=0)


def _writer(pg_url: str) -> psycopg.Connection:
    conn = psycopg.connect(pg_url, options="-c TimeZone=UTC")
    # commit counters reach the statistics collector at this session's next transaction end
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.commit()
    return conn


def _tick(instance, postgres, clickhouse, _cursor=None):
    """One planner pass: the days it found and the dims that differ (the cursor lives in ClickHouse)."""
    with clickhouse.session() as ch:
        ensure_schema(ch)
        plan = plan_pass(postgres, ch)
    return plan, None


def _requested_days(plan) -> set[str]:
    return {day.isoformat() for _, day in plan.found}


def _seed_campaign(pg_url: str) -> int:
    with psycopg.connect(pg_url) as conn:
        adv = conn.execute("INSERT INTO advertiser (name) VALUES ('a') RETURNING id").fetchone()[0]
        return conn.execute(
            "INSERT INTO campaign (name, bid, budget, advertiser_id) VALUES ('c', 1, 100, %s) RETURNING id", (adv,)
        ).fetchone()[0]


def _insert_impression(conn: psycopg.Connection, campaign: int, at: datetime) -> None:
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("INSERT INTO impressions (campaign_id, created_at) VALUES (%s, %s)", (campaign, at))


def test_long_transaction_committing_late_still_arrives(pg_url, postgres, clickhouse):
    campaign = _seed_campaign(pg_url)
    instance = DagsterInstance.ephemeral()
    _, cursor = _tick(instance, postgres, clickhouse, None)  # first look: everything so far

    early_day, late_day = TODAY - timedelta(days=2), TODAY - timedelta(days=1)
    slow, fast = _writer(pg_url), _writer(pg_url)
    _insert_impression(slow, campaign, early_day)  # stays open
    _insert_impression(fast, campaign, late_day)
    fast.commit()

    requests, cursor = _tick(instance, postgres, clickhouse, cursor)
    assert _requested_days(requests) == {late_day.date().isoformat()}

    requests, cursor = _tick(instance, postgres, clickhouse, cursor)  # idle: nothing committed since
    assert _requested_days(requests) == set()

    slow.commit()
    requests, cursor = _tick(instance, postgres, clickhouse, cursor)
    assert _requested_days(requests) == {early_day.date().isoformat()}, "the late commit was missed"
    slow.close()
    fast.close()


def test_row_inserted_today_for_three_days_ago_reloads_that_day(pg_url, postgres, clickhouse):
    campaign = _seed_campaign(pg_url)
    instance = DagsterInstance.ephemeral()
    writer = _writer(pg_url)
    _insert_impression(writer, campaign, TODAY)
    writer.commit()
    _, cursor = _tick(instance, postgres, clickhouse, None)

    three_days_ago = TODAY - timedelta(days=3)
    _insert_impression(writer, campaign, three_days_ago)
    writer.commit()
    requests, _ = _tick(instance, postgres, clickhouse, cursor)
    assert _requested_days(requests) == {three_days_ago.date().isoformat()}
    writer.close()


def _load_dims(postgres, clickhouse) -> None:
    with clickhouse.session() as ch:
        ensure_schema(ch)
        for spec in DIMS:
            load_dimension(spec, postgres, ch)


def test_campaign_update_in_long_transaction_requests_dims(pg_url, postgres, clickhouse):
    campaign = _seed_campaign(pg_url)
    instance = DagsterInstance.ephemeral()
    _, cursor = _tick(instance, postgres, clickhouse, None)
    _load_dims(postgres, clickhouse)

    slow = _writer(pg_url)
    slow.execute("SELECT pg_stat_force_next_flush()")
    slow.execute("UPDATE campaign SET name = 'renamed', updated_at = now() WHERE id = %s", (campaign,))
    requests, cursor = _tick(instance, postgres, clickhouse, cursor)
    assert not requests.dims_changed, "nothing committed yet"

    slow.commit()
    requests, cursor = _tick(instance, postgres, clickhouse, cursor)
    assert requests.dims_changed == ["dim_campaign"], "the committed update was missed"
    slow.close()


def test_idle_tick_requests_nothing(pg_url, postgres, clickhouse):
    _seed_campaign(pg_url)
    instance = DagsterInstance.ephemeral()
    _, cursor = _tick(instance, postgres, clickhouse, None)
    _load_dims(postgres, clickhouse)
    requests, cursor2 = _tick(instance, postgres, clickhouse, cursor)
    assert requests.found == {} and not requests.dims_changed
