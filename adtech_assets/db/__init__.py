"""The two databases: the Postgres and ClickHouse clients, their SQL and migrations. No Dagster."""
