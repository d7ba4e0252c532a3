ALTER TABLE analytics.{table:Identifier} ATTACH PARTITION {day:Date} FROM analytics.{staging:Identifier}
