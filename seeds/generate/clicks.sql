-- Clicks on a sample of the impressions with id > %(after_id)s: each one clicked with
-- probability ctr scaled per campaign (so campaigns differ), a few seconds to minutes later.
INSERT INTO clicks (campaign_id, created_at)
SELECT i.campaign_id, least(i.created_at + random() * interval '15 minutes', %(window_end)s::timestamp - interval '1 microsecond')
FROM impressions AS i
WHERE i.id > %(after_id)s
  AND random() < %(ctr)s * (0.5 + ((i.campaign_id * 2654435761::bigint) %% 1000) / 1000.0)
ORDER BY i.id
