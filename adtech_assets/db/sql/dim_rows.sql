-- Every row of a dimension table, in the columns ClickHouse keeps (names from the caller's allow-list).
SELECT {columns} FROM {table}
