/*
 * lite_sql.h - helpers of the unit tests that drive SQLite directly (test_sqlite_vfs.c,
 * test_sqlite_pcache.c): a statement that must succeed, a query's one integer, and
 * integrity_check's "ok". Include after <sqlite3.h> and <cmocka.h>.
 */
#ifndef STAMPD_TESTS_LITE_SQL_H
#define STAMPD_TESTS_LITE_SQL_H

#include <stdint.h>

/* Runs sql (borrowed) on db, or fails the test with SQLite's message. */
static inline void exec_ok(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
}

/* The first column of the one row sql (borrowed) gives. */
static inline int64_t one(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q = NULL;
    int64_t v;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

/* PRAGMA integrity_check on db answers "ok". */
static inline void integrity_ok(sqlite3 *db)
{
    sqlite3_stmt *q = NULL;

    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *) sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
}

#endif
