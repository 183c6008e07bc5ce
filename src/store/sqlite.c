/*
 * sqlite.c - the SQLite store driver (struct pv_store_driver "sqlite").
 *
 * Driver code only: the operations are written once over store_int.h's
 * driver interface. One struct sqlite_store per connection, opened
 * read-write in WAL mode with synchronous=FULL, foreign keys on and a 10 s
 * busy timeout. Every statement is prepared once per handle, on first use
 * (so a handle on an empty file can still migrate it), with $N rewritten to
 * ?N and SQLITE_PREPARE_PERSISTENT, and reset and unbound after each use:
 * the purchase path runs thousands of times per second.
 *
 * Write transactions. Servers open several handles on one file, one per
 * thread. SQLite lets only one of them write at a time and makes the others
 * sleep-and-retry in its busy handler, which under load wastes time and is
 * unfair. So every database file has a process-wide write gate (keyed by its
 * canonical path in a small registry): begin() waits at the gate, then runs
 * BEGIN IMMEDIATE; commit()/rollback() open the gate again. Writers from
 * other processes (the admin CLI) are still handled by the busy timeout. The
 * gate (wgate.h) is a flag under a mutex and condition variable rather than a
 * bare mutex so that a transaction may begin on one thread and end on another
 * (the handle is used by one thread at a time, not necessarily the same
 * one), and the file's checkpointer waits there ahead of the writers. Waiting
 * longer than the busy timeout gives PV_EBUSY.
 *
 * Because of the gate, the driver does not claim PV_CAP_AUTOCOMMIT: a write
 * made outside begin()/commit() runs in its own short transaction through
 * the gate, so it is atomic and queues like every other writer. The write
 * lock also does what row locks and advisory locks do on PostgreSQL, so
 * lock() is a no-op and the FOR UPDATE statements have no SQLite text.
 *
 * Savepoints: one level, named "p"; rollback_to rolls back to it and then
 * releases it. SQLite may roll a transaction back on its own (an I/O error,
 * a full disk): commit then fails and writes refuse to join it.
 *
 * Errors: unique and primary-key violations are PV_EEXIST (unlogged), out
 * of memory PV_ENOMEM, a database locked by another process past the busy
 * timeout PV_EBUSY, everything else PV_ESTORE with sqlite3_errmsg() on
 * stderr - including the schema's guards; a CHECK failure also sets
 * PV_FAULT_CHECK (journal_post turns the balance range into PV_EOVERFLOW).
 */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* realpath() */
#endif

#include "stampd/error.h"
#include "store/sqlite_pcache.h"
#include "store/sqlite_vfs.h"
#include "store/sqlite_wal.h"
#include "store/wgate.h"
#include "store/store_int.h"

#include <sqlite3.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUSY_TIMEOUT_MS 10000

/* The page size of a store this driver makes (issue 15, session 22; SQLite's default is
 * 4 KiB). A purchase's rows are small (an indicium ~290 bytes, an idempotency row ~170)
 * and land on many pages - the random keys, each customer's end of an index - and a
 * commit writes every page it changed whole, to the log and later to the file: half-size
 * pages write fewer bytes a purchase. Not 1 KiB: a table without rowid keeps at most ~230
 * bytes of a row on a 1 KiB page (~490 on 2 KiB, ~1,000 on 4 KiB), and a card's intent
 * (~340 bytes and twice its Idempotency-Key), in such a table until schema v35, went to
 * overflow pages there, half as much again of the writer (docs/performance.md). The
 * purchase path's main table without rowid left (journal lines, ~40 bytes) keeps smaller rows;
 * the idempotency rows (~170 bytes) are in a rowid table since v36. */
#define LITE_PAGE_SIZE 2048

/* ---- the per-file write gate -------------------------------------------------------------- */

struct file_gate {
    struct file_gate *next; /* registry link (shared gates only) */
    unsigned refs;          /* handles using the gate; under registry_mu */
    int shared;             /* 0: private to one handle (in-memory or temporary database) */
    struct pv_wgate w;      /* one write transaction at a time (wgate.h) */
    struct pv_walck *ck;    /* the file's checkpointer (shared gates only) */
    char path[];            /* canonical path of the database file */
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct file_gate *registry;

static struct file_gate *gate_new(const char *path)
{
    size_t len = strlen(path);
    struct file_gate *g = calloc(1, sizeof *g + len + 1);

    if (!g)
        return NULL;
    memcpy(g->path, path, len + 1);
    if (pv_wgate_init(&g->w) != 0) {
        free(g);
        return NULL;
    }
    g->refs = 1;
    return g;
}

static int gate_wait(struct file_gate *g, int first);
static void gate_leave(struct file_gate *g);

/* The checkpointer's hold on this process's writers (sqlite_wal.h): ahead of the writers
 * (wgate.h). */
static int walck_enter(void *g)
{
    return gate_wait(g, 1) == PV_OK ? 0 : -1;
}

static void walck_leave(void *g)
{
    gate_leave(g);
}

/* Find or make the gate of the database at path (borrowed; "" = not a shared file). */
static struct file_gate *gate_get(const char *path)
{
    struct file_gate *g = NULL;

    pthread_mutex_lock(&registry_mu);
    if (*path) {
        for (g = registry; g; g = g->next) {
            if (strcmp(g->path, path) == 0) {
                g->refs++;
                goto out;
            }
        }
    }
    g = gate_new(path);
    if (g && *path && !(g->ck = pv_walck_new(path, walck_enter, walck_leave, g))) {
        pv_wgate_destroy(&g->w);
        free(g);
        g = NULL;
    }
    if (g && *path) {
        g->shared = 1;
        g->next = registry;
        registry = g;
    }
out:
    pthread_mutex_unlock(&registry_mu);
    return g;
}

static void gate_put(struct file_gate *g)
{
    struct file_gate **pp;
    int last;

    if (!g)
        return;
    pthread_mutex_lock(&registry_mu);
    last = --g->refs == 0;
    if (last && g->shared) {
        for (pp = &registry; *pp; pp = &(*pp)->next) {
            if (*pp == g) {
                *pp = g->next;
                break;
            }
        }
    }
    pthread_mutex_unlock(&registry_mu);
    if (last) {
        pv_walck_free(g->ck);
        pv_wgate_destroy(&g->w);
        free(g);
    }
}

/* Wait (at most the busy timeout) until no other handle of this process writes the file;
 * first: ahead of the writers (the checkpointer). */
static int gate_wait(struct file_gate *g, int first)
{
    int e = pv_wgate_enter(&g->w, first, BUSY_TIMEOUT_MS);

    if (e == 0)
        return PV_OK;
    fprintf(stderr, "store: gave up waiting %d ms for the write lock (error %d)\n", BUSY_TIMEOUT_MS,
            e);
    return PV_EBUSY;
}

static int gate_enter(struct file_gate *g)
{
    return gate_wait(g, 0);
}

static void gate_leave(struct file_gate *g)
{
    pv_wgate_leave(&g->w);
}

/* ---- the handle --------------------------------------------------------------------------- */

/* Transaction control, by enum pv_tx (PV_TX_CHECK runs nothing). */
static const char *const tx_sql[] = {
    [PV_TX_BEGIN] = "BEGIN IMMEDIATE",     [PV_TX_COMMIT] = "COMMIT",
    [PV_TX_ROLLBACK] = "ROLLBACK",         [PV_TX_SAVEPOINT] = "SAVEPOINT p",
    [PV_TX_RELEASE] = "RELEASE p",         [PV_TX_ROLLBACK_TO] = "ROLLBACK TO p",
    [PV_TX_BEGIN_READ] = "BEGIN DEFERRED", /* WAL: a snapshot from its first read, no lock */
};

#define NTX ((int) (sizeof tx_sql / sizeof tx_sql[0]))

struct sqlite_store {
    struct pv_store base; /* first: a struct pv_store * is a struct sqlite_store * */
    sqlite3 *db;
    struct file_gate *gate;
    sqlite3_stmt *cur;              /* the statement running (run .. reset), else NULL */
    int cur_id;                     /* its enum pv_sql */
    sqlite3_stmt *txq[NTX];         /* transaction control, prepared on first use */
    sqlite3_stmt *ps[PV_SQL_COUNT]; /* prepared on first use, finalized by close() */
    int page_size;                  /* the file's (LITE_PAGE_SIZE when this driver made it) */
    int wal;                        /* the file is in WAL mode: a reader waits for no writer */
    int snap;                       /* a read snapshot's transaction is open (PV_TX_BEGIN_READ) */
};

static struct sqlite_store *handle(struct pv_store *st)
{
    return (struct sqlite_store *) st;
}

/* Map an SQLite result code (extended codes are on) to a PV_E* code, logging real failures. */
static int fail(struct sqlite_store *s, int src, const char *what)
{
    switch (src) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return PV_EEXIST;
    case SQLITE_CONSTRAINT_CHECK:
        s->base.fault = PV_FAULT_CHECK;
        break;
    default:
        break;
    }
    fprintf(stderr, "store: %s: %s\n", what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src));
    switch (src & 0xff) {
    case SQLITE_NOMEM:
        return PV_ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return PV_EBUSY;
    default:
        return PV_ESTORE;
    }
}

/* Prepare sql into *q unless cached: persistent, since each runs for the handle's life. */
static int prepare(struct sqlite_store *s, sqlite3_stmt **q, const char *sql, const char *name)
{
    int src;

    if (*q)
        return PV_OK;
    src = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, q, NULL);
    if (src != SQLITE_OK) {
        *q = NULL;
        return fail(s, src, name);
    }
    return PV_OK;
}

/* Run one transaction-control statement to completion. */
static int tx_run(struct sqlite_store *s, int op)
{
    int rc = prepare(s, &s->txq[op], tx_sql[op], tx_sql[op]), src;

    if (rc != PV_OK)
        return rc;
    src = sqlite3_step(s->txq[op]);
    sqlite3_reset(s->txq[op]);
    return src == SQLITE_DONE ? PV_OK : fail(s, src, tx_sql[op]);
}

/*
 * Every write transaction passes the file's gate first (see the file
 * comment). SQLite may roll a transaction back on its own (an I/O error, a
 * full disk, a trigger's RAISE(ROLLBACK)): commit then has nothing to commit,
 * and a write joining such a transaction would run as autocommitted
 * fragments - a savepoint would open a transaction of its own and its
 * release commit it - so all of them refuse.
 */
static int lite_tx(struct pv_store *st, int op)
{
    struct sqlite_store *s = handle(st);
    int rc = PV_OK, gone = sqlite3_get_autocommit(s->db);

    switch (op) {
    case PV_TX_BEGIN:
        if ((rc = gate_enter(s->gate)) != PV_OK)
            return rc;
        if ((rc = tx_run(s, op)) != PV_OK)
            gate_leave(s->gate);
        return rc;
    case PV_TX_COMMIT:
        if (gone) {
            fprintf(stderr, "store: commit: the transaction was rolled back by an earlier error\n");
            rc = PV_ESTORE;
        } else if ((rc = tx_run(s, op)) != PV_OK && !sqlite3_get_autocommit(s->db)) {
            tx_run(s, PV_TX_ROLLBACK);
        }
        gate_leave(s->gate);
        return rc;
    case PV_TX_ROLLBACK:
        if (!gone)
            rc = tx_run(s, op);
        gate_leave(s->gate);
        return rc;
    case PV_TX_ROLLBACK_TO:
        if (gone)
            break;
        /* ROLLBACK TO keeps the savepoint open; release it so the next savepoint()
         * does not nest one level deeper per failed purchase. */
        rc = tx_run(s, op);
        return rc == PV_OK ? tx_run(s, PV_TX_RELEASE) : rc;
    case PV_TX_CHECK:
        if (gone)
            break;
        return PV_OK;
    case PV_TX_BEGIN_READ:
        /* Not the writers' gate: in WAL a reader waits for no one. Without WAL (a file
         * system without shared memory) a reader's lock would hold every commit back for
         * the snapshot's length: then each read is its own moment, as outside one. */
        s->snap = s->wal && (rc = tx_run(s, op)) == PV_OK;
        return rc;
    case PV_TX_END_READ:
        rc = s->snap && !gone ? tx_run(s, PV_TX_ROLLBACK) : PV_OK;
        s->snap = 0;
        return rc;
    default: /* SAVEPOINT, RELEASE: outside a transaction they would open and commit one */
        if (gone)
            break;
        return tx_run(s, op);
    }
    fprintf(stderr, "store: the transaction was rolled back by an earlier error\n");
    return PV_ESTORE;
}

/* BEGIN IMMEDIATE already holds the database's write lock, across processes too. */
static int lite_lock(struct pv_store *st, int which)
{
    (void) st;
    (void) which;
    return PV_OK;
}

static int lite_ddl(struct pv_store *st, const char *sql, const char *what)
{
    struct sqlite_store *s = handle(st);
    char *err = NULL;
    int src = sqlite3_exec(s->db, sql, NULL, NULL, &err);

    if (src != SQLITE_OK)
        fprintf(stderr, "store: %s: %s\n", what, err ? err : sqlite3_errstr(src));
    sqlite3_free(err);
    if (src == SQLITE_OK)
        return PV_OK;
    return (src & 0xff) == SQLITE_NOMEM ? PV_ENOMEM : PV_ESTORE;
}

/* The common layer writes $N; SQLite's own spelling of a numbered parameter is ?N. */
static char *question_marks(const char *sql)
{
    char *t = strdup(sql), *p;

    for (p = t; p && *p; p++) {
        if (p[0] == '$' && p[1] >= '0' && p[1] <= '9')
            *p = '?';
    }
    return t;
}

/* Bind p (borrowed, SQLITE_STATIC: the caller's buffers outlive the statement). */
static int bind(sqlite3_stmt *q, const struct pv_param *p, int i)
{
    switch (p->kind) {
    case PV_P_NULL:
        return sqlite3_bind_null(q, i);
    case PV_P_INT:
        return sqlite3_bind_int64(q, i, p->i);
    case PV_P_TEXT:
        return sqlite3_bind_text(q, i, p->p, -1, SQLITE_STATIC);
    case PV_P_BLOB:
        return sqlite3_bind_blob64(q, i, p->p, p->len, SQLITE_STATIC);
    default:
        return SQLITE_MISUSE; /* no arrays in SQLite: sql.h composes those operations */
    }
}

static int lite_run(struct pv_store *st, int id, const char *sql, const struct pv_param *p, int n)
{
    struct sqlite_store *s = handle(st);
    char *text;
    int rc, i, src = SQLITE_OK;

    s->base.fault = PV_FAULT_NONE;
    if (s->snap && sqlite3_get_autocommit(s->db)) { /* an I/O error, a full disk, no memory */
        fprintf(stderr, "store: %s: the read snapshot was ended by an earlier error\n",
                pv_sql[id].name);
        return PV_ESTORE;
    }
    if (!s->ps[id]) {
        if (!(text = question_marks(sql)))
            return PV_ENOMEM;
        rc = prepare(s, &s->ps[id], text, pv_sql[id].name);
        free(text);
        if (rc != PV_OK)
            return rc;
    }
    for (i = 0; i < n && src == SQLITE_OK; i++)
        src = bind(s->ps[id], &p[i], i + 1);
    if (src != SQLITE_OK) {
        sqlite3_clear_bindings(s->ps[id]);
        return fail(s, src, pv_sql[id].name);
    }
    s->cur = s->ps[id];
    s->cur_id = id;
    return PV_OK;
}

static int lite_step(struct pv_store *st)
{
    struct sqlite_store *s = handle(st);
    int src = sqlite3_step(s->cur);

    if (src == SQLITE_ROW)
        return PV_OK;
    if (src == SQLITE_DONE)
        return PV_ENOTFOUND;
    return fail(s, src, pv_sql[s->cur_id].name);
}

static int lite_col_int(struct pv_store *st, int col, int64_t *v)
{
    *v = sqlite3_column_int64(handle(st)->cur, col);
    return PV_OK;
}

static int lite_col_bytes(struct pv_store *st, int col, int blob, const void **p, size_t *len)
{
    sqlite3_stmt *q = handle(st)->cur;

    *p = blob ? sqlite3_column_blob(q, col) : (const void *) sqlite3_column_text(q, col);
    *len = (size_t) sqlite3_column_bytes(q, col);
    /* NULL for a value that is not NULL: SQLite ran out of memory converting it. */
    return !*p && sqlite3_column_type(q, col) != SQLITE_NULL && (!blob || *len) ? PV_ENOMEM : PV_OK;
}

static int64_t lite_changes(struct pv_store *st)
{
    return sqlite3_changes64(handle(st)->db);
}

static int64_t lite_last_id(struct pv_store *st)
{
    return sqlite3_last_insert_rowid(handle(st)->db);
}

static void lite_reset(struct pv_store *st)
{
    struct sqlite_store *s = handle(st);

    if (s->cur) {
        st->reprepares += (uint64_t) sqlite3_stmt_status(s->cur, SQLITE_STMTSTATUS_REPREPARE, 1);
        sqlite3_reset(s->cur);
        sqlite3_clear_bindings(s->cur);
    }
    s->cur = NULL;
}

static void lite_close(struct pv_store *st)
{
    struct sqlite_store *s = handle(st);
    int i;

    if (!s)
        return;
    pv_store_rollback(st);
    for (i = 0; i < NTX; i++)
        sqlite3_finalize(s->txq[i]);
    for (i = 0; i < PV_SQL_COUNT; i++)
        sqlite3_finalize(s->ps[i]);
    sqlite3_close_v2(s->db);
    gate_put(s->gate);
    free(s);
}

/* The online backup API: the whole source in one step, so one read
 * transaction - one moment - covers every page (WAL: writers go on). */
static int lite_backup(struct pv_store *st, const char *path)
{
    struct sqlite_store *s = handle(st);
    sqlite3 *dst = NULL;
    sqlite3_backup *b;
    int src, tries = 0;

    src = sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (src != SQLITE_OK) {
        fprintf(stderr, "store: backup to %s: %s\n", path,
                dst ? sqlite3_errmsg(dst) : sqlite3_errstr(src));
        sqlite3_close(dst);
        return PV_ESTORE;
    }
    if (!(b = sqlite3_backup_init(dst, "main", s->db, "main"))) {
        fprintf(stderr, "store: backup: %s\n", sqlite3_errmsg(dst));
        sqlite3_close(dst);
        return PV_ESTORE;
    }
    do {
        src = sqlite3_backup_step(b, -1);
        if (src == SQLITE_BUSY || src == SQLITE_LOCKED)
            sqlite3_sleep(20);
    } while ((src == SQLITE_BUSY || src == SQLITE_LOCKED || src == SQLITE_OK) && ++tries < 500);
    sqlite3_backup_finish(b);
    if (src != SQLITE_DONE) {
        fprintf(stderr, "store: backup: %s\n", sqlite3_errstr(src));
        sqlite3_close(dst);
        return PV_ESTORE;
    }
    return sqlite3_close(dst) == SQLITE_OK ? PV_OK : PV_ESTORE;
}

/* Page cache of this connection: SQLite takes a negative size as KiB. */
static void lite_cache(struct pv_store *st, size_t bytes)
{
    struct sqlite_store *s = handle(st);
    char sql[64];

    snprintf(sql, sizeof sql, "PRAGMA cache_size = -%zu", bytes / 1024 ? bytes / 1024 : 1);
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fprintf(stderr, "store: %s: %s\n", sql, sqlite3_errmsg(s->db));
}

/* pv_store_defer's queue: SQLite's statements cost no round trip, so a sent write runs at
 * once and its failure is answered where it happened. */
static int lite_send(struct pv_store *st, int id, const char *sql, const struct pv_param *p, int n,
                     unsigned flags)
{
    return pv_send_now(st, id, sql, p, n, flags);
}

static int lite_flush(struct pv_store *st)
{
    (void) st;
    return PV_OK;
}

/* Nothing to read ahead: a statement costs no round trip. */
static int lite_prefetch(struct pv_store *st, int id, const char *sql, const struct pv_param *p,
                         int n)
{
    (void) st, (void) id, (void) sql, (void) p, (void) n;
    return PV_OK;
}

/* What the file's checkpointer did in this process (store_int.h). */
static int lite_checkpoints(struct pv_store *st, struct pv_store_ckpt *out)
{
    struct sqlite_store *s = handle(st);

    if (!s->gate || !s->gate->ck)
        return PV_ECONFIG; /* no shared file: nothing checkpoints it in the background */
    pv_walck_stats(s->gate->ck, out);
    return PV_OK;
}

static const struct pv_store_driver sqlite_driver = {
    .version = PV_STORE_DRIVER_VERSION,
    .name = "sqlite",
    .dialect = PV_DIALECT_SQLITE,
    /* Every write passes the gate, so even one statement opens a transaction; a failed
     * statement is undone alone (or the transaction is, and lite_tx refuses every later
     * write, savepoint and the commit). */
    .caps = PV_CAP_STMT_ATOMIC,
    .close = lite_close,
    .tx = lite_tx,
    .lock = lite_lock,
    .ddl = lite_ddl,
    .run = lite_run,
    .step = lite_step,
    .col_int = lite_col_int,
    .col_bytes = lite_col_bytes,
    .changes = lite_changes,
    .reset = lite_reset,
    .send = lite_send,
    .flush = lite_flush,
    .prefetch = lite_prefetch,
    .backup = lite_backup,
    .cache = lite_cache,
    .checkpoints = lite_checkpoints,
    .last_id = lite_last_id,
};

/* ---- open and close ----------------------------------------------------------------------- */

/* After each commit (sqlite3_wal_hook; replaces SQLite's inline autocheckpoint):
 * the file's checkpointer copies the log back, unless it cannot keep up. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct sqlite_store *s = arg;

    if (pv_walck_committed(s->gate->ck, frames, s->page_size))
        pv_walck_check_sync(
            db, sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL),
            sqlite3_db_filename(db, name));
    return SQLITE_OK;
}

/* The value a PRAGMA that reads one number gives, or fallback when it gives none. */
static int pragma_int(sqlite3 *db, const char *sql, int fallback)
{
    sqlite3_stmt *q = NULL;
    int v = fallback;

    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return v;
}

/* A WAL connection that syncs every commit (synchronous = FULL, read back)
 * may have its log's writes gathered (sqlite_vfs.h). */
static void gather(struct sqlite_store *s)
{
    int on = pragma_int(s->db, "PRAGMA synchronous", 0) == 2;

    if (on)
        (void) sqlite3_file_control(s->db, "main", PV_SQLITE_FCNTL_GATHER, &on);
}

static int pragmas(struct sqlite_store *s)
{
    /* The page size first: it takes only in a file with nothing in it yet, before
     * it goes to WAL (an existing store keeps its own). busy_timeout before the
     * switch to WAL, so that it waits for other processes. */
    static const char sql[] = "PRAGMA page_size = 2048;"
                              "PRAGMA busy_timeout = 10000;"
                              "PRAGMA synchronous = FULL;"
                              "PRAGMA foreign_keys = ON;"
                              /* Savepoints' sub-journals and sorts in memory: no
                               * temporary file opened, written and unlinked per batch. */
                              "PRAGMA temp_store = MEMORY;"
                              /* A log a reader kept from starting again (a ledger check's
                               * snapshot) grows; the first commit after it starts again cuts
                               * the file back to 131 MB, twice the inline limit: a log that
                               * has run normally is never that long. */
                              "PRAGMA journal_size_limit = 131072000;";
    _Static_assert(BUSY_TIMEOUT_MS == 10000, "keep the PRAGMA in step with BUSY_TIMEOUT_MS");
    _Static_assert(2 * PV_WALCK_INLINE_BYTES == 131072000, "the log's limit: twice the inline");
    _Static_assert(LITE_PAGE_SIZE == 2048, "keep the PRAGMA in step with LITE_PAGE_SIZE");
    const char *fname = sqlite3_db_filename(s->db, "main");
    const unsigned char *mode;
    sqlite3_stmt *q = NULL;
    char *err = NULL;
    int src, rc = PV_OK;

    src = sqlite3_exec(s->db, sql, NULL, NULL, &err);
    if (src != SQLITE_OK) {
        fprintf(stderr, "store: pragmas: %s\n", err ? err : sqlite3_errstr(src));
        rc = (src & 0xff) == SQLITE_NOMEM ? PV_ENOMEM : PV_ESTORE;
        goto out;
    }
    src = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &q, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_step(q);
    if (src != SQLITE_ROW) {
        rc = fail(s, src, "journal_mode");
        goto out;
    }
    /* In-memory databases cannot use WAL; files on filesystems without shared
     * memory fall back to a rollback journal, still durable but slower. */
    mode = sqlite3_column_text(q, 0);
    if (fname && *fname && (!mode || strcmp((const char *) mode, "wal") != 0))
        fprintf(stderr, "store: could not enable WAL (journal mode %s)\n",
                mode ? (const char *) mode : "unknown");
    else if (mode && strcmp((const char *) mode, "wal") == 0)
        gather(s);
    s->wal = mode && strcmp((const char *) mode, "wal") == 0;
    /* The file's own (a store made before session 22 keeps 4 KiB): the checkpointer
     * counts the log in bytes (sqlite_wal.h). */
    if ((s->page_size = pragma_int(s->db, "PRAGMA page_size", 4096)) <= 0)
        s->page_size = 4096;
out:
    sqlite3_free(err);
    sqlite3_finalize(q);
    return rc;
}

/* Before the library's first use, once a process. SQLite counts every allocation
 * under one process-wide mutex unless told not to (SQLITE_CONFIG_MEMSTATUS); the
 * writer, the checkpointer and every HTTP worker allocate through it, and nothing
 * here reads those counts. A larger lookaside would serve more of a statement's small
 * allocations from each connection's own slots instead of malloc - where the library
 * has one: Debian's is built with SQLITE_OMIT_LOOKASIDE (`PRAGMA compile_options`), so
 * there the call does nothing and every allocation of a statement is malloc's (issue 15,
 * session 28, callgrind: ~87 a card purchase, ~58 a balance purchase). Both fail
 * harmlessly (SQLITE_MISUSE) if something initialised the library first. */
static pthread_once_t lite_once = PTHREAD_ONCE_INIT;

static void lite_init(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 512, 512);
    /* A commit's truncation of the page cache without a scan of it (sqlite_pcache.h);
     * without it, SQLite's own cache. */
    if (pv_sqlite_pcache_install() != SQLITE_OK)
        fprintf(stderr, "store: the page cache could not be installed\n");
    sqlite3_initialize();
    /* A commit's log frames in one write (sqlite_vfs.h); without it, SQLite's own VFS. */
    if (pv_sqlite_vfs_register() != SQLITE_OK)
        fprintf(stderr, "store: the gathering VFS could not be registered\n");
}

int pv_sqlite_open(const char *path, struct pv_store **out)
{
    struct sqlite_store *s = NULL;
    const char *fname;
    char *canon = NULL;
    int rc, src;

    /* store.c hands over a valid path and out, *out already NULL. */
    s = calloc(1, sizeof *s);
    if (!s)
        return PV_ENOMEM;
    s->base.drv = &sqlite_driver;
    pthread_once(&lite_once, lite_init);

    src = sqlite3_open_v2(path, &s->db,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                          pv_sqlite_vfs_name());
    if (src != SQLITE_OK) {
        rc = fail(s, src, "open");
        goto out;
    }
    sqlite3_extended_result_codes(s->db, 1);
    rc = pragmas(s);
    if (rc != PV_OK)
        goto out;

    /* The gate is keyed by the canonical path: "x.db", "./x.db" and a symlink
     * to it are one file. In-memory and temporary databases ("") share nothing. */
    fname = sqlite3_db_filename(s->db, "main");
    if (fname && *fname)
        canon = realpath(fname, NULL);
    s->gate = gate_get(canon ? canon : fname ? fname : "");
    if (!s->gate) {
        rc = PV_ENOMEM;
        goto out;
    }
    if (s->gate->ck)
        sqlite3_wal_hook(s->db, wal_hook, s);
    *out = &s->base;
    s = NULL;
    rc = PV_OK;
out:
    free(canon);
    if (s)
        lite_close(&s->base);
    return rc;
}
