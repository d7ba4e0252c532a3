SELECT table_name, day, rows, fingerprint, parts_signature, started_at, written_at
FROM analytics.load_manifest FINAL
