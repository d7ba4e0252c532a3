-- adtech's slots on this server, for `adtech slot` (others of an older name, another database).
SELECT slot_name, database, active_pid, wal_status,
       pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS held_bytes
FROM pg_replication_slots
WHERE slot_type = 'logical' AND slot_name LIKE 'adtech%%'
ORDER BY slot_name
