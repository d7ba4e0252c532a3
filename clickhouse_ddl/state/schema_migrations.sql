-- What `adtech migrate` recorded: the newest row per schema version and per view.
SELECT kind, version, name, checksum, applied_at
FROM analytics.schema_migrations FINAL
ORDER BY kind, version, name
