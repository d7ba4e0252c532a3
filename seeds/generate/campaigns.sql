-- %(count)s campaigns spread over the existing advertisers, with realistic bids and budgets;
-- about a quarter updated since creation.
INSERT INTO campaign (name, bid, budget, start_date, end_date, advertiser_id, created_at, updated_at)
SELECT name,
       round((0.05 + random() * 4.95)::numeric, 2),
       round((500 + random() * 99500)::numeric, 2),
       created::date,
       created::date + (7 + floor(random() * 84))::int,
       advertiser_id,
       created,
       CASE WHEN random() < 0.25 THEN created + random() * (%(window_end)s::timestamp - created) END
FROM (
    SELECT 'Campaign ' || lpad((base.n + g)::text, 6, '0') AS name,
           adv.ids[1 + floor(random() * cardinality(adv.ids))::int] AS advertiser_id,
           %(window_start)s::timestamp
               + random() * (%(window_end)s::timestamp - %(window_start)s::timestamp) AS created
    FROM generate_series(1, %(count)s) AS g,
         (SELECT array_agg(id ORDER BY id) AS ids FROM advertiser) AS adv,
         (SELECT coalesce(max(id), 0) AS n FROM campaign) AS base
    WHERE cardinality(adv.ids) > 0
) AS fresh
