-- Cumulative inserts, updates and deletes per source table, from the statistics collector:
-- one catalog read, no table scan. Counters move when a transaction commits (or aborts), so a
-- tick that sees no movement has nothing to look for.
SELECT relname, n_tup_ins + n_tup_upd + n_tup_del AS writes
FROM pg_stat_user_tables
WHERE schemaname = 'public' AND relname IN ('advertiser', 'campaign', 'impressions', 'clicks')
