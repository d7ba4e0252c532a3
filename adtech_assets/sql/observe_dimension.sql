-- What the UI shows for a dimension source table (table name from the caller's allow-list).
SELECT count(*), coalesce(max(id), 0), max(greatest(created_at, updated_at))
FROM {table}
