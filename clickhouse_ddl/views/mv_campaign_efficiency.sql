-- Every campaign: bid, all-time events, and cost per click = bid * impressions / clicks (NULL without clicks).
CREATE OR REPLACE VIEW analytics.mv_campaign_efficiency AS
SELECT
    c.campaign_id AS campaign_id,
    c.name AS campaign_name,
    c.bid AS bid_amount,
    coalesce(e.imps, 0) AS impressions,
    coalesce(e.clks, 0) AS clicks,
    if(coalesce(e.clks, 0) = 0, NULL, toFloat64(c.bid) * coalesce(e.imps, 0) / coalesce(e.clks, 0)) AS cost_per_click
FROM (SELECT campaign_id, name, bid FROM analytics.dim_campaign FINAL) AS c
LEFT JOIN analytics.agg_campaign_totals AS e ON c.campaign_id = e.campaign_id
SETTINGS join_use_nulls = 1;
