-- The newest version and the highest id already loaded: where the next incremental read starts.
SELECT max(_version) AS version, max({id_column:Identifier}) AS max_id
FROM analytics.{table:Identifier}
WHERE _is_deleted = 0
