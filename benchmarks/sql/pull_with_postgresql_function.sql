-- The alternative a ClickHouse user would try first (benchmarks/load_benchmark.py): ClickHouse
-- pulls the rows itself through the postgresql() table function, into a copy of fact_impressions.
INSERT INTO analytics.{table:Identifier} (impression_id, campaign_id, created_at)
SELECT id, campaign_id, created_at
FROM postgresql({host_port:String}, {database:String}, 'impressions', {user:String}, {password:String})
WHERE created_at >= {start:DateTime64(6)} AND created_at < {end:DateTime64(6)}
