-- One row per advertiser version; FINAL keeps the newest and hides deleted ids.
-- _version is the Postgres snapshot horizon (xid8 xmax) of the load that read the row: a later
-- read wins even when updated_at moves backwards or two loads overlap. Tombstones carry
-- _is_deleted = 1.
CREATE TABLE IF NOT EXISTS analytics.dim_advertiser
(
    advertiser_id Int32,
    name String,
    updated_at Nullable(DateTime64(6, 'UTC')),
    created_at Nullable(DateTime64(6, 'UTC')),
    _version UInt64,
    _is_deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(_version, _is_deleted)
ORDER BY advertiser_id;
