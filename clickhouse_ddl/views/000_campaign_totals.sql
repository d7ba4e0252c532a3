-- All-time impressions and clicks per campaign (events without a campaign excluded), shared by
-- the campaign and advertiser KPI views. Columns are qualified (r.) so that the filter reads
-- the stored campaign_id, not the non-null alias.
CREATE OR REPLACE VIEW analytics.campaign_totals AS
SELECT assumeNotNull(r.campaign_id) AS campaign_id, sum(r.impressions) AS imps, sum(r.clicks) AS clks
FROM analytics.agg_campaign_daily AS r
WHERE r.campaign_id IS NOT NULL
GROUP BY r.campaign_id;
