/*
 * test_sqlite_wal.c - the SQLite driver's background checkpointer
 * (src/store/sqlite_wal.c): commits on one connection, checkpoints on the
 * checkpointer's own thread at a pace, the log kept bounded and started
 * again, and nothing lost. The hook below is the driver's (sqlite.c wal_hook).
 */
#include "store/sqlite_vfs.h"
#include "store/sqlite_wal.h"
#include "store/store.h"
#include "store/wgate.h"

#include <sqlite3.h>

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* SQLite's default page size; commits() makes its file with 4 KiB pages or, as the
 * driver makes a store, with 2 KiB. */
#define PAGE          4096
#define FRAMES(bytes) ((int) ((bytes) / PAGE))
/* Commits of a row of 5,000 bytes each (three frames of 4 KiB, four of 2 KiB): ~9 x
 * PV_WALCK_BYTES of log with 4 KiB pages. */
#define ROWS (3 * FRAMES(PV_WALCK_BYTES))

struct seen {
    struct pv_walck *ck;
    int max_frames; /* the largest log a commit reported */
    int restarts;   /* commits that found the log smaller than the one before */
    int last;
    int inline_ckpts; /* commits told to checkpoint inline */
    int page;         /* the file's page size */
};

static int hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct seen *s = arg;

    if (frames > s->max_frames)
        s->max_frames = frames;
    if (frames < s->last)
        s->restarts++;
    s->last = frames;
    if (pv_walck_committed(s->ck, frames, s->page)) {
        s->inline_ckpts++;
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    }
    return SQLITE_OK;
}

static void temp_path(char *out, size_t size)
{
    const char *tmp = getenv("STAMPD_TEST_TMP");

    if (!tmp || !*tmp || (mkdir(tmp, 0700) != 0 && errno != EEXIST))
        tmp = "/tmp";
    snprintf(out, size, "%s/walck-%ld.db", tmp, (long) getpid());
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

    if (rc != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", sql, err ? err : "?");
    sqlite3_free(err);
    assert_int_equal(rc, SQLITE_OK);
}

/* The driver's gate (wgate.h): the checkpointer ahead of the commits, as in the driver. */
static struct pv_wgate gate;
static int entered; /* holds; under the gate */
/* test_runs_before_the_hold: the checkpointer whose runs the first hold counts, and that
 * count. */
static struct pv_walck *watched;
static unsigned long runs_at_hold;
/* test_held_run_not_paced: rows committed on hold_db once the writers are held (the
 * checkpointer's thread, in gate_enter), for the held run to copy; the paced syncs counted
 * as the held run starts and once it has ended. */
static sqlite3 *hold_db;
static int hold_rows;
static unsigned long long paced_at_hold, paced_after_hold;

static int gate_enter(void *arg)
{
    (void) arg;
    if (pv_wgate_enter(&gate, 1, 10000) != 0)
        return -1;
    if (!entered++ && watched) {
        runs_at_hold = pv_walck_runs(watched);
        for (int i = 0; hold_db && i < hold_rows; i++)
            if (sqlite3_exec(hold_db, "INSERT INTO t(v) VALUES (zeroblob(5000))", NULL, NULL,
                             NULL) != SQLITE_OK)
                abort(); /* not cmocka's: this is the checkpointer's thread */
        paced_at_hold = pv_sqlite_vfs_paced_syncs();
    }
    return 0;
}

static void gate_leave(void *arg)
{
    (void) arg;
    if (entered == 1 && watched)
        paced_after_hold = pv_sqlite_vfs_paced_syncs();
    pv_wgate_leave(&gate);
}

/* A commit's turn at the gate. */
static void lock_gate(void)
{
    assert_int_equal(pv_wgate_enter(&gate, 0, 10000), 0);
}

static void unlock_gate(void)
{
    pv_wgate_leave(&gate);
}

static int holds(void)
{
    int n;

    lock_gate();
    n = entered;
    unlock_gate();
    return n;
}

/* A new database file at path (a fresh temporary name) with pages of page bytes, in
 * WAL mode, with the table t. Returns it owned. */
static sqlite3 *new_db(char *path, size_t size, int page)
{
    char wal[620], sql[200];
    sqlite3 *db = NULL;

    temp_path(path, size);
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(path);
    unlink(wal);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    snprintf(sql, sizeof sql,
             "PRAGMA page_size = %d; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
             "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB NOT NULL)",
             page);
    exec_ok(db, sql);
    return db;
}

/* ROWS commits of a 5,000-byte row: the checkpointer runs, the log starts again and never
 * grows far past the inline limit, every row is there. */
static void commits(int gated, int page)
{
    char path[600], wal[620];
    struct seen s = {0};
    sqlite3 *db = new_db(path, sizeof path, page);
    sqlite3_stmt *q = NULL;
    unsigned long long paced = pv_sqlite_vfs_paced_syncs();
    int i;

    snprintf(wal, sizeof wal, "%s-wal", path);
    s.page = page;
    s.ck = gated ? pv_walck_new(path, gate_enter, gate_leave, NULL)
                 : pv_walck_new(path, NULL, NULL, NULL);
    assert_non_null(s.ck);
    sqlite3_wal_hook(db, hook, &s);
    assert_int_equal(
        sqlite3_prepare_v2(db, "INSERT INTO t(v) VALUES (zeroblob(5000))", -1, &q, NULL),
        SQLITE_OK);
    for (i = 0; i < ROWS; i++) {
        /* The driver's writers pass the file's gate; so do these commits. */
        lock_gate();
        assert_int_equal(sqlite3_step(q), SQLITE_DONE);
        assert_int_equal(sqlite3_reset(q), SQLITE_OK);
        unlock_gate();
    }
    sqlite3_finalize(q);

    assert_true(pv_walck_runs(s.ck) > 0);
    /* SQLite would have let the log reach 1,000 frames and checkpointed inline each
     * time; here the log starts again (every ~PV_WALCK_RESTART_BYTES), and is bounded by
     * the inline limit, in bytes whatever the page size. */
    assert_true(s.restarts > 0);
    assert_true((long long) s.max_frames * page < PV_WALCK_INLINE_BYTES + 16LL * page);
    /* With the writers' gate, the checkpointer finishes each long log itself, and holds
     * the writers once a log: a run that finds the log the held run left (no write has
     * started it again yet) has nothing to finish. */
    if (gated) {
        assert_true(holds() > 0);
        assert_true(holds() <= s.restarts + 1);
    }
    /* The runs without the hold copy at a pace (the driver's VFS, registered in main). */
    assert_true(pv_sqlite_vfs_paced_syncs() > paced);
    pv_walck_free(s.ck);

    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), ROWS);
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *) sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    unlink(path);
    unlink(wal);
}

static void test_checkpoints_off_the_committer(void **state)
{
    (void) state;
    commits(0, PAGE);
}

/* The same with the gate the driver gives it: long logs finished under it. */
static void test_checkpointer_finishes_under_the_gate(void **state)
{
    (void) state;
    entered = 0;
    commits(1, PAGE);
}

/* A store the driver makes has 2 KiB pages: the log is counted in bytes, so it is
 * checkpointed, started again and bounded as one of 4 KiB pages is. */
static void test_checkpoints_with_2k_pages(void **state)
{
    (void) state;
    entered = 0;
    commits(1, 2048);
}

static void nap_ms(long ms)
{
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

/* Waits until the checkpointer has made no run for 100 ms; returns its runs. */
static unsigned long settled_runs(struct pv_walck *ck)
{
    unsigned long runs = pv_walck_runs(ck), now;

    for (int quiet = 0; quiet < 10; runs = now) {
        nap_ms(10);
        now = pv_walck_runs(ck);
        quiet = now == runs ? quiet + 1 : 0;
    }
    return runs;
}

/* Once the checkpointer has finished a log with the writers held, a run that finds
 * that same log (no write has started it again yet) holds them no more: before
 * session 23 each log was finished twice, the second time copying nothing. */
static void test_one_hold_a_log(void **state)
{
    char path[600], wal[620];
    struct seen s = {0};
    sqlite3 *db = new_db(path, sizeof path, PAGE);
    sqlite3_stmt *q = NULL;
    static const int64_t le[] = {PV_CKPT_LE_US};
    struct pv_store_ckpt st;
    unsigned long runs;
    int i, held = 0, bucket;

    (void) state;
    entered = 0;
    snprintf(wal, sizeof wal, "%s-wal", path);
    s.page = PAGE;
    s.ck = pv_walck_new(path, gate_enter, gate_leave, NULL);
    assert_non_null(s.ck);
    sqlite3_wal_hook(db, hook, &s);
    assert_int_equal(
        sqlite3_prepare_v2(db, "INSERT INTO t(v) VALUES (zeroblob(5000))", -1, &q, NULL),
        SQLITE_OK);
    /* Commit until the checkpointer has held the writers once, and not after. */
    for (i = 0; i < 2 * ROWS && !held; i++) {
        lock_gate();
        held = entered > 0;
        if (!held) {
            assert_int_equal(sqlite3_step(q), SQLITE_DONE);
            assert_int_equal(sqlite3_reset(q), SQLITE_OK);
        }
        unlock_gate();
    }
    assert_true(held);
    /* The hold was for a long log (not one an inline checkpoint started again). */
    assert_true((long long) s.last * PAGE >= PV_WALCK_RESTART_BYTES);
    runs = settled_runs(s.ck);
    /* Reports with no write, of a log shorter than the one the checkpointer last saw (a
     * new log, too short to run on), then of one long enough, so that it asks for a run
     * whatever the runs since: the checkpointer runs on the log the held run left and
     * finds nothing to finish. */
    assert_int_equal(pv_walck_committed(s.ck, FRAMES(PV_WALCK_BYTES), PAGE), 0);
    nap_ms(50);
    assert_int_equal(pv_walck_runs(s.ck), runs);
    assert_int_equal(pv_walck_committed(s.ck, FRAMES(PV_WALCK_RESTART_BYTES), PAGE), 0);
    for (i = 0; i < 500 && pv_walck_runs(s.ck) == runs; i++)
        nap_ms(10);
    assert_true(pv_walck_runs(s.ck) > runs);
    settled_runs(s.ck);
    assert_int_equal(holds(), 1);
    /* What GET /metrics shows: every run, and the one hold in the bucket of its length. */
    pv_walck_stats(s.ck, &st);
    assert_int_equal(st.runs, pv_walck_runs(s.ck));
    assert_int_equal(st.holds, 1);
    assert_true(st.hold_us >= 0);
    for (i = 0, bucket = -1; i < PV_CKPT_BUCKETS; i++)
        if (st.hold_bucket[i]) {
            assert_int_equal(st.hold_bucket[i], 1);
            assert_int_equal(bucket, -1);
            bucket = i;
        }
    assert_true(bucket >= 0);
    assert_true(bucket == PV_CKPT_BUCKETS - 1 || st.hold_us <= le[bucket]);
    assert_true(bucket == 0 || st.hold_us > le[bucket - 1]);
    pv_walck_free(s.ck);
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    unlink(path);
    unlink(wal);
}

/* A commit's hook that reports nothing: the log's frames only. */
static int count_frames(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void) db;
    (void) name;
    *(int *) arg = frames;
    return SQLITE_OK;
}

/* A checkpointer first told of a log already past target bytes, with no commit after (but
 * in_hold rows once the writers are held): it holds the writers once, after exactly 1 +
 * PV_WALCK_RUNS_BEFORE_HOLD runs (the runs before the hold, sqlite_wal.h), and the next write
 * starts the log again. Returns the syncs its runs made at a pace. */
static unsigned long long hold_after_runs(long long target, int in_hold)
{
    char path[600], wal[620];
    sqlite3 *db = new_db(path, sizeof path, PAGE);
    sqlite3_stmt *q = NULL;
    struct pv_walck *ck;
    unsigned long long paced = pv_sqlite_vfs_paced_syncs();
    int frames = 0, n = 0, i;

    entered = 0;
    runs_at_hold = 0;
    snprintf(wal, sizeof wal, "%s-wal", path);
    exec_ok(db, "PRAGMA wal_autocheckpoint = 0");
    sqlite3_wal_hook(db, count_frames, &frames);
    ck = pv_walck_new(path, gate_enter, gate_leave, NULL);
    assert_non_null(ck);
    watched = ck;
    hold_rows = in_hold;
    if (in_hold) {
        assert_int_equal(sqlite3_open(path, &hold_db), SQLITE_OK);
        sqlite3_busy_timeout(hold_db, 5000);
    }
    assert_int_equal(
        sqlite3_prepare_v2(db, "INSERT INTO t(v) VALUES (zeroblob(5000))", -1, &q, NULL),
        SQLITE_OK);
    while ((long long) frames * PAGE < target) {
        assert_int_equal(sqlite3_step(q), SQLITE_DONE);
        assert_int_equal(sqlite3_reset(q), SQLITE_OK);
        n++;
    }
    assert_true((long long) frames * PAGE < PV_WALCK_INLINE_BYTES);
    assert_int_equal(pv_walck_committed(ck, frames, PAGE), 0);
    for (i = 0; i < 1000 && holds() == 0; i++)
        nap_ms(10);
    settled_runs(ck);
    assert_int_equal(holds(), 1);
    assert_int_equal(runs_at_hold, 1 + PV_WALCK_RUNS_BEFORE_HOLD);
    assert_int_equal(pv_walck_runs(ck), 1 + PV_WALCK_RUNS_BEFORE_HOLD);
    paced = pv_sqlite_vfs_paced_syncs() - paced;
    /* The held run copied the whole log: the next write starts it again. */
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    assert_int_equal(sqlite3_reset(q), SQLITE_OK);
    assert_true(frames > 0 && frames < 10);
    watched = NULL;
    pv_walck_free(ck);
    if (hold_db) {
        assert_int_equal(sqlite3_close(hold_db), SQLITE_OK);
        hold_db = NULL;
    }
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), n + 1 + in_hold);
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    unlink(path);
    unlink(wal);
    return paced;
}

/* A log found long enough to finish is copied by PV_WALCK_RUNS_BEFORE_HOLD more runs before
 * the held run finishes it, at a pace: a sync every PV_WALCK_PACE_BYTES of pages, about as
 * many as the log's 32 MB of distinct pages hold. */
static void test_runs_before_the_hold(void **state)
{
    unsigned long long paced;

    (void) state;
    paced = hold_after_runs(PV_WALCK_RESTART_BYTES, 0);
    assert_true(paced > 0);
    assert_true(paced <= (unsigned long long) (PV_WALCK_INLINE_BYTES / PV_WALCK_PACE_BYTES));
}

/* A log past PV_WALCK_PACE_UNTIL_BYTES (a checkpointer falling behind): the same runs and
 * hold, copied with no sync of the checkpointer's own. */
static void test_no_pace_past_the_limit(void **state)
{
    (void) state;
    assert_int_equal(hold_after_runs(PV_WALCK_PACE_UNTIL_BYTES, 0), 0);
}

/* The held run is not paced: SQLite syncs the database once, at its end, as before session
 * 32. Rows committed once the writers are held (1.5 MB of pages, ~23 paced syncs' worth) are
 * copied by the held run - the next write starts the log again - with no paced sync. */
static void test_held_run_not_paced(void **state)
{
    (void) state;
    paced_at_hold = paced_after_hold = 0;
    assert_true(hold_after_runs(PV_WALCK_RESTART_BYTES, 300) > 0);
    assert_true(paced_at_hold > 0);
    assert_int_equal(paced_after_hold, paced_at_hold);
}

/* A file the checkpointer cannot open: commits are told to checkpoint inline. */
static void test_inline_when_the_thread_cannot_open(void **state)
{
    struct pv_walck *ck = pv_walck_new("/nonexistent-dir/x.db", NULL, NULL, NULL);
    struct pv_store_ckpt before, after;
    int i, told = 0;

    (void) state;
    assert_non_null(ck);
    /* small: nothing */
    assert_int_equal(pv_walck_committed(ck, FRAMES(PV_WALCK_BYTES) - 1, PAGE), 0);
    /* The thread starts, fails to open the file, and says so; then inline. */
    for (i = 0; i < 200 && !told; i++) {
        told = pv_walck_committed(ck, FRAMES(PV_WALCK_BYTES) + i, PAGE);
        if (!told)
            nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    assert_true(told);
    /* Each commit told to checkpoint inline is counted (GET /metrics). */
    pv_walck_stats(ck, &before);
    assert_true(before.inline_runs >= 1);
    assert_int_equal(pv_walck_committed(ck, FRAMES(PV_WALCK_INLINE_BYTES), PAGE), 1);
    pv_walck_stats(ck, &after);
    assert_int_equal(after.inline_runs, before.inline_runs + 1);
    assert_int_equal(after.holds, 0);
    /* The log is counted in bytes: as many frames of 1 KiB pages are a quarter of the
     * log, too small to ask for anything; four times as many are as large. */
    assert_int_equal(pv_walck_committed(ck, FRAMES(PV_WALCK_BYTES), 1024), 0);
    assert_int_equal(pv_walck_committed(ck, 4 * FRAMES(PV_WALCK_BYTES) - 1, 1024), 0);
    assert_int_equal(pv_walck_committed(ck, 4 * FRAMES(PV_WALCK_BYTES), 1024), 1);
    pv_walck_free(ck);
    pv_walck_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoints_off_the_committer),
        cmocka_unit_test(test_checkpointer_finishes_under_the_gate),
        cmocka_unit_test(test_checkpoints_with_2k_pages),
        cmocka_unit_test(test_one_hold_a_log),
        cmocka_unit_test(test_runs_before_the_hold),
        cmocka_unit_test(test_no_pace_past_the_limit),
        cmocka_unit_test(test_held_run_not_paced),
        cmocka_unit_test(test_inline_when_the_thread_cannot_open),
    };
    /* The driver registers its VFS before any store opens: its checkpointer paces its runs
     * through it. */
    if (pv_wgate_init(&gate) != 0 || sqlite3_initialize() != SQLITE_OK ||
        pv_sqlite_vfs_register() != SQLITE_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
