-- Every UTC day that holds rows (first pass only).
SELECT DISTINCT created_at::date FROM {table} WHERE created_at IS NOT NULL
