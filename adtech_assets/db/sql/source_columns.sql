-- The columns of the source tables as the connection resolves their names (first schema of the
-- search path); a table the role cannot see, or that is gone, has no rows.
SELECT c.table_name::text, c.column_name::text
FROM information_schema.columns AS c
WHERE c.table_schema = current_schema() AND c.table_name = ANY(%(tables)s)
ORDER BY c.table_name, c.ordinal_position
