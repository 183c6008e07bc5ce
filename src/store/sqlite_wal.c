/*
 * sqlite_wal.c - one background checkpointer per SQLite database file (see
 * sqlite_wal.h for why). The thread starts with the first commit that finds
 * the log past PV_WALCK_BYTES, opens its own connection to the file, and runs
 * PASSIVE checkpoints once a log has reached PV_WALCK_RESTART_BYTES (up to
 * three runs and the held one), and again each time a log that could not be started
 * again has grown by PV_WALCK_BYTES (a page changed between two runs is copied
 * by both: fewer runs, fewer copies). PASSIVE takes no lock a writer needs and
 * never waits: frames a reader still uses stay in the log for the next run.
 * When a run has copied every frame and no reader is on the log, SQLite starts
 * the log again from its beginning at the next write, so it stays a few tens
 * of megabytes.
 */
#include "store/sqlite_wal.h"

#include "store/sqlite_vfs.h"

#include "stampd/timeutil.h"
#include "store/store.h"

#include <sqlite3.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

struct pv_walck {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int started;        /* the thread runs (join it); under mu */
    int failed;         /* it could not start or open the file: committers checkpoint inline */
    int stop;           /* pv_walck_free asks it to end */
    int want;           /* a commit asks for a run */
    long long last;     /* the log's bytes at the last run (0: none yet, or a new log since) */
    long long reported; /* the log's bytes at the last commit that reported it */
    int page;           /* the file's page size, as the commits that ask for runs tell it */
    struct pv_store_ckpt stats; /* runs, inline runs, holds (pv_walck_stats); under mu */
    int (*enter)(void *);       /* hold / release the process's writers */
    void (*leave)(void *);
    void *arg;
    char path[]; /* the database file */
};

struct pv_walck *pv_walck_new(const char *path, int (*enter)(void *), void (*leave)(void *),
                              void *arg)
{
    size_t len = strlen(path);
    struct pv_walck *ck = calloc(1, sizeof *ck + len + 1);

    if (!ck)
        return NULL;
    memcpy(ck->path, path, len + 1);
    ck->enter = enter;
    ck->leave = leave;
    ck->arg = arg;
    if (pthread_mutex_init(&ck->mu, NULL) != 0) {
        free(ck);
        return NULL;
    }
    if (pthread_cond_init(&ck->cv, NULL) != 0) {
        pthread_mutex_destroy(&ck->mu);
        free(ck);
        return NULL;
    }
    return ck;
}

/* A hold of us microseconds, counted in its bucket; under mu. */
static void count_hold(struct pv_store_ckpt *s, int64_t us)
{
    static const int64_t le[] = {PV_CKPT_LE_US};
    size_t i = 0;

    _Static_assert(sizeof le / sizeof le[0] + 1 == PV_CKPT_BUCKETS, "a bucket for longer holds");
    while (i < sizeof le / sizeof le[0] && us > le[i])
        i++;
    s->hold_bucket[i]++;
    s->holds++;
    s->hold_us += us;
}

/* The pace of a run on a log of log_bytes (PV_SQLITE_FCNTL_PACE): the database synced every
 * PV_WALCK_PACE_BYTES of pages of page bytes copied; none (only where SQLite syncs it) once
 * the log is past PV_WALCK_PACE_UNTIL_BYTES, where the checkpointer is falling behind and
 * copies as fast as it can. Does nothing where the file is not open through the driver's
 * VFS. */
static void set_pace(sqlite3 *db, long long log_bytes, int page)
{
    int pages = 0;

    if (page > 0 && log_bytes < PV_WALCK_PACE_UNTIL_BYTES)
        pages = PV_WALCK_PACE_BYTES > page ? (int) (PV_WALCK_PACE_BYTES / page) : 1;
    (void) sqlite3_file_control(db, "main", PV_SQLITE_FCNTL_PACE, &pages);
}

void pv_walck_check_sync(sqlite3 *db, int rc, const char *path)
{
    if (rc != SQLITE_OK && sqlite3_extended_errcode(db) == SQLITE_IOERR_FSYNC) {
        fprintf(stderr,
                "store: checkpoint of %s: a sync of the log or of the database file failed "
                "(%s); stopping: the log keeps every commit; stop every process that has the "
                "file open, then start again, and SQLite copies the log again\n",
                path ? path : "?", sqlite3_errmsg(db));
        abort();
    }
}

static void *run(void *arg)
{
    struct pv_walck *ck = arg;
    sqlite3 *db = NULL;
    int src, log, done, warned = 0, page = 0, i, finish;
    int held = 0;       /* the log's frames at the last held run (sqlite_wal.h) */
    int64_t hold = -1;  /* the last hold's microseconds (-1: none this run) */
    long long reported; /* the log's bytes when woken */

    prctl(PR_SET_NAME, "stampd-ckpt", 0, 0, 0); /* for `top -H` */
    /* Through the driver's VFS (where it is registered) for the paced runs. */
    src = sqlite3_open_v2(ck->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                          pv_sqlite_vfs_name());
    if (src == SQLITE_OK)
        /* The same durability as the writers: the database synced by each run that
         * copies the whole log (SQLite syncs it then only). */
        src = sqlite3_exec(db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
    pthread_mutex_lock(&ck->mu);
    if (src != SQLITE_OK) {
        fprintf(stderr, "store: checkpointer: %s: %s (commits checkpoint inline)\n", ck->path,
                db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
        ck->failed = 1;
    }
    while (!ck->failed) {
        while (!ck->want && !ck->stop)
            pthread_cond_wait(&ck->cv, &ck->mu);
        if (ck->stop)
            break;
        ck->want = 0;
        page = ck->page; /* the log's frames in bytes (sqlite_wal.h) */
        reported = ck->reported;
        pthread_mutex_unlock(&ck->mu);
        log = done = -1;
        hold = -1;
        for (i = 0;; i++) {
            /* The runs without the hold copy at a pace (sqlite_wal.h): the log as the
             * last commit told of it, then as the run before found it. */
            set_pace(db, i == 0 ? reported : (long long) log * page, page);
            src = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
            pv_walck_check_sync(db, src, ck->path);
            pthread_mutex_lock(&ck->mu); /* counted at once: a hold sees the runs before it */
            ck->stats.runs++;
            pthread_mutex_unlock(&ck->mu);
            /* A log shorter than the held run left has been started again since. */
            if (log >= 0 && log < held)
                held = 0;
            /* Long enough, and not the log the last held run left (until a write starts
             * it again, a run finds it as that run left it): a few more runs, each
             * copying what the writers added during the one before, then the rest with
             * the writers held, so that the next write starts the log again (see
             * sqlite_wal.h). The next run then waits for the log to grow by
             * PV_WALCK_BYTES past it, or for a new log: where a reader keeps the log from
             * starting again, not a hold every commit. */
            finish = src == SQLITE_OK && (long long) log * page >= PV_WALCK_RESTART_BYTES &&
                     log != held && ck->enter != NULL;
            if (!finish || i == PV_WALCK_RUNS_BEFORE_HOLD)
                break;
        }
        set_pace(db, 0, 0); /* the held run: SQLite's own sync only */
        if (finish && ck->enter(ck->arg) == 0) {
            hold = pv_mono_us();
            src = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
            ck->leave(ck->arg);
            hold = pv_mono_us() - hold;
            held = log;
            pv_walck_check_sync(db, src, ck->path);
        }
        pthread_mutex_lock(&ck->mu);
        /* The commits that asked for a run while these ran told of the log the hold finished. */
        if (hold >= 0)
            ck->want = 0;
        /* BUSY: another connection is checkpointing; the next commit asks again. */
        if (src != SQLITE_OK && src != SQLITE_BUSY && !warned) {
            fprintf(stderr, "store: checkpoint of %s: %s\n", ck->path, sqlite3_errmsg(db));
            warned = 1;
        }
        if (hold >= 0)
            count_hold(&ck->stats, hold);
        /* 0 where a commit told of a shorter log meanwhile: started again since. */
        ck->last = log > 0 && ck->reported >= (long long) log * page ? (long long) log * page : 0;
    }
    pthread_mutex_unlock(&ck->mu);
    /* The last connection to close checkpoints the whole log and removes it. */
    sqlite3_close_v2(db);
    return NULL;
}

int pv_walck_committed(struct pv_walck *ck, int frames, int page_size)
{
    long long bytes = (long long) frames * page_size;
    int inline_ = 0;

    if (bytes < PV_WALCK_BYTES)
        return 0;
    pthread_mutex_lock(&ck->mu);
    ck->page = page_size;
    if (!ck->started && !ck->failed) {
        if (pthread_create(&ck->thread, NULL, run, ck) == 0)
            ck->started = 1;
        else
            ck->failed = 1;
    }
    /* A log shorter than the last commit told of has been started again since. */
    if (bytes < ck->reported)
        ck->last = 0;
    ck->reported = bytes;
    if (ck->failed || bytes >= PV_WALCK_INLINE_BYTES) {
        inline_ = 1;
        ck->stats.inline_runs++;
    } else if (bytes >= PV_WALCK_RESTART_BYTES &&
               (ck->last == 0 || bytes - ck->last >= PV_WALCK_BYTES)) {
        /* A log long enough to finish, not run on yet (a new one: last forgotten above),
         * or grown by PV_WALCK_BYTES since (a reader kept it from starting again). Runs
         * on a shorter log would copy each page changed twice once more. */
        ck->want = 1;
        pthread_cond_signal(&ck->cv);
    }
    pthread_mutex_unlock(&ck->mu);
    return inline_;
}

unsigned long pv_walck_runs(struct pv_walck *ck)
{
    unsigned long n;

    pthread_mutex_lock(&ck->mu);
    n = (unsigned long) ck->stats.runs;
    pthread_mutex_unlock(&ck->mu);
    return n;
}

void pv_walck_stats(struct pv_walck *ck, struct pv_store_ckpt *out)
{
    pthread_mutex_lock(&ck->mu);
    *out = ck->stats;
    pthread_mutex_unlock(&ck->mu);
}

void pv_walck_free(struct pv_walck *ck)
{
    int started;

    if (!ck)
        return;
    pthread_mutex_lock(&ck->mu);
    ck->stop = 1;
    started = ck->started;
    pthread_cond_signal(&ck->cv);
    pthread_mutex_unlock(&ck->mu);
    if (started)
        pthread_join(ck->thread, NULL);
    pthread_cond_destroy(&ck->cv);
    pthread_mutex_destroy(&ck->mu);
    free(ck);
}
