-- Several tables' or views' columns in order, for the UI's column schemas (dagster/column_schema).
SELECT table, name, type, comment
FROM system.columns
WHERE database = 'analytics' AND table IN {tables:Array(String)}
ORDER BY table, position
