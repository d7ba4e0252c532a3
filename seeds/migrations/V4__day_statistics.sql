-- Statistics on each event table's UTC day (created_at::date), which Postgres keeps for columns
-- but not for an expression on its own. Without them the planner takes every created_at for a day
-- of its own, so a per-day aggregate over a month (the fact checks' fingerprints, the planner's
-- whole-history fingerprint) sorted every row, spilling to disk; with them it knows a month holds
-- about 31 days and aggregates in parallel into a small hash table (31 days at 10M rows: 3.0 s ->
-- 1.7 s). Expression statistics exist since Postgres 14; an older server keeps the old plans.
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        CREATE STATISTICS IF NOT EXISTS impressions_created_day ON ((created_at::date)) FROM impressions;
        CREATE STATISTICS IF NOT EXISTS clicks_created_day ON ((created_at::date)) FROM clicks;
    END IF;
END
$$;
ANALYZE impressions;
ANALYZE clicks;
