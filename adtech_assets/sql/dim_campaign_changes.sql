-- Campaigns changed since the last load (same rules as dim_advertiser_changes.sql).
SELECT id AS campaign_id,
       name,
       bid,
       budget,
       start_date,
       end_date,
       advertiser_id,
       updated_at,
       created_at,
       coalesce(updated_at, created_at, 'epoch') AS _version
FROM campaign
WHERE coalesce(updated_at, created_at, 'epoch') >= current_setting('adtech.watermark')::timestamp
   OR id > current_setting('adtech.max_id')::int
   OR (current_setting('adtech.snapshot') <> ''
       AND NOT pg_visible_in_snapshot(
           ((pg_snapshot_xmax(pg_current_snapshot())::text::bigint >> 32)
               - (xmin::text::bigint > (pg_snapshot_xmax(pg_current_snapshot())::text::bigint & 4294967295))::int
            << 32 | xmin::text::bigint)::text::xid8,
           current_setting('adtech.snapshot')::pg_snapshot))
