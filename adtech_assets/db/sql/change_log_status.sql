-- What the change source needs to know, in one read: whether this server can decode its WAL
-- for this role, and the state of the slot %(slot)s (absent: NULLs). held_bytes is the WAL the
-- slot keeps on the server's disk; unread_bytes the part it has not confirmed yet.
SELECT current_setting('wal_level') AS wal_level,
       pg_is_in_recovery() AS in_recovery,
       (SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user) AS can_replicate,
       current_database() AS database,
       (SELECT count(*) FROM pg_publication_tables
         WHERE pubname = %(publication)s AND schemaname = 'public'
           AND tablename = ANY(%(tables)s)) AS published_tables,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn,
       s.slot_name IS NOT NULL AS exists,
       s.database AS slot_database,
       s.plugin,
       s.active_pid,
       s.wal_status,
       s.confirmed_flush_lsn::text AS confirmed_lsn,
       CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint END AS held_bytes,
       CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint END AS unread_bytes,
       s.safe_wal_size,
       current_setting('max_slot_wal_keep_size') AS max_slot_wal_keep_size
FROM (SELECT 1) AS one
LEFT JOIN pg_replication_slots AS s ON s.slot_name = %(slot)s
