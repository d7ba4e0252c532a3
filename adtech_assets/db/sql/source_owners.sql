-- The connected role, the owner of the source tables (NULL before the first migration), the
-- database's owner, and the schema the tables live in: whom to ask for a missing privilege.
SELECT current_user,
       (SELECT pg_get_userbyid(relowner) FROM pg_class
        WHERE oid = coalesce(to_regclass('schema_migrations'), to_regclass('campaign'))),
       (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()),
       current_schema()
