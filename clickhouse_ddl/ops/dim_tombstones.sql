-- Mark ids deleted at the source: a newer version with _is_deleted = 1, which FINAL hides.
INSERT INTO analytics.{table:Identifier}
SELECT * REPLACE (greatest(_version + toIntervalMicrosecond(1), now64(6, 'UTC')) AS _version, 1 AS _is_deleted)
FROM analytics.{table:Identifier} FINAL
WHERE {id_column:Identifier} IN {ids:Array(Int32)}
