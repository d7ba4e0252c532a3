SELECT count() FROM analytics.{table:Identifier}
