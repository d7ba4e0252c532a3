-- One partition per UTC day of created_at, so a day is replaced atomically (REPLACE PARTITION).
CREATE TABLE IF NOT EXISTS analytics.fact_clicks
(
    click_id Int32,
    campaign_id Nullable(Int32),
    created_at DateTime64(6, 'UTC'),
    event_date Date DEFAULT toDate(created_at),
    event_time DateTime64(6, 'UTC') ALIAS created_at
)
ENGINE = MergeTree
PARTITION BY event_date
ORDER BY (event_date, click_id);
