-- All-time impressions and clicks per campaign (events without a campaign excluded), rebuilt
-- from agg_campaign_daily whenever rollup days are rebuilt, and by the planner whenever it no
-- longer equals the rollup's sums (drift, or this table newly created). One small part: the
-- campaign, efficiency and advertiser views read it instead of summing a part per day.
CREATE TABLE IF NOT EXISTS analytics.agg_campaign_totals
(
    campaign_id Int32,
    imps UInt64,
    clks UInt64
)
ENGINE = MergeTree
ORDER BY campaign_id;
