-- The creation times a fact table spans, and whether a row has none, read in the fact read's
-- own snapshot (fact_copy.copy_fact_rows): a time bound of the read that no row crosses is left
-- out of it (days.uncrossed_bounds_dropped). Three probes of an index that created_at leads;
-- without such an index they would be scans of the table, so none is made (NULLs: the read
-- keeps its bounds). A subquery in a branch not taken is never run; the catalog is read once
-- (MATERIALIZED: inlined, the lookup ran once per branch).
WITH created_at_indexed AS MATERIALIZED (
    SELECT EXISTS (
        SELECT FROM pg_index AS i
        JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = '{table}'::regclass AND a.attname = 'created_at' AND i.indisvalid
    ) AS yes
)
SELECT CASE WHEN yes THEN (SELECT min(created_at) FROM {table}) END AS lowest,
       CASE WHEN yes THEN (SELECT max(created_at) FROM {table}) END AS highest,
       CASE WHEN yes THEN EXISTS (SELECT FROM {table} WHERE created_at IS NULL) END AS undated
FROM created_at_indexed
