-- %(count)s advertisers created over the window; about a third updated since.
-- No random(): each draw is a hash of (row, purpose, seed) mapped to [0, 1), so the rows depend
-- on the seed and their position alone, never on evaluation order (see sample_data.py).
WITH p AS (
    SELECT %(window_start)s::timestamp AS ws, %(window_end)s::timestamp AS we,
           hashtextextended('advertiser.created', %(seed)s::bigint) AS s_created,
           hashtextextended('advertiser.updated', %(seed)s::bigint) AS s_updated,
           hashtextextended('advertiser.updated_at', %(seed)s::bigint) AS s_updated_at,
           (SELECT coalesce(max(id), 0) FROM advertiser) AS base
)
INSERT INTO advertiser (name, created_at, updated_at)
SELECT 'Advertiser ' || lpad(r::text, 5, '0'),
       created,
       CASE WHEN (hashint8extended(r, s_updated) & 4294967295)::float8 / 4294967296 < 0.33
            THEN created + (hashint8extended(r, s_updated_at) & 4294967295)::float8 / 4294967296
                           * (we - created)
       END
FROM (
    SELECT p.*, p.base + g AS r,
           ws + (hashint8extended(p.base + g, s_created) & 4294967295)::float8 / 4294967296
                * (we - ws) AS created
    FROM p, generate_series(1, %(count)s) AS g
) AS fresh
