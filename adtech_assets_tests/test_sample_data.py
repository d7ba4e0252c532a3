"""The sample-data generator gives data shaped like an ad platform's, repeatably.

One batch of 50,000 impressions (200 campaigns, CTR 0.05, 14 days, fixed seed) is seeded once
into its own database and judged on its distribution: the overall CTR is the one asked for,
nearly every campaign with impressions has clicks and none an absurd CTR (the bug this guards
against: clicks drawn from the impressions' own random stream, so only a handful of campaigns
got clicks, at CTR 1.0), campaigns differ in volume and CTR, days are busier than nights,
weekdays than weekends, every row lies in the window, each click follows an impression of its
campaign. The same seed gives the same rows in another database; another seed gives others.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from adtech_assets.cli.main import main
from adtech_assets.db.postgres.sample_data import (
    SeedWindow,
    max_impression_id,
    seed_batch,
    seed_clicks,
)
from adtech_assets.defs.resources import PostgresResource
from adtech_assets_tests.conftest import fresh_database

CTR = 0.05
DAYS = 14
SEED = 0.42
WINDOW = SeedWindow.last_days(DAYS, end=datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=1))
BATCH = dict(advertisers=20, campaigns=200, impressions=50_000, ctr=CTR, window=WINDOW)


def rows(pg: PostgresResource, sql: str, params: tuple = ()) -> list[tuple]:
    with pg.connect() as conn:
        return conn.execute(sql, params).fetchall()


def scalar(pg: PostgresResource, sql: str, params: tuple = ()):
    return rows(pg, sql, params)[0][0]


@pytest.fixture(scope="module")
def seeded(pg_server_url, template_database) -> Iterator[PostgresResource]:
    with fresh_database(pg_server_url, "adtech_sample", template=template_database) as url:
        pg = PostgresResource(url=url)
        seed_batch(pg, **BATCH, seed=SEED)
        yield pg


def per_campaign(pg: PostgresResource) -> list[tuple[int, int, int]]:
    """(campaign_id, impressions, clicks) for every campaign with impressions."""
    return rows(pg, """
        SELECT i.campaign_id, i.n, coalesce(c.n, 0)
        FROM (SELECT campaign_id, count(*) AS n FROM impressions GROUP BY 1) AS i
        LEFT JOIN (SELECT campaign_id, count(*) AS n FROM clicks GROUP BY 1) AS c USING (campaign_id)
        ORDER BY 1""")


def fingerprint(pg: PostgresResource) -> dict[str, tuple]:
    tables = {
        "advertiser": "id, name, created_at, updated_at",
        "campaign": "id, name, bid, budget, start_date, end_date, advertiser_id, created_at, updated_at",
        "impressions": "id, campaign_id, created_at",
        "clicks": "id, campaign_id, created_at",
    }
    return {
        table: rows(pg, f"""
            SELECT count(*), sum(id), md5(string_agg(concat_ws('|', {columns}), E'\\n' ORDER BY id))
            FROM {table}""")[0]
        for table, columns in tables.items()
    }


def test_the_batch_has_the_rows_asked_for(seeded):
    counts = dict(rows(seeded, """
        SELECT 'advertiser', count(*) FROM advertiser UNION ALL SELECT 'campaign', count(*) FROM campaign
        UNION ALL SELECT 'impressions', count(*) FROM impressions"""))
    assert counts == {"advertiser": 20, "campaign": 200, "impressions": 50_000}


def test_the_overall_ctr_is_the_one_asked_for(seeded):
    clicks = scalar(seeded, "SELECT count(*) FROM clicks")
    # binomial noise alone: sd = sqrt(50000 * 0.05 * 0.95) ~ 49 clicks, i.e. 0.001 in CTR
    assert abs(clicks / 50_000 - CTR) < 0.005, clicks


def test_clicks_spread_over_the_campaigns_at_plausible_ctrs(seeded):
    campaigns = per_campaign(seeded)
    assert len(campaigns) >= 190, "nearly every campaign gets impressions"
    with_clicks = [c for c in campaigns if c[2] > 0]
    assert len(with_clicks) >= 0.9 * len(campaigns), f"{len(with_clicks)} of {len(campaigns)} have clicks"
    ctrs = {cid: clicks / imps for cid, imps, clicks in campaigns}
    assert max(ctrs.values()) <= 0.25, sorted(ctrs.items(), key=lambda kv: -kv[1])[:5]
    # each campaign has its own CTR around the mean: over the campaigns with >= 200 impressions,
    # clicks vary far more than binomial noise around one common CTR would make them (the
    # dispersion index would be ~1 +- 0.2), yet the well-measured CTRs stay near the mean
    overall = sum(c[2] for c in campaigns) / sum(c[1] for c in campaigns)
    measured = [(imps, clicks) for _, imps, clicks in campaigns if imps >= 200]
    assert len(measured) >= 30
    dispersion = sum((k - n * overall) ** 2 / (n * overall * (1 - overall)) for n, k in measured) / (len(measured) - 1)
    assert dispersion > 1.5, dispersion
    big = [clicks / imps for imps, clicks in measured if imps >= 1000]
    assert big and all(CTR / 4 < ctr < CTR * 4 for ctr in big), big


def test_campaigns_differ_in_volume(seeded):
    volumes = [imps for _, imps, _ in per_campaign(seeded)]
    assert max(volumes) / min(volumes) > 10, (min(volumes), max(volumes))
    assert statistics.pstdev(volumes) / statistics.mean(volumes) > 0.8
    # and the big ones are not simply the lowest ids (the ranking is a hash of the campaign)
    top = rows(seeded, "SELECT campaign_id FROM impressions GROUP BY 1 ORDER BY count(*) DESC LIMIT 10")
    assert sorted(cid for (cid,) in top) != list(range(1, 11))


def test_days_are_busier_than_nights_and_weekdays_than_weekends(seeded):
    for table in ("impressions", "clicks"):
        by_hour = dict(rows(seeded, f"SELECT extract(hour FROM created_at)::int, count(*) FROM {table} GROUP BY 1"))
        day = statistics.mean(by_hour.get(h, 0) for h in range(12, 21))
        night = statistics.mean(by_hour.get(h, 0) for h in range(1, 6))
        assert day > (2.5 if table == "impressions" else 2) * night, (table, by_hour)
    # full UTC days only (the window's first and last are partial)
    by_day = rows(seeded, """
        SELECT extract(isodow FROM created_at::date) >= 6, count(*) FROM impressions
        WHERE created_at >= date_trunc('day', %s::timestamp) + interval '1 day'
          AND created_at < date_trunc('day', %s::timestamp)
        GROUP BY created_at::date""", (WINDOW.start, WINDOW.end))
    weekday = statistics.mean(n for weekend, n in by_day if not weekend)
    weekend = statistics.mean(n for weekend, n in by_day if weekend)
    assert weekday > weekend, by_day


def test_every_row_lies_in_the_window_and_none_in_the_future(seeded):
    now = scalar(seeded, "SELECT now() AT TIME ZONE 'UTC'")
    for table in ("advertiser", "campaign", "impressions", "clicks"):
        first, last, updated = rows(seeded, f"SELECT min(created_at), max(created_at), max(updated_at) FROM {table}"
                                    if table in ("advertiser", "campaign") else
                                    f"SELECT min(created_at), max(created_at), NULL FROM {table}")[0]
        assert WINDOW.start <= first and last < WINDOW.end <= now, (table, first, last)
        assert updated is None or updated < WINDOW.end, (table, updated)
    # the rhythm spreads rows over the whole window, not only part of it
    days = scalar(seeded, "SELECT count(DISTINCT created_at::date) FROM impressions")
    assert days >= DAYS


def test_impressions_are_inserted_in_time_order(seeded):
    backwards = scalar(seeded, """
        SELECT count(*) FROM (SELECT created_at < lag(created_at) OVER (ORDER BY id) AS back FROM impressions) AS q
        WHERE back""")
    assert backwards == 0


def test_each_click_follows_an_impression_of_its_campaign(seeded):
    orphans = scalar(seeded, """
        SELECT count(*) FROM clicks AS c
        WHERE NOT EXISTS (SELECT 1 FROM impressions AS i
                          WHERE i.campaign_id = c.campaign_id
                            AND i.created_at BETWEEN c.created_at - interval '15 minutes' AND c.created_at)""")
    assert orphans == 0


def test_the_same_seed_gives_the_same_rows_and_another_seed_others(seeded, pg_server_url, template_database):
    expected = fingerprint(seeded)
    with fresh_database(pg_server_url, "adtech_sample", template=template_database) as url:
        again = PostgresResource(url=url)
        seed_batch(again, **BATCH, seed=SEED)
        assert fingerprint(again) == expected
    with fresh_database(pg_server_url, "adtech_sample", template=template_database) as url:
        other = PostgresResource(url=url)
        seed_batch(other, **BATCH, seed=-SEED)
        different = fingerprint(other)
        for table in ("advertiser", "campaign", "impressions", "clicks"):
            assert different[table][2] != expected[table][2], table


def test_a_second_batch_adds_fresh_rows_with_their_own_clicks(postgres):
    seed_batch(postgres, **BATCH, seed=SEED)
    first_clicks = scalar(postgres, "SELECT count(*) FROM clicks")
    after = max_impression_id(postgres)
    seed_batch(postgres, **{**BATCH, "impressions": 20_000, "campaigns": 10, "advertisers": 1}, seed=SEED)
    new_clicks = scalar(postgres, "SELECT count(*) FROM clicks") - first_clicks
    assert abs(new_clicks / 20_000 - CTR) < 0.008, new_clicks
    # the same seed at other row positions draws other campaigns
    first, second = (
        [cid for (cid,) in rows(postgres, "SELECT campaign_id FROM impressions WHERE id > %s ORDER BY id LIMIT 1000",
                                (start,))]
        for start in (0, after)
    )
    assert first != second
    # `seed clicks --after-id` clicks only the impressions above the id, at the given CTR
    before = scalar(postgres, "SELECT count(*) FROM clicks")
    added = seed_clicks(postgres, 0.2, WINDOW, after_id=after, seed=0.1)
    assert scalar(postgres, "SELECT count(*) FROM clicks") - before == added
    assert abs(added / 20_000 - 0.2) < 0.02, added


def test_the_cli_verbs_still_work(pg_url, monkeypatch):
    monkeypatch.setenv("ADTECH_PG_URL", pg_url)
    options = ["--days", "3", "--seed", "0.3"]
    assert main(["seed", "advertisers", "--count", "3", *options]) == 0
    assert main(["seed", "campaigns", "--count", "12", *options]) == 0
    assert main(["seed", "impressions", "--count", "5000", *options]) == 0
    assert main(["seed", "clicks", "--ctr", "0.1", "--after-id", "2500", *options]) == 0
    assert main(["seed", "stats"]) == 0
    with psycopg.connect(pg_url) as conn:
        counts = conn.execute("""
            SELECT (SELECT count(*) FROM advertiser), (SELECT count(*) FROM campaign),
                   (SELECT count(*) FROM impressions), (SELECT count(*) FROM clicks)""").fetchone()
    assert counts[:3] == (3, 12, 5000)
    assert 150 < counts[3] < 350, counts  # ~0.1 of the 2,500 impressions above id 2500
    assert main(["seed", "batch", "--advertisers", "2", "--campaigns", "5", "--impressions", "1000", *options]) == 0
    assert main(["seed", "reset"]) == 0
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM impressions").fetchone()[0] == 0
