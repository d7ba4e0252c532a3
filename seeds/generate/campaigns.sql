-- %(count)s campaigns spread over the existing advertisers, with realistic bids and budgets;
-- about a quarter updated since creation. Draws are hashes of (row, purpose, seed), as in
-- advertisers.sql.
WITH p AS (
    SELECT %(window_start)s::timestamp AS ws, %(window_end)s::timestamp AS we,
           hashtextextended('campaign.advertiser', %(seed)s::bigint) AS s_adv,
           hashtextextended('campaign.created', %(seed)s::bigint) AS s_created,
           hashtextextended('campaign.bid', %(seed)s::bigint) AS s_bid,
           hashtextextended('campaign.budget', %(seed)s::bigint) AS s_budget,
           hashtextextended('campaign.flight', %(seed)s::bigint) AS s_flight,
           hashtextextended('campaign.updated', %(seed)s::bigint) AS s_updated,
           hashtextextended('campaign.updated_at', %(seed)s::bigint) AS s_updated_at,
           (SELECT coalesce(max(id), 0) FROM campaign) AS base,
           (SELECT array_agg(id ORDER BY id) FROM advertiser) AS adv
),
fresh AS (
    SELECT p.*, p.base + g AS r,
           ws + (hashint8extended(p.base + g, s_created) & 4294967295)::float8 / 4294967296
                * (we - ws) AS created
    FROM p, generate_series(1, %(count)s) AS g
    WHERE cardinality(p.adv) > 0
)
INSERT INTO campaign (name, bid, budget, start_date, end_date, advertiser_id, created_at, updated_at)
SELECT 'Campaign ' || lpad(r::text, 6, '0'),
       round((0.05 + (hashint8extended(r, s_bid) & 4294967295)::float8 / 4294967296 * 4.95)::numeric, 2),
       round((500 + (hashint8extended(r, s_budget) & 4294967295)::float8 / 4294967296 * 99500)::numeric, 2),
       created::date,
       created::date + (7 + floor((hashint8extended(r, s_flight) & 4294967295)::float8 / 4294967296 * 84))::int,
       adv[1 + floor((hashint8extended(r, s_adv) & 4294967295)::float8 / 4294967296 * cardinality(adv))::int],
       created,
       CASE WHEN (hashint8extended(r, s_updated) & 4294967295)::float8 / 4294967296 < 0.25
            THEN created + (hashint8extended(r, s_updated_at) & 4294967295)::float8 / 4294967296
                           * (we - created)
       END
FROM fresh
