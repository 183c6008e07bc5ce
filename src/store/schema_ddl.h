/*
 * schema_ddl.h - private to src/store: how a migration is written (a list
 * of DDL statements, each for every dialect or for one; schema.c explains
 * the tokens) and the migrations themselves (migrations.c, and issue 17's
 * in migrations_shop.c), which
 * pv_store_migrate() in schema.c applies in order.
 */
#ifndef STAMPD_STORE_SCHEMA_DDL_H
#define STAMPD_STORE_SCHEMA_DDL_H

#include "store/store_int.h"

/* The money bound of money.h, spelled out for the migrations' SQL. */
#define MILLS_MAX_SQL "1000000000000000"
_Static_assert(PV_MILLS_MAX == 1000000000000000LL, "MILLS_MAX_SQL is out of step with money.h");
#define U32_MAX_SQL "4294967295"

enum { ALL = 3, SQLITE = 1 << PV_DIALECT_SQLITE, PG = 1 << PV_DIALECT_POSTGRES };

struct ddl {
    int dialects; /* ALL, SQLITE or PG */
    const char *sql;
};

/* pv_schema_migrations[i] takes the schema from version i to i + 1, each
 * ending with {0, NULL}; PV_SCHEMA_VERSION of them. */
extern const struct ddl *const pv_schema_migrations[];

/* pay_intents' columns and key since v27, and the copy of its rows into a table of that
 * shape (v27, v32, v35: SQLite makes the table again to change it). */
#define PV_INTENTS_V27_BODY                                                                        \
    "    id                TEXT PRIMARY KEY,\n"                                                    \
    "    kind              TEXT NOT NULL CHECK (kind = 'purchase' OR kind = 'auto_refill'\n"       \
    "        OR kind = 'funds' OR kind = 'refund'),\n"                                             \
    "    owner             TEXT NOT NULL,\n"                                                       \
    "    customer_id       TEXT NOT NULL,\n"                                                       \
    "    test              INTEGER NOT NULL CHECK (test IN (0, 1)),\n"                             \
    "    client_key        TEXT NOT NULL,\n"                                                       \
    "    attempt           {BIG} NOT NULL CHECK (attempt >= 1),\n"                                 \
    "    req_hash          TEXT NOT NULL DEFAULT '',\n"                                            \
    "    gateway_key       TEXT NOT NULL,\n"                                                       \
    "    source            TEXT NOT NULL DEFAULT '',\n"                                            \
    "    payment_method_id TEXT NOT NULL DEFAULT '',\n"                                            \
    "    brand             TEXT NOT NULL DEFAULT '',\n"                                            \
    "    last4             TEXT NOT NULL DEFAULT '',\n"                                            \
    "    amount_mills      {BIG} NOT NULL\n"                                                       \
    "        CHECK (amount_mills > 0 AND amount_mills <= " MILLS_MAX_SQL "),\n"                    \
    "    state             TEXT NOT NULL CHECK (state = 'pending' OR state = 'authorized'\n"       \
    "        OR state = 'settling' OR state = 'captured' OR state = 'voiding'\n"                   \
    "        OR state = 'voided' OR state = 'declined' OR state = 'paid'),\n"                      \
    "    charge_id         TEXT NOT NULL DEFAULT '',\n"                                            \
    "    ref               TEXT NOT NULL DEFAULT '',\n"                                            \
    "    server_id         TEXT NOT NULL DEFAULT '',\n"                                            \
    "    created           {BIG} NOT NULL,\n"                                                      \
    "    updated           {BIG} NOT NULL,\n"                                                      \
    "    UNIQUE (kind, owner, client_key, attempt)\n"
#define PV_INTENTS_V27_COPY                                                                        \
    "SELECT id, kind, owner, customer_id, test, client_key, attempt, req_hash, gateway_key, "      \
    "source, payment_method_id, brand, last4, amount_mills, state, charge_id, ref, server_id, "    \
    "created, updated "

/* Issue 17's migrations (migrations_shop.c), each ending with {0, NULL}. */
extern const struct ddl pv_migration_v15[], pv_migration_v16[], pv_migration_v17[],
    pv_migration_v18[], pv_migration_v19[];

/* The payment intents' migrations of issue 15, the top-ups' keys (migrations_pay.c). */
extern const struct ddl pv_migration_v24[], pv_migration_v26[], pv_migration_v27[],
    pv_migration_v29[], pv_migration_v37[];

/* The fronts' API-key cache: api_keys changes notified (migrations_keys.c). */
extern const struct ddl pv_migration_v28[];

/* Issue 15's migrations of how rows are stored and found (migrations_rows.c; v43 and v46,
 * the key checks, in migrations_refs.c). */
extern const struct ddl pv_migration_v30[], pv_migration_v31[], pv_migration_v32[],
    pv_migration_v33[], pv_migration_v34[], pv_migration_v35[], pv_migration_v36[],
    pv_migration_v38[], pv_migration_v39[], pv_migration_v40[], pv_migration_v41[],
    pv_migration_v42[], pv_migration_v43[], pv_migration_v44[], pv_migration_v45[],
    pv_migration_v46[];

#endif
