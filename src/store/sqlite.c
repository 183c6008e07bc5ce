/*
 * sqlite.c - the SQLite store backend (struct pv_store_ops "sqlite").
 *
 * One struct sqlite_store per connection, opened read-write in WAL mode with
 * synchronous=FULL, foreign keys on and a 10 s busy timeout. Every statement
 * is prepared once per handle, on first use (so a handle on an empty file can
 * still migrate it), with SQLITE_PREPARE_PERSISTENT, and reset and unbound
 * after each use: the purchase path runs thousands of times per second.
 *
 * Write transactions. Servers open several handles on one file, one per
 * thread. SQLite lets only one of them write at a time and makes the others
 * sleep-and-retry in its busy handler, which under load wastes time and is
 * unfair. So every database file has a process-wide write gate (keyed by its
 * canonical path in a small registry): begin() waits at the gate, then runs
 * BEGIN IMMEDIATE; commit()/rollback() open the gate again. Writers from
 * other processes (the admin CLI) are still handled by the busy timeout. The
 * gate is a flag under a mutex and condition variable rather than a bare
 * mutex so that a transaction may begin on one thread and end on another
 * (the handle is used by one thread at a time, not necessarily the same
 * one). Waiting longer than the busy timeout gives PV_EBUSY.
 *
 * A write made outside begin()/commit() runs in its own short transaction
 * through the same gate, so it is atomic and queues like every other writer.
 * Inside a transaction, journal_post (the one multi-statement write) runs
 * under an inner savepoint so that a failure leaves none of its rows behind.
 *
 * Savepoints: one level, named "p". rollback_to() rolls back to it and ends
 * it, like release(), so a batch can go on with the next savepoint().
 * rollback() with no transaction open is a no-op (handy in cleanup paths);
 * a failed commit() rolls the transaction back. begin() inside a
 * transaction, and savepoint() outside one or inside another, are PV_EINVAL.
 *
 * Errors: unique and primary-key violations are PV_EEXIST, out of memory
 * PV_ENOMEM, a database locked by another process past the busy timeout
 * PV_EBUSY, a ledger balance pushed past PV_MILLS_MAX PV_EOVERFLOW,
 * everything else PV_ESTORE with sqlite3_errmsg() on stderr. That includes
 * the schema's guards: a PSD whose registers break ascending + descending ==
 * control_total, go negative, or move back (a trigger) is refused.
 * Strings longer than the record fields they come back in are PV_EINVAL on
 * the way in, so nothing read back is ever truncated.
 *
 * Schema: migrations[] below, applied in order by migrate(); the table
 * schema_version holds one row per applied migration.
 */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* realpath() */
#endif

#include "stampd/error.h"
#include "store/store.h"
#include "store/store_backends.h"
#include "store/store_int.h"

#include <sqlite3.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUSY_TIMEOUT_MS 10000

/* ---- statements --------------------------------------------------------------------------- */

#define PSD_COLS                                                                                   \
    "id, status, key_id, descending, ascending, control_total, piece_count, "                      \
    "last_refill_at, test"
#define REFILL_COLS                                                                                \
    "psd_id, amount_mills, desc_before, asc_before, ctl_before, desc_after, "                      \
    "asc_after, ctl_after, authorization_ref, at"
#define KEY_COLS "key_id, psd_id, algorithm, module, key_ref, public_pem, created"
#define IND_FIELDS                                                                                 \
    "psd_id, key_id, serial, version, sig_alg, flags, license, ascending_mills, "                  \
    "postage_mills, mail_date, mail_class, weight_tenth_oz, from_zip, to_zip, "                    \
    "software_id, medium_serial, data, from_address, to_address"
#define IND_COLS                                                                                   \
    "id, customer_id, server_id, created, presentations, prints, refunded_at, " IND_FIELDS
#define AFF_COLS                                                                                   \
    "id, name, customer_id, group_no, threshold_labels, target_days, resupply_sheets, created"
#define BATCH_COLS                                                                                 \
    "batch, product, group_no, key_id, affiliate_id, sheets, labels_per_sheet, payment, "          \
    "price_mills, distributed, order_id"
#define SHEET_COLS   "batch, sheet, payment, paid_by, paid_at, labels_used, first_use, last_use"
#define LABEL_COLS   "batch, sheet, position, indicium_id, customer_id, used_at"
#define RSO_COLS     "id, affiliate_id, status, product, labels_remaining, created, shipped_at, batch"
#define APIKEY_COLS  "id, hash, prefix, role, owner_id, test, name, created, COALESCE(revoked_at, 0)"
#define SESSION_COLS "hash, role, owner_id, csrf, created, expires"
#define PM_COLS      "id, customer_id, test, gateway_ref, brand, last4, exp_month, exp_year, created"
#define CHARGE_COLS                                                                                \
    "id, customer_id, test, purpose, ref, payment_method_id, brand, last4, amount_mills, "         \
    "refunded_mills, created"
#define AUTOREFILL_COLS                                                                            \
    "customer_id, test, enabled, trigger_mills, amount_mills, payment_method_id, updated"
#define REFUND_COLS                                                                                \
    "id, indicium_id, customer_id, status, reason, amount_mills, destination, requested_at, "      \
    "decided_at"

/* X(NAME, SQL). Parameters are positional "?" bound in order by the b_* helpers. */
#define STATEMENTS(X)                                                                              \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                    \
    X(COMMIT, "COMMIT")                                                                            \
    X(ROLLBACK, "ROLLBACK")                                                                        \
    X(SAVEPOINT, "SAVEPOINT p")                                                                    \
    X(RELEASE, "RELEASE p")                                                                        \
    X(ROLLBACK_TO, "ROLLBACK TO p")                                                                \
    X(INNER_SAVEPOINT, "SAVEPOINT jp")                                                             \
    X(INNER_RELEASE, "RELEASE jp")                                                                 \
    X(INNER_ROLLBACK_TO, "ROLLBACK TO jp")                                                         \
    X(CONFIG_SET, "INSERT INTO config(key, value) VALUES (?, ?) "                                  \
                  "ON CONFLICT(key) DO UPDATE SET value = excluded.value")                         \
    X(CONFIG_GET, "SELECT value FROM config WHERE key = ?")                                        \
    X(JOURNAL_INSERT, "INSERT INTO journals(kind, ref, at) VALUES (?, ?, ?)")                      \
    X(ACCOUNT_ADD, "INSERT INTO accounts(name, balance_mills) VALUES (?, ?) "                      \
                   "ON CONFLICT(name) DO UPDATE "                                                  \
                   "SET balance_mills = balance_mills + excluded.balance_mills")                   \
    X(LINE_INSERT, "INSERT INTO journal_lines(journal_id, line, account, amount_mills) "           \
                   "VALUES (?, ?, ?, ?)")                                                          \
    X(ACCOUNT_GET, "SELECT balance_mills FROM accounts WHERE name = ?")                            \
    X(PSD_INSERT, "INSERT INTO psds(" PSD_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")             \
    X(PSD_GET, "SELECT " PSD_COLS ", lease_holder, lease_expires FROM psds WHERE id = ?")          \
    X(PSD_UPDATE, "UPDATE psds SET status = ?, descending = ?, ascending = ?, "                    \
                  "control_total = ?, piece_count = ?, last_refill_at = ? WHERE id = ?")           \
    X(PSD_LIST, "SELECT " PSD_COLS ", lease_holder, lease_expires FROM psds ORDER BY id")          \
    X(REFILL_INSERT, "INSERT INTO refills(" REFILL_COLS ") "                                       \
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")                                      \
    X(REFILL_LIST, "SELECT " REFILL_COLS " FROM refills WHERE psd_id = ? ORDER BY at, id")         \
    X(KEY_INSERT, "INSERT INTO keys(" KEY_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?)")                   \
    X(KEY_LIST, "SELECT " KEY_COLS " FROM keys ORDER BY key_id")                                   \
    X(CUSTOMER_INSERT, "INSERT INTO customers(id, email, created) VALUES (?, ?, ?)")               \
    X(CUSTOMER_GET, "SELECT id, email, created FROM customers WHERE id = ?")                       \
    X(OPERATOR_INSERT, "INSERT INTO operators(id, email, created) VALUES (?, ?, ?)")               \
    X(APIKEY_INSERT, "INSERT INTO api_keys(id, hash, prefix, role, owner_id, created) "            \
                     "VALUES (?, ?, ?, ?, ?, ?)")                                                  \
    X(APIKEY_LOOKUP, "SELECT role, owner_id, id, test FROM api_keys "                              \
                     "WHERE hash = ? AND revoked_at IS NULL")                                      \
    X(IDEM_GET, "SELECT req_hash, indicium_id FROM idempotency WHERE owner_id = ? AND key = ?")    \
    X(IDEM_PUT, "INSERT INTO idempotency(owner_id, key, req_hash, indicium_id, created) "          \
                "VALUES (?, ?, ?, ?, ?)")                                                          \
    X(IND_INSERT, "INSERT INTO indicia(id, customer_id, server_id, created, " IND_FIELDS ") "      \
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")  \
    X(IND_GET, "SELECT " IND_COLS " FROM indicia WHERE id = ?")                                    \
    X(IND_FIND, "SELECT " IND_COLS " FROM indicia WHERE psd_id = ? AND serial = ?")                \
    X(IND_CURSOR, "SELECT seq FROM indicia WHERE id = ? AND customer_id = ?")                      \
    X(IND_PRESENTATIONS, "SELECT presentations FROM indicia WHERE id = ?")                         \
    X(IND_PRESENT, "UPDATE indicia SET presentations = presentations + 1, "                        \
                   "last_presented_at = ? WHERE id = ?")                                           \
    X(RENDER_INSERT, "INSERT INTO renders(indicium_id, actor_id, format, layout, at) "             \
                     "VALUES (?, ?, ?, ?, ?)")                                                     \
    X(IND_PRINTED, "UPDATE indicia SET prints = prints + 1 WHERE id = ?")                          \
    X(PRINTER_PUT, "INSERT INTO printers(customer_id, name, offset_x, offset_y, updated) "         \
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT(customer_id, name) DO UPDATE SET "          \
                   "offset_x = excluded.offset_x, offset_y = excluded.offset_y, "                  \
                   "updated = excluded.updated")                                                   \
    X(PRINTER_GET, "SELECT name, offset_x, offset_y, updated FROM printers "                       \
                   "WHERE customer_id = ? AND name = ?")                                           \
    X(PRINTER_LIST, "SELECT name, offset_x, offset_y, updated FROM printers "                      \
                    "WHERE customer_id = ? ORDER BY name")                                         \
    X(PRINTER_DELETE, "DELETE FROM printers WHERE customer_id = ? AND name = ?")                   \
    X(SERVER_REGISTER, "INSERT INTO servers(id, address, crypto_module, key_ids, status, "         \
                       "started_ms, heartbeat_ms) VALUES (?, ?, ?, ?, ?, ?, ?) "                   \
                       "ON CONFLICT(id) DO UPDATE SET address = excluded.address, "                \
                       "crypto_module = excluded.crypto_module, key_ids = excluded.key_ids, "      \
                       "started_ms = excluded.started_ms, heartbeat_ms = excluded.heartbeat_ms")   \
    X(SERVER_HEARTBEAT, "UPDATE servers SET heartbeat_ms = ?, key_ids = ? WHERE id = ?")           \
    X(SERVER_STATUS, "SELECT status FROM servers WHERE id = ?")                                    \
    X(SERVER_LIST, "SELECT id, address, crypto_module, key_ids, status, started_ms, "              \
                   "heartbeat_ms FROM servers ORDER BY id")                                        \
    X(SERVER_SET_STATUS, "UPDATE servers SET status = ? WHERE id = ?")                             \
    X(SERVER_TRAFFIC, "SELECT server_id, count(*) FROM indicia WHERE created >= ? "                \
                      "GROUP BY server_id ORDER BY server_id")                                     \
    X(LEASE_GET, "SELECT lease_holder, lease_expires FROM psds WHERE id = ?")                      \
    X(LEASE_SET, "UPDATE psds SET lease_holder = ?, lease_expires = ? WHERE id = ?")               \
    X(LEASE_RELEASE, "UPDATE psds SET lease_holder = '', lease_expires = 0 "                       \
                     "WHERE id = ? AND lease_holder = ?")                                          \
    X(LEASE_LOG_INSERT, "INSERT INTO lease_log(psd_id, holder, acquired_ms, expires_ms) "          \
                        "VALUES (?1, ?2, max(?3, coalesce((SELECT max(expires_ms) FROM lease_log " \
                        "WHERE psd_id = ?1), 0)), ?4)")                                            \
    X(LEASE_LOG_EXTEND, "UPDATE lease_log SET expires_ms = ? WHERE id = (SELECT max(id) "          \
                        "FROM lease_log WHERE psd_id = ? AND holder = ?)")                         \
    X(LEASE_HISTORY, "SELECT psd_id, holder, acquired_ms, expires_ms FROM lease_log "              \
                     "WHERE psd_id = ? ORDER BY id")                                               \
    X(LEDGER_COUNTS, "SELECT (SELECT count(*) FROM journals), (SELECT count(*) FROM accounts)")    \
    X(LEDGER_ISSUES,                                                                               \
      "SELECT 1, CAST(journal_id AS TEXT), 0, SUM(amount_mills) FROM journal_lines "               \
      "GROUP BY journal_id HAVING SUM(amount_mills) <> 0 "                                         \
      "UNION ALL SELECT 2, a.name, a.balance_mills, "                                              \
      "COALESCE((SELECT SUM(l.amount_mills) FROM journal_lines l WHERE l.account = a.name), 0) "   \
      "FROM accounts a WHERE a.balance_mills <> "                                                  \
      "COALESCE((SELECT SUM(l.amount_mills) FROM journal_lines l WHERE l.account = a.name), 0)")   \
    X(CUSTOMER_PASSWORD, "UPDATE customers SET password_hash = ? WHERE id = ?")                    \
    X(OPERATOR_PASSWORD, "UPDATE operators SET password_hash = ? WHERE id = ?")                    \
    /* email is COLLATE NOCASE: the comparison ignores ASCII case. */                              \
    X(CUSTOMER_CREDENTIAL, "SELECT id, password_hash FROM customers WHERE email = ?")              \
    X(OPERATOR_CREDENTIAL, "SELECT id, password_hash FROM operators WHERE email = ?")              \
    X(OPERATOR_GET, "SELECT email FROM operators WHERE id = ?")                                    \
    X(SESSION_INSERT, "INSERT INTO sessions(" SESSION_COLS ") VALUES (?, ?, ?, ?, ?, ?)")          \
    X(SESSION_GET, "SELECT " SESSION_COLS " FROM sessions WHERE hash = ? AND expires >= ?")        \
    X(SESSION_DELETE, "DELETE FROM sessions WHERE hash = ?")                                       \
    X(SESSION_PURGE, "DELETE FROM sessions WHERE expires < ?")                                     \
    X(APIKEY_CREATE,                                                                               \
      "INSERT INTO api_keys(id, hash, prefix, role, owner_id, test, name, created, "               \
      "revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, 0))")                                 \
    X(APIKEY_LIST, "SELECT " APIKEY_COLS " FROM api_keys WHERE owner_id = ? "                      \
                   "ORDER BY created DESC, id")                                                    \
    X(APIKEY_REVOKE, "UPDATE api_keys SET revoked_at = ? "                                         \
                     "WHERE owner_id = ? AND id = ? AND revoked_at IS NULL")                       \
    X(PM_INSERT, "INSERT INTO payment_methods(" PM_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")    \
    X(PM_GET, "SELECT " PM_COLS " FROM payment_methods "                                           \
              "WHERE customer_id = ? AND id = ? AND deleted_at IS NULL")                           \
    X(PM_LIST, "SELECT " PM_COLS " FROM payment_methods "                                          \
               "WHERE customer_id = ? AND test = ? AND deleted_at IS NULL ORDER BY created, id")   \
    X(PM_DELETE, "UPDATE payment_methods SET deleted_at = ? "                                      \
                 "WHERE customer_id = ? AND id = ? AND deleted_at IS NULL")                        \
    X(CHARGE_INSERT, "INSERT INTO charges(" CHARGE_COLS ") "                                       \
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")                                   \
    X(CHARGE_FIND, "SELECT " CHARGE_COLS " FROM charges WHERE purpose = ? AND ref = ? "            \
                   "ORDER BY created DESC, id DESC LIMIT 1")                                       \
    X(CHARGE_ADD_REFUND, "UPDATE charges SET refunded_mills = refunded_mills + ?1 "                \
                         "WHERE id = ?2 AND refunded_mills + ?1 <= amount_mills")                  \
    X(CHARGE_EXISTS, "SELECT 1 FROM charges WHERE id = ?")                                         \
    X(CHARGE_COUNT, "SELECT count(*) FROM charges "                                                \
                    "WHERE customer_id = ?1 AND (?2 = '' OR purpose = ?2)")                        \
    X(AUTOREFILL_PUT,                                                                              \
      "INSERT INTO auto_refill(" AUTOREFILL_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?) "                 \
      "ON CONFLICT(customer_id, test) DO UPDATE SET enabled = excluded.enabled, "                  \
      "trigger_mills = excluded.trigger_mills, "                                                   \
      "amount_mills = excluded.amount_mills, "                                                     \
      "payment_method_id = excluded.payment_method_id, updated = excluded.updated")                \
    X(AUTOREFILL_GET, "SELECT " AUTOREFILL_COLS " FROM auto_refill "                               \
                      "WHERE customer_id = ? AND test = ?")                                        \
    X(REFUND_INSERT, "INSERT INTO refunds(" REFUND_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")    \
    X(REFUND_LATEST, "SELECT " REFUND_COLS " FROM refunds WHERE indicium_id = ? "                  \
                     "ORDER BY requested_at DESC, id DESC LIMIT 1")                                \
    X(IND_MARK_REFUNDED, "UPDATE indicia SET refunded_at = ? WHERE id = ? AND refunded_at = 0")    \
    X(IND_EXISTS, "SELECT 1 FROM indicia WHERE id = ?")                                            \
    /* One row per journal: an account may have several lines in one entry. */                     \
    X(ACCOUNT_LINES, "SELECT j.id, j.kind, COALESCE(j.ref, ''), SUM(l.amount_mills), j.at "        \
                     "FROM journal_lines l JOIN journals j ON j.id = l.journal_id "                \
                     "WHERE l.account = ? AND l.journal_id < ? "                                   \
                     "GROUP BY j.id ORDER BY j.id DESC LIMIT ?")                                   \
    X(MKEY_INSERT, "INSERT INTO media_keys(key_id, secret, created) VALUES (?, ?, ?)")             \
    X(MKEY_LIST, "SELECT key_id, secret, created FROM media_keys ORDER BY key_id")                 \
    X(AFF_INSERT, "INSERT INTO affiliates(" AFF_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)")          \
    X(AFF_GET, "SELECT " AFF_COLS " FROM affiliates WHERE id = ?")                                 \
    X(AFF_LIST, "SELECT " AFF_COLS " FROM affiliates ORDER BY created, id")                        \
    X(BATCH_NEXT, "SELECT coalesce(max(batch), 0) + 1 FROM media_batches")                         \
    X(BATCH_INSERT, "INSERT INTO media_batches(" BATCH_COLS ") "                                   \
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")                                    \
    X(SHEETS_INSERT, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "             \
                     "WHERE i < ?3) INSERT INTO media_sheets(batch, sheet, payment) "              \
                     "SELECT ?1, i, ?2 FROM n")                                                    \
    X(BATCH_GET, "SELECT " BATCH_COLS " FROM media_batches WHERE batch = ?")                       \
    X(SHEET_GET, "SELECT " SHEET_COLS " FROM media_sheets WHERE batch = ? AND sheet = ?")          \
    X(SHEET_UPDATE, "UPDATE media_sheets SET payment = ?, paid_by = ?, paid_at = ?, "              \
                    "labels_used = ?, first_use = ?, last_use = ? WHERE batch = ? AND sheet = ?")  \
    X(LABEL_INSERT, "INSERT INTO media_labels(" LABEL_COLS ") VALUES (?, ?, ?, ?, ?, ?)")          \
    X(LABEL_LIST, "SELECT " LABEL_COLS " FROM media_labels WHERE batch = ? AND sheet = ? "         \
                  "ORDER BY position")                                                             \
    X(MEDIA_USAGE, "SELECT coalesce((SELECT sum(sheets * labels_per_sheet) FROM media_batches "    \
                   "WHERE affiliate_id = ?1), 0), coalesce((SELECT sum(s.labels_used) "            \
                   "FROM media_sheets s JOIN media_batches b ON b.batch = s.batch "                \
                   "WHERE b.affiliate_id = ?1), 0), (SELECT count(*) FROM media_labels l "         \
                   "JOIN media_batches b ON b.batch = l.batch "                                    \
                   "WHERE b.affiliate_id = ?1 AND l.used_at >= ?2)")                               \
    X(RESUPPLY_INSERT, "INSERT INTO resupply_orders(" RSO_COLS ") "                                \
                       "VALUES (?, ?, 0, ?, ?, ?, 0, 0) "                                          \
                       "ON CONFLICT (affiliate_id) WHERE status = 0 DO NOTHING")                   \
    X(RESUPPLY_OPEN_GET, "SELECT " RSO_COLS " FROM resupply_orders "                               \
                         "WHERE affiliate_id = ? AND status = 0")                                  \
    X(RESUPPLY_GET, "SELECT " RSO_COLS " FROM resupply_orders WHERE id = ?")                       \
    X(RESUPPLY_LIST, "SELECT " RSO_COLS " FROM resupply_orders ORDER BY created DESC, id DESC")    \
    X(RESUPPLY_SHIP, "UPDATE resupply_orders SET status = 1, batch = ?, shipped_at = ? "           \
                     "WHERE id = ? AND status = 0")                                                \
    /* Numbered parameters: each filter value is bound once and used twice. */                     \
    X(IND_SEARCH, "SELECT " IND_COLS " FROM indicia WHERE customer_id = ?1 AND seq < ?2 "          \
                  "AND created >= ?3 AND created < ?4 AND (?5 = 0 OR mail_class = ?5) "            \
                  "AND (?6 < 0 OR (flags & 1) = ?6) "                                              \
                  "AND (?7 < 0 OR (CASE WHEN refunded_at <> 0 THEN 1 ELSE 0 END) = ?7) "           \
                  "AND (?8 = '' OR id = ?8 OR from_zip = ?8 OR to_zip = ?8 "                       \
                  "OR substr(to_zip, 1, 5) = ?8) ORDER BY seq DESC LIMIT ?9")                      \
    X(SALES_DAILY, "SELECT created / 86400, psd_id, COUNT(*), SUM(postage_mills) FROM indicia "    \
                   "WHERE created >= ? GROUP BY 1, 2 ORDER BY 1, 2")

enum stmt_id {
#define STMT_ENUM(name, sql) Q_##name,
    STATEMENTS(STMT_ENUM)
#undef STMT_ENUM
        Q_COUNT
};

static const char *const stmt_sql[Q_COUNT] = {
#define STMT_SQL(name, sql) sql,
    STATEMENTS(STMT_SQL)
#undef STMT_SQL
};

static const char *const stmt_name[Q_COUNT] = {
#define STMT_NAME(name, sql) #name,
    STATEMENTS(STMT_NAME)
#undef STMT_NAME
};

/* ---- the per-file write gate -------------------------------------------------------------- */

struct file_gate {
    struct file_gate *next; /* registry link (shared gates only) */
    unsigned refs;          /* handles using the gate; under registry_mu */
    int shared;             /* 0: private to one handle (in-memory or temporary database) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int held;    /* a write transaction is open; under mu */
    char path[]; /* canonical path of the database file */
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct file_gate *registry;

static struct file_gate *gate_new(const char *path)
{
    size_t len = strlen(path);
    struct file_gate *g = calloc(1, sizeof *g + len + 1);
    pthread_condattr_t ca;
    int ok;

    if (!g)
        return NULL;
    memcpy(g->path, path, len + 1);
    if (pthread_mutex_init(&g->mu, NULL) != 0) {
        free(g);
        return NULL;
    }
    /* A monotonic clock, so that a wall-clock jump neither stalls nor rushes waiters. */
    ok = pthread_condattr_init(&ca) == 0;
    if (ok) {
        ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&g->cv, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (!ok) {
        pthread_mutex_destroy(&g->mu);
        free(g);
        return NULL;
    }
    g->refs = 1;
    return g;
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
        pthread_cond_destroy(&g->cv);
        pthread_mutex_destroy(&g->mu);
        free(g);
    }
}

/* Wait (at most the busy timeout) until no other handle of this process writes the file. */
static int gate_enter(struct file_gate *g)
{
    struct timespec until;
    int e = 0, rc;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += BUSY_TIMEOUT_MS / 1000;
    pthread_mutex_lock(&g->mu);
    while (g->held && e == 0)
        e = pthread_cond_timedwait(&g->cv, &g->mu, &until);
    if (!g->held) {
        g->held = 1;
        rc = PV_OK;
    } else {
        fprintf(stderr, "store: gave up waiting %d ms for the write lock (error %d)\n",
                BUSY_TIMEOUT_MS, e);
        rc = PV_EBUSY;
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

static void gate_leave(struct file_gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->held = 0;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* ---- the handle --------------------------------------------------------------------------- */

/* Transaction control, by enum pv_tx (PV_TX_CHECK runs nothing). */
static const char *const tx_sql[] = {
    [PV_TX_BEGIN] = "BEGIN IMMEDIATE", [PV_TX_COMMIT] = "COMMIT",
    [PV_TX_ROLLBACK] = "ROLLBACK",     [PV_TX_SAVEPOINT] = "SAVEPOINT p",
    [PV_TX_RELEASE] = "RELEASE p",     [PV_TX_ROLLBACK_TO] = "ROLLBACK TO p",
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
    sqlite3_stmt *q[Q_COUNT];       /* transitional */
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
 * full disk): commit then has nothing to commit, and a write joining such a
 * transaction would run as autocommitted fragments, so both refuse.
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
        /* ROLLBACK TO keeps the savepoint open; release it so the next savepoint()
         * does not nest one level deeper per failed purchase. */
        rc = tx_run(s, op);
        return rc == PV_OK ? tx_run(s, PV_TX_RELEASE) : rc;
    case PV_TX_CHECK:
        if (gone) {
            fprintf(stderr, "store: the transaction was rolled back by an earlier error\n");
            return PV_ESTORE;
        }
        return PV_OK;
    default:
        return tx_run(s, op);
    }
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

static void lite_reset(struct pv_store *st)
{
    struct sqlite_store *s = handle(st);

    if (s->cur) {
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
    for (i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(s->q[i]); /* transitional */
    sqlite3_close_v2(s->db);
    gate_put(s->gate);
    free(s);
}

static const struct pv_store_driver sqlite_driver = {
    .version = PV_STORE_DRIVER_VERSION,
    .name = "sqlite",
    .dialect = PV_DIALECT_SQLITE,
    .caps = 0, /* every write passes the gate, so even one statement opens a transaction */
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
};

static sqlite3_stmt *prep(struct sqlite_store *s, enum stmt_id id, int *rc)
{
    int src;

    *rc = PV_OK;
    if (!s->q[id]) {
        src =
            sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->q[id], NULL);
        if (src != SQLITE_OK) {
            *rc = fail(s, src, stmt_name[id]);
            s->q[id] = NULL;
        }
    }
    return s->q[id];
}

static void done(sqlite3_stmt *q)
{
    if (q) {
        sqlite3_reset(q);
        sqlite3_clear_bindings(q);
    }
}

/*
 * One use of a cached statement: bind its parameters in order with b_*(),
 * then q_exec() (no rows expected) or q_row() (read the row, then done()).
 * The first failure sticks in rc and turns the rest into no-ops; src keeps
 * the SQLite code of a failed step for callers that tell constraints apart.
 * Text and blobs are bound SQLITE_STATIC: the caller's buffers outlive the step.
 */
struct q {
    struct sqlite_store *s;
    enum stmt_id id;
    sqlite3_stmt *st;
    int n;   /* parameters bound so far */
    int rc;  /* PV_E* */
    int src; /* SQLite code of a failed step, else SQLITE_OK */
};

static void q_start(struct q *b, struct sqlite_store *s, enum stmt_id id)
{
    b->s = s;
    b->id = id;
    b->n = 0;
    b->src = SQLITE_OK;
    b->st = prep(s, id, &b->rc);
}

static void bound(struct q *b, int src)
{
    if (src != SQLITE_OK)
        b->rc = fail(b->s, src, stmt_name[b->id]);
}

static void b_text(struct q *b, const char *v)
{
    if (b->rc == PV_OK)
        bound(b, sqlite3_bind_text(b->st, ++b->n, v, -1, SQLITE_STATIC));
}

static void b_int(struct q *b, int64_t v)
{
    if (b->rc == PV_OK)
        bound(b, sqlite3_bind_int64(b->st, ++b->n, v));
}

static void b_blob(struct q *b, const void *v, size_t len)
{
    if (b->rc == PV_OK)
        bound(b, sqlite3_bind_blob64(b->st, ++b->n, v, len, SQLITE_STATIC));
}

/* Run to completion; PV_OK or the mapped error. Leaves the statement reset. */
static int q_exec(struct q *b)
{
    int src;

    if (b->rc == PV_OK) {
        src = sqlite3_step(b->st);
        if (src != SQLITE_DONE && src != SQLITE_ROW) {
            b->src = src;
            b->rc = fail(b->s, src, stmt_name[b->id]);
        }
    }
    done(b->st);
    return b->rc;
}

/* q_exec for an UPDATE or DELETE of one keyed row: PV_ENOTFOUND when no row matched. */
static int q_exec_found(struct q *b)
{
    int rc = q_exec(b);

    return rc == PV_OK && sqlite3_changes(b->s->db) == 0 ? PV_ENOTFOUND : rc;
}

/* Step once: PV_OK with a row to read, PV_ENOTFOUND without, or an error.
 * The caller reads the columns and then calls done(b->st). */
static int q_row(struct q *b)
{
    int src;

    if (b->rc != PV_OK)
        return b->rc;
    src = sqlite3_step(b->st);
    if (src == SQLITE_ROW)
        return PV_OK;
    if (src == SQLITE_DONE)
        return PV_ENOTFOUND;
    b->src = src;
    b->rc = fail(b->s, src, stmt_name[b->id]);
    return b->rc;
}

/*
 * Reading a row column by column, in SELECT order. Like struct q, the first
 * failure sticks. Text that would not fit its field is an error, not a
 * truncation (inserts refuse such text, so only foreign rows can have it).
 */
struct row {
    sqlite3_stmt *st;
    int i;
    int rc;
};

static int64_t r_int(struct row *r)
{
    return sqlite3_column_int64(r->st, r->i++);
}

static void r_text(struct row *r, char *dst, size_t cap)
{
    int i = r->i++;
    const unsigned char *t = sqlite3_column_text(r->st, i);
    size_t len = (size_t) sqlite3_column_bytes(r->st, i);

    dst[0] = '\0';
    if (r->rc != PV_OK)
        return;
    if (!t) {
        if (sqlite3_column_type(r->st, i) != SQLITE_NULL)
            r->rc = PV_ENOMEM;
        return;
    }
    if (len >= cap) {
        fprintf(stderr, "store: column %s holds %zu bytes, its field only %zu\n",
                sqlite3_column_name(r->st, i), len, cap - 1);
        r->rc = PV_ESTORE;
        return;
    }
    memcpy(dst, t, len + 1);
}

/* NUL-terminated within cap bytes (a borrowed string that fits a record field). */
static int fits(const char *v, size_t cap)
{
    return v && memchr(v, '\0', cap) != NULL;
}

#define FITS(field) fits((field), sizeof(field))

#define write_enter(s, own)     pv_write_enter(&(s)->base, 1, (own))
#define write_leave(s, own, rc) pv_write_leave(&(s)->base, (own), (rc))

/* ---- ledger ------------------------------------------------------------------------------- */

/* ---- lists -------------------------------------------------------------------------------- */

typedef int (*row_reader)(sqlite3_stmt *st, void *rec);

/*
 * Step b to the end, reading each row into a growing array of size-byte
 * records (zeroed before reading). On success *out is owned (free()) or
 * NULL when there were no rows, and *n is the count. Leaves b reset.
 */
/* Reads one row with reader into out (zeroed again on failure). */
static int get_one(struct q *b, row_reader reader, void *out, size_t size)
{
    int rc = q_row(b);

    if (rc == PV_OK)
        rc = reader(b->st, out);
    done(b->st);
    if (rc != PV_OK)
        memset(out, 0, size);
    return rc;
}

static int collect(struct q *b, size_t size, row_reader reader, void **out, size_t *n)
{
    unsigned char *arr = NULL, *grown;
    size_t len = 0, cap = 0, ncap;
    int rc;

    *out = NULL;
    *n = 0;
    while ((rc = q_row(b)) == PV_OK) {
        if (len == cap) {
            ncap = cap ? cap * 2 : 16;
            if (ncap > SIZE_MAX / size) {
                rc = PV_ENOMEM;
                goto out;
            }
            grown = realloc(arr, ncap * size);
            if (!grown) {
                rc = PV_ENOMEM;
                goto out;
            }
            arr = grown;
            cap = ncap;
        }
        memset(arr + len * size, 0, size);
        rc = reader(b->st, arr + len * size);
        if (rc != PV_OK)
            goto out;
        len++;
    }
    if (rc != PV_ENOTFOUND)
        goto out;
    rc = PV_OK;
    if (len) {
        *out = arr;
        *n = len;
        arr = NULL;
    }
out:
    free(arr);
    done(b->st);
    return rc;
}

/* ---- PSDs, refills, keys ------------------------------------------------------------------ */

/* ---- customers, operators, API keys, idempotency ------------------------------------------ */

/* ---- indicia ------------------------------------------------------------------------------ */

static int read_indicium(sqlite3_stmt *st, void *p)
{
    struct pv_indicium_rec *rec = p;
    struct pv_indicium *ind = &rec->ind;
    struct row r = {st, 0, PV_OK};
    const void *blob;
    size_t len;

    r_text(&r, rec->id, sizeof rec->id);
    r_text(&r, rec->customer_id, sizeof rec->customer_id);
    r_text(&r, rec->server_id, sizeof rec->server_id);
    rec->created = r_int(&r);
    rec->presentations = r_int(&r);
    rec->prints = r_int(&r);
    rec->refunded_at = r_int(&r);
    ind->device_id = (uint32_t) r_int(&r);
    ind->key_id = (uint32_t) r_int(&r);
    ind->serial = (uint32_t) r_int(&r);
    ind->version = (uint8_t) r_int(&r);
    ind->sig_alg = (uint8_t) r_int(&r);
    ind->flags = (uint8_t) r_int(&r);
    r_text(&r, ind->license, sizeof ind->license);
    ind->ascending_mills = r_int(&r);
    ind->postage_mills = r_int(&r);
    ind->mail_date = (uint32_t) r_int(&r);
    ind->mail_class = (uint8_t) r_int(&r);
    ind->weight_tenth_oz = (uint16_t) r_int(&r);
    r_text(&r, ind->from_zip, sizeof ind->from_zip);
    r_text(&r, ind->to_zip, sizeof ind->to_zip);
    r_text(&r, ind->software_id, sizeof ind->software_id);
    r_text(&r, ind->medium_serial, sizeof ind->medium_serial);
    if (r.rc != PV_OK)
        return r.rc;

    blob = sqlite3_column_blob(st, r.i);
    len = (size_t) sqlite3_column_bytes(st, r.i);
    if (!blob || len < PV_SIG_LEN || len > sizeof rec->data) {
        fprintf(stderr, "store: indicium %s has %zu bytes of data\n", rec->id, len);
        return PV_ESTORE;
    }
    memcpy(rec->data, blob, len);
    rec->data_len = len;
    r.i++;
    r_text(&r, rec->from_address, sizeof rec->from_address);
    r_text(&r, rec->to_address, sizeof rec->to_address);
    if (r.rc != PV_OK)
        return r.rc;
    /* The signature is not a column: it is the tail of the signed bytes. */
    memcpy(ind->signature, rec->data + len - PV_SIG_LEN, PV_SIG_LEN);
    return PV_OK;
}

static int sq_indicium_insert(struct pv_store *st, const struct pv_indicium_rec *rec)
{
    struct sqlite_store *s = handle(st);
    const struct pv_indicium *ind = &rec->ind;
    struct q b;
    int rc, own;

    if (!FITS(rec->id) || !FITS(rec->customer_id) || !FITS(rec->server_id) || !rec->id[0] ||
        !FITS(ind->license) || !FITS(ind->from_zip) || !FITS(ind->to_zip) ||
        !FITS(ind->software_id) || !FITS(ind->medium_serial) || !FITS(rec->from_address) ||
        !FITS(rec->to_address) || rec->data_len < PV_INDICIUM_MIN ||
        rec->data_len > sizeof rec->data)
        return PV_EINVAL;
    rc = write_enter(s, &own);
    if (rc != PV_OK)
        return rc;
    /* rec->presentations is ignored: a new indicium has not been presented. */
    q_start(&b, s, Q_IND_INSERT);
    b_text(&b, rec->id);
    b_text(&b, rec->customer_id);
    b_text(&b, rec->server_id);
    b_int(&b, rec->created);
    b_int(&b, ind->device_id);
    b_int(&b, ind->key_id);
    b_int(&b, ind->serial);
    b_int(&b, ind->version);
    b_int(&b, ind->sig_alg);
    b_int(&b, ind->flags);
    b_text(&b, ind->license);
    b_int(&b, ind->ascending_mills);
    b_int(&b, ind->postage_mills);
    b_int(&b, ind->mail_date);
    b_int(&b, ind->mail_class);
    b_int(&b, ind->weight_tenth_oz);
    b_text(&b, ind->from_zip);
    b_text(&b, ind->to_zip);
    b_text(&b, ind->software_id);
    b_text(&b, ind->medium_serial);
    b_blob(&b, rec->data, rec->data_len);
    b_text(&b, rec->from_address);
    b_text(&b, rec->to_address);
    return write_leave(s, own, q_exec(&b));
}

static int get_one_indicium(struct q *b, struct pv_indicium_rec *rec)
{
    int rc = q_row(b);

    if (rc == PV_OK)
        rc = read_indicium(b->st, rec);
    done(b->st);
    return rc;
}

static int sq_indicium_get(struct pv_store *st, const char *id, struct pv_indicium_rec *rec)
{
    struct q b;

    memset(rec, 0, sizeof *rec);
    if (!id)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_IND_GET);
    b_text(&b, id);
    return get_one_indicium(&b, rec);
}

static int sq_indicium_find(struct pv_store *st, uint32_t device_id, uint32_t serial,
                            struct pv_indicium_rec *rec)
{
    struct q b;

    memset(rec, 0, sizeof *rec);
    q_start(&b, handle(st), Q_IND_FIND);
    b_int(&b, device_id);
    b_int(&b, serial);
    return get_one_indicium(&b, rec);
}

static int sq_indicium_search(struct pv_store *st, const char *customer_id,
                              const struct pv_indicium_filter *f, const char *before_id,
                              size_t limit, struct pv_indicium_rec **out, size_t *n);

/* The unfiltered list is the search without a filter: one query, one set of cursor rules. */
static int sq_indicium_list(struct pv_store *st, const char *customer_id, const char *before_id,
                            size_t limit, struct pv_indicium_rec **out, size_t *n)
{
    return sq_indicium_search(st, customer_id, NULL, before_id, limit, out, n);
}

static int sq_indicium_present(struct pv_store *st, const char *id, int64_t at,
                               int64_t *presented_before)
{
    struct sqlite_store *s = handle(st);
    int64_t before = 0;
    struct q b;
    int rc, own;

    *presented_before = 0;
    if (!id)
        return PV_EINVAL;
    /* Read and bump under the write lock, so two verifications racing on one
     * indicium get 0 and 1, never 0 and 0. */
    rc = write_enter(s, &own);
    if (rc != PV_OK)
        return rc;
    q_start(&b, s, Q_IND_PRESENTATIONS);
    b_text(&b, id);
    rc = q_row(&b);
    if (rc == PV_OK)
        before = sqlite3_column_int64(b.st, 0);
    done(b.st);
    if (rc != PV_OK)
        goto out;
    q_start(&b, s, Q_IND_PRESENT);
    b_int(&b, at);
    b_text(&b, id);
    rc = q_exec(&b);
out:
    rc = write_leave(s, own, rc);
    if (rc == PV_OK)
        *presented_before = before;
    return rc;
}

/* ---- printing ----------------------------------------------------------------------------- */

static int sq_render_record(struct pv_store *st, const char *indicium_id, const char *actor_id,
                            const char *format, const char *layout, int64_t at)
{
    struct sqlite_store *s = handle(st);
    struct q b;
    int rc, own;

    if (!fits(indicium_id, PV_ID_MAX) || !fits(actor_id, PV_ID_MAX) || !fits(format, 16) ||
        !fits(layout, 64))
        return PV_EINVAL;
    rc = write_enter(s, &own);
    if (rc != PV_OK)
        return rc;
    q_start(&b, s, Q_IND_PRINTED);
    b_text(&b, indicium_id);
    rc = q_exec_found(&b);
    if (rc == PV_OK) {
        q_start(&b, s, Q_RENDER_INSERT);
        b_text(&b, indicium_id);
        b_text(&b, actor_id);
        b_text(&b, format);
        b_text(&b, layout);
        b_int(&b, at);
        rc = q_exec(&b);
    }
    return write_leave(s, own, rc);
}

static int read_printer(sqlite3_stmt *st, void *p)
{
    struct pv_printer_rec *rec = p;
    struct row r = {st, 0, PV_OK};

    r_text(&r, rec->name, sizeof rec->name);
    rec->offset_x = (int32_t) r_int(&r);
    rec->offset_y = (int32_t) r_int(&r);
    rec->updated = r_int(&r);
    return r.rc;
}

static int sq_printer_put(struct pv_store *st, const char *customer_id,
                          const struct pv_printer_rec *rec)
{
    struct sqlite_store *s = handle(st);
    struct q b;
    int rc, own;

    if (!fits(customer_id, PV_ID_MAX) || !FITS(rec->name) || !rec->name[0])
        return PV_EINVAL;
    rc = write_enter(s, &own);
    if (rc != PV_OK)
        return rc;
    q_start(&b, s, Q_PRINTER_PUT);
    b_text(&b, customer_id);
    b_text(&b, rec->name);
    b_int(&b, rec->offset_x);
    b_int(&b, rec->offset_y);
    b_int(&b, rec->updated);
    return write_leave(s, own, q_exec(&b));
}

static int sq_printer_get(struct pv_store *st, const char *customer_id, const char *name,
                          struct pv_printer_rec *rec)
{
    struct q b;

    memset(rec, 0, sizeof *rec);
    if (!customer_id || !name)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_PRINTER_GET);
    b_text(&b, customer_id);
    b_text(&b, name);
    return get_one(&b, read_printer, rec, sizeof *rec);
}

static int sq_printer_list(struct pv_store *st, const char *customer_id,
                           struct pv_printer_rec **out, size_t *n)
{
    struct q b;
    void *arr = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    if (!customer_id)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_PRINTER_LIST);
    b_text(&b, customer_id);
    rc = collect(&b, sizeof **out, read_printer, &arr, n);
    *out = arr;
    return rc;
}

static int sq_printer_delete(struct pv_store *st, const char *customer_id, const char *name)
{
    struct sqlite_store *s = handle(st);
    struct q b;
    int rc, own;

    if (!customer_id || !name)
        return PV_EINVAL;
    rc = write_enter(s, &own);
    if (rc != PV_OK)
        return rc;
    q_start(&b, s, Q_PRINTER_DELETE);
    b_text(&b, customer_id);
    b_text(&b, name);
    rc = q_exec_found(&b);
    return write_leave(s, own, rc);
}

/* ---- scale-out: servers and PSD leases ---------------------------------------------------- */

/* ---- accounts, payments, refunds (schema v4) ---------------------------------------------- */

#define EMAIL_MAX sizeof((struct pv_customer_rec *) 0)->email

/* ---- media (schema v4) -------------------------------------------------------------------- */

/* ---- the web UI's history and charts ----------------------------------------------------- */

/* The seq of the customer's indicium before_id into *before (INT64_MAX for
 * none); PV_ECURSOR when it is not theirs. */
static int cursor_seq(struct sqlite_store *s, const char *customer_id, const char *before_id,
                      int64_t *before)
{
    struct q b;
    int rc;

    *before = INT64_MAX;
    if (!before_id || !*before_id)
        return PV_OK;
    q_start(&b, s, Q_IND_CURSOR);
    b_text(&b, before_id);
    b_text(&b, customer_id);
    rc = q_row(&b);
    if (rc == PV_OK)
        *before = sqlite3_column_int64(b.st, 0);
    done(b.st);
    return rc == PV_ENOTFOUND ? PV_ECURSOR : rc;
}

static int sq_indicium_search(struct pv_store *st, const char *customer_id,
                              const struct pv_indicium_filter *f, const char *before_id,
                              size_t limit, struct pv_indicium_rec **out, size_t *n)
{
    static const struct pv_indicium_filter any = {0, 0, 0, -1, -1, ""};
    struct sqlite_store *s = handle(st);
    int64_t before;
    struct q b;
    void *arr = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    if (!f)
        f = &any;
    if (!customer_id || !memchr(f->q, '\0', sizeof f->q))
        return PV_EINVAL;
    if ((rc = cursor_seq(s, customer_id, before_id, &before)) != PV_OK || limit == 0)
        return rc;
    q_start(&b, s, Q_IND_SEARCH);
    b_text(&b, customer_id);
    b_int(&b, before);
    b_int(&b, f->created_from);
    b_int(&b, f->created_to > 0 ? f->created_to : INT64_MAX);
    b_int(&b, f->mail_class);
    b_int(&b, f->test < 0 ? -1 : f->test != 0);
    b_int(&b, f->refunded < 0 ? -1 : f->refunded != 0);
    b_text(&b, f->q);
    b_int(&b, limit > (size_t) INT64_MAX ? INT64_MAX : (int64_t) limit);
    rc = collect(&b, sizeof **out, read_indicium, &arr, n);
    *out = arr;
    return rc;
}

static int read_sales_day(sqlite3_stmt *st, void *p)
{
    struct pv_sales_day *rec = p;
    struct row r = {st, 0, PV_OK};

    rec->day = r_int(&r);
    rec->psd_id = (uint32_t) r_int(&r);
    rec->count = r_int(&r);
    rec->postage = r_int(&r);
    return r.rc;
}

static int sq_sales_daily(struct pv_store *st, int64_t since, struct pv_sales_day **out, size_t *n)
{
    struct q b;
    void *arr = NULL;
    int rc;

    q_start(&b, handle(st), Q_SALES_DAILY);
    b_int(&b, since);
    rc = collect(&b, sizeof **out, read_sales_day, &arr, n);
    *out = arr;
    return rc;
}

/* ---- open and close ----------------------------------------------------------------------- */

static const struct pv_store_ops sqlite_ops = {
    .render_record = sq_render_record,
    .printer_put = sq_printer_put,
    .printer_get = sq_printer_get,
    .printer_list = sq_printer_list,
    .printer_delete = sq_printer_delete,
    .indicium_insert = sq_indicium_insert,
    .indicium_get = sq_indicium_get,
    .indicium_list = sq_indicium_list,
    .indicium_find = sq_indicium_find,
    .indicium_present = sq_indicium_present,
    .indicium_search = sq_indicium_search,
    .sales_daily = sq_sales_daily,
};

static int pragmas(struct sqlite_store *s)
{
    /* busy_timeout first, so that switching to WAL waits for other processes. */
    static const char sql[] = "PRAGMA busy_timeout = 10000;"
                              "PRAGMA synchronous = FULL;"
                              "PRAGMA foreign_keys = ON;";
    _Static_assert(BUSY_TIMEOUT_MS == 10000, "keep the PRAGMA in step with BUSY_TIMEOUT_MS");
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
out:
    sqlite3_free(err);
    sqlite3_finalize(q);
    return rc;
}

int pv_sqlite_open(const char *path, struct pv_store **out)
{
    struct sqlite_store *s = NULL;
    const char *fname;
    char *canon = NULL;
    int rc, src;

    if (!out)
        return PV_EINVAL;
    *out = NULL;
    if (!path)
        return PV_EINVAL;
    s = calloc(1, sizeof *s);
    if (!s)
        return PV_ENOMEM;
    s->base.ops = &sqlite_ops;
    s->base.drv = &sqlite_driver;

    src = sqlite3_open_v2(path, &s->db,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
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
    *out = &s->base;
    s = NULL;
    rc = PV_OK;
out:
    free(canon);
    if (s)
        lite_close(&s->base);
    return rc;
}
