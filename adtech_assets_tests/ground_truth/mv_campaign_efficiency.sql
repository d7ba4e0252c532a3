-- Ground truth for analytics.mv_campaign_efficiency: every campaign, its bid, all-time events,
-- cost_per_click = bid * impressions / clicks (NULL without clicks).
SELECT c.id AS campaign_id,
       c.name::text AS campaign_name,
       c.bid AS bid_amount,
       coalesce(i.n, 0) AS impressions,
       coalesce(k.n, 0) AS clicks,
       CASE WHEN coalesce(k.n, 0) = 0 THEN NULL ELSE c.bid::float8 * coalesce(i.n, 0) / k.n END AS cost_per_click
FROM campaign AS c
LEFT JOIN (SELECT campaign_id, count(*) AS n FROM impressions GROUP BY campaign_id) AS i ON i.campaign_id = c.id
LEFT JOIN (SELECT campaign_id, count(*) AS n FROM clicks GROUP BY campaign_id) AS k ON k.campaign_id = c.id
