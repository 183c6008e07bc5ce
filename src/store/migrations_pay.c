/*
 * migrations_pay.c - the payment intents' migrations of issue 15 (v24, v27;
 * schema_ddl.h): apart from migrations.c only to keep each file readable;
 * pv_schema_migrations (migrations.c) lists them in order. Never edit a
 * released migration; add the next one.
 */
#include "store/schema_ddl.h"

/*
 * v24: an intent's gateway key is unique where it has to be, not everywhere
 * (issue 15, docs/performance.md). The key is kind:owner:client key:attempt
 * (domain/intent.c, pv_intent_key): the intents' own UNIQUE (kind, owner,
 * client_key, attempt) makes it unique already, since a customer id holds no
 * ':' - except where a long client key was replaced by "sha256:<hex>", which
 * a client could also send as a key of its own. So only the keys that carry
 * "sha256:" keep a unique index (a partial one); the others, the client's
 * random Idempotency-Keys, no longer write an entry at a random place of an
 * index with every card. And the index by state, which only the recovery
 * reads (INTENT_DUE, for the four states an intent is still moving in),
 * keeps only those: an intent that ends (captured, voided, declined, paid)
 * leaves it instead of moving inside it, and it stays as small as what is
 * in flight. SQLite cannot drop a column's UNIQUE: the table is made again,
 * its rows copied (in their order) and its indexes remade. Running it again
 * (a store rewound to an earlier version) does the same.
 */
const struct ddl pv_migration_v24[] = {
    {SQLITE,
     "CREATE TABLE pay_intents_v24 (\n"
     "    id                TEXT PRIMARY KEY,\n"
     "    kind              TEXT NOT NULL\n"
     "        CHECK (kind IN ('purchase', 'auto_refill', 'funds', 'refund')),\n"
     "    owner             TEXT NOT NULL,\n"
     "    customer_id       TEXT NOT NULL,\n"
     "    test              INTEGER NOT NULL CHECK (test IN (0, 1)),\n"
     "    client_key        TEXT NOT NULL,\n"
     "    attempt           {BIG} NOT NULL CHECK (attempt >= 1),\n"
     "    req_hash          TEXT NOT NULL DEFAULT '',\n"
     "    gateway_key       TEXT NOT NULL,\n"
     "    source            TEXT NOT NULL DEFAULT '',\n"
     "    payment_method_id TEXT NOT NULL DEFAULT '',\n"
     "    brand             TEXT NOT NULL DEFAULT '',\n"
     "    last4             TEXT NOT NULL DEFAULT '',\n"
     "    amount_mills      {BIG} NOT NULL\n"
     "        CHECK (amount_mills > 0 AND amount_mills <= " MILLS_MAX_SQL "),\n"
     "    state             TEXT NOT NULL CHECK (state IN ('pending', 'authorized', 'settling',\n"
     "        'captured', 'voiding', 'voided', 'declined', 'paid')),\n"
     "    charge_id         TEXT NOT NULL DEFAULT '',\n"
     "    ref               TEXT NOT NULL DEFAULT '',\n"
     "    server_id         TEXT NOT NULL DEFAULT '',\n"
     "    created           {BIG} NOT NULL,\n"
     "    updated           {BIG} NOT NULL,\n"
     "    UNIQUE (kind, owner, client_key, attempt)\n"
     ")"},
    {SQLITE, "INSERT INTO pay_intents_v24 SELECT id, kind, owner, customer_id, test, client_key, "
             "attempt, req_hash, gateway_key, source, payment_method_id, brand, last4, "
             "amount_mills, state, charge_id, ref, server_id, created, updated "
             "FROM pay_intents ORDER BY rowid"},
    {SQLITE, "DROP TABLE pay_intents"},
    {SQLITE, "ALTER TABLE pay_intents_v24 RENAME TO pay_intents"},
    {PG, "ALTER TABLE pay_intents DROP CONSTRAINT IF EXISTS pay_intents_gateway_key_key"},
    {PG, "DROP INDEX IF EXISTS pay_intents_state"},
    {ALL, "CREATE INDEX IF NOT EXISTS pay_intents_live ON pay_intents(state, updated) "
          "WHERE state IN ('pending', 'authorized', 'settling', 'voiding')"},
    {ALL, "CREATE UNIQUE INDEX IF NOT EXISTS pay_intents_hashed_key ON pay_intents(gateway_key) "
          "WHERE gateway_key LIKE '%sha256:%'"},
    {0, NULL},
};

/*
 * v27: no lists in the intents' CHECKs on SQLite (issue 15, session 11).
 * SQLite evaluates `x IN (three or more constants)` through a temporary
 * B-tree it builds for the statement (OpenEphemeral: its pages allocated and
 * zeroed), so each intent insert built three (the kind's and the state's
 * CHECK, pay_intents_live's WHERE) and each move three (the state's CHECK,
 * the index's WHERE for the old row and the new one): most of those
 * statements' time. The CHECKs written as ORs of equalities are compared in
 * place; pay_intents_live keeps its list (its WHERE is the one INTENT_DUE
 * names). The table is made again (SQLite cannot alter a CHECK), its rows
 * copied in their order, its indexes remade. PostgreSQL, which compares a
 * list in place, keeps its schema.
 */
const struct ddl pv_migration_v27[] = {
    {SQLITE,
     "CREATE TABLE pay_intents_v27 (\n"
     "    id                TEXT PRIMARY KEY,\n"
     "    kind              TEXT NOT NULL CHECK (kind = 'purchase' OR kind = 'auto_refill'\n"
     "        OR kind = 'funds' OR kind = 'refund'),\n"
     "    owner             TEXT NOT NULL,\n"
     "    customer_id       TEXT NOT NULL,\n"
     "    test              INTEGER NOT NULL CHECK (test IN (0, 1)),\n"
     "    client_key        TEXT NOT NULL,\n"
     "    attempt           {BIG} NOT NULL CHECK (attempt >= 1),\n"
     "    req_hash          TEXT NOT NULL DEFAULT '',\n"
     "    gateway_key       TEXT NOT NULL,\n"
     "    source            TEXT NOT NULL DEFAULT '',\n"
     "    payment_method_id TEXT NOT NULL DEFAULT '',\n"
     "    brand             TEXT NOT NULL DEFAULT '',\n"
     "    last4             TEXT NOT NULL DEFAULT '',\n"
     "    amount_mills      {BIG} NOT NULL\n"
     "        CHECK (amount_mills > 0 AND amount_mills <= " MILLS_MAX_SQL "),\n"
     "    state             TEXT NOT NULL CHECK (state = 'pending' OR state = 'authorized'\n"
     "        OR state = 'settling' OR state = 'captured' OR state = 'voiding'\n"
     "        OR state = 'voided' OR state = 'declined' OR state = 'paid'),\n"
     "    charge_id         TEXT NOT NULL DEFAULT '',\n"
     "    ref               TEXT NOT NULL DEFAULT '',\n"
     "    server_id         TEXT NOT NULL DEFAULT '',\n"
     "    created           {BIG} NOT NULL,\n"
     "    updated           {BIG} NOT NULL,\n"
     "    UNIQUE (kind, owner, client_key, attempt)\n"
     ")"},
    {SQLITE, "INSERT INTO pay_intents_v27 SELECT id, kind, owner, customer_id, test, client_key, "
             "attempt, req_hash, gateway_key, source, payment_method_id, brand, last4, "
             "amount_mills, state, charge_id, ref, server_id, created, updated "
             "FROM pay_intents ORDER BY rowid"},
    {SQLITE, "DROP TABLE pay_intents"},
    {SQLITE, "ALTER TABLE pay_intents_v27 RENAME TO pay_intents"},
    {SQLITE, "CREATE INDEX pay_intents_live ON pay_intents(state, updated) "
             "WHERE state IN ('pending', 'authorized', 'settling', 'voiding')"},
    {SQLITE, "CREATE UNIQUE INDEX pay_intents_hashed_key ON pay_intents(gateway_key) "
             "WHERE gateway_key LIKE '%sha256:%'"},
    {0, NULL},
};
