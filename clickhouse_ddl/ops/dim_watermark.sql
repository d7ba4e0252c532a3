-- The newest change time and the highest id already loaded: where the next incremental read starts.
SELECT max(coalesce(updated_at, created_at)) AS changed_at, max({id_column:Identifier}) AS max_id
FROM analytics.{table:Identifier}
WHERE _is_deleted = 0
