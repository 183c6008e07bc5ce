/*
 * sqlite_vfs.c - the gathering VFS of sqlite_vfs.h. It lies over SQLite's
 * default VFS (the "root") as the shims in SQLite's own ext/misc do: each file
 * it opens holds the root's file right behind its own header and passes every
 * call on to it. Journals and temporary files are the root's files as they
 * are. A database file and its log (WAL) file get methods of their own:
 *
 *  - the log's writes that follow one another (or land again on bytes already
 *    gathered: SQLite rewrites a frame it wrote in the same transaction) are
 *    gathered in a buffer, and written in one call when SQLite syncs the log,
 *    reads gathered bytes, asks the log's size, truncates or closes it, when
 *    a write does not follow, or when the buffer is full;
 *  - the database's shared-memory calls (the log index's locks, its barrier,
 *    its unmapping) write the gathered bytes of the same connection's log
 *    first. SQLite writes a commit's log index header after a barrier and
 *    releases the write lock with an unlock, so no other connection or
 *    process is told of a frame before it is in the file; frames a
 *    transaction spilled and then rolled back are in the file before the
 *    next writer may write there, as without gathering.
 *
 * A database file may also be paced (PV_SQLITE_FCNTL_PACE): synced after every
 * so many pages written to it, which the checkpointer asks of its own
 * connection (sqlite_wal.h).
 *
 * A log file is tied to its database file by the name SQLite passes to
 * xOpen: sqlite3_filename_wal() of the database's name is the very pointer
 * the same connection later opens its log with. A log whose database is not
 * found (not opened through this VFS) is written through, not gathered.
 */
#include "store/sqlite_vfs.h"

#include <sqlite3.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest gather, kept by the connection for its next commit: a batch of
 * a few hundred purchases writes ~1-2 MB. */
#define GATHER_MAX   (2u << 20)
#define GATHER_FIRST (64u << 10)
#define WRITE_MAX    (124u << 10)

struct gfile {
    sqlite3_file base;    /* pMethods: db_methods or wal_methods */
    int gather;           /* a database: its log may be gathered (PV_SQLITE_FCNTL_GATHER) */
    struct gfile *db;     /* a log: its database's file while both are open */
    struct gfile *wal;    /* a database: its log's file while both are open */
    const char *wal_name; /* a database: the name its log will be opened with */
    struct gfile *next;   /* a database: the open databases (under open_mu) */
    unsigned char *buf;   /* a log: the gathered bytes, from offset off */
    size_t len, cap;
    sqlite3_int64 off;
    int pace;  /* a database: sync it every pace page writes (PV_SQLITE_FCNTL_PACE) */
    int paced; /* a database: page writes since the last paced sync */
};             /* the root's file follows */
_Static_assert(sizeof(struct gfile) % 8 == 0, "the root's file follows aligned");

static sqlite3_vfs *root;
static sqlite3_vfs gather_vfs;
static int registered;
static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gfile *open_dbs;
static atomic_ullong n_writes, n_calls, n_paced;

static sqlite3_file *sub(sqlite3_file *f)
{
    return (sqlite3_file *) ((struct gfile *) f + 1);
}

/* Writes the gathered bytes; the buffer is empty afterwards whatever the outcome.
 * SQLite's unix VFS takes at most 128 KiB - 1 a write (os_unix.c masks the
 * length with 0x1ffff), so a large gather goes in pieces of WRITE_MAX. */
static int flush(struct gfile *w)
{
    sqlite3_file *s = sub(&w->base);
    size_t len = w->len, done = 0;
    int rc = SQLITE_OK;

    w->len = 0;
    while (done < len && rc == SQLITE_OK) {
        size_t n = len - done < WRITE_MAX ? len - done : WRITE_MAX;

        atomic_fetch_add_explicit(&n_calls, 1, memory_order_relaxed);
        rc = s->pMethods->xWrite(s, w->buf + done, (int) n, w->off + (sqlite3_int64) done);
        done += n;
    }
    return rc;
}

/* ---- methods passed on as they are (a database's and a log's) ---- */

static int p_lock(sqlite3_file *f, int l)
{
    return sub(f)->pMethods->xLock(sub(f), l);
}
static int p_unlock(sqlite3_file *f, int l)
{
    return sub(f)->pMethods->xUnlock(sub(f), l);
}
static int p_check(sqlite3_file *f, int *out)
{
    return sub(f)->pMethods->xCheckReservedLock(sub(f), out);
}
static int p_fcntl(sqlite3_file *f, int op, void *arg)
{
    return sub(f)->pMethods->xFileControl(sub(f), op, arg);
}
static int p_sector(sqlite3_file *f)
{
    return sub(f)->pMethods->xSectorSize(sub(f));
}
static int p_device(sqlite3_file *f)
{
    return sub(f)->pMethods->xDeviceCharacteristics(sub(f));
}
static int p_shmmap(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return sub(f)->pMethods->xShmMap(sub(f), pg, pgsz, extend, pp);
}
static int p_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
    *pp = NULL;
    return sub(f)->pMethods->iVersion >= 3 ? sub(f)->pMethods->xFetch(sub(f), off, amt, pp)
                                           : SQLITE_OK;
}
static int p_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return sub(f)->pMethods->iVersion >= 3 ? sub(f)->pMethods->xUnfetch(sub(f), off, p) : SQLITE_OK;
}
static int p_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    return sub(f)->pMethods->xRead(sub(f), buf, amt, off);
}
static int p_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return sub(f)->pMethods->xTruncate(sub(f), size);
}
static int p_sync(sqlite3_file *f, int flags)
{
    return sub(f)->pMethods->xSync(sub(f), flags);
}
static int p_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return sub(f)->pMethods->xFileSize(sub(f), size);
}

/* ---- a database file: its log's bytes first at every shared-memory call ---- */

static int db_close(sqlite3_file *f)
{
    struct gfile *d = (struct gfile *) f, **pp;

    /* SQLite closes the log first; should it not, its bytes go before the tie. */
    if (d->wal)
        (void) flush(d->wal);
    pthread_mutex_lock(&open_mu);
    for (pp = &open_dbs; *pp; pp = &(*pp)->next)
        if (*pp == d) {
            *pp = d->next;
            break;
        }
    if (d->wal)
        d->wal->db = NULL;
    d->wal = NULL;
    pthread_mutex_unlock(&open_mu);
    return sub(f)->pMethods->xClose(sub(f));
}

static int db_shmlock(sqlite3_file *f, int ofst, int n, int flags)
{
    struct gfile *d = (struct gfile *) f;
    int rc = d->wal ? flush(d->wal) : SQLITE_OK;

    /* A lock not taken because the bytes could not be written is an error the
     * caller sees; an unlock happens whatever (its caller cannot undo it). */
    if (rc != SQLITE_OK && !(flags & SQLITE_SHM_UNLOCK))
        return rc;
    return sub(f)->pMethods->xShmLock(sub(f), ofst, n, flags);
}

/* SQLite writes a commit's log index header after this barrier. With the log
 * gathered only under synchronous = FULL (db_fcntl), the commit's sync has
 * written every byte already and nothing is left here; bytes that could not be
 * written now would be published all the same (the barrier cannot refuse), so
 * that is not carried on with. */
static void db_shmbarrier(sqlite3_file *f)
{
    struct gfile *d = (struct gfile *) f;

    if (d->wal && flush(d->wal) != SQLITE_OK) {
        fprintf(stderr, "store: a log write failed where SQLite cannot refuse it\n");
        abort();
    }
    sub(f)->pMethods->xShmBarrier(sub(f));
}

static int db_shmunmap(sqlite3_file *f, int del)
{
    struct gfile *d = (struct gfile *) f;

    if (d->wal)
        (void) flush(d->wal);
    return sub(f)->pMethods->xShmUnmap(sub(f), del);
}

/* The driver's word that this connection runs synchronous = FULL (every commit
 * syncs the log: the gathered bytes are written, and their failure refuses the
 * commit, before SQLite publishes it) on a device whose writes do not disturb
 * bytes around them (POWERSAFE_OVERWRITE: SQLite then pads nothing after the
 * sync). Without both, a log's bytes could still be gathered when SQLite tells
 * other connections of them, where a failed write cannot refuse anything. */
static int db_fcntl(sqlite3_file *f, int op, void *arg)
{
    struct gfile *d = (struct gfile *) f;

    if (op == PV_SQLITE_FCNTL_PACE) {
        d->pace = *(int *) arg > 0 ? *(int *) arg : 0;
        d->paced = 0;
        return SQLITE_OK;
    }
    if (op != PV_SQLITE_FCNTL_GATHER)
        return sub(f)->pMethods->xFileControl(sub(f), op, arg);
    d->gather = *(int *) arg && (p_device(f) & SQLITE_IOCAP_POWERSAFE_OVERWRITE);
    *(int *) arg = d->gather;
    return SQLITE_OK;
}

/* A page written to the database (by a checkpoint: frames copied back), and the file
 * synced after every pace of them (PV_SQLITE_FCNTL_PACE): a sync's error is the write's. */
static int db_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    struct gfile *d = (struct gfile *) f;
    int rc = sub(f)->pMethods->xWrite(sub(f), buf, amt, off);

    if (rc == SQLITE_OK && d->pace > 0 && ++d->paced >= d->pace) {
        d->paced = 0;
        atomic_fetch_add_explicit(&n_paced, 1, memory_order_relaxed);
        rc = sub(f)->pMethods->xSync(sub(f), SQLITE_SYNC_NORMAL);
    }
    return rc;
}

static const sqlite3_io_methods db_methods = {
    3,          db_close,      p_read,      db_write, p_truncate, p_sync,   p_size,
    p_lock,     p_unlock,      p_check,     db_fcntl, p_sector,   p_device, p_shmmap,
    db_shmlock, db_shmbarrier, db_shmunmap, p_fetch,  p_unfetch,
};

/* ---- a log file: writes gathered ---- */

static int wal_close(sqlite3_file *f)
{
    struct gfile *w = (struct gfile *) f;
    int rc = flush(w), rc2;

    pthread_mutex_lock(&open_mu);
    if (w->db)
        w->db->wal = NULL;
    w->db = NULL;
    pthread_mutex_unlock(&open_mu);
    free(w->buf);
    w->buf = NULL;
    rc2 = sub(f)->pMethods->xClose(sub(f));
    return rc != SQLITE_OK ? rc : rc2;
}

static int wal_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    struct gfile *w = (struct gfile *) f;
    int rc;

    if (w->len && off < w->off + (sqlite3_int64) w->len && off + amt > w->off &&
        (rc = flush(w)) != SQLITE_OK)
        return rc;
    return sub(f)->pMethods->xRead(sub(f), buf, amt, off);
}

static int wal_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    struct gfile *w = (struct gfile *) f;
    size_t n = (size_t) amt;
    int rc;

    atomic_fetch_add_explicit(&n_writes, 1, memory_order_relaxed);
    if (!w->db || !w->db->gather || amt <= 0 || off < 0) {
        /* Not tied to its database, or not to be gathered: as the root writes. */
        if ((rc = flush(w)) != SQLITE_OK)
            return rc;
        atomic_fetch_add_explicit(&n_calls, 1, memory_order_relaxed);
        return sub(f)->pMethods->xWrite(sub(f), buf, amt, off);
    }
    if (w->len && off >= w->off && off + amt <= w->off + (sqlite3_int64) w->len) {
        memcpy(w->buf + (off - w->off), buf, n); /* a frame written again */
        return SQLITE_OK;
    }
    if (!w->len || off != w->off + (sqlite3_int64) w->len || w->len + n > GATHER_MAX) {
        if ((rc = flush(w)) != SQLITE_OK)
            return rc;
        w->off = off;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : GATHER_FIRST;
        unsigned char *b;

        while (cap < w->len + n)
            cap *= 2;
        if (cap > GATHER_MAX || !(b = realloc(w->buf, cap))) {
            /* Too large to gather, or no memory for it: write as the root does. */
            if ((rc = flush(w)) != SQLITE_OK)
                return rc;
            atomic_fetch_add_explicit(&n_calls, 1, memory_order_relaxed);
            return sub(f)->pMethods->xWrite(sub(f), buf, amt, off);
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, buf, n);
    w->len += n;
    return SQLITE_OK;
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = flush((struct gfile *) f);

    return rc != SQLITE_OK ? rc : sub(f)->pMethods->xTruncate(sub(f), size);
}

static int wal_sync(sqlite3_file *f, int flags)
{
    int rc = flush((struct gfile *) f);

    return rc != SQLITE_OK ? rc : sub(f)->pMethods->xSync(sub(f), flags);
}

static int wal_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = flush((struct gfile *) f);

    return rc != SQLITE_OK ? rc : sub(f)->pMethods->xFileSize(sub(f), size);
}

static int wal_shmlock(sqlite3_file *f, int ofst, int n, int flags)
{
    return sub(f)->pMethods->xShmLock(sub(f), ofst, n, flags);
}
static void wal_shmbarrier(sqlite3_file *f)
{
    sub(f)->pMethods->xShmBarrier(sub(f));
}
static int wal_shmunmap(sqlite3_file *f, int del)
{
    return sub(f)->pMethods->xShmUnmap(sub(f), del);
}

static const sqlite3_io_methods wal_methods = {
    3,           wal_close,      wal_read,     wal_write, wal_truncate, wal_sync, wal_size,
    p_lock,      p_unlock,       p_check,      p_fcntl,   p_sector,     p_device, p_shmmap,
    wal_shmlock, wal_shmbarrier, wal_shmunmap, p_fetch,   p_unfetch,
};

/* ---- the VFS ---- */

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    struct gfile *g = (struct gfile *) f;
    int rc;

    (void) vfs;
    if (!(flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)) || !name)
        return root->xOpen(root, name, f, flags, out); /* the root's file, as it is */
    memset(g, 0, sizeof *g);
    rc = root->xOpen(root, name, sub(f), flags, out);
    if (rc != SQLITE_OK || !sub(f)->pMethods) {
        f->pMethods = NULL;
        return rc;
    }
    if ((flags & SQLITE_OPEN_MAIN_DB) &&
        (sub(f)->pMethods->iVersion < 3 || !sub(f)->pMethods->xShmMap)) {
        /* A root database without shared memory (no WAL): the root's file as it is.
         * (A log file has none of its own: the unix VFS opens it without locks.) */
        sub(f)->pMethods->xClose(sub(f));
        return root->xOpen(root, name, f, flags, out);
    }
    pthread_mutex_lock(&open_mu);
    if (flags & SQLITE_OPEN_MAIN_DB) {
        g->wal_name = sqlite3_filename_wal(name);
        g->next = open_dbs;
        open_dbs = g;
        f->pMethods = &db_methods;
    } else {
        struct gfile *d;

        for (d = open_dbs; d; d = d->next)
            if (d->wal_name == name && !d->wal) {
                d->wal = g;
                g->db = d;
                break;
            }
        f->pMethods = &wal_methods;
    }
    pthread_mutex_unlock(&open_mu);
    return SQLITE_OK;
}

static int v_delete(sqlite3_vfs *v, const char *name, int sync)
{
    (void) v;
    return root->xDelete(root, name, sync);
}
static int v_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void) v;
    return root->xAccess(root, name, flags, out);
}
static int v_fullpath(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void) v;
    return root->xFullPathname(root, name, n, out);
}
static void *v_dlopen(sqlite3_vfs *v, const char *name)
{
    (void) v;
    return root->xDlOpen(root, name);
}
static void v_dlerror(sqlite3_vfs *v, int n, char *out)
{
    (void) v;
    root->xDlError(root, n, out);
}
static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void) v;
    return root->xDlSym(root, h, sym);
}
static void v_dlclose(sqlite3_vfs *v, void *h)
{
    (void) v;
    root->xDlClose(root, h);
}
static int v_random(sqlite3_vfs *v, int n, char *out)
{
    (void) v;
    return root->xRandomness(root, n, out);
}
static int v_sleep(sqlite3_vfs *v, int us)
{
    (void) v;
    return root->xSleep(root, us);
}
static int v_time(sqlite3_vfs *v, double *out)
{
    (void) v;
    return root->xCurrentTime(root, out);
}
static int v_lasterror(sqlite3_vfs *v, int n, char *out)
{
    (void) v;
    return root->xGetLastError(root, n, out);
}
static int v_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void) v;
    return root->xCurrentTimeInt64(root, out);
}

int pv_sqlite_vfs_register(void)
{
    int rc;

    if (registered)
        return SQLITE_OK;
    root = sqlite3_vfs_find(NULL);
    if (!root || root->iVersion < 2)
        return SQLITE_ERROR;
    gather_vfs.iVersion = 2;
    gather_vfs.szOsFile = (int) sizeof(struct gfile) + root->szOsFile;
    gather_vfs.mxPathname = root->mxPathname;
    gather_vfs.zName = PV_SQLITE_VFS;
    gather_vfs.xOpen = v_open;
    gather_vfs.xDelete = v_delete;
    gather_vfs.xAccess = v_access;
    gather_vfs.xFullPathname = v_fullpath;
    gather_vfs.xDlOpen = v_dlopen;
    gather_vfs.xDlError = v_dlerror;
    gather_vfs.xDlSym = v_dlsym;
    gather_vfs.xDlClose = v_dlclose;
    gather_vfs.xRandomness = v_random;
    gather_vfs.xSleep = v_sleep;
    gather_vfs.xCurrentTime = v_time;
    gather_vfs.xGetLastError = v_lasterror;
    gather_vfs.xCurrentTimeInt64 = v_time64;
    rc = sqlite3_vfs_register(&gather_vfs, 0);
    if (rc == SQLITE_OK)
        registered = 1;
    return rc;
}

const char *pv_sqlite_vfs_name(void)
{
    return registered ? PV_SQLITE_VFS : NULL;
}

void pv_sqlite_vfs_counts(unsigned long long *writes, unsigned long long *calls)
{
    *writes = atomic_load_explicit(&n_writes, memory_order_relaxed);
    *calls = atomic_load_explicit(&n_calls, memory_order_relaxed);
}

unsigned long long pv_sqlite_vfs_paced_syncs(void)
{
    return atomic_load_explicit(&n_paced, memory_order_relaxed);
}
