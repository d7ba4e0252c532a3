-- Which of these days hold a source row (index-bound: one range probe of created_at per day).
SELECT day
FROM unnest(%(days)s::date[]) AS day
WHERE EXISTS (SELECT 1 FROM {table} WHERE created_at >= day AND created_at < day + 1)
