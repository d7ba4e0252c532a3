-- A KPI view's first rows by one column, lowest first (the UI's preview of the view).
SELECT * FROM analytics.{view:Identifier}
ORDER BY {order_by:Identifier} ASC NULLS LAST
LIMIT {limit:UInt32}
