-- Ground truth for analytics.mv_daily_performance: every UTC day with events, every event counted
-- (campaign_id NULL included); daily_ctr 0 on a day without impressions.
WITH i AS (SELECT created_at::date AS d, count(*) AS n FROM impressions WHERE created_at IS NOT NULL GROUP BY 1),
     k AS (SELECT created_at::date AS d, count(*) AS n FROM clicks WHERE created_at IS NOT NULL GROUP BY 1)
SELECT coalesce(i.d, k.d) AS event_date,
       coalesce(i.n, 0) AS impressions,
       coalesce(k.n, 0) AS clicks,
       CASE WHEN coalesce(i.n, 0) = 0 THEN 0::float8 ELSE coalesce(k.n, 0)::float8 / i.n END AS daily_ctr
FROM i FULL JOIN k ON k.d = i.d
