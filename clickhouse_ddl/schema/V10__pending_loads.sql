-- What a pass found to differ, per daily table and day, not yet reloaded: (table, day) stays
-- pending until a load of that table that began after `since` has been recorded in
-- load_manifest, so a run that fails or is killed leaves it for the next pass. Per table, so a
-- pass reloads only what differs (after a backfill of fact_impressions alone, its rollup and
-- fact_clicks, not the impressions again). Rows of the older pending_days (V9) still count, for
-- every daily table.
CREATE TABLE IF NOT EXISTS analytics.pending_loads
(
    table_name String,
    day Date,
    since DateTime64(6, 'UTC'),
    reason String
)
ENGINE = ReplacingMergeTree(since)
ORDER BY (table_name, day);
