-- Day loads read [day, day + 1) and the sensors look at recent ids and versions:
-- both must be index range scans, never full scans.
CREATE INDEX IF NOT EXISTS impressions_created_at_idx ON impressions (created_at);
CREATE INDEX IF NOT EXISTS clicks_created_at_idx ON clicks (created_at);
CREATE INDEX IF NOT EXISTS advertiser_updated_at_idx ON advertiser (updated_at);
CREATE INDEX IF NOT EXISTS campaign_updated_at_idx ON campaign (updated_at);
