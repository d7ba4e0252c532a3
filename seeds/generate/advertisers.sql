-- %(count)s advertisers created over the window; about a third updated since.
INSERT INTO advertiser (name, created_at, updated_at)
SELECT name,
       created,
       CASE WHEN random() < 0.33 THEN created + random() * (%(window_end)s::timestamp - created) END
FROM (
    SELECT 'Advertiser ' || lpad((base.n + g)::text, 5, '0') AS name,
           %(window_start)s::timestamp
               + random() * (%(window_end)s::timestamp - %(window_start)s::timestamp) AS created
    FROM generate_series(1, %(count)s) AS g,
         (SELECT coalesce(max(id), 0) AS n FROM advertiser) AS base
) AS fresh
