/*
 * migrations_keys.c - v28 (issue 15, session 12; schema_ddl.h): a change
 * to api_keys tells every front's API-key cache. Apart from
 * migrations.c only to keep each file readable; pv_schema_migrations
 * (migrations.c) lists it in order. Never edit a released migration; add the
 * next one.
 */
#include "store/schema_ddl.h"

/*
 * v28: the fronts' API-key cache (src/server/keycache.c, docs/security.md)
 * answers a key from memory only while its watch (store_watch.h) listens on
 * PV_WATCH_API_KEYS. Any statement that updates, deletes or truncates
 * api_keys - a revocation through any front, a customer's deletion, an
 * operator's hand in psql - notifies at its commit, and every cache forgets
 * what it holds. Inserts need no word: a cache holds only keys it found.
 * SQLite has no notifications: its watch reads a change count every
 * PV_WATCH_POLL_MS (watch_poll.c), which triggers on api_keys bump in the
 * changing transaction, whichever process it is. Safe to run again.
 */
const struct ddl pv_migration_v28[] = {
    {PG, "CREATE OR REPLACE FUNCTION api_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$\n"
         "BEGIN\n"
         "  PERFORM pg_notify('stampd_api_keys', '');\n"
         "  RETURN NULL;\n"
         "END $$"},
    {PG, "DROP TRIGGER IF EXISTS api_keys_changed ON api_keys"},
    {PG, "CREATE TRIGGER api_keys_changed AFTER UPDATE OR DELETE OR TRUNCATE ON api_keys\n"
         "    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_changed()"},
    {SQLITE, "CREATE TABLE IF NOT EXISTS watch_versions (\n"
             "    channel TEXT PRIMARY KEY,\n"
             "    version INTEGER NOT NULL\n"
             ")"},
    {SQLITE, "INSERT INTO watch_versions(channel, version) VALUES ('stampd_api_keys', 0) "
             "ON CONFLICT (channel) DO NOTHING"},
    {SQLITE, "DROP TRIGGER IF EXISTS api_keys_changed_update"},
    {SQLITE,
     "CREATE TRIGGER api_keys_changed_update AFTER UPDATE ON api_keys BEGIN\n"
     "    UPDATE watch_versions SET version = version + 1 WHERE channel = 'stampd_api_keys';\n"
     "END"},
    {SQLITE, "DROP TRIGGER IF EXISTS api_keys_changed_delete"},
    {SQLITE,
     "CREATE TRIGGER api_keys_changed_delete AFTER DELETE ON api_keys BEGIN\n"
     "    UPDATE watch_versions SET version = version + 1 WHERE channel = 'stampd_api_keys';\n"
     "END"},
    {0, NULL},
};
