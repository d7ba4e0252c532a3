-- Days in [start, end) on which the rollup's totals differ from the facts' row counts.
SELECT event_date AS day,
       sum(rollup_impressions) AS rollup_impressions, sum(fact_impressions) AS fact_impressions,
       sum(rollup_clicks) AS rollup_clicks, sum(fact_clicks) AS fact_clicks
FROM
(
    SELECT event_date, sum(impressions) AS rollup_impressions, toUInt64(0) AS fact_impressions,
           sum(clicks) AS rollup_clicks, toUInt64(0) AS fact_clicks
    FROM analytics.agg_campaign_daily
    WHERE event_date >= {start:Date} AND event_date < {end:Date}
    GROUP BY event_date
    UNION ALL
    SELECT event_date, 0, count(), 0, 0 FROM analytics.fact_impressions
    WHERE event_date >= {start:Date} AND event_date < {end:Date}
    GROUP BY event_date
    UNION ALL
    SELECT event_date, 0, 0, 0, count() FROM analytics.fact_clicks
    WHERE event_date >= {start:Date} AND event_date < {end:Date}
    GROUP BY event_date
)
GROUP BY event_date
HAVING rollup_impressions != fact_impressions OR rollup_clicks != fact_clicks
ORDER BY event_date
