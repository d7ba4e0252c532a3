-- %(count)s impressions over [window_start, window_end), inserted in time order as a live
-- system would, with an ad platform's shape:
--   * a daily rhythm: the window is cut into UTC hours, each weighted by its hour of day (busy
--     afternoons and evenings, quiet nights), weekday (weekends 20%% lower) and some noise per
--     day and per hour; each hour gets its share of the rows (exact, by cumulative rounding),
--     spread over the hour in order;
--   * skewed volumes: campaigns are ranked by a trait of their own row (id, created_at), so the
--     ranking holds across batches, and rank x draws volume ~ (x + 1)^-0.8 (Zipf-like, drawn by
--     inverting its continuous CDF: no search per row).
-- No random(): each draw is a hash of (row position, purpose, seed) mapped to [0, 1), so the
-- rows depend on the seed and their position alone, never on evaluation order. Time order of
-- the ids: the slots leave their window functions sorted by time and each slot's rows follow
-- k (a sort of all rows would cost more than the rest); test_sample_data checks it.
WITH p AS (
    SELECT %(window_start)s::timestamp AS ws, %(window_end)s::timestamp AS we,
           %(count)s::bigint AS total,
           hashtextextended('impressions.campaign', %(seed)s::bigint) AS s_campaign,
           hashtextextended('impressions.time', %(seed)s::bigint) AS s_time,
           hashtextextended('impressions.hour', %(seed)s::bigint) AS s_hour,
           hashtextextended('impressions.day', %(seed)s::bigint) AS s_day,
           (SELECT coalesce(max(id), 0) FROM impressions) AS base
),
camp AS (
    SELECT array_agg(id ORDER BY hashint8extended(id, hashint8extended(
               coalesce(extract(epoch FROM created_at) * 1000000, 0)::bigint, 0)), id) AS ids,
           count(*)::int AS n,
           power(count(*) + 1, 0.2::float8) - 1 AS span   -- (n + 1)^(1 - 0.8) - 1: see the pick below
    FROM campaign
),
hours AS (
    SELECT greatest(h, ws) AS hs,
           least(h + interval '1 hour', we) AS he,
           extract(epoch FROM least(h + interval '1 hour', we) - greatest(h, ws))::float8
             * ('{0.45,0.32,0.24,0.20,0.20,0.25,0.38,0.55,0.72,0.84,0.90,0.94,'
                 '0.98,0.96,0.94,0.94,0.96,1.00,1.05,1.10,1.08,0.95,0.78,0.60}'::float8[])
                   [1 + extract(hour FROM h)::int]
             * CASE WHEN extract(isodow FROM h) >= 6 THEN 0.8 ELSE 1 END
             * (0.9 + 0.2 * (hashint8extended(floor(extract(epoch FROM h) / 86400)::bigint, s_day)
                              & 4294967295)::float8 / 4294967296)
             * (0.9 + 0.2 * (hashint8extended(floor(extract(epoch FROM h) / 3600)::bigint, s_hour)
                             & 4294967295)::float8 / 4294967296) AS w
    FROM p, generate_series(date_trunc('hour', p.ws), p.we - interval '1 microsecond', interval '1 hour') AS h
    WHERE p.ws < p.we
),
slots AS (   -- rows (before, upto] of the batch fall in [hs, he)
    SELECT hs, he, extract(epoch FROM he - hs)::float8 * 1000000 AS len_us, before, upto - before AS n
    FROM (
        SELECT hs, he, upto, coalesce(lag(upto) OVER (ORDER BY hs), 0) AS before
        FROM (
            SELECT hs, he,
                   CASE WHEN row_number() OVER (ORDER BY hs DESC) = 1 THEN total
                        ELSE floor(total * sum(w) OVER (ORDER BY hs ROWS UNBOUNDED PRECEDING)
                                   / sum(w) OVER ())::bigint
                   END AS upto
            FROM hours, p
        ) AS cumulative
    ) AS bounds
)
INSERT INTO impressions (campaign_id, created_at)
SELECT camp.ids[1 + least(camp.n - 1, floor(power(
           1 + (hashint8extended(p.base + slots.before + k, s_campaign) & 4294967295)::float8
               / 4294967296 * camp.span, 5::float8) - 1)::int)],
       hs + least(len_us - 1, floor((k - 1 + (hashint8extended(p.base + slots.before + k, s_time)
                                              & 4294967295)::float8 / 4294967296)
                                    / slots.n * len_us)) * interval '1 microsecond'
FROM slots, camp, p, generate_series(1, slots.n) AS k
WHERE camp.n > 0
