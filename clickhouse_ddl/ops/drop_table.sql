DROP TABLE IF EXISTS analytics.{table:Identifier} SYNC
