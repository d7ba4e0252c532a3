SELECT 'advertiser' AS table_name, count(*) AS rows, min(created_at) AS first, max(created_at) AS last FROM advertiser
UNION ALL SELECT 'campaign', count(*), min(created_at), max(created_at) FROM campaign
UNION ALL SELECT 'impressions', count(*), min(created_at), max(created_at) FROM impressions
UNION ALL SELECT 'clicks', count(*), min(created_at), max(created_at) FROM clicks
