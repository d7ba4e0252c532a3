-- The bounds are literals (PostgresResource.arrow_reader): Postgres plans for the range.
-- Impressions created in [window_start, window_end), as analytics.fact_impressions columns.
SELECT id AS impression_id, campaign_id, created_at
FROM impressions
WHERE created_at >= {window_start}
  AND created_at < {window_end}
