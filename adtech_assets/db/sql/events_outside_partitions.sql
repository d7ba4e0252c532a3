-- Rows no partition can hold: no created_at, before the first day, or after the last (future).
SELECT count(*) FILTER (WHERE created_at IS NULL) AS without_created_at,
       count(*) FILTER (WHERE created_at < %(start)s) AS before_first_day,
       count(*) FILTER (WHERE created_at >= %(end)s) AS after_last_day
FROM {table}
WHERE created_at IS NULL OR created_at < %(start)s OR created_at >= %(end)s
