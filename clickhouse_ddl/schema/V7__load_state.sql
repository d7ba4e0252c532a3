-- Per loaded source table: the Postgres snapshot taken before its last read. Rows written by
-- transactions invisible to that snapshot are what the next incremental read must pick up.
CREATE TABLE IF NOT EXISTS analytics.load_state
(
    source String,
    snapshot String,
    loaded_at DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(loaded_at)
ORDER BY source;
