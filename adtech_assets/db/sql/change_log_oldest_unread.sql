-- The first message of the oldest transaction the slot holds unconfirmed (its BEGIN, which
-- carries the commit time): how far behind the pipeline is, in time. No row: nothing unread.
SELECT data
FROM pg_logical_slot_peek_binary_changes(%(slot)s, NULL, 1,
                                         'proto_version', '1',
                                         'publication_names', %(publication)s)
LIMIT 1
