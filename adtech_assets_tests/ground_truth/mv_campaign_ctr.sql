-- Ground truth for analytics.mv_campaign_ctr, straight from the source tables: every campaign,
-- its advertiser's name (NULL without one), all-time impressions and clicks, ctr 0 without impressions.
SELECT c.id AS campaign_id,
       c.name::text AS campaign_name,
       a.name::text AS advertiser_name,
       coalesce(i.n, 0) AS impressions,
       coalesce(k.n, 0) AS clicks,
       CASE WHEN coalesce(i.n, 0) = 0 THEN 0::float8 ELSE coalesce(k.n, 0)::float8 / i.n END AS ctr
FROM campaign AS c
LEFT JOIN advertiser AS a ON a.id = c.advertiser_id
LEFT JOIN (SELECT campaign_id, count(*) AS n FROM impressions GROUP BY campaign_id) AS i ON i.campaign_id = c.id
LEFT JOIN (SELECT campaign_id, count(*) AS n FROM clicks GROUP BY campaign_id) AS k ON k.campaign_id = c.id
