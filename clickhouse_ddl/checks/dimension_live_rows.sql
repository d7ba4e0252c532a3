-- Rows after deduplication (tombstoned ids excluded), and the highest live id.
SELECT count() AS rows, max({id_column:Identifier}) AS max_id
FROM analytics.{table:Identifier} FINAL
