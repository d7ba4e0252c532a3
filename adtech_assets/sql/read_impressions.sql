-- Impressions created in [window_start, window_end), as analytics.fact_impressions columns.
SELECT id AS impression_id, campaign_id, created_at
FROM impressions
WHERE created_at >= current_setting('adtech.window_start')::timestamp
  AND created_at < current_setting('adtech.window_end')::timestamp
