-- Every (UTC day, campaign) with events.
CREATE OR REPLACE VIEW analytics.mv_campaign_daily_performance AS
SELECT
    e.event_date AS event_date,
    e.campaign_id AS campaign_id,
    c.name AS campaign_name,
    e.imps AS impressions,
    e.clks AS clicks,
    if(e.imps = 0, 0., e.clks / e.imps) AS daily_ctr
FROM
(
    SELECT r.event_date AS event_date, assumeNotNull(r.campaign_id) AS campaign_id,
           sum(r.impressions) AS imps, sum(r.clicks) AS clks
    FROM analytics.agg_campaign_daily AS r
    WHERE r.campaign_id IS NOT NULL
    GROUP BY r.event_date, r.campaign_id
) AS e
LEFT JOIN (SELECT campaign_id, name FROM analytics.dim_campaign FINAL) AS c
    ON e.campaign_id = c.campaign_id
SETTINGS join_use_nulls = 1;
