-- What the UI shows for a dimension source table: highest id, newest change, and the statistics'
-- live rows (table name from the caller's allow-list). A dimension is small: its scan is cheap.
SELECT coalesce(max(id), 0),
       max(greatest(created_at, updated_at)),
       (SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = %(relation)s::regclass)
FROM {table}
