-- The tables and views in the analytics database: what the schema check compares with the
-- objects the schema files define (a view or table dropped by hand is then pending again).
SELECT name FROM system.tables WHERE database = 'analytics'
