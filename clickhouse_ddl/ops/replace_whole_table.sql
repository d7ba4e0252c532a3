-- An unpartitioned table made equal to its staging copy, atomically (its one partition swapped).
ALTER TABLE analytics.{table:Identifier} REPLACE PARTITION tuple() FROM analytics.{staging:Identifier}
