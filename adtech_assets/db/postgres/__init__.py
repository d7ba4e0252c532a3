"""The source Postgres: the client, the binary COPY read, the embedded server, sample data."""
