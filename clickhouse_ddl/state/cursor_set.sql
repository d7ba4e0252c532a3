INSERT INTO analytics.load_state (source, snapshot, loaded_at)
VALUES ({source:String}, {snapshot:String}, now64(6, 'UTC'))
