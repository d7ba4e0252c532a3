-- Every UTC day with events: all impressions and clicks, including those without a campaign.
CREATE OR REPLACE VIEW analytics.mv_daily_performance AS
SELECT
    event_date,
    imps AS impressions,
    clks AS clicks,
    if(imps = 0, 0., clks / imps) AS daily_ctr
FROM
(
    SELECT event_date, sum(impressions) AS imps, sum(clicks) AS clks
    FROM analytics.agg_campaign_daily
    GROUP BY event_date
);
