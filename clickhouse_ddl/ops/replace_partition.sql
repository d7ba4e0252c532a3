ALTER TABLE analytics.{table:Identifier} REPLACE PARTITION {day:Date} FROM analytics.{staging:Identifier}
