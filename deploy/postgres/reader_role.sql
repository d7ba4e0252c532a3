-- The role the pipeline reads the source with: CONNECT to this database, SELECT on the four
-- source tables and the event tables' id sequences, nothing else (no other table, no writes, no
-- DDL). For exact change capture (README: Change capture) it also needs REPLICATION, which lets
-- it create a slot and decode this server's WAL: pass `-v change_log=on` (run as a superuser).
-- Without it adtech finds changes by scans and its check change_log_keeps_up warns. Idempotent; run it as the
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
GRANT SELECT ON SEQUENCE impressions_id_seq, clicks_id_seq TO :"reader_role";
\if :{?change_log}
ALTER ROLE :"reader_role" WITH REPLICATION;
\endif
