-- The oldest transaction on the server holding an xid: a new slot waits for it (and every
-- other one running when it was asked for) to end before it can start.
SELECT pid, datname, xact_start
FROM pg_stat_activity
WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
ORDER BY xact_start
LIMIT 1
