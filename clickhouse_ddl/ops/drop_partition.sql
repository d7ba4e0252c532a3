ALTER TABLE analytics.{table:Identifier} DROP PARTITION {day:Date}
