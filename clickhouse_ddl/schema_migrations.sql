-- Bookkeeping for the versioned ClickHouse schema (`adtech migrate`, resources/clickhouse_schema.py):
-- one row per applied clickhouse_ddl/schema/V<n>__<name>.sql (kind 'schema') and per view file
-- as last applied (kind 'view', version 0), with the checksum of its statements. FINAL keeps the
-- newest row of each (kind, version, name).
CREATE DATABASE IF NOT EXISTS analytics;

CREATE TABLE IF NOT EXISTS analytics.schema_migrations
(
    kind LowCardinality(String),
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(6, 'UTC') DEFAULT now64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY (kind, version, name);
