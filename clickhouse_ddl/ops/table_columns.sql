-- A table's or view's columns in order, for the UI's column schema (dagster/column_schema).
SELECT name, type, comment
FROM system.columns
WHERE database = 'analytics' AND table = {table:String}
ORDER BY position
