-- What a rollup day holds, in the terms of its facts' fingerprints: rows of the rollup, and per
-- fact table its events and their campaign_id sum (NULL as 0), over [start, end).
SELECT r.event_date AS day,
       count() AS rows,
       sum(r.impressions) AS impressions,
       sum(toInt64(ifNull(r.campaign_id, 0)) * r.impressions) AS impressions_campaign_sum,
       sum(r.clicks) AS clicks,
       sum(toInt64(ifNull(r.campaign_id, 0)) * r.clicks) AS clicks_campaign_sum
FROM analytics.{table:Identifier} AS r
WHERE r.event_date >= {start:Date32} AND r.event_date < {end:Date32}
GROUP BY r.event_date
