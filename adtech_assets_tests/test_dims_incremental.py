"""The dimensions load incrementally: each pass copies only the rows that changed since the
previous one (where to start is read from ClickHouse, not remembered), handles NULL
``updated_at`` and ``created_at``, and follows deletes at the source into the dims and the views.
After every pass, ``FINAL`` equals the source table, value for value."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta, timezone

from adtech_assets.catalog import DIMS
from adtech_assets.db.clickhouse.schema import ensure_schema
from adtech_assets.db.postgres.sample_data import SeedWindow, seed_batch
from adtech_assets.defs.resources import ClickHouseResource
from adtech_assets.engine.loads.dims import load_dimension
from adtech_assets_tests.helpers import (
    add_advertiser,
    add_campaign,
    ch_query,
    ch_scalar,
    pg_execute,
    sync,
)

ADVERTISERS, CAMPAIGNS = DIMS
SOURCE_COLUMNS = {
    "advertiser": "id, name, updated_at, created_at",
    "campaign": "id, name, bid, budget, start_date, end_date, advertiser_id, updated_at, created_at",
}


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def load(spec, postgres, clickhouse) -> dict:
    with clickhouse.session() as ch:
        ensure_schema(ch)
        return asdict(load_dimension(spec, postgres, ch))


def load_all(postgres, clickhouse) -> list[dict]:
    return [load(spec, postgres, clickhouse) for spec in DIMS]


def dim_rows(clickhouse: ClickHouseResource, spec) -> list[tuple]:
    """The deduplicated dim as source-shaped tuples (timestamps as naive UTC)."""
    columns = SOURCE_COLUMNS[spec.source].replace("id,", f"{spec.id_column} AS id,", 1)
    rows = ch_query(clickhouse, f"SELECT {columns} FROM analytics.{spec.table} FINAL ORDER BY id")
    return [
        tuple(v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in row.values()) for row in rows
    ]


def source_rows(postgres, spec) -> list[tuple]:
    return pg_execute(postgres, f"SELECT {SOURCE_COLUMNS[spec.source]} FROM {spec.source} ORDER BY id")


def assert_dims_equal_source(postgres, clickhouse) -> None:
    for spec in DIMS:
        assert dim_rows(clickhouse, spec) == source_rows(postgres, spec), spec.table


def seed(postgres) -> None:
    seed_batch(postgres, advertisers=10, campaigns=60, impressions=1000, ctr=0.1,
               window=SeedWindow.last_days(5), seed=0.25)


def test_first_load_copies_everything_then_only_changed_rows(postgres, clickhouse):
    seed(postgres)
    first = load_all(postgres, clickhouse)
    assert [f["rows_upserted"] for f in first] == [10, 60]
    assert_dims_equal_source(postgres, clickhouse)

    campaign = pg_execute(postgres, "SELECT min(id) FROM campaign")[0][0]
    pg_execute(postgres, "UPDATE campaign SET name = 'Renamed campaign', bid = 9.99, updated_at = %s WHERE id = %s",
               (utc_now(), campaign))
    changed = load(CAMPAIGNS, postgres, clickhouse)

    # only the changed row is written
    assert changed["rows_upserted"] == 1, changed
    assert ch_scalar(clickhouse, "SELECT (name, toString(bid)) FROM analytics.dim_campaign FINAL "
                                 "WHERE campaign_id = {i:Int32}", i=campaign) == ("Renamed campaign", "9.99")
    assert_dims_equal_source(postgres, clickhouse)

    raw_rows = ch_scalar(clickhouse, "SELECT count() FROM analytics.dim_campaign")
    unchanged = load_all(postgres, clickhouse)
    assert [(u["rows_upserted"], u["ids_deleted"]) for u in unchanged] == [(0, 0), (0, 0)], unchanged
    assert ch_scalar(clickhouse, "SELECT count() FROM analytics.dim_campaign") == raw_rows, "a no-op pass writes nothing"
    assert_dims_equal_source(postgres, clickhouse)

    pg_execute(postgres, "UPDATE campaign SET budget = budget + 1 WHERE id = %s", (campaign,))  # updated_at untouched
    assert load(CAMPAIGNS, postgres, clickhouse)["rows_upserted"] == 1
    assert_dims_equal_source(postgres, clickhouse)


def test_a_fresh_resource_resumes_from_what_clickhouse_holds(postgres, clickhouse):
    """Nothing is kept in memory between passes: a new resource object (a restart) is incremental too."""
    seed(postgres)
    load_all(postgres, clickhouse)
    restarted = ClickHouseResource(url=clickhouse.url, lock_timeout_seconds=60)
    again = load_all(postgres, restarted)
    assert all(a["rows_upserted"] == 0 for a in again), again


def test_rows_with_null_updated_at_and_created_at_load(postgres, clickhouse):
    seed(postgres)
    bare_advertiser = add_advertiser(postgres, "No timestamps at all", created_at=None, updated_at=None)
    bare_campaign = add_campaign(postgres, "No timestamps either", bare_advertiser, created_at=None, updated_at=None)
    load_all(postgres, clickhouse)
    assert_dims_equal_source(postgres, clickhouse)

    # after the watermark moved past them: new ids without timestamps still load
    later_advertiser = add_advertiser(postgres, "Later, no timestamps", created_at=None, updated_at=None)
    add_campaign(postgres, "Later campaign, created only", later_advertiser, updated_at=None)
    loaded = load_all(postgres, clickhouse)
    assert all(l["rows_upserted"] >= 1 for l in loaded), loaded
    assert_dims_equal_source(postgres, clickhouse)

    # a row gets its first updated_at; another changes without touching its (NULL) timestamps
    pg_execute(postgres, "UPDATE advertiser SET name = 'Now versioned', updated_at = %s WHERE id = %s",
               (utc_now(), bare_advertiser))
    pg_execute(postgres, "UPDATE campaign SET name = 'Renamed, still no timestamps', budget = 12.34 WHERE id = %s",
               (bare_campaign,))
    load_all(postgres, clickhouse)
    assert_dims_equal_source(postgres, clickhouse)


def test_an_update_dated_in_the_past_is_still_picked_up(postgres, clickhouse):
    """updated_at set by the application to an older time than the version already loaded."""
    seed(postgres)
    load_all(postgres, clickhouse)
    advertiser = pg_execute(postgres, "SELECT min(id) FROM advertiser")[0][0]
    pg_execute(postgres, "UPDATE advertiser SET name = 'Backdated rename', updated_at = %s WHERE id = %s",
               (utc_now() - timedelta(days=30), advertiser))
    load_all(postgres, clickhouse)
    assert_dims_equal_source(postgres, clickhouse)


def test_deleted_advertisers_and_campaigns_disappear_from_dims_and_views(resources, postgres, clickhouse):
    seed(postgres)
    doomed_advertiser = add_advertiser(postgres, "Doomed advertiser", updated_at=utc_now())
    doomed_campaign = add_campaign(postgres, "Doomed campaign", doomed_advertiser, updated_at=utc_now())
    kept_campaign = pg_execute(postgres, "SELECT min(id) FROM campaign")[0][0]
    pg_execute(postgres, "INSERT INTO impressions (campaign_id, created_at) VALUES (%s, %s), (%s, %s)",
               (doomed_campaign, utc_now() - timedelta(hours=1), kept_campaign, utc_now() - timedelta(hours=1)))
    assert sync(resources).ok

    def in_views() -> dict[str, int]:
        return {
            "dim_campaign": ch_scalar(clickhouse, "SELECT count() FROM analytics.dim_campaign FINAL "
                                                  "WHERE campaign_id = {i:Int32}", i=doomed_campaign),
            "dim_advertiser": ch_scalar(clickhouse, "SELECT count() FROM analytics.dim_advertiser FINAL "
                                                    "WHERE advertiser_id = {i:Int32}", i=doomed_advertiser),
            "mv_campaign_ctr": ch_scalar(clickhouse, "SELECT count() FROM analytics.mv_campaign_ctr "
                                                     "WHERE campaign_id = {i:Int32}", i=doomed_campaign),
            "mv_campaign_efficiency": ch_scalar(clickhouse, "SELECT count() FROM analytics.mv_campaign_efficiency "
                                                            "WHERE campaign_id = {i:Int32}", i=doomed_campaign),
            "mv_advertiser_performance": ch_scalar(
                clickhouse, "SELECT count() FROM analytics.mv_advertiser_performance "
                            "WHERE advertiser_id = {i:Int32}", i=doomed_advertiser),
        }

    assert set(in_views().values()) == {1}
    pg_execute(postgres, "DELETE FROM clicks WHERE campaign_id = %s", (doomed_campaign,))
    pg_execute(postgres, "DELETE FROM impressions WHERE campaign_id = %s", (doomed_campaign,))
    pg_execute(postgres, "DELETE FROM campaign WHERE id = %s", (doomed_campaign,))
    pg_execute(postgres, "DELETE FROM advertiser WHERE id = %s", (doomed_advertiser,))

    report = sync(resources)
    assert report.ok, (report.failed_checks, report.errors)
    assert set(in_views().values()) == {0}, in_views()
    assert_dims_equal_source(postgres, clickhouse)
    dims_checks = [c for c in report.checks if c.check == "ids_match_postgres"]
    assert len(dims_checks) == 2 and all(c.passed for c in dims_checks)

    # a further pass neither resurrects nor re-tombstones them
    again = load_all(postgres, clickhouse)
    assert [a["ids_deleted"] for a in again] == [0, 0]
    assert set(in_views().values()) == {0}
