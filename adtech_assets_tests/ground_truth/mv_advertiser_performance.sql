-- Ground truth for analytics.mv_advertiser_performance: every advertiser (zeros without campaigns),
-- its campaign count, summed budget, all-time events of its campaigns and overall ctr.
SELECT a.id AS advertiser_id,
       a.name::text AS advertiser_name,
       count(c.id) AS campaign_count,
       coalesce(sum(c.budget), 0) AS total_budget,
       coalesce(sum(i.n), 0)::bigint AS impressions,
       coalesce(sum(k.n), 0)::bigint AS clicks,
       CASE WHEN coalesce(sum(i.n), 0) = 0 THEN 0::float8
            ELSE coalesce(sum(k.n), 0)::float8 / sum(i.n)::float8 END AS overall_ctr
FROM advertiser AS a
LEFT JOIN campaign AS c ON c.advertiser_id = a.id
LEFT JOIN (SELECT campaign_id, count(*) AS n FROM impressions GROUP BY campaign_id) AS i ON i.campaign_id = c.id
LEFT JOIN (SELECT campaign_id, count(*) AS n FROM clicks GROUP BY campaign_id) AS k ON k.campaign_id = c.id
GROUP BY a.id, a.name
