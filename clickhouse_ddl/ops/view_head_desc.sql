-- A KPI view's first rows by one column, highest first (the UI's preview of the view).
SELECT * FROM analytics.{view:Identifier}
ORDER BY {order_by:Identifier} DESC NULLS LAST
LIMIT {limit:UInt32}
