"""ClickHouse: the client for both backends (server, chDB), its versioned schema and cluster DDL."""
