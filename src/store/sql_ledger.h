/*
 * sql_ledger.h - the statements that read the ledger's lines by account (store/ledger_read.c,
 * authority.c, reports.c): an account's page, the deposit's history, an account's balance
 * before a time, the ledger check. Part of sql.h's list (PV_LEDGER_READ_STATEMENTS, expanded
 * inside PV_STATEMENTS). Private to src/store.
 */
#ifndef STAMPD_STORE_SQL_LEDGER_H
#define STAMPD_STORE_SQL_LEDGER_H

/* The accounts whose journal lines journal_lines_account holds (SQLite since v41, PostgreSQL
 * since v42): those read a page at a time by account - a customer's (GET
 * /v1/account/transactions) and the postal deposit's (its history, the daily reports' opening
 * balance). A query that names the index's WHERE as this text is planned through it whatever
 * account it binds (PostgreSQL's generic plans too). pv_jlines_listed (store code) answers the
 * same for a name. Each database its own case-sensitive prefix match (SQLite's LIKE is not):
 * LISTED_LITE for SQLite, LISTED_PG for PostgreSQL. */
#define LINES_LISTED_AS(col, op, any)                                                              \
    "(" col " " op " 'customer:" any "' OR " col " " op " 'test:customer:" any "' OR " col         \
    " = 'postal_deposit')"
#define LISTED_LITE(col)    LINES_LISTED_AS(col, "GLOB", "*")
#define LISTED_PG(col)      LINES_LISTED_AS(col, "LIKE", "%")
#define LISTED_ACCOUNT_LITE LISTED_LITE("account")
#define LISTED_ACCOUNT_PG   LISTED_PG("account")
/* " AND " the predicate for table alias t: each statement below is written once, for both. */
#define AND_LISTED(t, db) " AND " db(t ".account")

/* The ledger check: the journals whose lines do not sum to 0. */
#define UNBALANCED_JOURNALS                                                                        \
    "SELECT 1, CAST(journal_id AS TEXT), CAST(0 AS BIGINT), CAST(SUM(amount_mills) AS BIGINT) "    \
    "FROM journal_lines GROUP BY journal_id HAVING SUM(amount_mills) <> 0 "
/* And on PostgreSQL (session 35) every account against its lines summed in one hashed pass of
 * the table (a group an account), in the same statement. A customer's sum through
 * journal_lines_account, as before, read its lines' heap pages one by one, spread over the
 * whole table: 7.3 of the check's 10.7 s at 2 million purchases (2,033 customers). */
#define ACCOUNTS_SUMMED_PG                                                                         \
    "UNION ALL SELECT 2, name, recorded, computed FROM (SELECT a.name, " ACCOUNT_TOTAL             \
    " AS recorded, CAST(COALESCE(s.total, 0) AS BIGINT) AS computed FROM accounts a "              \
    "LEFT JOIN (SELECT account, SUM(amount_mills) AS total FROM journal_lines "                    \
    "GROUP BY account) s ON s.account = a.name) t WHERE recorded <> computed"
/* An account's page of journals, one row a journal (it may have several lines in one). */
#define ACCOUNT_LINES_SQL(and)                                                                     \
    "SELECT j.id, j.kind, COALESCE(j.ref, ''), CAST(SUM(l.amount_mills) AS BIGINT), j.at "         \
    "FROM journal_lines l JOIN journals j ON j.id = l.journal_id WHERE l.account = $1" and         \
        " AND l.journal_id < $2 GROUP BY j.id ORDER BY j.id DESC LIMIT $3"
/* Each journal with the account's balance right after it (one index range per row). */
#define DEPOSIT_HISTORY_SQL(and_a, and_b, and_l)                                                   \
    "SELECT j.id, j.kind, COALESCE(j.ref, ''), "                                                   \
    "CAST((SELECT SUM(a.amount_mills) FROM journal_lines a "                                       \
    "WHERE a.account = $1" and_a " AND a.journal_id = j.id) AS BIGINT), "                          \
    "CAST((SELECT SUM(b.amount_mills) FROM journal_lines b "                                       \
    "WHERE b.account = $1" and_b " AND b.journal_id <= j.id) AS BIGINT), j.at, "                   \
    "COALESCE((SELECT d.reference FROM deposit_credits d WHERE d.id = j.ref), ''), "               \
    "COALESCE((SELECT MIN(r.psd_id) FROM refills r WHERE r.authorization_ref = j.ref), 0) "        \
    "FROM journals j WHERE j.id IN (SELECT l.journal_id FROM journal_lines l "                     \
    "WHERE l.account = $1" and_l " AND l.journal_id < $2) ORDER BY j.id DESC LIMIT $3"
#define ACCOUNT_BALANCE_BEFORE_SQL(and)                                                            \
    "SELECT CAST(COALESCE(SUM(l.amount_mills), 0) AS BIGINT) FROM journal_lines l "                \
    "JOIN journals j ON j.id = l.journal_id WHERE l.account = $1" and                              \
        " AND j.at < $2"

#define PV_LEDGER_READ_STATEMENTS(X)                                                               \
    X(LEDGER_COUNTS,                                                                               \
      BOTH("SELECT (SELECT count(*) FROM journals), (SELECT count(*) FROM accounts)"))             \
    /* The ledger check's issues: the journals whose lines do not sum to 0, and on PostgreSQL      \
     * every account whose balance is not its lines' (ACCOUNTS_SUMMED_PG, one hashed pass).        \
     * SQLite (session 35) reads every line, then every account, in one statement (one snapshot:   \
     * a check on a store that sells compares each balance with the lines it had), and the store   \
     * sums the lines by account itself (ledger_read.c, pv_jsums): a GROUP BY would sort them      \
     * all in memory (temp_store is MEMORY), ~200 MB at a million purchases, and a customer's      \
     * sum through journal_lines_account looked each line up in the table. */                      \
    X(LEDGER_ISSUES, DIALECT(UNBALANCED_JOURNALS, UNBALANCED_JOURNALS ACCOUNTS_SUMMED_PG))         \
    X(LEDGER_SUMS, DIALECT("SELECT 1, account, amount_mills FROM journal_lines UNION ALL "         \
                           "SELECT 0, a.name, " ACCOUNT_TOTAL " FROM accounts a",                  \
                           NULL))                                                                  \
    /* Through journal_lines_account for the accounts it holds (LINES_LISTED_AS); any other's      \
     * lines (ACCOUNT_LINES_ANY: a test's look at a PSD's) in the journals' order. */              \
    X(ACCOUNT_LINES, DIALECT(ACCOUNT_LINES_SQL(AND_LISTED("l", LISTED_LITE)),                      \
                             ACCOUNT_LINES_SQL(AND_LISTED("l", LISTED_PG))))                       \
    X(ACCOUNT_LINES_ANY, BOTH(ACCOUNT_LINES_SQL("")))                                              \
    X(DEPOSIT_HISTORY,                                                                             \
      DIALECT(DEPOSIT_HISTORY_SQL(AND_LISTED("a", LISTED_LITE), AND_LISTED("b", LISTED_LITE),      \
                                  AND_LISTED("l", LISTED_LITE)),                                   \
              DEPOSIT_HISTORY_SQL(AND_LISTED("a", LISTED_PG), AND_LISTED("b", LISTED_PG),          \
                                  AND_LISTED("l", LISTED_PG))))                                    \
    X(ACCOUNT_BALANCE_BEFORE, DIALECT(ACCOUNT_BALANCE_BEFORE_SQL(AND_LISTED("l", LISTED_LITE)),    \
                                      ACCOUNT_BALANCE_BEFORE_SQL(AND_LISTED("l", LISTED_PG))))

#endif
