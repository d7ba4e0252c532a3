-- A source table's exact row count: a scan (table from the caller's allow-list).
SELECT count(*) FROM {table}
