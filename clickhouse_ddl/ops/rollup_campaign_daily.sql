-- Rebuild the rollup rows of [start, end) from the facts into a staging copy of the rollup.
INSERT INTO analytics.{staging:Identifier} (event_date, campaign_id, impressions, clicks)
SELECT event_date, campaign_id, sum(imps), sum(clks)
FROM
(
    SELECT event_date, campaign_id, count() AS imps, toUInt64(0) AS clks
    FROM analytics.fact_impressions
    WHERE event_date >= {start:Date} AND event_date < {end:Date}
    GROUP BY event_date, campaign_id
    UNION ALL
    SELECT event_date, campaign_id, toUInt64(0), count()
    FROM analytics.fact_clicks
    WHERE event_date >= {start:Date} AND event_date < {end:Date}
    GROUP BY event_date, campaign_id
)
GROUP BY event_date, campaign_id
