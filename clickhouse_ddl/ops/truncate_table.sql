TRUNCATE TABLE analytics.{table:Identifier}
