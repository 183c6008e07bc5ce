/*
 * schema.c - the schema, written once: migrations applied in order by
 * pv_store_migrate(), and the version they reached.
 *
 * pv_schema_migrations[i] (migrations.c) takes the schema from version i to i + 1: a list of DDL
 * statements, each for every dialect (ALL) or for one. The few type words
 * that differ are tokens the dialect fills in (tokens[] below): {BIG} is
 * SQLite's INTEGER and PostgreSQL's BIGINT (mills, ids, times, counts),
 * {SERIAL} an id the database assigns (SQLite's rowid alias, PostgreSQL's
 * identity column), {BLOB} BLOB or BYTEA; {AUTOINC}, {NOCASE} and {NOROWID}
 * are SQLite's AUTOINCREMENT, UNIQUE COLLATE NOCASE and WITHOUT ROWID, which
 * PostgreSQL spells otherwise (identity columns never reuse values; a unique
 * index on lower(email), PG-only below) or lacks; {NOW} is the unix time now. "Registers never move
 * back" is a trigger in both, written per dialect. SQLite keeps the text of each CREATE: expanded,
 * it is byte for byte what earlier releases wrote, so old and new databases are the same schema.
 *
 * Never edit a released migration; add the next one. Column names avoid
 * words PostgreSQL reserves (authorization). schema_version holds one row
 * per applied migration. The whole run is one transaction, under the
 * driver's migration lock, so two processes migrating at once serialise
 * and the second finds nothing left to do.
 */
#include "stampd/error.h"
#include "store/schema_ddl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NMIGRATIONS PV_SCHEMA_VERSION

/* {TOKEN} -> its text in each dialect (enum pv_dialect order). */
static const struct {
    const char *token;
    const char *text[PV_DIALECTS];
} tokens[] = {
    {"{BIG}", {"INTEGER", "BIGINT"}},
    {"{SERIAL}", {"INTEGER", "BIGINT GENERATED ALWAYS AS IDENTITY"}},
    {"{BLOB}", {"BLOB", "BYTEA"}},
    {"{AUTOINC}", {" AUTOINCREMENT", ""}},
    {"{NOCASE}", {" UNIQUE COLLATE NOCASE", ""}},
    {"{NOROWID}", {" WITHOUT ROWID", ""}},
    {"{NOW}",
     {"CAST(strftime('%s', 'now') AS INTEGER)", "CAST(extract(epoch FROM now()) AS BIGINT)"}},
};

/* sql with its tokens filled in for dialect: owned (free()), NULL when out of memory. */
static char *expand(const char *sql, int dialect)
{
    size_t cap = strlen(sql) * 2 + 64, len = 0, k, n;
    char *out = malloc(cap);
    const char *word;

    if (!out)
        return NULL;
    while (*sql) {
        word = NULL;
        n = 1;
        if (*sql == '{') {
            for (k = 0; k < sizeof tokens / sizeof tokens[0]; k++) {
                n = strlen(tokens[k].token);
                if (strncmp(sql, tokens[k].token, n) == 0) {
                    word = tokens[k].text[dialect];
                    break;
                }
            }
            if (!word)
                n = 1;
        }
        k = word ? strlen(word) : 1;
        if (len + k + 1 > cap) {
            /* Every token's longest text is shorter than twice its own length plus 64. */
            free(out);
            return NULL;
        }
        memcpy(out + len, word ? word : sql, k);
        len += k;
        sql += n;
    }
    out[len] = '\0';
    return out;
}

/* The highest applied migration, 0 for an empty database. */
static int read_version(struct pv_store *st, int *version)
{
    int64_t have = 0, v = 0;
    struct pv_q q;
    int rc;

    *version = 0;
    pv_q_start(&q, st, S_HAVE_SCHEMA);
    rc = pv_q_int64(&q, &have);
    if (rc != PV_OK || !have)
        return rc;
    pv_q_start(&q, st, S_SCHEMA_MAX);
    rc = pv_q_int64(&q, &v);
    if (rc == PV_OK && (v < 0 || v > 1000000)) {
        fprintf(stderr, "store: schema_version holds %lld\n", (long long) v);
        rc = PV_ESCHEMA;
    }
    if (rc == PV_OK)
        *version = (int) v;
    return rc;
}

int pv_store_schema_version(struct pv_store *st, int *version)
{
    if (!st || !version)
        return PV_EINVAL;
    return read_version(st, version);
}

/* Apply migration i (to version i + 1) inside the open transaction. */
static int apply(struct pv_store *st, int i)
{
    const struct ddl *d;
    char what[32], *sql;
    struct pv_q q;
    int rc = PV_OK;

    snprintf(what, sizeof what, "migration %d", i + 1);
    for (d = pv_schema_migrations[i]; rc == PV_OK && d->sql; d++) {
        if (!(d->dialects & (1 << st->drv->dialect)))
            continue;
        sql = expand(d->sql, st->drv->dialect);
        rc = sql ? st->drv->ddl(st, sql, what) : PV_ENOMEM;
        free(sql);
    }
    if (rc != PV_OK)
        return rc;
    pv_q_start(&q, st, S_SCHEMA_INSERT);
    pv_q_int(&q, i + 1);
    pv_q_int(&q, (int64_t) time(NULL));
    return pv_q_exec(&q);
}

int pv_store_migrate(struct pv_store *st, int *from, int *to)
{
    int rc, v = 0, i;

    if (!st || !from || !to)
        return PV_EINVAL;
    *from = *to = 0;
    if (st->in_tx)
        return PV_EINVAL;
    rc = pv_store_begin(st);
    if (rc != PV_OK)
        return rc;
    if ((rc = st->drv->lock(st, PV_LOCK_MIGRATE)) != PV_OK)
        goto out;
    if ((rc = read_version(st, &v)) != PV_OK)
        goto out;
    if (v > NMIGRATIONS) {
        fprintf(stderr, "store: database schema version %d is newer than this binary (%d)\n", v,
                NMIGRATIONS);
        rc = PV_ESCHEMA;
        goto out;
    }
    for (i = v; rc == PV_OK && i < NMIGRATIONS; i++)
        rc = apply(st, i);
out:
    if (rc == PV_OK)
        rc = pv_store_commit(st);
    else
        pv_store_rollback(st);
    if (rc == PV_OK) {
        *from = v;
        *to = NMIGRATIONS;
    }
    return rc;
}
