-- Days of rows with id > %(low_id)s written by transactions the previous snapshot could not see
-- (new rows, and rows of transactions that were still open then: committed late, lower ids),
-- and how many: the caller weighs them against the insert counter (an explicit id below the
-- mark is not found here). NULL: rows without created_at.
-- A row's xmin is widened to the 64-bit xid8 using the current epoch (wraparound-safe).
SELECT created_at::date AS day, count(*)
FROM {table}
WHERE id > %(low_id)s
  AND NOT pg_visible_in_snapshot(
      ((pg_snapshot_xmax(pg_current_snapshot())::text::bigint >> 32)
          - (xmin::text::bigint > (pg_snapshot_xmax(pg_current_snapshot())::text::bigint & 4294967295))::int
       << 32 | xmin::text::bigint)::text::xid8,
      %(previous_snapshot)s::pg_snapshot)
GROUP BY 1
