-- The first message of the oldest transaction the slot holds unconfirmed (its BEGIN, which
-- carries the commit time): whether anything is unread (the sensor's idle tick), and how far
-- behind the pipeline is, in time. Decoding stops after the first transaction with a
-- published change (pgoutput sends nothing for transactions on other tables). No row: nothing.
SELECT data
FROM pg_logical_slot_peek_binary_changes(%(slot)s, NULL, 1,
                                         'proto_version', '1',
                                         'publication_names', %(publication)s)
LIMIT 1
