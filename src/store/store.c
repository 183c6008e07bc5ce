/*
 * store.c - choose a store driver from a DSN and open it; the transaction
 * calls, whose state (one transaction, one savepoint in it) is kept here
 * for every driver.
 *
 * A DSN is "sqlite:PATH", "sqlite:///ABSOLUTE/PATH", or a bare path with no
 * "://" in it (all SQLite), or "postgres://..." / "postgresql://..." for
 * PostgreSQL. The DSN itself is never logged: PostgreSQL DSNs carry
 * passwords.
 *
 * Transactions (store.h): begin() inside a transaction, and savepoint()
 * outside one or inside another, are PV_EINVAL; rollback() without one is a
 * no-op (handy in cleanup paths); commit() ends the transaction whether it
 * succeeds or not (a failed commit rolls back); rollback_to() undoes the
 * savepoint and ends it, like release(), so a batch can go on with the next
 * savepoint().
 */
#include "store/store.h"

#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/log.h"
#include "store/store_int.h"

#include <stdio.h>
#include <string.h>

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A driver built against another interface version is refused, not trusted. */
static int checked_version(int rc, struct pv_store **out)
{
    if (rc == PV_OK && (*out)->drv->version != PV_STORE_DRIVER_VERSION) {
        pv_log(PV_LOG_ERROR, "store: driver %s has interface version %d, this binary needs %d\n",
               (*out)->drv->name, (*out)->drv->version, PV_STORE_DRIVER_VERSION);
        pv_store_close(*out);
        *out = NULL;
        rc = PV_ECONFIG;
    }
    return rc;
}

int pv_store_open(const char *dsn, struct pv_store **out)
{
    const char *path;

    if (!out)
        return PV_EINVAL;
    *out = NULL;
    if (!dsn || !*dsn) {
        pv_log(PV_LOG_ERROR, "store: empty DSN\n");
        return PV_ECONFIG;
    }

    if (has_prefix(dsn, "sqlite:")) {
        path = dsn + strlen("sqlite:");
        /* URL form: only an empty host is meaningful ("sqlite:///var/x.db"). */
        if (has_prefix(path, "//")) {
            if (path[2] != '/') {
                pv_log(PV_LOG_ERROR, "store: sqlite DSN with a host; use sqlite:PATH\n");
                return PV_ECONFIG;
            }
            path += 2;
        }
    } else if (has_prefix(dsn, "postgres://") || has_prefix(dsn, "postgresql://")) {
        return checked_version(pv_postgres_open(dsn, out), out);
    } else if (strstr(dsn, "://")) {
        pv_log(PV_LOG_ERROR, "store: unknown DSN scheme (expected sqlite: or postgres://)\n");
        return PV_ECONFIG;
    } else {
        path = dsn;
    }

    if (!*path) {
        pv_log(PV_LOG_ERROR, "store: sqlite DSN without a path\n");
        return PV_ECONFIG;
    }
    return checked_version(pv_sqlite_open(path, out), out);
}

void pv_store_close(struct pv_store *st)
{
    if (st)
        pv_jbuf_drop(st, 1);
    if (st)
        st->drv->close(st);
}

int pv_watch_open(const char *dsn, const char *channel, struct pv_watch **out)
{
    const char *c;

    if (!out)
        return PV_EINVAL;
    *out = NULL;
    if (!dsn || !channel || !*channel)
        return PV_ECONFIG;
    for (c = channel; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || *c == '_'))
            return PV_ECONFIG;
    if (has_prefix(dsn, "postgres://") || has_prefix(dsn, "postgresql://"))
        return pv_pg_watch_open(dsn, channel, out);
    return pv_poll_watch_open(dsn, channel, out); /* SQLite: no notifications */
}

int pv_watch_wait(struct pv_watch *w, int timeout_ms)
{
    return w ? w->ops->wait(w, timeout_ms) : PV_EINVAL;
}

void pv_watch_close(struct pv_watch *w)
{
    if (w)
        w->ops->close(w);
}

int pv_store_backup(struct pv_store *st, const char *path)
{
    if (!st || !path || st->in_tx || st->in_read)
        return PV_EINVAL;
    if (!st->drv->backup)
        return PV_ECONFIG;
    return st->drv->backup(st, path);
}

void pv_store_cache(struct pv_store *st, size_t bytes)
{
    if (st && st->drv->cache)
        st->drv->cache(st, bytes);
}

int pv_store_checkpoints(struct pv_store *st, struct pv_store_ckpt *out)
{
    if (!st || !out)
        return PV_EINVAL;
    memset(out, 0, sizeof *out);
    if (!st->drv->checkpoints)
        return PV_ECONFIG;
    return st->drv->checkpoints(st, out);
}

const char *pv_store_backend_name(const struct pv_store *st)
{
    return st && st->drv ? st->drv->name : "";
}

uint64_t pv_store_statements(const struct pv_store *st)
{
    return st ? st->statements : 0;
}

uint64_t pv_store_waits(const struct pv_store *st)
{
    return st ? st->waits : 0;
}

uint64_t pv_store_reprepares(const struct pv_store *st)
{
    return st ? st->reprepares : 0;
}

int pv_store_stmt_atomic(const struct pv_store *st)
{
    return st && (st->drv->caps & PV_CAP_STMT_ATOMIC) != 0;
}

int pv_store_writers_parallel(const struct pv_store *st)
{
    return st && (st->drv->caps & PV_CAP_WRITERS) != 0;
}

int pv_store_alive(struct pv_store *st)
{
    if (!st || !st->in_tx)
        return PV_EINVAL;
    return st->drv->tx(st, PV_TX_CHECK);
}

/* ---- transactions ------------------------------------------------------------------------- */

static int tx(struct pv_store *st, int op)
{
    st->statements++;
    return st->drv->tx(st, op);
}

int pv_store_begin(struct pv_store *st)
{
    int rc;

    if (!st)
        return PV_EINVAL;
    if (st->in_tx || st->in_read) {
        pv_log(PV_LOG_ERROR, "store: begin() inside a transaction or a read snapshot\n");
        return PV_EINVAL;
    }
    pv_jbuf_drop(st, 0);
    rc = tx(st, PV_TX_BEGIN);
    st->in_tx = rc == PV_OK;
    st->in_sp = 0;
    return rc;
}

int pv_store_commit(struct pv_store *st)
{
    int rc;

    if (!st || !st->in_tx)
        return PV_EINVAL;
    /* Journals a batch still keeps are written first. A failure rolls the transaction
     * back, as a failed commit does (store.h): on SQLite a statement that failed leaves
     * it open, with what the statements before it wrote (found by the session's review). */
    if ((rc = pv_jbuf_write(st)) != PV_OK) {
        (void) pv_store_rollback(st);
        return rc;
    }
    rc = tx(st, PV_TX_COMMIT);
    pv_jbuf_drop(st, 0);
    st->in_tx = st->in_sp = st->defer = 0;
    return rc;
}

int pv_store_rollback(struct pv_store *st)
{
    int rc;

    if (!st)
        return PV_EINVAL;
    pv_jbuf_drop(st, 0);
    if (st->in_read)
        return pv_store_end_read(st);
    if (!st->in_tx)
        return PV_OK;
    rc = tx(st, PV_TX_ROLLBACK);
    st->in_tx = st->in_sp = st->defer = 0;
    return rc;
}

int pv_store_begin_read(struct pv_store *st)
{
    int rc;

    if (!st || st->in_tx || st->in_read)
        return PV_EINVAL;
    rc = tx(st, PV_TX_BEGIN_READ);
    st->in_read = rc == PV_OK;
    return rc;
}

int pv_store_end_read(struct pv_store *st)
{
    int rc;

    if (!st || !st->in_read)
        return PV_EINVAL;
    rc = tx(st, PV_TX_END_READ);
    st->in_read = 0; /* over either way, as after rollback() */
    return rc;
}

int pv_store_savepoint(struct pv_store *st)
{
    int rc;

    if (!st || !st->in_tx || st->in_sp)
        return PV_EINVAL;
    rc = tx(st, PV_TX_SAVEPOINT);
    st->in_sp = rc == PV_OK;
    if (rc == PV_OK)
        pv_jbuf_mark(st);
    return rc;
}

/* release() and rollback_to() end the savepoint; on failure it stays open (the
 * caller then rolls the whole transaction back). */
static int end_savepoint(struct pv_store *st, int op)
{
    int rc;

    if (!st || !st->in_sp)
        return PV_EINVAL;
    rc = tx(st, op);
    if (rc == PV_OK)
        st->in_sp = 0;
    return rc;
}

int pv_store_release(struct pv_store *st)
{
    return end_savepoint(st, PV_TX_RELEASE);
}

int pv_store_rollback_to(struct pv_store *st)
{
    int rc = end_savepoint(st, PV_TX_ROLLBACK_TO);

    if (rc == PV_OK)
        pv_jbuf_undo(st); /* the savepoint's journals are gone with its balances */
    return rc;
}

int pv_store_defer(struct pv_store *st, int on)
{
    if (!st || !st->in_tx)
        return PV_EINVAL;
    st->defer = on != 0;
    return on ? PV_OK : st->drv->flush(st);
}

int pv_store_push(struct pv_store *st)
{
    if (!st || !st->in_tx)
        return PV_EINVAL;
    return st->drv->push ? st->drv->push(st) : PV_OK;
}

int pv_store_barrier(struct pv_store *st)
{
    if (!st || !st->in_tx)
        return PV_EINVAL;
    return st->drv->barrier ? st->drv->barrier(st) : PV_OK;
}

int pv_store_lock_writer(struct pv_store *st)
{
    if (!st || !st->in_tx)
        return PV_EINVAL;
    return st->drv->lock(st, PV_LOCK_WRITER);
}

int pv_store_lock_batch(struct pv_store *st, const char (*accounts)[PV_ACCOUNT_MAX], size_t n)
{
    int rc;

    if (!st || !st->in_tx || (n && !accounts))
        return PV_EINVAL;
    if ((rc = st->drv->lock(st, PV_LOCK_BATCH)) != PV_OK || n == 0 ||
        !pv_sql_has(st, S_ACCOUNTS_LOCK))
        return rc; /* SQLite: its write lock is the whole database's */
    /* The gate in the lock-first mode: no batch locking its customers late runs its jobs
     * meanwhile (batch_late), so none holds a customer's key or the deposit and then waits
     * for these rows. Batches that lock first share it (schema v26): each takes its
     * customers' rows first, in name order, as every batch did before session 10. */
    if ((rc = pv_ctl_queue(st, S_GATE_FIRST)) != PV_OK) /* read with the customers' rows */
        return rc;
    /* The rows stay locked to the commit: their balances are kept (pv_jbuf_know). */
    return pv_jbuf_read(st, S_ACCOUNTS_LOCK, accounts, n);
}

void pv_store_set_part(struct pv_store *st, int64_t part)
{
    if (st)
        st->part = part;
}

int64_t pv_store_part_of(const char *writer)
{
    uint64_t h = pv_fnv1a64(writer) & INT64_MAX;

    return h ? (int64_t) h : 1;
}

int pv_store_open_checked(const char *dsn, struct pv_store **out)
{
    struct pv_store *st = NULL;
    int rc, version = 0;

    if (!out)
        return PV_EINVAL;
    *out = NULL;
    rc = pv_store_open(dsn, &st);
    if (rc != PV_OK)
        goto out;
    rc = pv_store_schema_version(st, &version);
    if (rc != PV_OK)
        goto out;
    if (version != PV_SCHEMA_VERSION) {
        pv_log(PV_LOG_ERROR, "store: database schema is version %d, this binary needs %d%s\n",
               version, PV_SCHEMA_VERSION,
               version < PV_SCHEMA_VERSION ? " (run the migration)" : "");
        rc = PV_ESCHEMA;
        goto out;
    }
    *out = st;
    st = NULL;
out:
    pv_store_close(st);
    return rc;
}
