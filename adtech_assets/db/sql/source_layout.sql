-- Each event table's columns with their attribute numbers and types, and its replica identity:
-- a column dropped and added back gets a new number (its values are gone, with no row change
-- in the WAL or the statistics), so a change here makes the pass fingerprint the table.
SELECT c.relname, c.relreplident::text,
       string_agg(a.attname || ':' || a.attnum || ':' || a.atttypid, ',' ORDER BY a.attnum)
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace AND n.nspname = 'public'
JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relname = ANY(%(tables)s)
GROUP BY c.relname, c.relreplident
