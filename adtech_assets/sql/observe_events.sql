-- What the UI shows for a source table: rows, highest id, newest change (table from the caller's allow-list).
SELECT count(*), coalesce(max(id), 0), max(created_at)
FROM {table}
