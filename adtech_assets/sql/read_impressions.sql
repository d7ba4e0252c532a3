-- Impressions created in [window_start, window_end) with an id above after_id (below every id
-- for a whole day), as analytics.fact_impressions columns (PostgresResource.fact_batches). The
-- bounds are literals: Postgres plans for them (a whole day: the created_at index; the rows a
-- day gained since its load: the primary key).
-- Every column has one wire width, so that numpy decodes a block of binary COPY rows at once
-- (resources/fact_copy.py): id as int4, campaign_id as int8 with NULL sent as 2^32 (no int4 is),
-- created_at as timestamp.
SELECT id::int4 AS impression_id,
       coalesce(campaign_id::int8, 4294967296) AS campaign_id,
       created_at::timestamp AS created_at
FROM impressions
WHERE created_at >= {window_start}
  AND created_at < {window_end}
  AND id > {after_id}
