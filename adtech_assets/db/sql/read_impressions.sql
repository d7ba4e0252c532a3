-- Impressions created in [window_start, window_end) with an id above after_id, as
-- analytics.fact_impressions columns (PostgresResource.fact_batches). The bounds are literals:
-- Postgres plans for them (a whole day: the created_at index; the rows a day gained since its
-- load: the primary key). A bound given as NULL is folded away when the query is planned, not
-- tested on every row (0.1-0.15 s a bound over 10M rows): no id bound for whole days, no time
-- bound that no row crosses (read_extent.sql).
-- Every column has one wire width, so that numpy decodes a block of binary COPY rows at once
-- (resources/fact_copy.py): id as int4, campaign_id as int8 with NULL sent as 2^32 (no int4 is),
-- created_at as timestamp.
SELECT id::int4 AS impression_id,
       coalesce(campaign_id::int8, 4294967296) AS campaign_id,
       created_at::timestamp AS created_at
FROM impressions
WHERE ({window_start} IS NULL OR created_at >= {window_start})
  AND ({window_end} IS NULL OR created_at < {window_end})
  AND ({after_id} IS NULL OR id > {after_id})
