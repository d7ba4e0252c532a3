-- Cumulative inserts, updates and deletes per source table from the statistics collector, and the
-- table's file node (TRUNCATE and rewrites change it): one catalog read, no table scan. Counters
-- move when a transaction commits (or aborts); they reset on a crash or pg_stat_reset().
SELECT relname, n_tup_ins, n_tup_upd, n_tup_del, pg_relation_filenode(relid)
FROM pg_stat_user_tables
WHERE schemaname = 'public' AND relname IN ('advertiser', 'campaign', 'impressions', 'clicks')
