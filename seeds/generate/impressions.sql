-- %(count)s impressions spread uniformly over [window_start, window_end), inserted in time
-- order as a live system would. Campaigns are picked with a skew so CTRs and volumes differ.
WITH camp AS (SELECT array_agg(id ORDER BY id) AS ids FROM campaign)
INSERT INTO impressions (campaign_id, created_at)
SELECT camp.ids[1 + floor(power(random(), 1.6) * cardinality(camp.ids))::int],
       %(window_start)s::timestamp
           + (g - 1) * ((%(window_end)s::timestamp - %(window_start)s::timestamp) / %(count)s)
FROM camp, generate_series(1, %(count)s) AS g
WHERE cardinality(camp.ids) > 0
