-- Parts that a partition swap, a merge or a dropped row replaced are removed from disk by a
-- background task every `cleanup_delay_period` (30 s by default, plus up to 10 s at random).
-- The embedded engine lives as long as the process that opens it, a few seconds for a sync or a
-- run: with the default no task ever ran, and every reload of a day stayed on disk (5 reloads of
-- two days left 23 part folders for 5 live parts; a benchmark's data folder grew to 5.7 GB for
-- 10M rows) and was read again by every start of the engine. At 1 s the next process that holds
-- the engine for a second removes them. On a server it only runs the task sooner.
ALTER TABLE analytics.fact_impressions MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE analytics.fact_clicks MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE analytics.agg_campaign_daily MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE analytics.agg_campaign_totals MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE analytics.dim_advertiser MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE analytics.dim_campaign MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE analytics.load_state MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE analytics.load_manifest MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE analytics.pending_days MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE analytics.pending_loads MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE analytics.schema_migrations MODIFY SETTING cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
