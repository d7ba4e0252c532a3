-- The bounds are literals (PostgresResource.arrow_reader): Postgres plans for the range.
-- Clicks created in [window_start, window_end), as analytics.fact_clicks columns.
SELECT id AS click_id, campaign_id, created_at
FROM clicks
WHERE created_at >= {window_start}
  AND created_at < {window_end}
