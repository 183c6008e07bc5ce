/*
 * test_sqlite_vfs.c - the SQLite driver's gathering VFS (src/store/sqlite_vfs.c):
 * a commit's log frames are written in a few calls, and what is in the files
 * is what SQLite's own VFS would have left there at every point another
 * connection or process can look: after a commit, after a rolled-back
 * transaction that spilled frames to the log, after a transaction that wrote
 * a frame again, after a transaction larger than the gather; and a commit
 * whose write fails is refused with nothing of it kept; and a checkpoint on a
 * paced connection syncs the database every so many pages, and fails when such
 * a sync fails (the VFS then lies over one whose syncs a test can make fail). Each writer runs
 * in a child process that ends with _exit, closing nothing, so the parent
 * reads only what reached the files (the log recovered from them).
 */
#include "store/sqlite_vfs.h"
#include "store/sqlite_wal.h"

#include <sqlite3.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lite_sql.h"

static char path[512];

static sqlite3 *open_db(const char *vfs)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
                     SQLITE_OK);
    exec_ok(db, "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;"
                "PRAGMA synchronous = FULL");
    return db;
}

static int setup(void **state)
{
    const char *tmp = getenv("STAMPD_TEST_TMP");
    char side[600];
    sqlite3 *db;

    (void) state;
    if (!tmp || !*tmp || (mkdir(tmp, 0700) != 0 && errno != EEXIST))
        tmp = "/tmp";
    snprintf(path, sizeof path, "%s/gather-%ld.db", tmp, (long) getpid());
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    db = open_db(NULL);
    /* No automatic checkpoint: the frames stay in the log, where the tests look. */
    exec_ok(db, "CREATE TABLE t(tag TEXT, n INTEGER, x BLOB); PRAGMA wal_autocheckpoint = 0");
    sqlite3_close(db);
    return 0;
}

static int teardown(void **state)
{
    char side[600];

    (void) state;
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    return 0;
}

/* Runs fn in a child process over the gathering VFS; the child ends with
 * _exit(0) without closing its connections, as a crash right after would. */
static void in_child(void (*fn)(void))
{
    pid_t pid = fork();
    int status = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* In a child, a failed check must end the child with a status the parent sees. */
static void child_exec(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "child: %s: %s\n", sql, sqlite3_errmsg(db));
        _exit(3);
    }
}

static sqlite3 *child_open(const char *vfs, int cache_pages)
{
    sqlite3 *db = NULL;
    char sql[64];

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, vfs) != SQLITE_OK)
        _exit(2);
    child_exec(db, "PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL;"
                   "PRAGMA wal_autocheckpoint = 0");
    if (cache_pages) {
        snprintf(sql, sizeof sql, "PRAGMA cache_size = %d", cache_pages);
        child_exec(db, sql);
    }
    if (vfs) { /* the driver's word: this connection syncs every commit */
        int on = 1;

        if (sqlite3_file_control(db, "main", PV_SQLITE_FCNTL_GATHER, &on) != SQLITE_OK || !on)
            _exit(8);
    }
    return db;
}

/* ---- a commit's frames in a few writes, seen by another process at once ---- */

static void commit_rows(void)
{
    sqlite3 *db = child_open(PV_SQLITE_VFS, 0);
    unsigned long long w0, c0, w1, c1;

    pv_sqlite_vfs_counts(&w0, &c0);
    child_exec(db, "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 200)"
                   " INSERT INTO t SELECT 'commit', i, randomblob(3000) FROM s");
    pv_sqlite_vfs_counts(&w1, &c1);
    /* ~150 pages: two writes a frame through SQLite, a few calls to the file. */
    if (w1 - w0 < 200 || c1 - c0 > 10) {
        fprintf(stderr, "child: %llu writes in %llu calls\n", w1 - w0, c1 - c0);
        _exit(4);
    }
}

static void test_commit_in_few_writes(void **state)
{
    sqlite3 *keep = open_db(NULL), *db;

    (void) state;
    /* A reader open all along reads the log index the child published... */
    assert_int_equal(one(keep, "SELECT count(*) FROM t"), 0);
    in_child(commit_rows);
    assert_int_equal(one(keep, "SELECT count(*) FROM t WHERE tag = 'commit'"), 200);
    assert_int_equal(one(keep, "SELECT sum(length(x)) FROM t WHERE tag = 'commit'"), 200 * 3000);
    integrity_ok(keep);
    sqlite3_close(keep);
    db = open_db(NULL); /* ...and a new one what the files hold (recovered) */
    assert_int_equal(one(db, "SELECT count(*) FROM t WHERE tag = 'commit'"), 200);
    assert_int_equal(one(db, "SELECT sum(length(x)) FROM t WHERE tag = 'commit'"), 200 * 3000);
    integrity_ok(db);
    sqlite3_close(db);
}

/* ---- a connection the driver did not mark (synchronous = NORMAL) is not gathered ---- */

static void commit_unmarked(void)
{
    sqlite3 *db = NULL;
    unsigned long long w0, c0, w1, c1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, PV_SQLITE_VFS) != SQLITE_OK)
        _exit(2);
    child_exec(db, "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0");
    pv_sqlite_vfs_counts(&w0, &c0);
    child_exec(db, "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 50)"
                   " INSERT INTO t SELECT 'unmarked', i, randomblob(3000) FROM s");
    pv_sqlite_vfs_counts(&w1, &c1);
    if (w1 - w0 < 50 || c1 - c0 != w1 - w0) {
        fprintf(stderr, "child: %llu writes in %llu calls\n", w1 - w0, c1 - c0);
        _exit(4);
    }
}

static void test_unmarked_connection_writes_through(void **state)
{
    sqlite3 *db;

    (void) state;
    in_child(commit_unmarked);
    db = open_db(NULL);
    assert_int_equal(one(db, "SELECT count(*) FROM t WHERE tag = 'unmarked'"), 50);
    integrity_ok(db);
    sqlite3_close(db);
}

/* ---- a spilled, rolled-back transaction, then another writer, then the first ---- */

static void spill_rollback_interleave(void)
{
    sqlite3 *a = child_open(PV_SQLITE_VFS, 16), *b = child_open(PV_SQLITE_VFS, 0);

    /* 16 pages of cache: this transaction spills frames to the log before it ends. */
    child_exec(a, "BEGIN");
    child_exec(a, "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 300)"
                  " INSERT INTO t SELECT 'spilled', i, randomblob(3000) FROM s");
    child_exec(a, "ROLLBACK");
    /* The other connection writes where those frames were... */
    child_exec(b, "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 50)"
                  " INSERT INTO t SELECT 'other', i, randomblob(2000) FROM s");
    /* ...and the first one commits after it: nothing of the rolled-back
     * transaction may land on the other's frames. */
    child_exec(a, "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 10)"
                  " INSERT INTO t SELECT 'after', i, randomblob(1000) FROM s");
}

static void test_rolled_back_spill_then_another_writer(void **state)
{
    sqlite3 *keep = open_db(NULL), *db;

    (void) state;
    assert_int_equal(one(keep, "SELECT count(*) FROM t"), 0);
    in_child(spill_rollback_interleave);
    integrity_ok(keep);
    assert_int_equal(one(keep, "SELECT count(*) FROM t WHERE tag = 'other'"), 50);
    assert_int_equal(one(keep, "SELECT count(*) FROM t WHERE tag = 'after'"), 10);
    sqlite3_close(keep);
    db = open_db(NULL);
    integrity_ok(db);
    assert_int_equal(one(db, "SELECT count(*) FROM t WHERE tag = 'spilled'"), 0);
    assert_int_equal(one(db, "SELECT count(*) FROM t WHERE tag = 'other'"), 50);
    assert_int_equal(one(db, "SELECT sum(length(x)) FROM t WHERE tag = 'other'"), 50 * 2000);
    assert_int_equal(one(db, "SELECT count(*) FROM t WHERE tag = 'after'"), 10);
    sqlite3_close(db);
}

/* ---- a transaction that writes a frame again, and reads it back ---- */

static void rewrite_frames(void)
{
    sqlite3 *a = child_open(PV_SQLITE_VFS, 16);

    child_exec(a, "BEGIN");
    child_exec(a, "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 200)"
                  " INSERT INTO t SELECT 'again', i, zeroblob(1500) FROM s");
    /* The pages spilled above are read back from the log (the cache holds 16)
     * and changed again: SQLite writes their frames over, then reads the log
     * back to compute its checksums at the commit. */
    child_exec(a, "UPDATE t SET n = n + 1000, x = randomblob(1500) WHERE tag = 'again'");
    child_exec(a, "COMMIT");
}

static void test_frames_written_again(void **state)
{
    sqlite3 *db;

    (void) state;
    in_child(rewrite_frames);
    db = open_db(NULL);
    integrity_ok(db);
    assert_int_equal(one(db, "SELECT count(*) FROM t WHERE tag = 'again' AND n > 1000"), 200);
    assert_int_equal(one(db, "SELECT count(*) FROM t WHERE tag = 'again' AND x = zeroblob(1500)"),
                     0);
    sqlite3_close(db);
}

/* ---- a transaction larger than the gather (2 MiB) and than a write (124 KiB) ---- */

static void large_commit(void)
{
    sqlite3 *a = child_open(PV_SQLITE_VFS, 0);

    child_exec(a, "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 600)"
                  " INSERT INTO t SELECT 'large', i, randomblob(10000) FROM s");
}

static void test_larger_than_the_gather(void **state)
{
    sqlite3 *db;

    (void) state;
    in_child(large_commit);
    db = open_db(NULL);
    integrity_ok(db);
    assert_int_equal(one(db, "SELECT count(*) FROM t WHERE tag = 'large'"), 600);
    assert_int_equal(one(db, "SELECT sum(length(x)) FROM t WHERE tag = 'large'"), 600 * 10000);
    sqlite3_close(db);
}

/* ---- a commit whose gathered write fails: refused, nothing of it kept ---- */

static void commit_past_file_limit(void)
{
    sqlite3 *a = child_open(PV_SQLITE_VFS, 0);
    struct stat st;
    struct rlimit lim;
    char wal[600];
    int rc;

    child_exec(a, "INSERT INTO t VALUES ('before', 1, randomblob(100))");
    snprintf(wal, sizeof wal, "%s-wal", path);
    if (stat(wal, &st) != 0)
        _exit(5);
    /* The log may grow by 64 KiB more: the next commit's ~300 KiB cannot be written. */
    signal(SIGXFSZ, SIG_IGN);
    lim.rlim_cur = lim.rlim_max = (rlim_t) st.st_size + (64 << 10);
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
        _exit(6);
    rc = sqlite3_exec(a,
                      "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s"
                      " WHERE i < 100) INSERT INTO t SELECT 'refused', i, randomblob(3000) FROM s",
                      NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        fprintf(stderr, "child: a commit past the file limit succeeded\n");
        _exit(7);
    }
    /* The connection goes on: a small commit within the limit is kept. */
    child_exec(a, "INSERT INTO t VALUES ('after', 2, randomblob(100))");
}

static void test_failed_write_refuses_the_commit(void **state)
{
    sqlite3 *db;

    (void) state;
    in_child(commit_past_file_limit);
    db = open_db(NULL);
    integrity_ok(db);
    assert_int_equal(one(db, "SELECT count(*) FROM t WHERE tag = 'before'"), 1);
    assert_int_equal(one(db, "SELECT count(*) FROM t WHERE tag = 'refused'"), 0);
    assert_int_equal(one(db, "SELECT count(*) FROM t WHERE tag = 'after'"), 1);
    sqlite3_close(db);
}

/* ---- under the VFS: SQLite's own, whose database syncs fail when a test says so ---- */

static sqlite3_vfs *unix_vfs, under_vfs;
static int fail_syncs; /* a database file's sync fails with SQLITE_IOERR_FSYNC */

struct ufile {
    sqlite3_file base;
    int db; /* a main database file */
};          /* SQLite's own file follows */

static sqlite3_file *usub(sqlite3_file *f)
{
    return (sqlite3_file *) ((struct ufile *) f + 1);
}

#define UFWD(call, ...) (usub(f)->pMethods->call(usub(f), __VA_ARGS__))
static int u_close(sqlite3_file *f)
{
    return usub(f)->pMethods->xClose(usub(f));
}
static int u_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return UFWD(xRead, b, n, o);
}
static int u_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    return UFWD(xWrite, b, n, o);
}
static int u_truncate(sqlite3_file *f, sqlite3_int64 n)
{
    return UFWD(xTruncate, n);
}
static int u_sync(sqlite3_file *f, int flags)
{
    return ((struct ufile *) f)->db && fail_syncs ? SQLITE_IOERR_FSYNC : UFWD(xSync, flags);
}
static int u_size(sqlite3_file *f, sqlite3_int64 *n)
{
    return UFWD(xFileSize, n);
}
static int u_lock(sqlite3_file *f, int l)
{
    return UFWD(xLock, l);
}
static int u_unlock(sqlite3_file *f, int l)
{
    return UFWD(xUnlock, l);
}
static int u_check(sqlite3_file *f, int *out)
{
    return UFWD(xCheckReservedLock, out);
}
static int u_fcntl(sqlite3_file *f, int op, void *arg)
{
    return UFWD(xFileControl, op, arg);
}
static int u_sector(sqlite3_file *f)
{
    return usub(f)->pMethods->xSectorSize(usub(f));
}
static int u_device(sqlite3_file *f)
{
    return usub(f)->pMethods->xDeviceCharacteristics(usub(f));
}
static int u_shmmap(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
    return UFWD(xShmMap, pg, sz, ext, pp);
}
static int u_shmlock(sqlite3_file *f, int o, int n, int flags)
{
    return UFWD(xShmLock, o, n, flags);
}
static void u_shmbarrier(sqlite3_file *f)
{
    usub(f)->pMethods->xShmBarrier(usub(f));
}
static int u_shmunmap(sqlite3_file *f, int del)
{
    return UFWD(xShmUnmap, del);
}
static int u_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp)
{
    return UFWD(xFetch, o, n, pp);
}
static int u_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{
    return UFWD(xUnfetch, o, p);
}

static const sqlite3_io_methods under_methods = {
    3,         u_close,      u_read,     u_write, u_truncate, u_sync,   u_size,
    u_lock,    u_unlock,     u_check,    u_fcntl, u_sector,   u_device, u_shmmap,
    u_shmlock, u_shmbarrier, u_shmunmap, u_fetch, u_unfetch,
};

/* SQLite's own file, its methods ours where SQLite's has version 3 (the unix VFS's
 * database and log files), as they are elsewhere (journals, temporary files). */
static int u_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
    struct ufile *u = (struct ufile *) f;
    int rc;

    (void) v;
    memset(u, 0, sizeof *u);
    rc = unix_vfs->xOpen(unix_vfs, name, usub(f), flags, out);
    if (rc != SQLITE_OK || !usub(f)->pMethods) {
        f->pMethods = NULL;
        return rc;
    }
    if (usub(f)->pMethods->iVersion < 3) {
        usub(f)->pMethods->xClose(usub(f));
        return unix_vfs->xOpen(unix_vfs, name, f, flags, out);
    }
    u->db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
    f->pMethods = &under_methods;
    return SQLITE_OK;
}

/* Registers it as the default, for the driver's VFS to lie over (main). */
static int register_under(void)
{
    unix_vfs = sqlite3_vfs_find(NULL);
    if (!unix_vfs)
        return SQLITE_ERROR;
    under_vfs = *unix_vfs;
    under_vfs.zName = "under-test";
    under_vfs.szOsFile = (int) sizeof(struct ufile) + unix_vfs->szOsFile;
    under_vfs.xOpen = u_open;
    under_vfs.pNext = NULL;
    return sqlite3_vfs_register(&under_vfs, 1);
}

/* ---- a database file synced at a pace (the checkpointer's runs) ---- */

/* A checkpoint on a connection paced at 8 syncs the database after every 8 pages it
 * copies back; unpaced, it syncs none of them (no run here copies the whole log twice:
 * SQLite's own sync is not counted). A connection not over the VFS is told NOTFOUND. */
static void test_paced_checkpoint(void **state)
{
    sqlite3 *w = open_db(PV_SQLITE_VFS), *ck = open_db(PV_SQLITE_VFS), *plain = open_db(NULL);
    int pace = 8, zero = 0, log = -1, done = -1;
    unsigned long long s0, s1;

    (void) state;
    assert_int_equal(sqlite3_file_control(plain, "main", PV_SQLITE_FCNTL_PACE, &pace),
                     SQLITE_NOTFOUND);
    /* One transaction of ~200 pages: each page once in the log. */
    exec_ok(w, "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 200)"
               " INSERT INTO t SELECT 'paced', i, randomblob(3000) FROM s");
    assert_int_equal(sqlite3_file_control(ck, "main", PV_SQLITE_FCNTL_PACE, &pace), SQLITE_OK);
    s0 = pv_sqlite_vfs_paced_syncs();
    assert_int_equal(sqlite3_wal_checkpoint_v2(ck, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done),
                     SQLITE_OK);
    s1 = pv_sqlite_vfs_paced_syncs();
    assert_true(log >= 200);
    assert_int_equal(done, log);
    assert_int_equal(s1 - s0, (unsigned long long) log / 8);

    /* Unpaced: the next log is copied back with no sync of ours. */
    assert_int_equal(sqlite3_file_control(ck, "main", PV_SQLITE_FCNTL_PACE, &zero), SQLITE_OK);
    exec_ok(w, "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 100)"
               " INSERT INTO t SELECT 'unpaced', i, randomblob(3000) FROM s");
    assert_int_equal(sqlite3_wal_checkpoint_v2(ck, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done),
                     SQLITE_OK);
    assert_true(done > 0);
    assert_int_equal(pv_sqlite_vfs_paced_syncs(), s1);
    sqlite3_close(ck);
    sqlite3_close(w);
    integrity_ok(plain);
    assert_int_equal(one(plain, "SELECT count(*) FROM t WHERE tag = 'paced'"), 200);
    assert_int_equal(one(plain, "SELECT count(*) FROM t WHERE tag = 'unpaced'"), 100);
    sqlite3_close(plain);
}

/* A paced sync that fails fails the checkpoint with SQLITE_IOERR_FSYNC (a reader keeps the
 * run from copying the whole log, so SQLite's own sync does not come into it);
 * pv_walck_check_sync then ends the process (a child, here). The rows are intact, and a
 * checkpoint once the disk is back copies the whole log. */
static void test_failed_paced_sync(void **state)
{
    sqlite3 *w = open_db(PV_SQLITE_VFS), *ck = open_db(PV_SQLITE_VFS), *r = open_db(NULL);
    int pace = 8, log = -1, done = -1, rc, status = 0;
    pid_t pid;

    (void) state;
    exec_ok(w, "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 50)"
               " INSERT INTO t SELECT 'kept', i, randomblob(3000) FROM s");
    exec_ok(r, "BEGIN");
    assert_int_equal(one(r, "SELECT count(*) FROM t"), 50);
    exec_ok(w, "INSERT INTO t VALUES ('after', 1, randomblob(3000))");
    assert_int_equal(sqlite3_file_control(ck, "main", PV_SQLITE_FCNTL_PACE, &pace), SQLITE_OK);
    fail_syncs = 1;
    rc = sqlite3_wal_checkpoint_v2(ck, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    fail_syncs = 0;
    assert_int_not_equal(rc, SQLITE_OK);
    assert_int_equal(sqlite3_extended_errcode(ck), SQLITE_IOERR_FSYNC);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fclose(stderr); /* the message is the parent's to not print */
        pv_walck_check_sync(ck, rc, path);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    pv_walck_check_sync(ck, SQLITE_OK, path); /* returns */
    exec_ok(r, "COMMIT");
    sqlite3_close(r);
    assert_int_equal(sqlite3_wal_checkpoint_v2(ck, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done),
                     SQLITE_OK);
    assert_true(log > 0);
    assert_int_equal(done, log);
    sqlite3_close(ck);
    integrity_ok(w);
    assert_int_equal(one(w, "SELECT count(*) FROM t WHERE tag = 'kept'"), 50);
    assert_int_equal(one(w, "SELECT count(*) FROM t WHERE tag = 'after'"), 1);
    sqlite3_close(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_in_few_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unmarked_connection_writes_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rolled_back_spill_then_another_writer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_frames_written_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_larger_than_the_gather, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_refuses_the_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paced_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_paced_sync, setup, teardown),
    };

    /* The driver's VFS over one whose database syncs can be made to fail (SQLite's own
     * otherwise). */
    if (sqlite3_initialize() != SQLITE_OK || register_under() != SQLITE_OK ||
        pv_sqlite_vfs_register() != SQLITE_OK) {
        fprintf(stderr, "the gathering VFS could not be registered\n");
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
