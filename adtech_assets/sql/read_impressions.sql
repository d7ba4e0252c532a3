-- The bounds are scalar subqueries: evaluated once, not per row as a bare current_setting().
-- Impressions created in [window_start, window_end), as analytics.fact_impressions columns.
SELECT id AS impression_id, campaign_id, created_at
FROM impressions
WHERE created_at >= (SELECT current_setting('adtech.window_start')::timestamp)
  AND created_at < (SELECT current_setting('adtech.window_end')::timestamp)
