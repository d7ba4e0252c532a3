-- The days a fact table holds these ids on: the old day of a change the source sent as its key
-- only (a table without REPLICA IDENTITY FULL). A scan of the id column.
SELECT DISTINCT event_date AS day
FROM analytics.{table:Identifier}
WHERE has({ids:Array(Int64)}, toInt64({id_column:Identifier}))
