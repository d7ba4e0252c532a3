-- Campaigns whose row in agg_campaign_totals is missing, extra or not the rollup's sums.
SELECT count()
FROM
(
    SELECT assumeNotNull(campaign_id) AS campaign_id, sum(impressions) AS imps, sum(clicks) AS clks
    FROM analytics.agg_campaign_daily
    WHERE campaign_id IS NOT NULL
    GROUP BY campaign_id
) AS expected
FULL OUTER JOIN analytics.agg_campaign_totals AS stored USING (campaign_id)
WHERE NOT (expected.imps IS NOT NULL AND stored.imps IS NOT NULL
           AND expected.imps = stored.imps AND expected.clks = stored.clks)
SETTINGS join_use_nulls = 1
