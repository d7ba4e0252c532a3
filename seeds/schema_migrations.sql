-- Bookkeeping for `adtech migrate`: one row per applied migration version.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
