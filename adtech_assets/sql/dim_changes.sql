-- Rows of a dimension table changed since the last load: a change time at or past the newest
-- one loaded, an id past the highest loaded (rows without timestamps), or written by a transaction
-- that the last load's snapshot could not see (a long transaction that committed late). The
-- row's 32-bit xmin is widened to xid8 with the current epoch (wraparound-safe).
SELECT {columns}
FROM {table}
WHERE coalesce(updated_at, created_at, 'epoch') >= current_setting('adtech.watermark')::timestamp
   OR id > current_setting('adtech.max_id')::int
   OR (current_setting('adtech.snapshot') <> ''
       AND NOT pg_visible_in_snapshot(
           ((pg_snapshot_xmax(pg_current_snapshot())::text::bigint >> 32)
               - (xmin::text::bigint > (pg_snapshot_xmax(pg_current_snapshot())::text::bigint & 4294967295))::int
            << 32 | xmin::text::bigint)::text::xid8,
           current_setting('adtech.snapshot')::pg_snapshot))
