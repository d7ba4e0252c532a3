-- Staging tables left by a process that died mid-load, older than {age_seconds}.
SELECT name
FROM system.tables
WHERE database = 'analytics' AND startsWith(name, '_staging_')
  AND metadata_modification_time <= now() - toIntervalSecond({age_seconds:UInt32})
