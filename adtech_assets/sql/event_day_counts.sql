-- Rows per UTC day in [%(start)s, %(end)s) among ids up to %(max_id)s (the highest id loaded, so
-- rows inserted after the load do not count as a mismatch; late commits of lower ids still do).
SELECT created_at::date AS day, count(*) AS rows
FROM {table}
WHERE created_at >= %(start)s AND created_at < %(end)s AND id <= %(max_id)s
GROUP BY 1
