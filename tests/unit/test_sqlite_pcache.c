/*
 * test_sqlite_pcache.c - the SQLite driver's page cache (src/store/sqlite_pcache.c):
 * a commit that leaves no page past the database's end in the cache does not
 * pass its truncation on to SQLite's own cache (which would look at every page),
 * and every truncation that has something to drop does: after a transaction or a
 * savepoint rolled back over pages it had added, after a VACUUM that shrank the
 * file, what every connection reads is what was committed, and the file passes
 * integrity_check; and its methods called directly do what SQLite's own would.
 */
#include "store/sqlite_pcache.h"

#include <sqlite3.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lite_sql.h"

static char path[512];

/* The store's settings: 2 KiB pages, WAL, synchronous = FULL, temporary tables in memory
 * (the counts are the database file's cache's alone). */
static sqlite3 *open_db(void)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    exec_ok(db, "PRAGMA page_size = 2048; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                "PRAGMA temp_store = MEMORY");
    return db;
}

static void unlink_all(void)
{
    char side[600];

    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

static int setup(void **state)
{
    const char *tmp = getenv("STAMPD_TEST_TMP");
    sqlite3 *db;

    (void) state;
    if (!tmp || !*tmp || (mkdir(tmp, 0700) != 0 && errno != EEXIST))
        tmp = "/tmp";
    snprintf(path, sizeof path, "%s/pcache-%ld.db", tmp, (long) getpid());
    unlink_all();
    db = open_db();
    /* Keys at random places, as clients' Idempotency-Keys are: pages split all over. */
    exec_ok(db, "CREATE TABLE t(tag TEXT NOT NULL, k BLOB NOT NULL, v BLOB NOT NULL);"
                "CREATE INDEX t_k ON t(k)");
    sqlite3_close(db);
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    unlink_all();
    return 0;
}

/* n rows of tag in one statement (inside whatever transaction is open). */
static void insert(sqlite3 *db, const char *tag, int n)
{
    char sql[256];

    snprintf(sql, sizeof sql,
             "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d) "
             "INSERT INTO t(tag, k, v) SELECT '%s', randomblob(24), zeroblob(120) FROM c",
             n, tag);
    exec_ok(db, sql);
}

static void counts(unsigned long long *passed, unsigned long long *skipped)
{
    pv_sqlite_pcache_counts(passed, skipped);
}

/* Commits that split pages all over the index: SQLite asks for a truncation at
 * each, and hardly any has a page past the end to drop. */
static void test_commits_skip_the_scan(void **state)
{
    unsigned long long p0, s0, p1, s1;
    sqlite3 *db = open_db(), *other;

    (void) state;
    insert(db, "seed", 2000); /* the first truncation of a new cache is passed on */
    counts(&p0, &s0);
    for (int i = 0; i < 200; i++) {
        exec_ok(db, "BEGIN IMMEDIATE");
        insert(db, "a", 50);
        exec_ok(db, "COMMIT");
    }
    counts(&p1, &s1);
    assert_true(s1 - s0 >= 200);
    assert_true(p1 - p0 <= 5);
    assert_int_equal(one(db, "SELECT count(*) FROM t WHERE tag = 'a'"), 10000);
    integrity_ok(db);
    other = open_db();
    assert_int_equal(one(other, "SELECT count(*) FROM t INDEXED BY t_k WHERE k IS NOT NULL"),
                     12000);
    integrity_ok(other);
    sqlite3_close(other);
    sqlite3_close(db);
}

/* A savepoint rolled back over pages it added leaves them in the cache past the
 * database's end: the commit's truncation must drop them, and is passed on. */
static void test_savepoint_rolled_back_pages_dropped(void **state)
{
    unsigned long long p0, s0, p1, s1;
    sqlite3 *db = open_db(), *other = NULL;
    int64_t pages;

    (void) state;
    insert(db, "seed", 2000);
    pages = one(db, "PRAGMA page_count");
    counts(&p0, &s0);
    exec_ok(db, "BEGIN IMMEDIATE");
    insert(db, "kept", 10);
    exec_ok(db, "SAVEPOINT s");
    insert(db, "gone", 1500); /* ~150 pages: fewer than the cache remembers (384) */
    assert_true(one(db, "PRAGMA page_count") > pages + 100);
    assert_true(one(db, "PRAGMA page_count") < pages + 300);
    exec_ok(db, "ROLLBACK TO s; RELEASE s; COMMIT");
    counts(&p1, &s1);
    assert_true(p1 - p0 >= 1);
    /* The same page numbers again, with other rows on them. */
    exec_ok(db, "BEGIN IMMEDIATE");
    insert(db, "new", 3000);
    exec_ok(db, "COMMIT");
    for (int pass = 0; pass < 2; pass++) {
        sqlite3 *c = pass ? (other = open_db()) : db;

        assert_int_equal(one(c, "SELECT count(*) FROM t WHERE tag = 'gone'"), 0);
        assert_int_equal(one(c, "SELECT count(*) FROM t WHERE tag = 'kept'"), 10);
        assert_int_equal(one(c, "SELECT count(*) FROM t WHERE tag = 'new'"), 3000);
        assert_int_equal(one(c, "SELECT count(*) FROM t INDEXED BY t_k WHERE k IS NOT NULL"), 5010);
        integrity_ok(c);
    }
    sqlite3_close(other);
    sqlite3_close(db);
}

/* A transaction rolled back over pages it added; then the same page numbers again. */
static void test_rolled_back_transaction(void **state)
{
    sqlite3 *db = open_db(), *other;

    (void) state;
    insert(db, "seed", 500);
    exec_ok(db, "BEGIN IMMEDIATE");
    insert(db, "gone", 3000);
    exec_ok(db, "ROLLBACK");
    exec_ok(db, "BEGIN IMMEDIATE");
    insert(db, "new", 2000);
    exec_ok(db, "COMMIT");
    other = open_db();
    assert_int_equal(one(db, "SELECT count(*) FROM t WHERE tag = 'gone'"), 0);
    assert_int_equal(one(other, "SELECT count(*) FROM t WHERE tag = 'new'"), 2000);
    assert_int_equal(one(other, "SELECT count(*) FROM t INDEXED BY t_k WHERE k IS NOT NULL"), 2500);
    integrity_ok(db);
    integrity_ok(other);
    sqlite3_close(other);
    sqlite3_close(db);
}

/* A VACUUM that shrinks the file: a truncation under the last one's limit is passed on. */
static void test_shrunk_file(void **state)
{
    unsigned long long p0, s0, p1, s1;
    sqlite3 *db = open_db();
    int64_t before;

    (void) state;
    insert(db, "gone", 4000);
    insert(db, "kept", 100);
    exec_ok(db, "DELETE FROM t WHERE tag = 'gone'");
    before = one(db, "PRAGMA page_count");
    counts(&p0, &s0);
    exec_ok(db, "VACUUM");
    counts(&p1, &s1);
    assert_true(one(db, "PRAGMA page_count") < before / 2);
    assert_true(p1 - p0 >= 1);
    insert(db, "new", 1000);
    assert_int_equal(one(db, "SELECT count(*) FROM t"), 1100);
    integrity_ok(db);
    sqlite3_close(db);
}

/* Another connection's commits: the reader's cache is emptied (a truncation to nothing) and
 * what it reads again is what was committed, pages changed in place included. */
static void test_other_writer(void **state)
{
    sqlite3 *db = open_db(), *reader = open_db();

    (void) state;
    insert(db, "a", 2000);
    assert_int_equal(one(reader, "SELECT count(*) FROM t WHERE tag = 'a'"), 2000);
    exec_ok(db, "UPDATE t SET tag = 'b' WHERE rowid % 2 = 0");
    assert_int_equal(one(reader, "SELECT count(*) FROM t WHERE tag = 'b'"), 1000);
    exec_ok(db, "BEGIN IMMEDIATE; DELETE FROM t WHERE tag = 'a'");
    insert(db, "c", 500);
    exec_ok(db, "COMMIT");
    assert_int_equal(one(reader, "SELECT count(*) FROM t"), 1500);
    assert_int_equal(one(reader, "SELECT count(*) FROM t INDEXED BY t_k WHERE k IS NOT NULL"),
                     1500);
    assert_int_equal(one(reader, "SELECT count(*) FROM t WHERE tag = 'c'"), 500);
    integrity_ok(reader);
    sqlite3_close(reader);
    sqlite3_close(db);
}

/* The methods SQLite calls (pv_sqlite_pcache_install's, read back before the library's
 * first use), on a cache of their own. */
static sqlite3_pcache_methods2 methods;

static void make(sqlite3_pcache *c, unsigned key)
{
    sqlite3_pcache_page *pg = methods.xFetch(c, key, 2);

    assert_non_null(pg);
    methods.xUnpin(c, pg, 0);
}

static int there(sqlite3_pcache *c, unsigned key)
{
    sqlite3_pcache_page *pg = methods.xFetch(c, key, 0);

    if (pg)
        methods.xUnpin(c, pg, 0);
    return pg != NULL;
}

/* Called as SQLite's pager calls them: a page made past a limit, or moved past it by a
 * rekey, is dropped at the next truncation; a page that went through a number past it and
 * left it (a split's swap through the lock page's number) leaves nothing to drop. */
static void test_methods_direct(void **state)
{
    unsigned long long p0, s0, p1, s1;
    sqlite3_pcache *c = methods.xCreate(1024, 64, 1);
    sqlite3_pcache_page *pg;

    (void) state;
    assert_non_null(c);
    methods.xCachesize(c, 100);
    for (unsigned k = 1; k <= 5; k++)
        make(c, k);
    methods.xTruncate(c, 6); /* nothing past 5: the first limit */
    assert_int_equal(methods.xPagecount(c), 5);

    counts(&p0, &s0);
    make(c, 7);
    methods.xTruncate(c, 6);
    counts(&p1, &s1);
    assert_false(there(c, 7));
    assert_int_equal(p1 - p0, 1);

    pg = methods.xFetch(c, 3, 0);
    assert_non_null(pg);
    methods.xRekey(c, pg, 3, 9);
    methods.xUnpin(c, pg, 0);
    methods.xTruncate(c, 6);
    counts(&p0, &s0);
    assert_false(there(c, 9));
    assert_int_equal(p0 - p1, 1);
    assert_int_equal(methods.xPagecount(c), 4);

    pg = methods.xFetch(c, 4, 0);
    assert_non_null(pg);
    methods.xRekey(c, pg, 4, 1025); /* the lock page of 1 KiB pages */
    methods.xRekey(c, pg, 1025, 4);
    methods.xUnpin(c, pg, 0);
    methods.xTruncate(c, 6);
    counts(&p1, &s1);
    assert_int_equal(p1 - p0, 0);
    assert_int_equal(s1 - s0, 1);
    assert_true(there(c, 4));

    methods.xTruncate(c, 3); /* a lower limit: 4 and 5 go */
    counts(&p0, &s0);
    assert_int_equal(p0 - p1, 1);
    assert_false(there(c, 4));
    assert_false(there(c, 5));
    assert_true(there(c, 2));
    methods.xDestroy(c);
}

/* An in-memory database's cache is SQLite's own, each call passed on. */
static void test_in_memory(void **state)
{
    sqlite3 *db = NULL;

    (void) state;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    exec_ok(db, "CREATE TABLE t(tag TEXT NOT NULL, k BLOB NOT NULL, v BLOB NOT NULL);"
                "CREATE INDEX t_k ON t(k)");
    exec_ok(db, "BEGIN");
    insert(db, "gone", 2000);
    exec_ok(db, "ROLLBACK");
    insert(db, "new", 2000);
    assert_int_equal(one(db, "SELECT count(*) FROM t"), 2000);
    integrity_ok(db);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commits_skip_the_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_savepoint_rolled_back_pages_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rolled_back_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shrunk_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_writer, setup, teardown),
        cmocka_unit_test(test_methods_direct),
        cmocka_unit_test(test_in_memory),
    };

    /* Before the library's first use, as the driver installs it. */
    if (pv_sqlite_pcache_install() != SQLITE_OK ||
        sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &methods) != SQLITE_OK ||
        sqlite3_initialize() != SQLITE_OK || pv_sqlite_pcache_install() != SQLITE_MISUSE) {
        fprintf(stderr, "the page cache could not be installed\n");
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
