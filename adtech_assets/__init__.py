"""adtech-assets: PostgreSQL -> ClickHouse ad-tech KPIs as Dagster software-defined assets."""
