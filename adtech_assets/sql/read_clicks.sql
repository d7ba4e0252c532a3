-- Clicks created in [window_start, window_end), as analytics.fact_clicks columns.
SELECT id AS click_id, campaign_id, created_at
FROM clicks
WHERE created_at >= current_setting('adtech.window_start')::timestamp
  AND created_at < current_setting('adtech.window_end')::timestamp
