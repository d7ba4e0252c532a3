-- What a dimension holds after deduplication (tombstoned ids excluded), in its source's columns.
SELECT * EXCEPT (_version, _is_deleted) FROM analytics.{table:Identifier} FINAL
