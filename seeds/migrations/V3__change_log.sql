-- The change log adtech reads (logical decoding, README "Change capture"): a publication of the
-- two event tables, which the slot's pgoutput plugin filters on, and the whole old row in every
-- UPDATE and DELETE record (REPLICA IDENTITY FULL), so that a change names the day it leaves
-- as well as the day it enters. The tables are narrow: the old row adds ~20 bytes of WAL to
-- each UPDATE or DELETE, nothing to INSERTs. Dims are small and compared whole on every pass.
CREATE PUBLICATION adtech_changes FOR TABLE impressions, clicks;
ALTER TABLE impressions REPLICA IDENTITY FULL;
ALTER TABLE clicks REPLICA IDENTITY FULL;
