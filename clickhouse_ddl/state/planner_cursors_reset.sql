-- Every cursor in load_state starts over (an empty snapshot reads as none): run when a table
-- of the loads' ledger (load_manifest, pending_loads, pending_days) is recreated empty, so that
-- the next pass is a first pass and fingerprints every day in Postgres (what the lost ledger
-- knew, it finds again).
INSERT INTO analytics.load_state (source, snapshot, loaded_at)
SELECT source, '', now64(6, 'UTC')
FROM analytics.load_state FINAL
WHERE snapshot != ''
