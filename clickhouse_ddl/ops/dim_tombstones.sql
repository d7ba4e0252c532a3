-- Mark ids deleted at the source: a version from this load with _is_deleted = 1, which FINAL hides.
INSERT INTO analytics.{table:Identifier}
SELECT * REPLACE ({version:UInt64} AS _version, 1 AS _is_deleted)
FROM analytics.{table:Identifier} FINAL
WHERE {id_column:Identifier} IN {ids:Array(Int32)}
