-- Every campaign, with its advertiser and all-time impressions, clicks and CTR (0 without impressions).
CREATE OR REPLACE VIEW analytics.mv_campaign_ctr AS
SELECT
    c.campaign_id AS campaign_id,
    c.name AS campaign_name,
    a.name AS advertiser_name,
    coalesce(e.imps, 0) AS impressions,
    coalesce(e.clks, 0) AS clicks,
    if(coalesce(e.imps, 0) = 0, 0., coalesce(e.clks, 0) / coalesce(e.imps, 0)) AS ctr
FROM (SELECT campaign_id, name, advertiser_id FROM analytics.dim_campaign FINAL) AS c
LEFT JOIN (SELECT advertiser_id, name FROM analytics.dim_advertiser FINAL) AS a
    ON c.advertiser_id = a.advertiser_id
LEFT JOIN analytics.agg_campaign_totals AS e ON c.campaign_id = e.campaign_id
SETTINGS join_use_nulls = 1;
