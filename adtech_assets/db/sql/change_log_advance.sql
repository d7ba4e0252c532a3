SELECT end_lsn::text FROM pg_replication_slot_advance(%(slot)s, %(upto)s::pg_lsn)
