-- The creation times a fact table spans, and whether a row has none, read in the fact read's
-- own snapshot (fact_copy.copy_fact_rows): a time bound of the read that no row crosses is left
-- out of it (days.uncrossed_bounds_dropped). Two index probes on created_at.
SELECT min(created_at) AS lowest,
       max(created_at) AS highest,
       EXISTS (SELECT FROM {table} WHERE created_at IS NULL) AS undated
FROM {table}
