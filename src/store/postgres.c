/*
 * postgres.c - the PostgreSQL store backend (struct pv_store_ops "postgres"), through libpq.
 *
 * One PGconn per handle, opened from a "postgres://" or "postgresql://" DSN
 * (libpq's URI syntax; the DSN is never printed: it may hold a password).
 * Every data statement is prepared once per handle (PQprepare, on first use,
 * so a handle on an empty database can still migrate it) and run with
 * PQexecPrepared: values only ever travel as parameters. Integers go as
 * decimal text; bytea and the arrays of journal_post go in binary (format 1,
 * explicit length). Results come back in binary. The schema mirrors
 * sqlite.c: same tables, columns (BIGINT for mills, ids, times and counts),
 * CHECK constraints and migrations; "registers never move back" is a
 * plpgsql trigger; schema_version holds one row per applied migration.
 * migrate() takes pg_advisory_xact_lock first, so two processes migrating
 * one database at once serialise and the second finds nothing to do.
 *
 * Transactions: begin() is BEGIN ISOLATION LEVEL READ COMMITTED; writes
 * outside begin() are single statements, so autocommit makes each its own
 * transaction (journal_post, render_record, indicium_present and
 * server_heartbeat are one statement each for that reason) - except
 * lease_acquire and lease_release, which decide between statements and so
 * open a transaction of their own when called outside one. Savepoints, as
 * in sqlite.c: one level, named "p"; rollback_to() rolls back to it and ends
 * it; a failed commit() rolls back; begin() inside a transaction and
 * savepoint() outside one or inside another are PV_EINVAL; rollback()
 * without a transaction is a no-op.
 * One difference PostgreSQL imposes: a statement that fails inside a
 * transaction aborts it back to the open savepoint (or entirely). The
 * handle remembers that: until rollback_to() or rollback(), every other call
 * answers PV_ESTORE, and commit() rolls back and answers PV_ESTORE. Callers
 * already end a transaction or savepoint on the first error (purchase.c).
 *
 * Several processors on one database (issue 6). Inside a write transaction
 * (between begin() and commit()):
 *   - account_balance() and psd_get() lock the row they read (SELECT ... FOR
 *     UPDATE) until the transaction ends. Two processors cannot both read a
 *     customer balance, the postal deposit or a PSD's registers and both
 *     spend them: the second waits for the first to commit and then reads
 *     the committed value. The caller updates that row (journal_post,
 *     psd_update) in the same transaction. Outside a transaction they are
 *     plain reads of the last committed state. (SQLite's single writer gives
 *     the same guarantee.)
 *   - lease_acquire() locks the PSD's row (FOR UPDATE) before it reads the
 *     lease, so two processors can never both take one PSD: the second waits
 *     and then sees the first one's lease. A new tenure in lease_log starts
 *     no earlier than the PSD's previous tenure ended.
 *   - lock_writer() takes an advisory transaction lock (WRITER_LOCK_KEY):
 *     purchase batches of all processes run one at a time, so they never
 *     deadlock on each other's customer, account and PSD rows.
 *   - journal_post() updates its accounts in name order, so two entries
 *     touching the same accounts take their row locks in the same order.
 *   - idem_put() racing another transaction's insert of the same (owner,
 *     key) waits for it; if it commits, the answer is PV_EEXIST (the primary
 *     key does it), if it rolls back, the insert goes through.
 *   - charge_add_refund() is one guarded UPDATE (refunded + amount <= the
 *     charge): a second refund of one charge waits on the first one's row
 *     lock and then re-checks the guard against the committed sum, so refunds
 *     never exceed the charge. indicium_mark_refunded() and the partial
 *     unique index on approved refunds likewise let one refund win, the other
 *     getting PV_EEXIST.
 *   - A lock wait longer than 10 s (lock_timeout, unless the DSN sets one),
 *     a deadlock or a serialisation failure is PV_EBUSY; the transaction is
 *     then aborted (see above) and the caller may retry it.
 *
 * Errors: unique violations are PV_EEXIST; a ledger balance pushed past
 * PV_MILLS_MAX is PV_EOVERFLOW; text the database encoding cannot hold is
 * PV_EINVAL; out of memory PV_ENOMEM; everything else, including the
 * schema's guards (CHECK constraints, the trigger, foreign keys), PV_ESTORE
 * with PostgreSQL's primary message on stderr (never the DETAIL, which
 * echoes row values). A lost connection is PV_ESTORE with "store: ...
 * connection to PostgreSQL lost"; the next call outside a transaction
 * reconnects (PQreset) and prepares its statements again.
 */
#include "stampd/error.h"
#include "store/store.h"
#include "store/store_backends.h"
#include "store/store_int.h"

#include <libpq-fe.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/*
 * X(NAME, SQL), prepared under NAME. The transaction-control statements come
 * first: they are prepared as soon as the connection is up (they need no
 * tables), and ROLLBACK / ROLLBACK TO are the only ones an aborted
 * transaction accepts.
 */
#define STATEMENTS(X)                                                                              \
    X(BEGIN, "BEGIN ISOLATION LEVEL READ COMMITTED")                                               \
    X(COMMIT, "COMMIT")                                                                            \
    X(ROLLBACK, "ROLLBACK")                                                                        \
    X(SAVEPOINT, "SAVEPOINT p")                                                                    \
    X(RELEASE, "RELEASE p")                                                                        \
    X(ROLLBACK_TO, "ROLLBACK TO p")                                                                \
    X(HAVE_SCHEMA, "SELECT (to_regclass('schema_version') IS NOT NULL)::integer")                  \
    X(MIGRATE_LOCK, "SELECT pg_advisory_xact_lock($1)")                                            \
    X(SCHEMA_MAX, "SELECT COALESCE(MAX(version), 0) FROM schema_version")                          \
    X(SCHEMA_INSERT, "INSERT INTO schema_version(version, applied_at) VALUES ($1, $2)")            \
    X(CONFIG_SET, "INSERT INTO config(key, value) VALUES ($1, $2) "                                \
                  "ON CONFLICT (key) DO UPDATE SET value = excluded.value")                        \
    X(CONFIG_GET, "SELECT value FROM config WHERE key = $1")                                       \
    /* One statement: atomic on its own, and the accounts are locked in name order. */             \
    X(JOURNAL_POST,                                                                                \
      "WITH j AS (INSERT INTO journals(kind, ref, at) VALUES ($1, $2, $3) RETURNING id), "         \
      "l AS (SELECT t.account, t.amount, t.ord "                                                   \
      "      FROM unnest($4::text[], $5::bigint[]) WITH ORDINALITY AS t(account, amount, ord)), "  \
      "a AS (INSERT INTO accounts(name, balance_mills) "                                           \
      "      SELECT account, sum(amount) FROM l GROUP BY account ORDER BY account "                \
      "      ON CONFLICT (name) DO UPDATE "                                                        \
      "      SET balance_mills = accounts.balance_mills + excluded.balance_mills) "                \
      "INSERT INTO journal_lines(journal_id, line, account, amount_mills) "                        \
      "SELECT j.id, l.ord - 1, l.account, l.amount FROM j, l")                                     \
    X(ACCOUNT_GET, "SELECT balance_mills FROM accounts WHERE name = $1")                           \
    X(ACCOUNT_GET_LOCK, "SELECT balance_mills FROM accounts WHERE name = $1 FOR UPDATE")           \
    X(PSD_INSERT, "INSERT INTO psds(" PSD_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")    \
    X(PSD_GET, "SELECT " PSD_COLS ", lease_holder, lease_expires FROM psds WHERE id = $1")         \
    X(PSD_GET_LOCK, "SELECT " PSD_COLS ", lease_holder, lease_expires FROM psds WHERE id = $1 "    \
                    "FOR UPDATE")                                                                  \
    X(PSD_UPDATE, "UPDATE psds SET status = $1, descending = $2, ascending = $3, "                 \
                  "control_total = $4, piece_count = $5, last_refill_at = $6 WHERE id = $7")       \
    X(PSD_LIST, "SELECT " PSD_COLS ", lease_holder, lease_expires FROM psds ORDER BY id")          \
    X(REFILL_INSERT, "INSERT INTO refills(" REFILL_COLS ") "                                       \
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")                           \
    X(REFILL_LIST, "SELECT " REFILL_COLS " FROM refills WHERE psd_id = $1 ORDER BY at, id")        \
    X(KEY_INSERT, "INSERT INTO keys(" KEY_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7)")            \
    X(KEY_LIST, "SELECT " KEY_COLS " FROM keys ORDER BY key_id")                                   \
    X(CUSTOMER_INSERT, "INSERT INTO customers(id, email, created) VALUES ($1, $2, $3)")            \
    X(CUSTOMER_GET, "SELECT id, email, created FROM customers WHERE id = $1")                      \
    X(OPERATOR_INSERT, "INSERT INTO operators(id, email, created) VALUES ($1, $2, $3)")            \
    X(APIKEY_INSERT, "INSERT INTO api_keys(id, hash, prefix, role, owner_id, created) "            \
                     "VALUES ($1, $2, $3, $4, $5, $6)")                                            \
    X(APIKEY_LOOKUP, "SELECT role, owner_id, id, test FROM api_keys "                              \
                     "WHERE hash = $1 AND revoked_at IS NULL")                                     \
    X(IDEM_GET, "SELECT req_hash, indicium_id FROM idempotency "                                   \
                "WHERE owner_id = $1 AND key = $2")                                                \
    X(IDEM_PUT, "INSERT INTO idempotency(owner_id, key, req_hash, indicium_id, created) "          \
                "VALUES ($1, $2, $3, $4, $5)")                                                     \
    X(IND_INSERT, "INSERT INTO indicia(id, customer_id, server_id, created, " IND_FIELDS ") "      \
                  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, "     \
                  "$16, $17, $18, $19, $20, $21, $22, $23)")                                       \
    X(IND_GET, "SELECT " IND_COLS " FROM indicia WHERE id = $1")                                   \
    X(IND_FIND, "SELECT " IND_COLS " FROM indicia WHERE psd_id = $1 AND serial = $2")              \
    X(IND_CURSOR, "SELECT seq FROM indicia WHERE id = $1 AND customer_id = $2")                    \
    /* The row lock of the UPDATE orders racing presentations: 0 then 1, never 0 and 0. */         \
    X(IND_PRESENT, "UPDATE indicia SET presentations = presentations + 1, "                        \
                   "last_presented_at = $1 WHERE id = $2 RETURNING presentations - 1")             \
    X(RENDER_RECORD, "WITH u AS (UPDATE indicia SET prints = prints + 1 WHERE id = $1 "            \
                     "RETURNING id) "                                                              \
                     "INSERT INTO renders(indicium_id, actor_id, format, layout, at) "             \
                     "SELECT u.id, $2, $3, $4, $5 FROM u")                                         \
    X(PRINTER_PUT, "INSERT INTO printers(customer_id, name, offset_x, offset_y, updated) "         \
                   "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (customer_id, name) DO UPDATE SET "    \
                   "offset_x = excluded.offset_x, offset_y = excluded.offset_y, "                  \
                   "updated = excluded.updated")                                                   \
    X(PRINTER_GET, "SELECT name, offset_x, offset_y, updated FROM printers "                       \
                   "WHERE customer_id = $1 AND name = $2")                                         \
    X(PRINTER_LIST, "SELECT name, offset_x, offset_y, updated FROM printers "                      \
                    "WHERE customer_id = $1 ORDER BY name")                                        \
    X(PRINTER_DELETE, "DELETE FROM printers WHERE customer_id = $1 AND name = $2")                 \
    /* An existing server keeps the status an operator gave it. */                                 \
    X(SERVER_REGISTER, "INSERT INTO servers(id, address, crypto_module, key_ids, status, "         \
                       "started_ms, heartbeat_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) "            \
                       "ON CONFLICT (id) DO UPDATE SET address = excluded.address, "               \
                       "crypto_module = excluded.crypto_module, key_ids = excluded.key_ids, "      \
                       "started_ms = excluded.started_ms, heartbeat_ms = excluded.heartbeat_ms")   \
    X(SERVER_HEARTBEAT, "UPDATE servers SET heartbeat_ms = $1, key_ids = $2 WHERE id = $3 "        \
                        "RETURNING status")                                                        \
    X(SERVER_LIST, "SELECT id, address, crypto_module, key_ids, status, started_ms, "              \
                   "heartbeat_ms FROM servers ORDER BY id")                                        \
    X(SERVER_SET_STATUS, "UPDATE servers SET status = $1 WHERE id = $2")                           \
    X(SERVER_TRAFFIC, "SELECT server_id, count(*) FROM indicia WHERE created >= $1 "               \
                      "GROUP BY server_id ORDER BY server_id")                                     \
    /* Locks the PSD's row: lease_acquire decides and writes under it. */                          \
    X(LEASE_GET_LOCK, "SELECT lease_holder, lease_expires FROM psds WHERE id = $1 FOR UPDATE")     \
    X(LEASE_SET, "UPDATE psds SET lease_holder = $1, lease_expires = $2 WHERE id = $3")            \
    X(LEASE_RELEASE, "UPDATE psds SET lease_holder = '', lease_expires = 0 "                       \
                     "WHERE id = $1 AND lease_holder = $2")                                        \
    X(LEASE_LOG_INSERT, "INSERT INTO lease_log(psd_id, holder, acquired_ms, expires_ms) "          \
                        "VALUES ($1, $2, GREATEST($3::bigint, COALESCE((SELECT max(expires_ms) "   \
                        "FROM lease_log WHERE psd_id = $1), 0)), $4)")                             \
    X(LEASE_LOG_EXTEND, "UPDATE lease_log SET expires_ms = $1 WHERE id = (SELECT max(id) "         \
                        "FROM lease_log WHERE psd_id = $2 AND holder = $3)")                       \
    X(LEASE_HISTORY, "SELECT psd_id, holder, acquired_ms, expires_ms FROM lease_log "              \
                     "WHERE psd_id = $1 ORDER BY id")                                              \
    X(WRITER_LOCK, "SELECT pg_advisory_xact_lock($1)")                                             \
    X(LEDGER_COUNTS, "SELECT (SELECT count(*) FROM journals), (SELECT count(*) FROM accounts)")    \
    X(LEDGER_ISSUES,                                                                               \
      "SELECT 1::bigint, journal_id::text, 0::bigint, SUM(amount_mills)::bigint "                  \
      "FROM journal_lines GROUP BY journal_id HAVING SUM(amount_mills) <> 0 "                      \
      "UNION ALL SELECT 2::bigint, a.name, a.balance_mills, COALESCE((SELECT "                     \
      "SUM(l.amount_mills) FROM journal_lines l WHERE l.account = a.name), 0)::bigint "            \
      "FROM accounts a WHERE a.balance_mills <> COALESCE((SELECT SUM(l.amount_mills) "             \
      "FROM journal_lines l WHERE l.account = a.name), 0)")                                        \
    X(CUSTOMER_PASSWORD, "UPDATE customers SET password_hash = $1 WHERE id = $2")                  \
    X(OPERATOR_PASSWORD, "UPDATE operators SET password_hash = $1 WHERE id = $2")                  \
    /* The unique indexes on lower(email) serve these. */                                          \
    X(CUSTOMER_CREDENTIAL, "SELECT id, password_hash FROM customers "                              \
                           "WHERE lower(email) = lower($1)")                                       \
    X(OPERATOR_CREDENTIAL, "SELECT id, password_hash FROM operators "                              \
                           "WHERE lower(email) = lower($1)")                                       \
    X(OPERATOR_GET, "SELECT email FROM operators WHERE id = $1")                                   \
    X(SESSION_INSERT, "INSERT INTO sessions(" SESSION_COLS ") VALUES ($1, $2, $3, $4, $5, $6)")    \
    X(SESSION_GET, "SELECT " SESSION_COLS " FROM sessions WHERE hash = $1 AND expires >= $2")      \
    X(SESSION_DELETE, "DELETE FROM sessions WHERE hash = $1")                                      \
    X(SESSION_PURGE, "DELETE FROM sessions WHERE expires < $1")                                    \
    X(APIKEY_CREATE,                                                                               \
      "INSERT INTO api_keys(id, hash, prefix, role, owner_id, test, name, created, "               \
      "revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULLIF($9::bigint, 0))")                \
    X(APIKEY_LIST, "SELECT " APIKEY_COLS " FROM api_keys WHERE owner_id = $1 "                     \
                   "ORDER BY created DESC, id")                                                    \
    X(APIKEY_REVOKE, "UPDATE api_keys SET revoked_at = $1 "                                        \
                     "WHERE owner_id = $2 AND id = $3 AND revoked_at IS NULL")                     \
    X(PM_INSERT, "INSERT INTO payment_methods(" PM_COLS ") "                                       \
                 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")                                    \
    X(PM_GET, "SELECT " PM_COLS " FROM payment_methods "                                           \
              "WHERE customer_id = $1 AND id = $2 AND deleted_at IS NULL")                         \
    X(PM_LIST, "SELECT " PM_COLS " FROM payment_methods "                                          \
               "WHERE customer_id = $1 AND test = $2 AND deleted_at IS NULL ORDER BY created, id") \
    X(PM_DELETE, "UPDATE payment_methods SET deleted_at = $1 "                                     \
                 "WHERE customer_id = $2 AND id = $3 AND deleted_at IS NULL")                      \
    X(CHARGE_INSERT, "INSERT INTO charges(" CHARGE_COLS ") "                                       \
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")                      \
    X(CHARGE_FIND, "SELECT " CHARGE_COLS " FROM charges WHERE purpose = $1 AND ref = $2 "          \
                   "ORDER BY created DESC, id DESC LIMIT 1")                                       \
    /* The row lock of the UPDATE orders racing refunds; each re-checks the guard. */              \
    X(CHARGE_ADD_REFUND, "UPDATE charges SET refunded_mills = refunded_mills + $1 "                \
                         "WHERE id = $2 AND refunded_mills + $1 <= amount_mills")                  \
    X(CHARGE_EXISTS, "SELECT 1 FROM charges WHERE id = $1")                                        \
    X(CHARGE_COUNT, "SELECT count(*) FROM charges "                                                \
                    "WHERE customer_id = $1 AND ($2 = '' OR purpose = $2)")                        \
    X(AUTOREFILL_PUT,                                                                              \
      "INSERT INTO auto_refill(" AUTOREFILL_COLS ") "                                              \
      "VALUES ($1, $2, $3, $4, $5, $6, $7) "                                                       \
      "ON CONFLICT (customer_id, test) DO UPDATE SET enabled = excluded.enabled, "                 \
      "trigger_mills = excluded.trigger_mills, "                                                   \
      "amount_mills = excluded.amount_mills, "                                                     \
      "payment_method_id = excluded.payment_method_id, updated = excluded.updated")                \
    X(AUTOREFILL_GET, "SELECT " AUTOREFILL_COLS " FROM auto_refill "                               \
                      "WHERE customer_id = $1 AND test = $2")                                      \
    X(REFUND_INSERT, "INSERT INTO refunds(" REFUND_COLS ") "                                       \
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")                                \
    X(REFUND_LATEST, "SELECT " REFUND_COLS " FROM refunds WHERE indicium_id = $1 "                 \
                     "ORDER BY requested_at DESC, id DESC LIMIT 1")                                \
    X(IND_MARK_REFUNDED, "UPDATE indicia SET refunded_at = $1 WHERE id = $2 AND refunded_at = 0")  \
    X(IND_EXISTS, "SELECT 1 FROM indicia WHERE id = $1")                                           \
    /* One row per journal: an account may have several lines in one entry. */                     \
    X(ACCOUNT_LINES, "SELECT j.id, j.kind, COALESCE(j.ref, ''), SUM(l.amount_mills)::bigint, "     \
                     "j.at FROM journal_lines l JOIN journals j ON j.id = l.journal_id "           \
                     "WHERE l.account = $1 AND l.journal_id < $2 "                                 \
                     "GROUP BY j.id ORDER BY j.id DESC LIMIT $3")                                  \
    X(MKEY_INSERT, "INSERT INTO media_keys(key_id, secret, created) VALUES ($1, $2, $3)")          \
    X(MKEY_LIST, "SELECT key_id, secret, created FROM media_keys ORDER BY key_id")                 \
    X(AFF_INSERT, "INSERT INTO affiliates(" AFF_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")  \
    X(AFF_GET, "SELECT " AFF_COLS " FROM affiliates WHERE id = $1")                                \
    X(AFF_LIST, "SELECT " AFF_COLS " FROM affiliates ORDER BY created, id")                        \
    X(BATCH_NEXT, "SELECT coalesce(max(batch), 0) + 1 FROM media_batches")                         \
    X(BATCH_INSERT, "INSERT INTO media_batches(" BATCH_COLS ") "                                   \
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")                       \
    X(SHEETS_INSERT, "INSERT INTO media_sheets(batch, sheet, payment) "                            \
                     "SELECT $1::bigint, i, $2::bigint FROM generate_series(1, $3::bigint) i")     \
    X(BATCH_GET, "SELECT " BATCH_COLS " FROM media_batches WHERE batch = $1")                      \
    X(SHEET_GET, "SELECT " SHEET_COLS " FROM media_sheets WHERE batch = $1 AND sheet = $2")        \
    /* Locks the sheet's row: every use of its labels decides and writes under it. */              \
    X(SHEET_GET_LOCK, "SELECT " SHEET_COLS " FROM media_sheets WHERE batch = $1 AND sheet = $2 "   \
                      "FOR UPDATE")                                                                \
    X(SHEET_UPDATE, "UPDATE media_sheets SET payment = $1, paid_by = $2, paid_at = $3, "           \
                    "labels_used = $4, first_use = $5, last_use = $6 "                             \
                    "WHERE batch = $7 AND sheet = $8")                                             \
    X(LABEL_INSERT, "INSERT INTO media_labels(" LABEL_COLS ") VALUES ($1, $2, $3, $4, $5, $6)")    \
    X(LABEL_LIST, "SELECT " LABEL_COLS " FROM media_labels WHERE batch = $1 AND sheet = $2 "       \
                  "ORDER BY position")                                                             \
    X(MEDIA_USAGE, "SELECT coalesce((SELECT sum(sheets * labels_per_sheet) FROM media_batches "    \
                   "WHERE affiliate_id = $1), 0)::bigint, coalesce((SELECT sum(s.labels_used) "    \
                   "FROM media_sheets s JOIN media_batches b ON b.batch = s.batch "                \
                   "WHERE b.affiliate_id = $1), 0)::bigint, (SELECT count(*) FROM media_labels l " \
                   "JOIN media_batches b ON b.batch = l.batch "                                    \
                   "WHERE b.affiliate_id = $1 AND l.used_at >= $2)")                               \
    X(RESUPPLY_INSERT, "INSERT INTO resupply_orders(" RSO_COLS ") "                                \
                       "VALUES ($1, $2, 0, $3, $4, $5, 0, 0) "                                     \
                       "ON CONFLICT (affiliate_id) WHERE status = 0 DO NOTHING")                   \
    X(RESUPPLY_OPEN_GET, "SELECT " RSO_COLS " FROM resupply_orders "                               \
                         "WHERE affiliate_id = $1 AND status = 0")                                 \
    X(RESUPPLY_GET, "SELECT " RSO_COLS " FROM resupply_orders WHERE id = $1")                      \
    X(RESUPPLY_LIST, "SELECT " RSO_COLS " FROM resupply_orders ORDER BY created DESC, id DESC")    \
    X(RESUPPLY_SHIP, "UPDATE resupply_orders SET status = 1, batch = $1, shipped_at = $2 "         \
                     "WHERE id = $3 AND status = 0")                                               \
    X(IND_SEARCH, "SELECT " IND_COLS " FROM indicia WHERE customer_id = $1 AND seq < $2 "          \
                  "AND created >= $3 AND created < $4 AND ($5 = 0 OR mail_class = $5) "            \
                  "AND ($6 < 0 OR (flags & 1) = $6) "                                              \
                  "AND ($7 < 0 OR (CASE WHEN refunded_at <> 0 THEN 1 ELSE 0 END) = $7) "           \
                  "AND ($8 = '' OR id = $8 OR from_zip = $8 OR to_zip = $8 "                       \
                  "OR substr(to_zip, 1, 5) = $8) ORDER BY seq DESC LIMIT $9")                      \
    X(SALES_DAILY, "SELECT created / 86400, psd_id, COUNT(*), SUM(postage_mills)::bigint "         \
                   "FROM indicia WHERE created >= $1 GROUP BY 1, 2 ORDER BY 1, 2")

enum stmt_id {
#define STMT_ENUM(name, sql) Q_##name,
    STATEMENTS(STMT_ENUM)
#undef STMT_ENUM
        Q_COUNT
};

#define Q_TX_LAST Q_ROLLBACK_TO /* the last transaction-control statement */

static const char *const stmt_sql[Q_COUNT] = {
#define STMT_SQL(name, sql) sql,
    STATEMENTS(STMT_SQL)
#undef STMT_SQL
};

static const char *const stmt_name[Q_COUNT] = {
#define STMT_NAME(name, sql) "o" #name,
    STATEMENTS(STMT_NAME)
#undef STMT_NAME
};

#define MAX_PARAMS 24 /* IND_INSERT has 23 */

/* ---- the handle --------------------------------------------------------------------------- */

/* Statements of the driver itself: transaction control (enum pv_tx order), then the
 * advisory lock. Prepared as soon as the connection is up: they need no tables, and
 * ROLLBACK / ROLLBACK TO are the only statements an aborted transaction accepts. */
static const char *const own_sql[] = {
    [PV_TX_BEGIN] = "BEGIN ISOLATION LEVEL READ COMMITTED",
    [PV_TX_COMMIT] = "COMMIT",
    [PV_TX_ROLLBACK] = "ROLLBACK",
    [PV_TX_SAVEPOINT] = "SAVEPOINT p",
    [PV_TX_RELEASE] = "RELEASE p",
    [PV_TX_ROLLBACK_TO] = "ROLLBACK TO p",
    [PV_TX_CHECK] = "SELECT pg_advisory_xact_lock($1)",
};

#define NOWN    ((int) (sizeof own_sql / sizeof own_sql[0]))
#define Q_LOCK  PV_TX_CHECK /* own_sql[PV_TX_CHECK]: transactions need no statement to check */
#define OWN_PFX "tx"        /* own statements are prepared as tx0, tx1, ... */

/* Type OIDs (pg_type.h, stable since forever) for the binary arrays of journal_post. */
#define INT8OID 20
#define TEXTOID 25

struct pg_store {
    struct pv_store base; /* first: a struct pv_store * is a struct pg_store * */
    PGconn *conn;
    int aborted;              /* a statement failed in the transaction: only rollback(_to) helps */
    char sqlstate[6];         /* of the last failed statement, "" if none */
    char constraint[64];      /* constraint it broke, "" if none */
    PGresult *res;            /* of the statement running (run .. reset) */
    int row;                  /* its current row */
    char ready[PV_SQL_COUNT]; /* prepared on this connection */
    char prepared[Q_COUNT];   /* transitional */
};

static struct pg_store *handle(struct pv_store *st)
{
    return (struct pg_store *) st;
}

/* libpq's own messages span lines ("FATAL: ...\nserver closed the connection\n\t..."):
 * fold one into buf as a single line for the log. */
static const char *one_line(const char *m, char *buf, size_t cap)
{
    size_t n = 0;
    int space = 0;

    for (; m && *m && n + 1 < cap; m++) {
        if (*m == '\n' || *m == '\t' || *m == ' ' || *m == '\r') {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < cap)
            buf[n++] = ' ';
        space = 0;
        buf[n++] = *m;
    }
    buf[n] = '\0';
    return buf;
}

static void copy_field(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;

    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static int state_is(const struct pg_store *s, const char *state)
{
    return strcmp(s->sqlstate, state) == 0;
}

/*
 * Map a failed command (res may be NULL) to a PV_E* code, logging real
 * failures (PostgreSQL's primary message only: the DETAIL echoes row
 * values). Marks an open transaction aborted.
 */
static int fail(struct pg_store *s, const PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char line[512];

    copy_field(s->sqlstate, sizeof s->sqlstate, state);
    copy_field(s->constraint, sizeof s->constraint,
               res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL);
    if (s->base.in_tx)
        s->aborted = 1;

    if (PQstatus(s->conn) != CONNECTION_OK || strncmp(s->sqlstate, "08", 2) == 0 ||
        strncmp(s->sqlstate, "57P", 3) == 0) {
        fprintf(stderr, "store: %s: connection to PostgreSQL lost: %s\n", what,
                one_line(msg ? msg : PQerrorMessage(s->conn), line, sizeof line));
        return PV_ESTORE;
    }
    if (!res) {
        /* libpq could not even build the command: out of memory. */
        fprintf(stderr, "store: %s: %s\n", what,
                one_line(PQerrorMessage(s->conn), line, sizeof line));
        return PV_ENOMEM;
    }
    if (state_is(s, "23505"))
        return PV_EEXIST; /* unique_violation */
    fprintf(stderr, "store: %s: %s\n", what,
            one_line(msg ? msg : PQresultErrorMessage(res), line, sizeof line));
    if (state_is(s, "23514") || state_is(s, "22003"))
        s->base.fault = PV_FAULT_CHECK; /* check_violation, numeric_value_out_of_range */
    if (state_is(s, "40001") || state_is(s, "40P01") || state_is(s, "55P03") ||
        state_is(s, "57014"))
        return PV_EBUSY; /* serialization, deadlock, lock_timeout, statement_timeout */
    if (state_is(s, "53200"))
        return PV_ENOMEM;
    if (state_is(s, "22021") || state_is(s, "22P05"))
        return PV_EINVAL; /* text the database encoding cannot hold */
    return PV_ESTORE;
}

/* PV_OK when res holds a successful command's result, else the mapped error. */
static int check(struct pg_store *s, const PGresult *res, const char *what)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    s->sqlstate[0] = '\0';
    s->constraint[0] = '\0';
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return PV_OK;
    return fail(s, res, what);
}

static int prepare(struct pg_store *s, const char *name, const char *sql)
{
    PGresult *res = PQprepare(s->conn, name, sql, 0, NULL);
    int rc = check(s, res, name);

    PQclear(res);
    return rc;
}

static void own_name(char *buf, size_t cap, int i)
{
    snprintf(buf, cap, OWN_PFX "%d", i);
}

/*
 * What every new (or reset) connection needs: UTF-8, a lock timeout like
 * SQLite's busy timeout unless the DSN chose one, and the driver's own
 * statements prepared. Runs outside any transaction.
 */
static int session_setup(struct pg_store *s)
{
    static const char set_timeout[] = "SELECT set_config('lock_timeout', '10s', false) "
                                      "WHERE current_setting('lock_timeout') = '0'";
    PGresult *res;
    char name[16];
    int rc, i;

    memset(s->ready, 0, sizeof s->ready);
    memset(s->prepared, 0, sizeof s->prepared);
    if (PQserverVersion(s->conn) < 110000) {
        fprintf(stderr, "store: PostgreSQL %d is too old (11 or newer needed)\n",
                PQserverVersion(s->conn) / 10000);
        return PV_ESTORE;
    }
    if (PQsetClientEncoding(s->conn, "UTF8") != 0) {
        fprintf(stderr, "store: cannot set the client encoding to UTF8\n");
        return PV_ESTORE;
    }
    res = PQexecParams(s->conn, set_timeout, 0, NULL, NULL, NULL, NULL, 0);
    rc = check(s, res, "lock_timeout");
    PQclear(res);
    for (i = 0; rc == PV_OK && i < NOWN; i++) {
        own_name(name, sizeof name, i);
        rc = prepare(s, name, own_sql[i]);
    }
    return rc;
}

/* Can a statement run now? Outside a transaction a lost connection is reset
 * (PQreset) and set up again; in an aborted one only rollback(_to) may run. */
static int usable(struct pg_store *s, const char *what, int rolls_back)
{
    char line[512];

    if (PQstatus(s->conn) != CONNECTION_OK) {
        if (s->base.in_tx) {
            s->aborted = 1;
            fprintf(stderr, "store: %s: the connection to PostgreSQL was lost in a transaction\n",
                    what);
            return PV_ESTORE;
        }
        PQreset(s->conn);
        if (PQstatus(s->conn) != CONNECTION_OK) {
            fprintf(stderr, "store: cannot reconnect to PostgreSQL: %s\n",
                    one_line(PQerrorMessage(s->conn), line, sizeof line));
            return PV_ESTORE;
        }
        fprintf(stderr, "store: reconnected to PostgreSQL\n");
        return session_setup(s);
    }
    if (s->aborted && !rolls_back) {
        fprintf(stderr, "store: %s: an earlier statement failed; roll the transaction back\n",
                what);
        return PV_ESTORE;
    }
    return PV_OK;
}

/* Run own statement i (with at most one text parameter) to completion; res kept if wanted. */
static int own_run(struct pg_store *s, int i, const char *param, PGresult **keep)
{
    char name[16];
    PGresult *res;
    int rc = usable(s, own_sql[i], i == PV_TX_ROLLBACK || i == PV_TX_ROLLBACK_TO);

    if (rc != PV_OK)
        return rc;
    own_name(name, sizeof name, i);
    res = PQexecPrepared(s->conn, name, param ? 1 : 0, &param, NULL, NULL, 0);
    rc = check(s, res, own_sql[i]);
    if (keep && rc == PV_OK)
        *keep = res;
    else
        PQclear(res);
    return rc;
}

/* ROLLBACK unless the server is already outside a transaction (or gone). */
static int abort_tx(struct pg_store *s)
{
    int rc = PV_OK;

    s->aborted = 0;
    if (PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        rc = own_run(s, PV_TX_ROLLBACK, NULL, NULL);
    s->aborted = 0;
    return rc;
}

static int pg_tx(struct pv_store *st, int op)
{
    struct pg_store *s = handle(st);
    PGresult *res = NULL;
    int rc;

    switch (op) {
    case PV_TX_BEGIN:
        s->aborted = 0;
        return own_run(s, op, NULL, NULL);
    case PV_TX_COMMIT:
        if (s->aborted) {
            fprintf(stderr, "store: commit: an earlier statement failed; rolled back\n");
            abort_tx(s);
            return PV_ESTORE;
        }
        rc = own_run(s, op, NULL, &res);
        /* COMMIT of a transaction the server had aborted answers "ROLLBACK", not an error. */
        if (rc == PV_OK && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
            fprintf(stderr, "store: commit: the server rolled the transaction back\n");
            rc = PV_ESTORE;
        }
        PQclear(res);
        /* A lost connection leaves the outcome unknown to us; the server rolls back
         * unless the COMMIT got through. Either way this handle's transaction is over. */
        if (rc != PV_OK)
            abort_tx(s);
        return rc;
    case PV_TX_ROLLBACK:
        return abort_tx(s);
    case PV_TX_ROLLBACK_TO:
        /* ROLLBACK TO keeps the savepoint open (and clears an abort); release it so
         * the next savepoint() does not nest one level deeper per failed purchase. */
        rc = own_run(s, op, NULL, NULL);
        if (rc == PV_OK) {
            s->aborted = 0;
            rc = own_run(s, PV_TX_RELEASE, NULL, NULL);
        }
        return rc;
    case PV_TX_CHECK:
        return PV_OK; /* an aborted transaction refuses the statement itself (usable) */
    default:
        return own_run(s, op, NULL, NULL);
    }
}

/* Serialises migrate() across processes (pg_advisory_xact_lock is per database): "stampd". */
#define MIGRATE_LOCK_KEY "126879297577060"
/* Serialises purchase batches across processes (lock_writer): "stampdPB" as a big-endian int8. */
#define WRITER_LOCK_KEY "8319381534325100610"

/* An advisory lock held to the end of the transaction (see the file comment). */
static int pg_lock(struct pv_store *st, int which)
{
    return own_run(handle(st), Q_LOCK,
                   which == PV_LOCK_MIGRATE ? MIGRATE_LOCK_KEY : WRITER_LOCK_KEY, NULL);
}

/* One DDL statement of a migration: fixed text, no values. */
static int pg_ddl(struct pv_store *st, const char *sql, const char *what)
{
    struct pg_store *s = handle(st);
    PGresult *res;
    int rc;

    if (PQstatus(s->conn) != CONNECTION_OK)
        return fail(s, NULL, what);
    res = PQexecParams(s->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
    rc = check(s, res, what);
    PQclear(res);
    return rc;
}

/* ---- parameters ---------------------------------------------------------------------------- */

static unsigned char *put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
    return p + 4;
}

#define ARRAY_HEADER 20

/*
 * A one-dimensional array parameter in PostgreSQL's binary format: int8
 * elements, or text elements from char[] fields (NUL-terminated). Owned
 * (free()) in *out; NULL when out of memory or too big.
 */
static unsigned char *array(const struct pv_param *p, int *len)
{
    const unsigned char *e = p->p;
    size_t i, n, total = ARRAY_HEADER;
    unsigned char *buf, *w;
    int64_t v;

    for (i = 0; i < p->len; i++) {
        n = p->kind == PV_P_INT_ARRAY ? 8 : strlen((const char *) (e + i * p->stride));
        if (n > INT_MAX / 2 || total > (size_t) INT_MAX / 2 - n)
            return NULL;
        total += 4 + n;
    }
    if (!(buf = malloc(total)))
        return NULL;
    w = put32(buf, 1); /* dimensions */
    w = put32(w, 0);   /* no NULLs */
    w = put32(w, p->kind == PV_P_INT_ARRAY ? INT8OID : TEXTOID);
    w = put32(w, (uint32_t) p->len); /* length of the dimension */
    w = put32(w, 1);                 /* its lower bound */
    for (i = 0; i < p->len; i++, e += p->stride) {
        if (p->kind == PV_P_INT_ARRAY) {
            memcpy(&v, e, sizeof v);
            w = put32(w, 8);
            w = put32(w, (uint32_t) ((uint64_t) v >> 32));
            w = put32(w, (uint32_t) (uint64_t) v);
        } else {
            n = strlen((const char *) e);
            w = put32(w, (uint32_t) n);
            memcpy(w, e, n);
            w += n;
        }
    }
    *len = (int) total;
    return buf;
}

/*
 * Run statement id: prepared once per connection under its name, values
 * only ever as parameters. Integers go as decimal text, blobs and arrays in
 * binary; results come back in binary.
 */
static int pg_run(struct pv_store *st, int id, const char *sql, const struct pv_param *p, int n)
{
    struct pg_store *s = handle(st);
    const char *val[PV_MAX_PARAMS];
    int len[PV_MAX_PARAMS], fmt[PV_MAX_PARAMS], i, rc;
    char num[PV_MAX_PARAMS][24];
    unsigned char *owned[PV_MAX_PARAMS] = {NULL};

    s->base.fault = PV_FAULT_NONE;
    s->res = NULL;
    s->row = -1;
    if ((rc = usable(s, pv_sql[id].name, 0)) != PV_OK)
        return rc;
    if (!s->ready[id]) {
        if ((rc = prepare(s, pv_sql[id].name, sql)) != PV_OK)
            return rc;
        s->ready[id] = 1;
    }
    for (i = 0; i < n && rc == PV_OK; i++) {
        val[i] = p[i].p;
        len[i] = 0;
        fmt[i] = 0;
        if (p[i].kind == PV_P_INT) {
            snprintf(num[i], sizeof num[i], "%lld", (long long) p[i].i);
            val[i] = num[i];
        } else if (p[i].kind == PV_P_BLOB) {
            fmt[i] = 1;
            len[i] = (int) p[i].len;
            if (p[i].len > INT_MAX)
                rc = PV_EINVAL;
        } else if (p[i].kind == PV_P_TEXT_ARRAY || p[i].kind == PV_P_INT_ARRAY) {
            fmt[i] = 1;
            val[i] = (const char *) (owned[i] = array(&p[i], &len[i]));
            if (!owned[i])
                rc = PV_ENOMEM;
        }
    }
    if (rc == PV_OK) {
        s->res = PQexecPrepared(s->conn, pv_sql[id].name, n, val, len, fmt, 1);
        rc = check(s, s->res, pv_sql[id].name);
        if (rc != PV_OK) {
            PQclear(s->res);
            s->res = NULL;
        }
    }
    for (i = 0; i < n; i++)
        free(owned[i]);
    return rc;
}

static int pg_step(struct pv_store *st)
{
    struct pg_store *s = handle(st);

    if (s->row + 1 >= PQntuples(s->res))
        return PV_ENOTFOUND;
    s->row++;
    return PV_OK;
}

/* A binary int2, int4 or int8 (network byte order); NULL reads as 0. */
static int pg_col_int(struct pv_store *st, int col, int64_t *v)
{
    struct pg_store *s = handle(st);
    const unsigned char *p;
    uint64_t u = 0;
    int len, k;

    *v = 0;
    if (PQgetisnull(s->res, s->row, col))
        return PV_OK;
    len = PQgetlength(s->res, s->row, col);
    if (len != 2 && len != 4 && len != 8) {
        fprintf(stderr, "store: column %s is not an integer (%d bytes)\n", PQfname(s->res, col),
                len);
        return PV_ESTORE;
    }
    p = (const unsigned char *) PQgetvalue(s->res, s->row, col);
    for (k = 0; k < len; k++)
        u = u << 8 | p[k];
    if (len < 8 && (p[0] & 0x80))
        u |= ~(uint64_t) 0 << (8 * len); /* sign-extend */
    *v = (int64_t) u;
    return PV_OK;
}

static int pg_col_bytes(struct pv_store *st, int col, int blob, const void **p, size_t *len)
{
    struct pg_store *s = handle(st);

    (void) blob; /* binary results: text and bytea both arrive as their bytes */
    *p = NULL;
    *len = 0;
    if (!PQgetisnull(s->res, s->row, col)) {
        *p = PQgetvalue(s->res, s->row, col);
        *len = (size_t) PQgetlength(s->res, s->row, col);
    }
    return PV_OK;
}

static int64_t pg_changes(struct pv_store *st)
{
    const char *t = PQcmdTuples(handle(st)->res);

    return t && *t ? strtoll(t, NULL, 10) : 0;
}

static void pg_reset(struct pv_store *st)
{
    struct pg_store *s = handle(st);

    PQclear(s->res);
    s->res = NULL;
}

static void pg_close(struct pv_store *st)
{
    struct pg_store *s = handle(st);

    if (!s)
        return;
    pv_store_rollback(st);
    PQclear(s->res);
    PQfinish(s->conn);
    free(s);
}

static const struct pv_store_driver postgres_driver = {
    .version = PV_STORE_DRIVER_VERSION,
    .name = "postgres",
    .dialect = PV_DIALECT_POSTGRES,
    .caps = PV_CAP_AUTOCOMMIT,
    .close = pg_close,
    .tx = pg_tx,
    .lock = pg_lock,
    .ddl = pg_ddl,
    .run = pg_run,
    .step = pg_step,
    .col_int = pg_col_int,
    .col_bytes = pg_col_bytes,
    .changes = pg_changes,
    .reset = pg_reset,
};

/* transitional */
static int ready(struct pg_store *s, enum stmt_id id)
{
    int rc = usable(s, stmt_name[id], 0);

    if (rc == PV_OK && !s->prepared[id]) {
        rc = prepare(s, stmt_name[id], stmt_sql[id]);
        s->prepared[id] = rc == PV_OK;
    }
    return rc;
}

/*
 * One use of a prepared statement: bind its parameters in order with b_*(),
 * then q_exec() (no rows wanted) or q_row() (a row to read, then done()).
 * The first failure sticks in rc and turns the rest into no-ops. Text and
 * binary values are borrowed: the caller's buffers outlive the call.
 */
struct q {
    struct pg_store *s;
    enum stmt_id id;
    int n;  /* parameters bound so far */
    int rc; /* PV_E* */
    PGresult *res;
    int row; /* next row q_row() hands out */
    const char *val[MAX_PARAMS];
    int len[MAX_PARAMS];
    int fmt[MAX_PARAMS];
    char num[MAX_PARAMS][24];
};

static void q_start(struct q *b, struct pg_store *s, enum stmt_id id)
{
    b->s = s;
    b->id = id;
    b->n = 0;
    b->res = NULL;
    b->row = 0;
    b->rc = ready(s, id);
}

static int slot(struct q *b)
{
    if (b->rc != PV_OK)
        return -1;
    if (b->n >= MAX_PARAMS) {
        fprintf(stderr, "store: %s: too many parameters\n", stmt_name[b->id]);
        b->rc = PV_EINTERNAL;
        return -1;
    }
    return b->n++;
}

/* A text parameter; NULL binds SQL NULL. */
static void b_text(struct q *b, const char *v)
{
    int i = slot(b);

    if (i < 0)
        return;
    b->val[i] = v;
    b->len[i] = 0;
    b->fmt[i] = 0;
}

static void b_int(struct q *b, int64_t v)
{
    int i = slot(b);

    if (i < 0)
        return;
    snprintf(b->num[i], sizeof b->num[i], "%lld", (long long) v);
    b->val[i] = b->num[i];
    b->len[i] = 0;
    b->fmt[i] = 0;
}

static void b_bin(struct q *b, const void *v, size_t len)
{
    int i = slot(b);

    if (i < 0)
        return;
    if (len > INT_MAX) {
        b->rc = PV_EINVAL;
        return;
    }
    b->val[i] = v;
    b->len[i] = (int) len;
    b->fmt[i] = 1;
}

static void done(struct q *b)
{
    PQclear(b->res);
    b->res = NULL;
}

/* Run the statement; on success b->res holds its result (binary columns). */
static int q_run(struct q *b)
{
    if (b->rc != PV_OK)
        return b->rc;
    b->res = PQexecPrepared(b->s->conn, stmt_name[b->id], b->n, b->val, b->len, b->fmt, 1);
    b->rc = check(b->s, b->res, stmt_name[b->id]);
    if (b->rc != PV_OK)
        done(b);
    return b->rc;
}

/* Run to completion, no rows wanted. *changed (may be NULL): rows the command affected. */
static int q_exec_n(struct q *b, long *changed)
{
    const char *t;

    if (changed)
        *changed = 0;
    if (q_run(b) == PV_OK && changed) {
        t = PQcmdTuples(b->res);
        *changed = t && *t ? strtol(t, NULL, 10) : 0;
    }
    done(b);
    return b->rc;
}

/* q_exec for an UPDATE or DELETE of one keyed row: PV_ENOTFOUND when no row matched. */
static int q_exec_found(struct q *b)
{
    long changed;
    int rc = q_exec_n(b, &changed);

    return rc == PV_OK && changed == 0 ? PV_ENOTFOUND : rc;
}

static int q_exec(struct q *b)
{
    return q_exec_n(b, NULL);
}

/* PV_OK with row b->row - 1 to read, PV_ENOTFOUND past the last, or an error. */
static int q_row(struct q *b)
{
    if (!b->res && q_run(b) != PV_OK)
        return b->rc;
    if (b->row >= PQntuples(b->res))
        return PV_ENOTFOUND;
    b->row++;
    return PV_OK;
}

/* A statement without parameters (transaction control). */

/*
 * Reading a row column by column, in SELECT order, from a binary result.
 * Like struct q, the first failure sticks. Text that would not fit its field
 * is an error, not a truncation (inserts refuse such text).
 */
struct row {
    const PGresult *res;
    int row;
    int i;
    int rc;
};

static struct row row_of(const struct q *b)
{
    struct row r = {b->res, b->row - 1, 0, PV_OK};

    return r;
}

/* A binary int2, int4 or int8 (network byte order); NULL reads as 0. */
static int64_t r_int(struct row *r)
{
    int i = r->i++, len, k;
    const unsigned char *p;
    uint64_t u = 0;

    if (r->rc != PV_OK || PQgetisnull(r->res, r->row, i))
        return 0;
    len = PQgetlength(r->res, r->row, i);
    if (len != 2 && len != 4 && len != 8) {
        fprintf(stderr, "store: column %s is not an integer (%d bytes)\n", PQfname(r->res, i), len);
        r->rc = PV_ESTORE;
        return 0;
    }
    p = (const unsigned char *) PQgetvalue(r->res, r->row, i);
    for (k = 0; k < len; k++)
        u = u << 8 | p[k];
    if (len < 8 && (p[0] & 0x80))
        u |= ~(uint64_t) 0 << (8 * len); /* sign-extend */
    return (int64_t) u;
}

static void r_text(struct row *r, char *dst, size_t cap)
{
    int i = r->i++;
    size_t len;

    dst[0] = '\0';
    if (r->rc != PV_OK || PQgetisnull(r->res, r->row, i))
        return;
    len = (size_t) PQgetlength(r->res, r->row, i);
    if (len >= cap) {
        fprintf(stderr, "store: column %s holds %zu bytes, its field only %zu\n",
                PQfname(r->res, i), len, cap - 1);
        r->rc = PV_ESTORE;
        return;
    }
    memcpy(dst, PQgetvalue(r->res, r->row, i), len);
    dst[len] = '\0';
}

/* NUL-terminated within cap bytes (a borrowed string that fits a record field). */
static int fits(const char *v, size_t cap)
{
    return v && memchr(v, '\0', cap) != NULL;
}

#define FITS(field) fits((field), sizeof(field))

typedef int (*row_reader)(struct row *r, void *rec);

/*
 * Run b and read every row into an owned array of size-byte records (zeroed
 * before reading). *out is NULL when there were no rows; *n is the count.
 */
static int collect(struct q *b, size_t size, row_reader reader, void **out, size_t *n)
{
    unsigned char *arr = NULL;
    struct row r;
    size_t count, i;
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = q_run(b)) != PV_OK)
        return rc;
    count = (size_t) PQntuples(b->res);
    if (count) {
        arr = calloc(count, size);
        if (!arr) {
            rc = PV_ENOMEM;
            goto out;
        }
    }
    for (i = 0; i < count; i++) {
        r = (struct row){b->res, (int) i, 0, PV_OK};
        if ((rc = reader(&r, arr + i * size)) != PV_OK)
            goto out;
    }
    *out = arr;
    *n = count;
    arr = NULL;
out:
    free(arr);
    done(b);
    return rc;
}

#define write_enter(s, own)     pv_write_enter(&(s)->base, 1, (own))
#define write_leave(s, own, rc) pv_write_leave(&(s)->base, (own), (rc))

/* ---- PSDs, refills, keys ------------------------------------------------------------------ */

/* ---- customers, operators, API keys, idempotency ------------------------------------------ */

/* ---- indicia ------------------------------------------------------------------------------ */

static int read_indicium(struct row *r, void *p)
{
    struct pv_indicium_rec *rec = p;
    struct pv_indicium *ind = &rec->ind;
    size_t len;
    int i;

    r_text(r, rec->id, sizeof rec->id);
    r_text(r, rec->customer_id, sizeof rec->customer_id);
    r_text(r, rec->server_id, sizeof rec->server_id);
    rec->created = r_int(r);
    rec->presentations = r_int(r);
    rec->prints = r_int(r);
    rec->refunded_at = r_int(r);
    ind->device_id = (uint32_t) r_int(r);
    ind->key_id = (uint32_t) r_int(r);
    ind->serial = (uint32_t) r_int(r);
    ind->version = (uint8_t) r_int(r);
    ind->sig_alg = (uint8_t) r_int(r);
    ind->flags = (uint8_t) r_int(r);
    r_text(r, ind->license, sizeof ind->license);
    ind->ascending_mills = r_int(r);
    ind->postage_mills = r_int(r);
    ind->mail_date = (uint32_t) r_int(r);
    ind->mail_class = (uint8_t) r_int(r);
    ind->weight_tenth_oz = (uint16_t) r_int(r);
    r_text(r, ind->from_zip, sizeof ind->from_zip);
    r_text(r, ind->to_zip, sizeof ind->to_zip);
    r_text(r, ind->software_id, sizeof ind->software_id);
    r_text(r, ind->medium_serial, sizeof ind->medium_serial);
    if (r->rc != PV_OK)
        return r->rc;

    i = r->i++;
    len = PQgetisnull(r->res, r->row, i) ? 0 : (size_t) PQgetlength(r->res, r->row, i);
    if (len < PV_SIG_LEN || len > sizeof rec->data) {
        fprintf(stderr, "store: indicium %s has %zu bytes of data\n", rec->id, len);
        return PV_ESTORE;
    }
    memcpy(rec->data, PQgetvalue(r->res, r->row, i), len);
    rec->data_len = len;
    r_text(r, rec->from_address, sizeof rec->from_address);
    r_text(r, rec->to_address, sizeof rec->to_address);
    if (r->rc != PV_OK)
        return r->rc;
    /* The signature is not a column: it is the tail of the signed bytes. */
    memcpy(ind->signature, rec->data + len - PV_SIG_LEN, PV_SIG_LEN);
    return PV_OK;
}

static int pg_indicium_insert(struct pv_store *st, const struct pv_indicium_rec *rec)
{
    const struct pv_indicium *ind = &rec->ind;
    struct q b;

    if (!FITS(rec->id) || !FITS(rec->customer_id) || !FITS(rec->server_id) || !rec->id[0] ||
        !FITS(ind->license) || !FITS(ind->from_zip) || !FITS(ind->to_zip) ||
        !FITS(ind->software_id) || !FITS(ind->medium_serial) || !FITS(rec->from_address) ||
        !FITS(rec->to_address) || rec->data_len < PV_INDICIUM_MIN ||
        rec->data_len > sizeof rec->data)
        return PV_EINVAL;
    /* rec->presentations is ignored: a new indicium has not been presented. */
    q_start(&b, handle(st), Q_IND_INSERT);
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
    b_bin(&b, rec->data, rec->data_len);
    b_text(&b, rec->from_address);
    b_text(&b, rec->to_address);
    return q_exec(&b);
}

static int get_one_indicium(struct q *b, struct pv_indicium_rec *rec)
{
    struct row r;
    int rc = q_row(b);

    if (rc == PV_OK) {
        r = row_of(b);
        rc = read_indicium(&r, rec);
    }
    done(b);
    return rc;
}

static int pg_indicium_get(struct pv_store *st, const char *id, struct pv_indicium_rec *rec)
{
    struct q b;

    memset(rec, 0, sizeof *rec);
    if (!id)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_IND_GET);
    b_text(&b, id);
    return get_one_indicium(&b, rec);
}

static int pg_indicium_find(struct pv_store *st, uint32_t device_id, uint32_t serial,
                            struct pv_indicium_rec *rec)
{
    struct q b;

    memset(rec, 0, sizeof *rec);
    q_start(&b, handle(st), Q_IND_FIND);
    b_int(&b, device_id);
    b_int(&b, serial);
    return get_one_indicium(&b, rec);
}

static int pg_indicium_search(struct pv_store *st, const char *customer_id,
                              const struct pv_indicium_filter *f, const char *before_id,
                              size_t limit, struct pv_indicium_rec **out, size_t *n);

/* The unfiltered list is the search without a filter: one query, one set of cursor rules. */
static int pg_indicium_list(struct pv_store *st, const char *customer_id, const char *before_id,
                            size_t limit, struct pv_indicium_rec **out, size_t *n)
{
    return pg_indicium_search(st, customer_id, NULL, before_id, limit, out, n);
}

static int pg_indicium_present(struct pv_store *st, const char *id, int64_t at,
                               int64_t *presented_before)
{
    struct row r;
    struct q b;
    int rc;

    *presented_before = 0;
    if (!id)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_IND_PRESENT);
    b_int(&b, at);
    b_text(&b, id);
    rc = q_row(&b);
    if (rc == PV_OK) {
        r = row_of(&b);
        *presented_before = r_int(&r);
        rc = r.rc;
    }
    done(&b);
    return rc;
}

/* ---- printing ----------------------------------------------------------------------------- */

static int pg_render_record(struct pv_store *st, const char *indicium_id, const char *actor_id,
                            const char *format, const char *layout, int64_t at)
{
    struct q b;
    int rc;

    if (!fits(indicium_id, PV_ID_MAX) || !fits(actor_id, PV_ID_MAX) || !fits(format, 16) ||
        !fits(layout, 64))
        return PV_EINVAL;
    q_start(&b, handle(st), Q_RENDER_RECORD);
    b_text(&b, indicium_id);
    b_text(&b, actor_id);
    b_text(&b, format);
    b_text(&b, layout);
    b_int(&b, at);
    rc = q_exec_found(&b);
    return rc;
}

static int read_printer(struct row *r, void *p)
{
    struct pv_printer_rec *rec = p;

    r_text(r, rec->name, sizeof rec->name);
    rec->offset_x = (int32_t) r_int(r);
    rec->offset_y = (int32_t) r_int(r);
    rec->updated = r_int(r);
    return r->rc;
}

static int pg_printer_put(struct pv_store *st, const char *customer_id,
                          const struct pv_printer_rec *rec)
{
    struct q b;

    if (!fits(customer_id, PV_ID_MAX) || !FITS(rec->name) || !rec->name[0])
        return PV_EINVAL;
    q_start(&b, handle(st), Q_PRINTER_PUT);
    b_text(&b, customer_id);
    b_text(&b, rec->name);
    b_int(&b, rec->offset_x);
    b_int(&b, rec->offset_y);
    b_int(&b, rec->updated);
    return q_exec(&b);
}

static int pg_printer_get(struct pv_store *st, const char *customer_id, const char *name,
                          struct pv_printer_rec *rec)
{
    struct row r;
    struct q b;
    int rc;

    memset(rec, 0, sizeof *rec);
    if (!customer_id || !name)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_PRINTER_GET);
    b_text(&b, customer_id);
    b_text(&b, name);
    rc = q_row(&b);
    if (rc == PV_OK) {
        r = row_of(&b);
        rc = read_printer(&r, rec);
    }
    done(&b);
    return rc;
}

static int pg_printer_list(struct pv_store *st, const char *customer_id,
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

static int pg_printer_delete(struct pv_store *st, const char *customer_id, const char *name)
{
    struct q b;
    int rc;

    if (!customer_id || !name)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_PRINTER_DELETE);
    b_text(&b, customer_id);
    b_text(&b, name);
    rc = q_exec_found(&b);
    return rc;
}

/* ---- scale-out: servers and PSD leases ---------------------------------------------------- */

/* ---- accounts, payments, refunds (schema v4) ---------------------------------------------- */

/*
 * Each of these is one statement, atomic on its own under autocommit, except
 * charge_add_refund and indicium_mark_refunded: a guarded UPDATE, then - only
 * when it matched nothing - a read that tells "no such row" from "the guard
 * refused". That read decides nothing that is written, so it needs no lock.
 */

#define EMAIL_MAX sizeof((struct pv_customer_rec *) 0)->email

/* ---- the web UI's history and charts ----------------------------------------------------- */

/* The seq of the customer's indicium before_id into *before (INT64_MAX for
 * none); PV_ECURSOR when it is not theirs. */
static int cursor_seq(struct pg_store *s, const char *customer_id, const char *before_id,
                      int64_t *before)
{
    struct row r;
    struct q b;
    int rc;

    *before = INT64_MAX;
    if (!before_id || !*before_id)
        return PV_OK;
    q_start(&b, s, Q_IND_CURSOR);
    b_text(&b, before_id);
    b_text(&b, customer_id);
    rc = q_row(&b);
    if (rc == PV_OK) {
        r = row_of(&b);
        *before = r_int(&r);
        rc = r.rc;
    }
    done(&b);
    return rc == PV_ENOTFOUND ? PV_ECURSOR : rc;
}

static int pg_indicium_search(struct pv_store *st, const char *customer_id,
                              const struct pv_indicium_filter *f, const char *before_id,
                              size_t limit, struct pv_indicium_rec **out, size_t *n)
{
    static const struct pv_indicium_filter any = {0, 0, 0, -1, -1, ""};
    struct pg_store *s = handle(st);
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

static int read_sales_day(struct row *r, void *p)
{
    struct pv_sales_day *rec = p;

    rec->day = r_int(r);
    rec->psd_id = (uint32_t) r_int(r);
    rec->count = r_int(r);
    rec->postage = r_int(r);
    return r->rc;
}

static int pg_sales_daily(struct pv_store *st, int64_t since, struct pv_sales_day **out, size_t *n)
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

/* ---- media (schema v4) -------------------------------------------------------------------- */

static const struct pv_store_ops postgres_ops = {
    .indicium_insert = pg_indicium_insert,
    .indicium_get = pg_indicium_get,
    .indicium_list = pg_indicium_list,
    .indicium_find = pg_indicium_find,
    .indicium_present = pg_indicium_present,
    .render_record = pg_render_record,
    .printer_put = pg_printer_put,
    .printer_get = pg_printer_get,
    .printer_list = pg_printer_list,
    .printer_delete = pg_printer_delete,
    .indicium_search = pg_indicium_search,
    .sales_daily = pg_sales_daily,
};

int pv_postgres_open(const char *dsn, struct pv_store **out)
{
    /* The DSN is libpq's "dbname" with expansion: a URI or key=value string. */
    static const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *values[] = {dsn, "stampd", NULL};
    struct pg_store *s = NULL;
    char line[512];
    int rc;

    if (!out)
        return PV_EINVAL;
    *out = NULL;
    if (!dsn)
        return PV_EINVAL;
    s = calloc(1, sizeof *s);
    if (!s)
        return PV_ENOMEM;
    s->base.ops = &postgres_ops;
    s->base.drv = &postgres_driver;
    s->conn = PQconnectdbParams(keys, values, 1);
    if (!s->conn) {
        rc = PV_ENOMEM;
        goto out;
    }
    if (PQstatus(s->conn) != CONNECTION_OK) {
        /* libpq's message names host and port, never the password. */
        fprintf(stderr, "store: cannot connect to PostgreSQL: %s\n",
                one_line(PQerrorMessage(s->conn), line, sizeof line));
        rc = PV_ESTORE;
        goto out;
    }
    if ((rc = session_setup(s)) != PV_OK)
        goto out;
    *out = &s->base;
    s = NULL;
out:
    if (s)
        pg_close(&s->base);
    return rc;
}
