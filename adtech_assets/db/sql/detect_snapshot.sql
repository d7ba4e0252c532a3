-- First statement of a REPEATABLE READ detection pass: its snapshot, and the id sequence's high
-- water (ids drawn by default come from it; an explicit id above it does not hide the rows
-- drawn later, as max(id) would). The highest id where the table has no sequence, or the role
-- may not read it (deploy/postgres/reader_role.sql grants it).
SELECT pg_current_snapshot()::text AS snapshot,
       pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin,
       pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax,
       coalesce(CASE WHEN has_sequence_privilege(pg_get_serial_sequence(%(relation)s, 'id'), 'SELECT, USAGE')
                     THEN coalesce(pg_sequence_last_value(pg_get_serial_sequence(%(relation)s, 'id')), 0) END,
                (SELECT max(id) FROM {table}), 0) AS max_id
