SELECT max({id_column:Identifier}) FROM analytics.{table:Identifier}
