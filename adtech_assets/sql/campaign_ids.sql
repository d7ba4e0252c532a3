SELECT id FROM campaign
