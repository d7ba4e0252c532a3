-- All-time impressions and clicks per campaign (events without a campaign excluded), shared by
-- the campaign and advertiser KPI views: the one-part table that the rollup step keeps equal to
-- the rollup's sums (agg_campaign_totals), rather than a sum over a part per day.
CREATE OR REPLACE VIEW analytics.campaign_totals AS
SELECT campaign_id, imps, clks
FROM analytics.agg_campaign_totals;
