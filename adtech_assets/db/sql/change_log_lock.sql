-- One reader of a slot at a time (the sensor, a schedule, `adtech sync`): held from the peek
-- until the slot is advanced, on the reader's own connection.
SELECT pg_advisory_lock(hashtextextended(%(slot)s, 7246003))
