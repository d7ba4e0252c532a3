SELECT id FROM advertiser
