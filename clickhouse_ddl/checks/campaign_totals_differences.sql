-- Campaigns whose row in agg_campaign_totals is missing, extra or not the rollup's sums.
-- The sums are those of ops/campaign_totals_from_rollup.sql: events without a campaign are
-- left out. The NULLs are filtered in the inner query, before assumeNotNull: an alias
-- `assumeNotNull(campaign_id) AS campaign_id` in the same SELECT as the filter would shadow the
-- column there, keep the NULL rows as a campaign 0, and make every pass rebuild the totals.
SELECT count()
FROM
(
    SELECT assumeNotNull(campaign_id) AS campaign_id, imps, clks
    FROM
    (
        SELECT campaign_id, sum(impressions) AS imps, sum(clicks) AS clks
        FROM analytics.agg_campaign_daily
        WHERE campaign_id IS NOT NULL
        GROUP BY campaign_id
    )
) AS expected
FULL OUTER JOIN analytics.agg_campaign_totals AS stored USING (campaign_id)
WHERE NOT (expected.imps IS NOT NULL AND stored.imps IS NOT NULL
           AND expected.imps = stored.imps AND expected.clks = stored.clks)
SETTINGS join_use_nulls = 1
