-- Every advertiser: its campaigns, their summed budget, all-time events and overall CTR.
CREATE OR REPLACE VIEW analytics.mv_advertiser_performance AS
SELECT
    a.advertiser_id AS advertiser_id,
    a.name AS advertiser_name,
    count(c.campaign_id) AS campaign_count,
    coalesce(sum(c.budget), toDecimal128(0, 2)) AS total_budget,
    coalesce(sum(e.imps), 0) AS impressions,
    coalesce(sum(e.clks), 0) AS clicks,
    if(coalesce(sum(e.imps), 0) = 0, 0., coalesce(sum(e.clks), 0) / coalesce(sum(e.imps), 0)) AS overall_ctr
FROM (SELECT advertiser_id, name FROM analytics.dim_advertiser FINAL) AS a
LEFT JOIN (SELECT campaign_id, advertiser_id, budget FROM analytics.dim_campaign FINAL) AS c
    ON c.advertiser_id = a.advertiser_id
LEFT JOIN analytics.agg_campaign_totals AS e ON e.campaign_id = c.campaign_id
GROUP BY a.advertiser_id, a.name
SETTINGS join_use_nulls = 1;
