SELECT {id_column:Identifier} AS id
FROM analytics.{table:Identifier} FINAL
