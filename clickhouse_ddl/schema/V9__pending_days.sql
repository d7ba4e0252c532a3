-- Days found to differ from Postgres (or to hold new rows) and not yet reloaded: a day stays
-- pending until a load of every daily table that began after `since` has been recorded in
-- load_manifest, so a run that fails or is killed leaves its days for the next pass.
CREATE TABLE IF NOT EXISTS analytics.pending_days
(
    day Date,
    since DateTime64(6, 'UTC'),
    reason String
)
ENGINE = ReplacingMergeTree(since)
ORDER BY day;
