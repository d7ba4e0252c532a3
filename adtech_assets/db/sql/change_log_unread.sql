-- Whether the slot holds a change not confirmed yet: decoding stops after the first transaction
-- with a published change (pgoutput sends nothing for transactions on other tables).
SELECT count(*) > 0
FROM pg_logical_slot_peek_binary_changes(%(slot)s, NULL, 1,
                                         'proto_version', '1',
                                         'publication_names', %(publication)s)
