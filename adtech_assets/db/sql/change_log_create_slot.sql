-- A logical slot with the pgoutput plugin; it waits for transactions already running to end
-- (its consistent point), bounded by the caller's statement_timeout.
SELECT lsn::text FROM pg_create_logical_replication_slot(%(slot)s, 'pgoutput')
