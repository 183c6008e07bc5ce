/*
 * store_handle.h - the part of the store interface (store.h, which includes it;
 * include store.h, never this) in which a handle tells of itself: its backend,
 * what it has run, what its database can do. Kept apart so store.h stays readable.
 */
#ifndef STAMPD_STORE_HANDLE_H
#define STAMPD_STORE_HANDLE_H

/* pv_store_backend_name - "sqlite" or "postgres"; a static string. */
const char *pv_store_backend_name(const struct pv_store *st);

/*
 * pv_store_statements - how many statements st has run since it was opened:
 * every data statement and every transaction-control call (0 for NULL).
 * Lets tests prove that a path never reaches the database.
 */
uint64_t pv_store_statements(const struct pv_store *st);
/* pv_store_waits - how many times st waited for the server's answers since it was opened:
 * its round trips (PostgreSQL; 0 for SQLite, which has none, and for NULL). Lets tests
 * hold a path to the round trips it costs (issue 15). */
uint64_t pv_store_waits(const struct pv_store *st);
/* pv_store_reprepares - how many times a statement of st was prepared again before it ran
 * (SQLite does when a bound value may change its plan: 0 for PostgreSQL and NULL). */
uint64_t pv_store_reprepares(const struct pv_store *st);
/* pv_store_stmt_atomic - 1 when, inside begin(), a failed statement undoes only itself and
 * the transaction goes on (SQLite): one write needs no savepoint of its own to fail alone. */
int pv_store_stmt_atomic(const struct pv_store *st);
/* pv_store_writers_parallel - 1 when transactions of another connection to st's database write
 * beside st's own (PostgreSQL); 0 when one writes at a time (SQLite's write lock) or st NULL. */
int pv_store_writers_parallel(const struct pv_store *st);
/* pv_store_alive - inside begin(): PV_OK while the transaction goes on, PV_ESTORE when the
 * database rolled it back on its own (SQLite: a full disk, an I/O error). */
int pv_store_alive(struct pv_store *st);

#endif
