-- What the UI shows for a source table: highest id, newest change, and the statistics' live rows
-- (table from the caller's allow-list). Index reads and a catalog read: no scan of the table.
SELECT coalesce((SELECT max(id) FROM {table}), 0),
       (SELECT max(created_at) FROM {table}),
       (SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = %(relation)s::regclass)
