-- Pending (table, day) marks; a row of the older pending_days (table_name '') means every table.
SELECT table_name, day, since, reason FROM analytics.pending_loads FINAL
UNION ALL
SELECT '' AS table_name, day, since, reason FROM analytics.pending_days FINAL
