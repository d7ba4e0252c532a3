-- The decoded changes of transactions committed before %(upto)s, without consuming them: the
-- slot moves only when the caller advances it, after it marked what they changed.
SELECT data
FROM pg_logical_slot_peek_binary_changes(%(slot)s, %(upto)s::pg_lsn, NULL,
                                         'proto_version', '1',
                                         'publication_names', %(publication)s)
