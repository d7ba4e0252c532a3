-- The bounds are scalar subqueries: evaluated once, not per row as a bare current_setting().
-- Clicks created in [window_start, window_end), as analytics.fact_clicks columns.
SELECT id AS click_id, campaign_id, created_at
FROM clicks
WHERE created_at >= (SELECT current_setting('adtech.window_start')::timestamp)
  AND created_at < (SELECT current_setting('adtech.window_end')::timestamp)
