-- Content fingerprint per day of a fact table (or its staging copy) over [start, end): the same
-- columns and integer semantics as adtech_assets/db/sql/day_fingerprints.sql on the Postgres side.
SELECT event_date AS day,
       count() AS rows,
       sum(toInt64({id_column:Identifier})) AS id_sum,
       sum(toInt64(ifNull(campaign_id, 0))) AS campaign_sum,
       toString(sum(toInt128(us_of_day))) AS time_sum,  -- exact past 10^8 rows a day; text through Arrow
       sum((row_hash * row_hash) % 2147483629) AS mix_sum
FROM
(
    SELECT event_date, {id_column:Identifier}, campaign_id, us_of_day,
           (toInt64({id_column:Identifier}) * 1000003 + toInt64(ifNull(campaign_id, 0)) * 7919 + us_of_day) % 2147483629 AS row_hash
    FROM
    (
        SELECT event_date, {id_column:Identifier}, campaign_id,
               toInt64(positiveModulo(toUnixTimestamp64Micro(created_at), 86400000000)) AS us_of_day
        FROM analytics.{table:Identifier}
        WHERE event_date >= {start:Date32} AND event_date < {end:Date32}
    )
)
GROUP BY event_date
-- Aggregated in the order of the sorting key (event_date first), not through a hash table: a
-- just-loaded staging table of 10M rows in 0.20 s against 0.24 s; a day of a merged table, 1-3 ms
-- slower.
SETTINGS optimize_aggregation_in_order = 1
