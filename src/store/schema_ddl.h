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

/* Issue 17's migrations (migrations_shop.c), each ending with {0, NULL}. */
extern const struct ddl pv_migration_v15[], pv_migration_v16[], pv_migration_v17[],
    pv_migration_v18[], pv_migration_v19[];

/* The payment intents' migrations of issue 15 (migrations_pay.c). */
extern const struct ddl pv_migration_v24[], pv_migration_v26[], pv_migration_v27[],
    pv_migration_v29[];

/* The fronts' API-key cache: api_keys changes notified (migrations_keys.c). */
extern const struct ddl pv_migration_v28[];

/* Issue 15's migrations of how rows are stored and found (migrations_rows.c). */
extern const struct ddl pv_migration_v30[], pv_migration_v31[];

#endif
