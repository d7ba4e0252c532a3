CREATE TABLE analytics.{staging:Identifier} AS analytics.{target:Identifier}
