SELECT * FROM analytics.{view:Identifier}
