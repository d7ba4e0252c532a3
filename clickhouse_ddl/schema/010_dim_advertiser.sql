-- One row per advertiser version; FINAL keeps the newest and hides deleted ids.
-- _version is coalesce(updated_at, created_at, epoch); tombstones carry _is_deleted = 1.
CREATE TABLE IF NOT EXISTS analytics.dim_advertiser
(
    advertiser_id Int32,
    name String,
    updated_at Nullable(DateTime64(6, 'UTC')),
    created_at Nullable(DateTime64(6, 'UTC')),
    _version DateTime64(6, 'UTC'),
    _is_deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_version, _is_deleted)
ORDER BY advertiser_id;
