-- What the UI shows for a dimension source table: highest id, newest change and rows, in one
-- scan (a dimension is small; table name from the caller's allow-list).
SELECT coalesce(max(id), 0), max(greatest(created_at, updated_at)), count(*)
FROM {table}
