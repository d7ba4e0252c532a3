TRUNCATE clicks, impressions, campaign, advertiser RESTART IDENTITY CASCADE
