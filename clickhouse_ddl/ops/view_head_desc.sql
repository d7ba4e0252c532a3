-- A KPI view's first rows by one column, highest first (the UI's preview of the view), each with
-- the view's row count (adtech_view_rows): one execution of the view for both.
SELECT *, count() OVER () AS adtech_view_rows
FROM analytics.{view:Identifier}
ORDER BY {order_by:Identifier} DESC NULLS LAST
LIMIT {limit:UInt32}
