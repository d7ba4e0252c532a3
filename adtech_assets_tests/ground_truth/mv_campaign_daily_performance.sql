-- Ground truth for analytics.mv_campaign_daily_performance: every (UTC day, campaign) with events.
WITH i AS (SELECT created_at::date AS d, campaign_id, count(*) AS n FROM impressions
           WHERE created_at IS NOT NULL AND campaign_id IS NOT NULL GROUP BY 1, 2),
     k AS (SELECT created_at::date AS d, campaign_id, count(*) AS n FROM clicks
           WHERE created_at IS NOT NULL AND campaign_id IS NOT NULL GROUP BY 1, 2),
     e AS (SELECT coalesce(i.d, k.d) AS d, coalesce(i.campaign_id, k.campaign_id) AS campaign_id,
                  coalesce(i.n, 0) AS imps, coalesce(k.n, 0) AS clks
           FROM i FULL JOIN k ON k.d = i.d AND k.campaign_id = i.campaign_id)
SELECT e.d AS event_date,
       e.campaign_id,
       c.name::text AS campaign_name,
       e.imps AS impressions,
       e.clks AS clicks,
       CASE WHEN e.imps = 0 THEN 0::float8 ELSE e.clks::float8 / e.imps END AS daily_ctr
FROM e LEFT JOIN campaign AS c ON c.id = e.campaign_id
