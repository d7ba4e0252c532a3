-- The role the pipeline reads the source with: CONNECT to this database and SELECT on the four
-- source tables, nothing else (no other table, no writes, no DDL). Idempotent; run it as the
-- tables' owner after `adtech migrate`:
--   ADTECH_READER_PASSWORD=... psql "$OWNER_URL" -v reader_role=adtech_reader -f reader_role.sql
-- The password is read from the environment, never from the command line.
\set ON_ERROR_STOP on
\getenv reader_password ADTECH_READER_PASSWORD

SELECT format('CREATE ROLE %I', :'reader_role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'reader_role') \gexec

ALTER ROLE :"reader_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'reader_password';
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'reader_role') \gexec
GRANT USAGE ON SCHEMA public TO :"reader_role";
GRANT SELECT ON TABLE advertiser, campaign, impressions, clicks TO :"reader_role";
