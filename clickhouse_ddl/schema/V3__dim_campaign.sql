-- One row per campaign version; FINAL keeps the newest and hides deleted ids (see dim_advertiser
-- for _version).
CREATE TABLE IF NOT EXISTS analytics.dim_campaign
(
    campaign_id Int32,
    name String,
    bid Decimal(10, 2),
    budget Decimal(10, 2),
    start_date Nullable(Date32),
    end_date Nullable(Date32),
    advertiser_id Nullable(Int32),
    updated_at Nullable(DateTime64(6, 'UTC')),
    created_at Nullable(DateTime64(6, 'UTC')),
    _version UInt64,
    _is_deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_version, _is_deleted)
ORDER BY campaign_id;
