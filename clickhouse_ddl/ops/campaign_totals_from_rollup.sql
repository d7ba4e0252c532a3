-- agg_campaign_totals rebuilt from the rollup into a staging copy of it.
INSERT INTO analytics.{staging:Identifier} (campaign_id, imps, clks)
SELECT assumeNotNull(campaign_id), sum(impressions), sum(clicks)
FROM analytics.agg_campaign_daily
WHERE campaign_id IS NOT NULL
GROUP BY campaign_id
