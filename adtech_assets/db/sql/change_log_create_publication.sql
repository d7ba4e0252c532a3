-- As migration V3 does, for a source whose publication was dropped (needs table ownership).
CREATE PUBLICATION adtech_changes FOR TABLE impressions, clicks
