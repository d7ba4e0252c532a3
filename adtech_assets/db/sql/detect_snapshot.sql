-- First statement of a REPEATABLE READ detection pass: its snapshot, and the highest id it sees.
SELECT pg_current_snapshot()::text AS snapshot,
       pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin,
       pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax,
       (SELECT coalesce(max(id), 0) FROM {table}) AS max_id
