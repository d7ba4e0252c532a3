-- Clicks on a sample of the impressions with id > %(after_id)s, a second to 15 minutes after
-- them (log-uniform, median ~30 s), never past the window's end.
--   * Each campaign has its own CTR: %(ctr)s times a factor in [0.5, 2] (triangular in log2,
--     mode 1) that is a trait of the campaign's row (id, created_at), so it holds across
--     batches. The factors are scaled so that their mean over these impressions is 1: the
--     batch's CTR is %(ctr)s up to sampling noise, whatever the mix of campaigns.
--   * No random(): an impression is clicked when a hash of (its id, purpose, seed) mapped to
--     [0, 1) falls below its campaign's CTR; the draw is independent of the one that picked the
--     impression's campaign (another purpose), and of evaluation order.
WITH p AS (
    SELECT %(ctr)s::float8 AS ctr, %(after_id)s::bigint AS after_id,
           %(window_end)s::timestamp - interval '1 microsecond' AS last,
           hashtextextended('clicks.click', %(seed)s::bigint) AS s_click,
           hashtextextended('clicks.delay', %(seed)s::bigint) AS s_delay
),
trait AS (
    SELECT id AS campaign_id,
           power(2, (hashint8extended(id, hashint8extended(key, 1)) & 4294967295)::float8 / 4294967296
                  + (hashint8extended(id, hashint8extended(key, 2)) & 4294967295)::float8 / 4294967296
                  - 1) AS factor
    FROM (SELECT id, coalesce(extract(epoch FROM created_at) * 1000000, 0)::bigint AS key FROM campaign) AS c
),
mix AS (
    SELECT sum(n * factor) / nullif(sum(n), 0) AS mean_factor
    FROM (SELECT campaign_id, count(*) AS n FROM impressions, p WHERE id > p.after_id GROUP BY campaign_id) AS i
    JOIN trait USING (campaign_id)
),
rate AS (
    SELECT campaign_id, least(1, p.ctr * factor / mix.mean_factor) AS ctr FROM trait, mix, p
)
INSERT INTO clicks (campaign_id, created_at)
SELECT i.campaign_id,
       least(i.created_at + power(900, (hashint8extended(i.id, s_delay) & 4294967295)::float8
                                      / 4294967296) * interval '1 second',
             p.last)
FROM impressions AS i JOIN rate USING (campaign_id), p
WHERE i.id > p.after_id
  AND (hashint8extended(i.id, s_click) & 4294967295)::float8 / 4294967296 < rate.ctr
ORDER BY i.id
