-- What each load wrote, per (table, day): the content fingerprint of the rows it swapped in, and
-- the set of data parts the day had right after (parts_signature). A day whose parts changed
-- since (a crash mid-swap, a merge, tampering, a dropped part) is fingerprinted again and
-- reloaded when its content no longer equals what was loaded; started_at is when the load
-- began reading, which resolves pending days marked before it.
CREATE TABLE IF NOT EXISTS analytics.load_manifest
(
    table_name String,
    day Date,
    rows UInt64,
    fingerprint String,
    parts_signature UInt64,
    started_at DateTime64(6, 'UTC'),
    written_at DateTime64(6, 'UTC') DEFAULT now64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(written_at)
ORDER BY (table_name, day);
