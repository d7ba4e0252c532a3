-- Impressions and clicks per (UTC day, campaign), rebuilt per day from the facts. The five KPI
-- views read this small table instead of the facts. campaign_id NULL keeps events whose
-- campaign is unknown, so daily totals count every event.
CREATE TABLE IF NOT EXISTS analytics.agg_campaign_daily
(
    event_date Date,
    campaign_id Nullable(Int32),
    impressions UInt64,
    clicks UInt64
)
ENGINE = MergeTree
PARTITION BY event_date
ORDER BY (event_date, ifNull(campaign_id, -1));
