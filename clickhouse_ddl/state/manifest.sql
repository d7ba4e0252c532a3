SELECT table_name, day, rows, fingerprint, parts_signature, started_at
FROM analytics.load_manifest FINAL
