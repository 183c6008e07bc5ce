/*
 * sql.h - every statement the store runs, written once with $N placeholders,
 * and the column lists they share. Private to src/store.
 *
 * X(NAME, TEXTS) where TEXTS is BOTH("sql") or DIALECT("sqlite sql",
 * "postgres sql"). A NULL text means the dialect lacks the statement and the
 * operation composes it from others (journal_post, render_record) or does
 * without (the FOR UPDATE row locks, which SQLite's single writer makes
 * needless). The SQLite driver rewrites $N to ?N when it prepares. Integers
 * a statement returns are BIGINT (CAST where PostgreSQL would say numeric):
 * the PostgreSQL driver reads results in binary.
 */
#ifndef STAMPD_STORE_SQL_H
#define STAMPD_STORE_SQL_H

#include "store/sql_hooks.h"
#include "store/sql_ledger.h"
#include "store/sql_reports.h"

#define PSD_COLS                                                                                   \
    "id, status, key_id, descending, ascending, control_total, piece_count, "                      \
    "last_refill_at, test"
#define PSD_READ_COLS PSD_COLS ", lease_holder, lease_expires, suspended_by, status_reason"
#define PSD_EVENT_FIELDS                                                                           \
    "psd_id, at, event, actor, actor_id, reason, status_before, status_after, descending, "        \
    "ascending, control_total, piece_count, ref"
#define REFILL_COLS                                                                                \
    "psd_id, amount_mills, desc_before, asc_before, ctl_before, desc_after, "                      \
    "asc_after, ctl_after, authorization_ref, at, authority_sig"
#define KEY_COLS                                                                                   \
    "key_id, psd_id, algorithm, module, key_ref, public_pem, created, module_id, cert_pem, "       \
    "retired_at, revoked_at, revoke_reason"
#define IND_FIELDS                                                                                 \
    "psd_id, key_id, serial, version, sig_alg, flags, license, ascending_mills, "                  \
    "postage_mills, mail_date, mail_class, weight_tenth_oz, from_zip, to_zip, "                    \
    "software_id, medium_serial, data, from_address, to_address, medium_sheet, medium_label, "     \
    "services, zone, rate_version, surcharge_mills, certified_mills, return_receipt_mills, "       \
    "metadata"
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

#define CLAIM_COLS                                                                                 \
    "id, refund_id, indicium_id, psd_id, serial, amount_mills, status, reason, decided_by, "       \
    "created, decided_at"
/* How often the authority was shown a claim's piece (read with the claim). */
#define CLAIM_SEEN "(SELECT i.presentations FROM indicia i WHERE i.id = refund_claims.indicium_id)"
#define HOLD_COLS                                                                                  \
    "id, customer_id, reason, placed_by, placed_at, psd_id, serial, lifted_by, lifted_at, "        \
    "lift_reason"
/* pay_intents_live's WHERE on SQLite (schema v29), which INTENT_DUE names the same way to use
 * the index: ORs, which SQLite compares in place (an IN list builds a table a statement). */
#define PV_INTENT_LIVE_OR                                                                          \
    "(state = 'pending' OR state = 'authorized' OR state = 'settling' OR state = 'voiding')"
/* PURCHASE_KEY (purchase_key): the key's row, else a purchase intent under it in the states
 * given, read with ref (its indicium, or '' for one on its way). */
#define PURCHASE_KEY_SQL(ref, holding)                                                             \
    "SELECT req_hash, indicium_id FROM idempotency WHERE owner_id = $1 AND key = $2 UNION ALL "    \
    "SELECT p.req_hash, " ref " FROM pay_intents p WHERE p.kind = 'purchase' AND p.owner = $1 "    \
    "AND p.client_key = $2 AND " holding " LIMIT 1"
#define PV_IND_OF_P "EXISTS (SELECT 1 FROM indicia i WHERE i.id = p.ref)"
#define INTENT_COLS                                                                                \
    "id, kind, owner, customer_id, test, client_key, attempt, req_hash, gateway_key, source, "     \
    "payment_method_id, brand, last4, amount_mills, state, charge_id, ref, server_id, created, "   \
    "updated"
#define BBATCH_FIELDS                                                                              \
    "id, customer_id, test, idem_key, req_hash, items, created, updated, completed"
/* A batch with its items counted by outcome (store_batches.h). */
#define BBATCH_READ                                                                                \
    "b.seq, b.id, b.customer_id, b.test, b.idem_key, b.req_hash, b.items, b.created, "             \
    "b.updated, b.completed, "                                                                     \
    "(SELECT COUNT(*) FROM buy_batch_items i WHERE i.batch_id = b.id AND i.status = 0), "          \
    "(SELECT COUNT(*) FROM buy_batch_items i WHERE i.batch_id = b.id AND i.status = 1), "          \
    "(SELECT COUNT(*) FROM buy_batch_items i WHERE i.batch_id = b.id AND i.status = 2), "          \
    "CAST((SELECT COALESCE(SUM(i.postage_mills), 0) FROM buy_batch_items i "                       \
    "WHERE i.batch_id = b.id AND i.status = 1) AS BIGINT) FROM buy_batches b"
#define BITEM_COLS                                                                                 \
    "n, reference, status, indicium_id, postage_mills, error_code, error_field, error_message, "   \
    "updated"
/* An account's balance: its row (a) plus its parts (v21), one integer. */
#define ACCOUNT_TOTAL                                                                              \
    "CAST(a.balance_mills + COALESCE((SELECT SUM(p.balance_mills) FROM account_parts p "           \
    "WHERE p.name = a.name), 0) AS BIGINT)"
/* journal_post's moves of the accounts by its lines l (account, amount, part), in name order:
 * a line of part 0 adds to its account's row (made when missing), another to that part of
 * its account (account_parts), whose row is only made when missing. JOURNAL_POST,
 * JOURNALS_INSERT. */
#define LINES_TO_ACCOUNTS                                                                          \
    "a AS (INSERT INTO accounts(name, balance_mills) "                                             \
    "      SELECT account, sum(amount) FROM l WHERE part = 0 "                                     \
    "      GROUP BY account ORDER BY account "                                                     \
    "      ON CONFLICT (name) DO UPDATE "                                                          \
    "      SET balance_mills = accounts.balance_mills + excluded.balance_mills), "                 \
    "e AS (INSERT INTO accounts(name, balance_mills) "                                             \
    "      SELECT DISTINCT account, 0 FROM l WHERE part <> 0 "                                     \
    "      AND account NOT IN (SELECT account FROM l WHERE part = 0) "                             \
    "      ON CONFLICT (name) DO NOTHING), "                                                       \
    "p AS (INSERT INTO account_parts(name, part, balance_mills) "                                  \
    "      SELECT account, part, sum(amount) FROM l WHERE part <> 0 "                              \
    "      GROUP BY account, part ORDER BY account, part "                                         \
    "      ON CONFLICT (name, part) DO UPDATE "                                                    \
    "      SET balance_mills = account_parts.balance_mills + excluded.balance_mills) "
/* Sixteen rows of four parameters, for a multi-row VALUES (JOURNALS_ROWS16, LINES_ROWS16). */
#define ROWS16X4                                                                                   \
    "($1, $2, $3, $4), ($5, $6, $7, $8), ($9, $10, $11, $12), ($13, $14, $15, $16), "              \
    "($17, $18, $19, $20), ($21, $22, $23, $24), ($25, $26, $27, $28), ($29, $30, $31, $32), "     \
    "($33, $34, $35, $36), ($37, $38, $39, $40), ($41, $42, $43, $44), ($45, $46, $47, $48), "     \
    "($49, $50, $51, $52), ($53, $54, $55, $56), ($57, $58, $59, $60), ($61, $62, $63, $64)"
/* A minute's slot in server_minutes (v45), 0-59 whatever the minute's sign; and the upsert of a
 * server's minute into its slot: the same minute adds, another takes the slot over - a later
 * one as the clock goes on, an earlier one after a clock put back (its minutes ahead leave the
 * slots as it writes, within the hour). */
#define MINUTE_SLOT(m) "((" m ") % 60 + 60) % 60"
#define MINUTES_UPSERT                                                                             \
    "    ON CONFLICT (server_id, slot) DO UPDATE SET pieces = CASE WHEN server_minutes.minute = "  \
    "excluded.minute THEN server_minutes.pieces + excluded.pieces ELSE excluded.pieces END, "      \
    "minute = excluded.minute"
/* The upserts of a server's count (server_pieces, v38) and of a PSD's day (psd_days, v44):
 * SQLite's statements and PostgreSQL's trigger add the same way. */
#define SERVERS_UPSERT                                                                             \
    " ON CONFLICT (server_id) DO UPDATE SET pieces = server_pieces.pieces + excluded.pieces"
#define DAYS_UPSERT                                                                                \
    " ON CONFLICT (day, psd_id) DO UPDATE SET pieces = psd_days.pieces + excluded.pieces, "        \
    "postage_mills = psd_days.postage_mills + excluded.postage_mills"

#define PV_STATEMENTS(X)                                                                           \
    X(HAVE_SCHEMA, DIALECT("SELECT (SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' "      \
                           "AND name = 'schema_version')",                                         \
                           "SELECT (to_regclass('schema_version') IS NOT NULL)::integer"))         \
    X(SCHEMA_MAX, BOTH("SELECT COALESCE(MAX(version), 0) FROM schema_version"))                    \
    X(SCHEMA_INSERT, BOTH("INSERT INTO schema_version(version, applied_at) VALUES ($1, $2)"))      \
    X(CONFIG_SET, BOTH("INSERT INTO config(key, value) VALUES ($1, $2) "                           \
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value"))                  \
    X(CONFIG_GET, BOTH("SELECT value FROM config WHERE key = $1"))                                 \
    X(CONFIG_DELETE, BOTH("DELETE FROM config WHERE key = $1"))                                    \
    /* One statement: atomic on its own, and the accounts are locked in name order. A line         \
     * of part $6[i] <> 0 adds to that part of its account (a shared total, account_parts):        \
     * the account's own row is only made when missing, never locked. */                           \
    X(JOURNAL_POST,                                                                                \
      DIALECT(NULL,                                                                                \
              "WITH j AS (INSERT INTO journals(kind, ref, at) VALUES ($1, $2, $3) RETURNING id), " \
              "l AS (SELECT t.account, t.amount, t.part, t.ord "                                   \
              "      FROM unnest($4::text[], $5::bigint[], $6::bigint[]) WITH ORDINALITY "         \
              "      AS t(account, amount, part, ord)), " LINES_TO_ACCOUNTS                        \
              "INSERT INTO journal_lines(journal_id, line, account, amount_mills) "                \
              "SELECT j.id, l.ord - 1, l.account, l.amount FROM j, l"))                            \
    /* A purchase batch's journals (journal_batch): $1-$3 the journals in order, $4-$8 their       \
     * lines ($4 the journal's place, $8 the part of a shared line); the accounts and parts move   \
     * by the lines' sums, in name order, as JOURNAL_POST moves them for one journal. The          \
     * sequence is found once (an InitPlan), not a journal: nextval of its text looked it up in    \
     * the catalog again for each (~9 us a journal, a fifth of the statement; session 19). */      \
    X(JOURNALS_INSERT,                                                                             \
      DIALECT(NULL,                                                                                \
              "WITH t AS MATERIALIZED (SELECT nextval((SELECT pg_get_serial_sequence("             \
              "      'journals', 'id')::regclass)) AS id, u.kind, u.ref, u.at, u.ord "             \
              "      FROM unnest($1::text[], $2::text[], "                                         \
              "      $3::bigint[]) WITH ORDINALITY AS u(kind, ref, at, ord)), "                    \
              "l AS MATERIALIZED (SELECT * FROM unnest($4::bigint[], $5::bigint[], $6::text[], "   \
              "      $7::bigint[], $8::bigint[]) AS x(jord, line, account, amount, part)), "       \
              "j AS (INSERT INTO journals(id, kind, ref, at) OVERRIDING SYSTEM VALUE "             \
              "      SELECT id, kind, ref, at FROM t ORDER BY ord), " LINES_TO_ACCOUNTS            \
              "INSERT INTO journal_lines(journal_id, line, account, amount_mills) "                \
              "SELECT t.id, l.line, l.account, l.amount FROM l JOIN t ON t.ord = l.jord"))         \
    /* A balance is the account's row plus its parts (v21). */                                     \
    X(ACCOUNT_GET, BOTH("SELECT " ACCOUNT_TOTAL " FROM accounts a WHERE a.name = $1"))             \
    X(ACCOUNT_OPEN, BOTH("INSERT INTO accounts(name, balance_mills) VALUES ($1, 0) "               \
                         "ON CONFLICT (name) DO NOTHING"))                                         \
    X(ACCOUNT_GET_LOCK,                                                                            \
      DIALECT(NULL, "SELECT " ACCOUNT_TOTAL " FROM accounts a WHERE a.name = $1 FOR UPDATE OF a")) \
    /* A purchase batch's customers, locked in name order before anything else (lock_batch),       \
     * with their balances, which the batch keeps (account_balance answers them). IN (SELECT       \
     * unnest), not = ANY: a kept plan of "= ANY($1)" compares each row with every name (at 512    \
     * customers ~10 us a purchase, issue 15 session 14); this one is a hash or an index lookup.   \
     */                                                                                            \
    X(ACCOUNTS_LOCK,                                                                               \
      DIALECT(NULL,                                                                                \
              "SELECT a.name, " ACCOUNT_TOTAL " FROM accounts a "                                  \
              "WHERE a.name IN (SELECT unnest($1::text[])) ORDER BY a.name FOR UPDATE OF a"))      \
    /* A batch that locks its customers late (batch_late, issue 15, session 10): its savepoint,    \
     * the late lock, the balances read without a lock; ACCOUNTS_LOCK takes them at its end        \
     * (batch_settle). The late lock is a pair of table locks on the gate (schema v26, session     \
     * 11): ROW EXCLUSIVE for the batches that lock late, SHARE for those that lock first - each   \
     * kind shares with its own and excludes the other. */                                         \
    /* A purchase batch's transaction plans its lookups by key (plan_by_key, session 14). */       \
    X(PLAN_BY_KEY, DIALECT(NULL, "SELECT set_config('enable_seqscan', 'off', true)"))              \
    X(BATCH_SAVEPOINT, DIALECT(NULL, "SAVEPOINT b"))                                               \
    X(BATCH_ROLLBACK_TO, DIALECT(NULL, "ROLLBACK TO b"))                                           \
    X(GATE_LATE, DIALECT(NULL, "LOCK TABLE batch_gate IN ROW EXCLUSIVE MODE"))                     \
    X(GATE_FIRST, DIALECT(NULL, "LOCK TABLE batch_gate IN SHARE MODE"))                            \
    /* Locking late, an account not among its customers (the postal deposit of a refill) is        \
     * locked only when free: waiting could close a circle (account_balance, purchase-path.md). */ \
    X(ACCOUNT_GET_LOCK_NOWAIT, DIALECT(NULL, "SELECT " ACCOUNT_TOTAL " FROM accounts a "           \
                                             "WHERE a.name = $1 FOR UPDATE OF a NOWAIT"))          \
    X(ACCOUNTS_READ, DIALECT(NULL, "SELECT a.name, " ACCOUNT_TOTAL " FROM accounts a "             \
                                   "WHERE a.name IN (SELECT unnest($1::text[]))"))                 \
    /* Without arrays (SQLite): journal_post in three statements for up to four lines (the         \
     * accounts first: the only one a CHECK refuses), under an inner savepoint unless a            \
     * purchase job's own savepoint is around it (pv_store_defer). Unused rows are NULL. */        \
    X(INNER_SAVEPOINT, DIALECT("SAVEPOINT jp", NULL))                                              \
    X(INNER_RELEASE, DIALECT("RELEASE jp", NULL))                                                  \
    X(INNER_ROLLBACK_TO, DIALECT("ROLLBACK TO jp", NULL))                                          \
    X(JOURNAL_INSERT,                                                                              \
      DIALECT("INSERT INTO journals(kind, ref, at) VALUES ($1, $2, $3) RETURNING id", NULL))       \
    X(ACCOUNTS_ADD4,                                                                               \
      DIALECT("INSERT INTO accounts(name, balance_mills) SELECT column1, column2 "                 \
              "FROM (VALUES ($1, $2), ($3, $4), ($5, $6), ($7, $8)) WHERE column1 IS NOT NULL "    \
              "ON CONFLICT(name) DO UPDATE "                                                       \
              "SET balance_mills = balance_mills + excluded.balance_mills",                        \
              NULL))                                                                               \
    X(LINES_INSERT4,                                                                               \
      DIALECT("INSERT INTO journal_lines(journal_id, line, account, amount_mills) "                \
              "SELECT $1, column1, column2, column3 FROM (VALUES ($2, $3, $4), ($5, $6, $7), "     \
              "($8, $9, $10), ($11, $12, $13)) WHERE column2 IS NOT NULL",                         \
              NULL))                                                                               \
    /* journal_post2 (SQLite): two entries' accounts netted, eight to a statement; an account      \
     * netted to zero gets its row if it has none and is not rewritten. Then their two journals    \
     * (their ids the last insert's rowid and the one before: two_journals) and their lines, each  \
     * row with its journal. */                                                                    \
    X(ACCOUNTS_ADD8,                                                                               \
      DIALECT("INSERT INTO accounts(name, balance_mills) SELECT column1, column2 "                 \
              "FROM (VALUES ($1, $2), ($3, $4), ($5, $6), ($7, $8), ($9, $10), ($11, $12), "       \
              "($13, $14), ($15, $16)) WHERE column1 IS NOT NULL "                                 \
              "ON CONFLICT(name) DO UPDATE "                                                       \
              "SET balance_mills = balance_mills + excluded.balance_mills "                        \
              "WHERE excluded.balance_mills <> 0",                                                 \
              NULL))                                                                               \
    X(JOURNAL_INSERT2, DIALECT("INSERT INTO journals(kind, ref, at) VALUES ($1, $3, $4), "         \
                               "($2, $3, $4)",                                                     \
                               NULL))                                                              \
    X(LINES_INSERT8,                                                                               \
      DIALECT("INSERT INTO journal_lines(journal_id, line, account, amount_mills) "                \
              "SELECT column1, column2, column3, column4 FROM (VALUES ($1, $2, $3, $4), "          \
              "($5, $6, $7, $8), ($9, $10, $11, $12), ($13, $14, $15, $16), "                      \
              "($17, $18, $19, $20), ($21, $22, $23, $24), ($25, $26, $27, $28), "                 \
              "($29, $30, $31, $32)) WHERE column3 IS NOT NULL",                                   \
              NULL))                                                                               \
    /* A purchase batch's kept journals without arrays (SQLite, pv_jbuf_write_rows): the           \
     * largest id (the journals get the ids after it, as SQLite would give them one after          \
     * the other: one writer), then sixteen journals or lines to a statement, unused rows          \
     * NULL. */                                                                                    \
    X(JOURNAL_LAST, DIALECT("SELECT COALESCE(MAX(id), 0) FROM journals", NULL))                    \
    X(JOURNALS_ROWS16,                                                                             \
      DIALECT("INSERT INTO journals(id, kind, ref, at) "                                           \
              "SELECT column1, column2, column3, column4 FROM (VALUES " ROWS16X4 ") "              \
              "WHERE column1 IS NOT NULL",                                                         \
              NULL))                                                                               \
    X(LINES_ROWS16,                                                                                \
      DIALECT("INSERT INTO journal_lines(journal_id, line, account, amount_mills) "                \
              "SELECT column1, column2, column3, column4 FROM (VALUES " ROWS16X4 ") "              \
              "WHERE column1 IS NOT NULL",                                                         \
              NULL))                                                                               \
    X(PSD_INSERT,                                                                                  \
      BOTH("INSERT INTO psds(" PSD_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))          \
    X(PSD_GET, BOTH("SELECT " PSD_READ_COLS " FROM psds WHERE id = $1"))                           \
    X(PSD_GET_LOCK, DIALECT(NULL, "SELECT " PSD_READ_COLS " FROM psds WHERE id = $1 FOR UPDATE"))  \
    X(PSD_UPDATE, BOTH("UPDATE psds SET status = $1, descending = $2, ascending = $3, "            \
                       "control_total = $4, piece_count = $5, last_refill_at = $6 WHERE id = $7")) \
    X(PSD_LIST, BOTH("SELECT " PSD_READ_COLS " FROM psds ORDER BY id"))                            \
    X(PSD_SET_STATUS, BOTH("UPDATE psds SET status = $1, suspended_by = $2, status_reason = $3 "   \
                           "WHERE id = $4"))                                                       \
    X(PSD_EVENT_INSERT, BOTH("INSERT INTO psd_events(" PSD_EVENT_FIELDS ") "                       \
                             "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"))   \
    X(PSD_EVENT_LIST, BOTH("SELECT id, " PSD_EVENT_FIELDS " FROM psd_events "                      \
                           "WHERE psd_id = $1 AND id > $2 ORDER BY id LIMIT $3"))                  \
    X(REFILL_INSERT, BOTH("INSERT INTO refills(" REFILL_COLS ") "                                  \
                          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))                \
    X(REFILL_LIST, BOTH("SELECT id, " REFILL_COLS " FROM refills WHERE psd_id = $1 AND at >= $2 "  \
                        "ORDER BY at, id"))                                                        \
    /* The authority's resets, newest first, before id $1 (a test PSD's left out). */              \
    X(RESET_PAGE, BOTH("SELECT id, " REFILL_COLS " FROM refills WHERE id < $1 AND psd_id IN "      \
                       "(SELECT id FROM psds WHERE test = 0) ORDER BY id DESC LIMIT $2"))          \
    X(KEY_INSERT, BOTH("INSERT INTO keys(" KEY_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "   \
                       "$9, $10, $11, $12)"))                                                      \
    X(KEY_SET_CERT, BOTH("UPDATE keys SET cert_pem = $1 WHERE key_id = $2"))                       \
    X(KEY_RETIRE, BOTH("UPDATE keys SET retired_at = $1 WHERE key_id = $2 AND retired_at = 0"))    \
    X(KEY_REVOKE, BOTH("UPDATE keys SET revoked_at = $1, revoke_reason = $2 "                      \
                       "WHERE key_id = $3 AND revoked_at = 0"))                                    \
    X(PSD_SET_KEY, BOTH("UPDATE psds SET key_id = $1, status = $2 WHERE id = $3"))                 \
    X(KEY_LIST, BOTH("SELECT " KEY_COLS " FROM keys ORDER BY key_id"))                             \
    X(CUSTOMER_INSERT, BOTH("INSERT INTO customers(id, email, created) VALUES ($1, $2, $3)"))      \
    X(CUSTOMER_GET, BOTH("SELECT id, email, created FROM customers WHERE id = $1"))                \
    X(OPERATOR_INSERT, BOTH("INSERT INTO operators(id, email, created) VALUES ($1, $2, $3)"))      \
    X(APIKEY_INSERT, BOTH("INSERT INTO api_keys(id, hash, prefix, role, owner_id, created) "       \
                          "VALUES ($1, $2, $3, $4, $5, $6)"))                                      \
    X(APIKEY_LOOKUP, BOTH("SELECT role, owner_id, id, test FROM api_keys "                         \
                          "WHERE hash = $1 AND revoked_at IS NULL"))                               \
    /* A watch's change count on SQLite (store_watch.h, schema v28): a trigger bumps it. */        \
    X(WATCH_VERSION, DIALECT("SELECT version FROM watch_versions WHERE channel = $1", NULL))       \
    /* A purchase batch's reads of its jobs' keys, holds, auto-refill rules and webhook            \
     * endpoints, one row a job (batch_facts: bit 1 key stored, 2 a hold standing, 4 a rule, 8 an  \
     * endpoint enabled in the job's mode). Bit 1 from the rows alone: PostgreSQL writes one for a \
     * card purchase too (card_key_put). */                                                        \
    X(BATCH_FACTS,                                                                                 \
      DIALECT(NULL,                                                                                \
              "SELECT (ki.f IS NOT NULL)::integer + 2 * (kh.f IS NOT NULL)::integer "              \
              "+ 4 * (kr.f IS NOT NULL)::integer + 8 * (kw.f IS NOT NULL)::integer "               \
              "FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) "                     \
              "WITH ORDINALITY AS t(c, m, o, k, ord) "                                             \
              "LEFT JOIN LATERAL (SELECT 1 AS f FROM idempotency i "                               \
              "WHERE i.owner_id = t.o AND i.key = t.k LIMIT 1) ki ON true "                        \
              "LEFT JOIN LATERAL (SELECT 1 AS f FROM authority_holds h "                           \
              "WHERE h.customer_id = t.c AND h.lifted_at = 0 LIMIT 1) kh ON true "                 \
              "LEFT JOIN LATERAL (SELECT 1 AS f FROM auto_refill a "                               \
              "WHERE a.customer_id = t.c AND a.test = t.m LIMIT 1) kr ON true "                    \
              "LEFT JOIN LATERAL (SELECT 1 AS f FROM webhook_endpoints w "                         \
              "WHERE w.owner_id = t.c AND w.test = t.m AND w.enabled = 1 LIMIT 1) kw ON true "     \
              "ORDER BY t.ord"))                                                                   \
    X(IDEM_GET, BOTH("SELECT req_hash, indicium_id FROM idempotency "                              \
                     "WHERE owner_id = $1 AND key = $2"))                                          \
    /* A purchase's key (purchase_key): its row, else its card's intent that committed with its    \
     * indicium (SQLite writes no row for it: card_key_put), and on SQLite one still on its way,   \
     * its ref read as '' (pending, authorized, or settling in the batch that claimed it, its      \
     * indicium not written yet; session 26). A declined, voiding or voided attempt holds no key.  \
     * `+state` keeps SQLite on the key's index. */                                                \
    X(PURCHASE_KEY,                                                                                \
      DIALECT(PURCHASE_KEY_SQL("CASE WHEN " PV_IND_OF_P " THEN p.ref ELSE '' END",                 \
                               "(+p.state = 'pending' OR +p.state = 'authorized' OR "              \
                               "+p.state = 'settling' OR +p.state = 'captured')"),                 \
              PURCHASE_KEY_SQL("p.ref", "p.state IN ('settling', 'captured') AND " PV_IND_OF_P)))  \
    X(IDEM_PUT, BOTH("INSERT INTO idempotency(owner_id, key, req_hash, indicium_id, created) "     \
                     "VALUES ($1, $2, $3, $4, $5)"))                                               \
    /* A batch locking late: its jobs' keys in one statement, in key order (batch_settle); a       \
     * key stored meanwhile fails it (PV_EEXIST: the batch is sent back). */                       \
    X(IDEM_PUT_MANY,                                                                               \
      DIALECT(NULL, "INSERT INTO idempotency(owner_id, key, req_hash, indicium_id, created) "      \
                    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "        \
                    "$5::bigint[]) AS t(o, k, h, i, c) ORDER BY o, k"))                            \
    X(IND_INSERT,                                                                                  \
      BOTH("INSERT INTO indicia(id, customer_id, server_id, created, " IND_FIELDS ") "             \
           "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, "            \
           "$16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, "      \
           "$32)"))                                                                                \
    /* A batch's indicia in one statement (pv_store_indicia_insert): a column an array. */         \
    X(IND_INSERT_MANY,                                                                             \
      DIALECT(NULL, "INSERT INTO indicia(id, customer_id, server_id, created, " IND_FIELDS ") "    \
                    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], "      \
                    "$5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], "       \
                    "$10::bigint[], $11::text[], $12::bigint[], $13::bigint[], $14::bigint[], "    \
                    "$15::bigint[], $16::bigint[], $17::text[], $18::text[], $19::text[], "        \
                    "$20::text[], $21::bytea[], $22::text[], $23::text[], $24::text[], "           \
                    "$25::bigint[], $26::bigint[], $27::bigint[], $28::text[], $29::bigint[], "    \
                    "$30::bigint[], $31::bigint[], $32::text[])"))                                 \
    X(RATE_INSERT, BOTH("INSERT INTO rate_tables(version, effective, source, body, loaded_at, "    \
                        "loaded_by) VALUES ($1, $2, $3, $4, $5, $6)"))                             \
    X(RATE_LIST, BOTH("SELECT version, effective, source, body, loaded_at, loaded_by "             \
                      "FROM rate_tables ORDER BY effective"))                                      \
    X(RATE_STAMP, BOTH("SELECT count(*), CAST(COALESCE(max(loaded_at), 0) AS BIGINT) "             \
                       "FROM rate_tables"))                                                        \
    X(IND_META_INSERT,                                                                             \
      BOTH("INSERT INTO indicium_metadata(owner, mkey, mvalue, mseq, indicium_id) "                \
           "SELECT $1, $2, $3, seq, id FROM indicia WHERE id = $4"))                               \
    X(IND_GET, BOTH("SELECT " IND_COLS " FROM indicia WHERE id = $1"))                             \
    X(IND_FIND, BOTH("SELECT " IND_COLS " FROM indicia WHERE psd_id = $1 AND serial = $2"))        \
    /* A cursor of the other mode is as unknown as any (domain/mode.h). */                         \
    X(IND_CURSOR, BOTH("SELECT seq FROM indicia WHERE id = $1 AND customer_id = $2 "               \
                       "AND ($3 < 0 OR (flags & 1) = $3)"))                                        \
    /* The row lock of the UPDATE orders racing presentations: 0 then 1, never 0 and 0. */         \
    X(IND_PRESENT, BOTH("UPDATE indicia SET presentations = presentations + 1, "                   \
                        "last_presented_at = $1 WHERE id = $2 RETURNING presentations - 1"))       \
    X(RENDER_RECORD,                                                                               \
      DIALECT(NULL, "WITH u AS (UPDATE indicia SET prints = prints + 1 WHERE id = $1 "             \
                    "RETURNING id) "                                                               \
                    "INSERT INTO renders(indicium_id, actor_id, format, layout, at) "              \
                    "SELECT u.id, $2, $3, $4, $5 FROM u"))                                         \
    /* Without data-modifying WITH (SQLite): render_record in two statements. */                   \
    X(IND_PRINTED, DIALECT("UPDATE indicia SET prints = prints + 1 WHERE id = $1", NULL))          \
    X(RENDER_INSERT, DIALECT("INSERT INTO renders(indicium_id, actor_id, format, layout, at) "     \
                             "VALUES ($1, $2, $3, $4, $5)",                                        \
                             NULL))                                                                \
    X(PRINTER_PUT,                                                                                 \
      BOTH("INSERT INTO printers(customer_id, name, offset_x, offset_y, updated) "                 \
           "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (customer_id, name) DO UPDATE SET "            \
           "offset_x = excluded.offset_x, offset_y = excluded.offset_y, "                          \
           "updated = excluded.updated"))                                                          \
    X(PRINTER_GET, BOTH("SELECT name, offset_x, offset_y, updated FROM printers "                  \
                        "WHERE customer_id = $1 AND name = $2"))                                   \
    X(PRINTER_LIST, BOTH("SELECT name, offset_x, offset_y, updated FROM printers "                 \
                         "WHERE customer_id = $1 ORDER BY name"))                                  \
    X(PRINTER_DELETE, BOTH("DELETE FROM printers WHERE customer_id = $1 AND name = $2"))           \
    /* An existing server keeps the status an operator gave it. */                                 \
    X(SERVER_REGISTER,                                                                             \
      BOTH("INSERT INTO servers(id, address, crypto_module, key_ids, status, "                     \
           "started_ms, heartbeat_ms, module_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "         \
           "ON CONFLICT (id) DO UPDATE SET address = excluded.address, "                           \
           "crypto_module = excluded.crypto_module, key_ids = excluded.key_ids, "                  \
           "module_id = excluded.module_id, "                                                      \
           "started_ms = excluded.started_ms, heartbeat_ms = excluded.heartbeat_ms"))              \
    X(SERVER_HEARTBEAT, BOTH("UPDATE servers SET heartbeat_ms = $1, key_ids = $2 WHERE id = $3 "   \
                             "RETURNING status"))                                                  \
    X(SERVER_LIST, BOTH("SELECT id, address, crypto_module, key_ids, status, started_ms, "         \
                        "heartbeat_ms, module_id FROM servers ORDER BY id"))                       \
    X(SERVER_SET_STATUS, BOTH("UPDATE servers SET status = $1 WHERE id = $2"))                     \
    /* Each server's indicia of minutes $1 to $1 + 59, from its ring of sixty (v45,                \
     * server_minutes; until then every indicium of the hour through indicia_psd_created); every   \
     * count from the start is SERVER_PIECES. */                                                   \
    X(SERVER_TRAFFIC, BOTH("SELECT server_id, CAST(sum(pieces) AS BIGINT) FROM server_minutes "    \
                           "WHERE minute >= $1 AND minute <= $1 + 59 GROUP BY server_id "          \
                           "ORDER BY server_id"))                                                  \
    X(SERVER_PIECES, BOTH("SELECT server_id, pieces FROM server_pieces WHERE pieces > 0 "          \
                          "ORDER BY server_id"))                                                   \
    /* $2 indicia of server $1 inserted (indicia.c; SQLite since v40: PostgreSQL's trigger counts  \
     * them once a statement). */                                                                  \
    X(SERVER_PIECES_ADD,                                                                           \
      DIALECT("INSERT INTO server_pieces(server_id, pieces) VALUES ($1, $2)" SERVERS_UPSERT,       \
              NULL))                                                                               \
    /* $3 indicia of server $1 in minute $2 inserted (indicia.c; SQLite since v45: PostgreSQL's    \
     * trigger adds them once a statement). */                                                     \
    X(SERVER_MINUTES_ADD, DIALECT("INSERT INTO server_minutes(server_id, slot, minute, pieces) "   \
                                  "VALUES ($1, " MINUTE_SLOT("$2") ", $2, $3)" MINUTES_UPSERT,     \
                                  NULL))                                                           \
    /* $3 indicia of PSD $2 on day $1 inserted, $4 of postage (indicia.c; SQLite since v44:        \
     * PostgreSQL's trigger adds them once a statement). */                                        \
    X(PSD_DAYS_ADD, DIALECT("INSERT INTO psd_days(day, psd_id, pieces, postage_mills) "            \
                            "VALUES ($1, $2, $3, $4)" DAYS_UPSERT,                                 \
                            NULL))                                                                 \
    /* Locks the PSD's row: lease_acquire decides and writes under it. */                          \
    X(LEASE_GET_LOCK,                                                                              \
      DIALECT(NULL, "SELECT lease_holder, lease_expires FROM psds WHERE id = $1 FOR UPDATE"))      \
    X(LEASE_GET, BOTH("SELECT lease_holder, lease_expires FROM psds WHERE id = $1"))               \
    X(LEASE_SET, BOTH("UPDATE psds SET lease_holder = $1, lease_expires = $2 WHERE id = $3"))      \
    X(LEASE_RELEASE, BOTH("UPDATE psds SET lease_holder = '', lease_expires = 0 "                  \
                          "WHERE id = $1 AND lease_holder = $2"))                                  \
    X(LEASE_LOG_INSERT,                                                                            \
      DIALECT("INSERT INTO lease_log(psd_id, holder, acquired_ms, expires_ms) "                    \
              "VALUES ($1, $2, max($3, coalesce((SELECT max(expires_ms) FROM lease_log "           \
              "WHERE psd_id = $1), 0)), $4)",                                                      \
              "INSERT INTO lease_log(psd_id, holder, acquired_ms, expires_ms) "                    \
              "VALUES ($1, $2, GREATEST($3::bigint, COALESCE((SELECT max(expires_ms) "             \
              "FROM lease_log WHERE psd_id = $1), 0)), $4)"))                                      \
    X(LEASE_LOG_EXTEND, BOTH("UPDATE lease_log SET expires_ms = $1 WHERE id = (SELECT max(id) "    \
                             "FROM lease_log WHERE psd_id = $2 AND holder = $3)"))                 \
    X(LEASE_HISTORY, BOTH("SELECT psd_id, holder, acquired_ms, expires_ms FROM lease_log "         \
                          "WHERE psd_id = $1 ORDER BY id"))                                        \
    X(CUSTOMER_PASSWORD, BOTH("UPDATE customers SET password_hash = $1 WHERE id = $2"))            \
    X(OPERATOR_PASSWORD, BOTH("UPDATE operators SET password_hash = $1 WHERE id = $2"))            \
    /* The unique indexes on lower(email) serve these. */                                          \
    X(CUSTOMER_CREDENTIAL, DIALECT("SELECT id, password_hash FROM customers WHERE email = $1",     \
                                   "SELECT id, password_hash FROM customers "                      \
                                   "WHERE lower(email) = lower($1)"))                              \
    X(OPERATOR_CREDENTIAL, DIALECT("SELECT id, password_hash FROM operators WHERE email = $1",     \
                                   "SELECT id, password_hash FROM operators "                      \
                                   "WHERE lower(email) = lower($1)"))                              \
    X(POSTAL_PASSWORD, BOTH("UPDATE postal_accounts SET password_hash = $1 WHERE id = $2"))        \
    /* The unique name is a postal account's login. */                                             \
    X(POSTAL_CREDENTIAL, BOTH("SELECT id, password_hash FROM postal_accounts WHERE name = $1"))    \
    X(OPERATOR_GET, BOTH("SELECT email FROM operators WHERE id = $1"))                             \
    X(SESSION_INSERT,                                                                              \
      BOTH("INSERT INTO sessions(" SESSION_COLS ") VALUES ($1, $2, $3, $4, $5, $6)"))              \
    X(SESSION_GET,                                                                                 \
      BOTH("SELECT " SESSION_COLS " FROM sessions WHERE hash = $1 AND expires >= $2"))             \
    X(SESSION_DELETE, BOTH("DELETE FROM sessions WHERE hash = $1"))                                \
    X(SESSION_PURGE, BOTH("DELETE FROM sessions WHERE expires < $1"))                              \
    X(SESSION_LIST, BOTH("SELECT " SESSION_COLS " FROM sessions WHERE role = $1 AND "              \
                         "owner_id = $2 AND expires >= $3 ORDER BY created DESC, hash LIMIT 100")) \
    X(APIKEY_CREATE,                                                                               \
      BOTH("INSERT INTO api_keys(id, hash, prefix, role, owner_id, test, name, created, "          \
           "revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULLIF(CAST($9 AS BIGINT), 0))"))  \
    X(APIKEY_LIST, BOTH("SELECT " APIKEY_COLS " FROM api_keys WHERE owner_id = $1 "                \
                        "ORDER BY created DESC, id"))                                              \
    X(APIKEY_REVOKE, BOTH("UPDATE api_keys SET revoked_at = $1 "                                   \
                          "WHERE owner_id = $2 AND id = $3 AND revoked_at IS NULL"))               \
    X(PM_INSERT, BOTH("INSERT INTO payment_methods(" PM_COLS ") "                                  \
                      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))                              \
    X(PM_GET, BOTH("SELECT " PM_COLS " FROM payment_methods "                                      \
                   "WHERE customer_id = $1 AND id = $2 AND deleted_at IS NULL"))                   \
    X(PM_LIST,                                                                                     \
      BOTH("SELECT " PM_COLS " FROM payment_methods "                                              \
           "WHERE customer_id = $1 AND test = $2 AND deleted_at IS NULL ORDER BY created, id"))    \
    X(PM_DELETE, BOTH("UPDATE payment_methods SET deleted_at = $1 "                                \
                      "WHERE customer_id = $2 AND id = $3 AND deleted_at IS NULL"))                \
    X(CHARGE_INSERT, BOTH("INSERT INTO charges(" CHARGE_COLS ") "                                  \
                          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))                \
    /* A batch's card purchases' charges in one statement (charges_insert, issue 15, session       \
     * 15): a column an array. */                                                                  \
    X(CHARGES_INSERT,                                                                              \
      DIALECT(NULL, "INSERT INTO charges(" CHARGE_COLS ") SELECT * FROM unnest($1::text[], "       \
                    "$2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], "   \
                    "$8::text[], $9::bigint[], $10::bigint[], $11::bigint[])"))                    \
    X(CHARGE_FIND, BOTH("SELECT " CHARGE_COLS " FROM charges WHERE purpose = $1 AND ref = $2 "     \
                        "ORDER BY created DESC, id DESC LIMIT 1"))                                 \
    /* The row lock of the UPDATE orders racing refunds; each re-checks the guard. */              \
    X(CHARGE_ADD_REFUND, BOTH("UPDATE charges SET refunded_mills = refunded_mills + $1 "           \
                              "WHERE id = $2 AND refunded_mills + $1 <= amount_mills"))            \
    X(CHARGE_EXISTS, BOTH("SELECT 1 FROM charges WHERE id = $1"))                                  \
    X(CHARGE_COUNT, BOTH("SELECT count(*) FROM charges "                                           \
                         "WHERE customer_id = $1 AND ($2 = '' OR purpose = $2)"))                  \
    X(AUTOREFILL_PUT,                                                                              \
      BOTH("INSERT INTO auto_refill(" AUTOREFILL_COLS ") "                                         \
           "VALUES ($1, $2, $3, $4, $5, $6, $7) "                                                  \
           "ON CONFLICT (customer_id, test) DO UPDATE SET enabled = excluded.enabled, "            \
           "trigger_mills = excluded.trigger_mills, "                                              \
           "amount_mills = excluded.amount_mills, "                                                \
           "payment_method_id = excluded.payment_method_id, updated = excluded.updated"))          \
    X(AUTOREFILL_GET, BOTH("SELECT " AUTOREFILL_COLS " FROM auto_refill "                          \
                           "WHERE customer_id = $1 AND test = $2"))                                \
    X(REFUND_INSERT, BOTH("INSERT INTO refunds(" REFUND_COLS ") "                                  \
                          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))                          \
    X(REFUND_LATEST, BOTH("SELECT " REFUND_COLS " FROM refunds WHERE indicium_id = $1 "            \
                          "ORDER BY requested_at DESC, id DESC LIMIT 1"))                          \
    X(IND_MARK_REFUNDED,                                                                           \
      BOTH("UPDATE indicia SET refunded_at = $1 WHERE id = $2 AND refunded_at = 0"))               \
    X(IND_EXISTS, BOTH("SELECT 1 FROM indicia WHERE id = $1"))                                     \
    X(INTENT_INSERT,                                                                               \
      BOTH("INSERT INTO pay_intents(" INTENT_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, " \
           "$10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"))                              \
    /* A card round's new intents in one statement (intents_insert, issue 15, session 14): a       \
     * column an array; one that another wrote meanwhile (its key or attempt) is skipped, and      \
     * the ids written come back. */                                                               \
    X(INTENTS_INSERT,                                                                              \
      DIALECT(NULL, "INSERT INTO pay_intents(" INTENT_COLS ") SELECT * FROM unnest($1::text[], "   \
                    "$2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[], " \
                    "$8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], " \
                    "$14::bigint[], $15::text[], $16::text[], $17::text[], $18::text[], "          \
                    "$19::bigint[], $20::bigint[]) ON CONFLICT DO NOTHING RETURNING id"))          \
    X(INTENT_GET, BOTH("SELECT " INTENT_COLS " FROM pay_intents WHERE id = $1"))                   \
    X(INTENT_EXISTS, BOTH("SELECT 1 FROM pay_intents WHERE id = $1"))                              \
    /* A held job's intent its batch did not claim, locked only when free (intent_try_lock). */    \
    X(INTENT_LOCK_NOWAIT,                                                                          \
      DIALECT(NULL, "SELECT 1 FROM pay_intents WHERE id = $1 FOR UPDATE NOWAIT"))                  \
    X(INTENT_LATEST, BOTH("SELECT " INTENT_COLS " FROM pay_intents WHERE kind = $1 AND "           \
                          "owner = $2 AND client_key = $3 ORDER BY attempt DESC LIMIT 1"))         \
    /* The guard (state, and how old) is the concurrency: one mover wins. */                       \
    X(INTENT_MOVE,                                                                                 \
      BOTH("UPDATE pay_intents SET state = $1, charge_id = COALESCE($2, charge_id), "              \
           "ref = COALESCE($3, ref), server_id = COALESCE($4, server_id), updated = $5 "           \
           "WHERE id = $6 AND state = $7 AND ($8 <= 0 OR updated < $8)"))                          \
    /* A batch's card jobs' held intents moved to settling before its jobs, in one statement       \
     * (intents_claim, issue 15, session 15): $1 ids, $2 the states they leave, $3 charge ids      \
     * ('' keeps the intent's), $4 refs; the ids moved come back. The rows are locked in id        \
     * order and one another transaction holds is skipped, never waited for: its job moves it      \
     * itself, so the claim is in no cycle of waits (a late batch's card round writes intents      \
     * before its gate). */                                                                        \
    /* The rows locked (l) carry what each move sets, so the UPDATE joins only them, by id: its    \
     * kept plan joined the locked rows with the arrays again in a nested loop, every row with     \
     * every row - 160,000 comparisons for 400 cards, 40 ms a batch (issue 15, session 17). */     \
    X(INTENTS_CLAIM,                                                                               \
      DIALECT(NULL, "WITH t AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], "         \
                    "$4::text[]) AS u(i, f, c, r)), l AS (SELECT p.id, t.f, t.c, t.r FROM "        \
                    "pay_intents p JOIN t ON p.id = t.i AND p.state = t.f ORDER BY p.id "          \
                    "FOR UPDATE OF p SKIP LOCKED) UPDATE pay_intents AS p SET state = $5, "        \
                    "charge_id = COALESCE(NULLIF(l.c, ''), p.charge_id), ref = l.r, "              \
                    "server_id = $6, updated = $7 FROM l WHERE p.id = l.id AND p.state = l.f "     \
                    "RETURNING p.id"))                                                             \
    /* A round's end states, eight to a statement (intents_end; unused ids NULL). */               \
    /* SQLite: `+state`, so the plan searches by id and never by pay_intents_live - whose WHERE    \
     * (v29's ORs) the bound state would match, a scan of every intent in that state, planned      \
     * again at each run (a bound value it depends on: pv_store_reprepares). PostgreSQL: `state    \
     * || ''` for the same reason: its plan ANDed the ids with pay_intents_live's entries of the   \
     * state, every intent that passed through it since the last vacuum (issue 15, session 15). */ \
    X(INTENTS_END8,                                                                                \
      DIALECT("UPDATE pay_intents SET state = $1, updated = $2 WHERE +state = $3 AND "             \
              "id IN ($4, $5, $6, $7, $8, $9, $10, $11)",                                          \
              "UPDATE pay_intents SET state = $1, updated = $2 WHERE state || '' = $3 AND "        \
              "id IN ($4, $5, $6, $7, $8, $9, $10, $11)"))                                         \
    /* The states are pay_intents_live's WHERE (v24; on SQLite v29's ORs): the index of the        \
     * states still moving, which a query uses only when it names them the same way. */            \
    X(INTENT_DUE, DIALECT("SELECT " INTENT_COLS " FROM pay_intents WHERE state = $1 AND "          \
                          "updated < $2 AND " PV_INTENT_LIVE_OR " ORDER BY updated, id LIMIT $3",  \
                          "SELECT " INTENT_COLS " FROM pay_intents WHERE state = $1 AND "          \
                          "updated < $2 AND state IN ('pending', 'authorized', 'settling', "       \
                          "'voiding') ORDER BY updated, id LIMIT $3"))                             \
    /* The intent whose capture of charge $1 is still on its way (a refund captures it first). */  \
    X(INTENT_SETTLING, DIALECT("SELECT " INTENT_COLS " FROM pay_intents WHERE state = 'settling' " \
                               "AND charge_id = $1 AND " PV_INTENT_LIVE_OR " LIMIT 1",             \
                               "SELECT " INTENT_COLS " FROM pay_intents WHERE state = 'settling' " \
                               "AND charge_id = $1 AND state IN ('pending', 'authorized', "        \
                               "'settling', 'voiding') LIMIT 1"))                                  \
    X(INTENT_ACTIVE, BOTH("SELECT " INTENT_COLS " FROM pay_intents WHERE kind = $1 AND "           \
                          "owner = $2 AND state IN ('pending', 'authorized', 'settling') "         \
                          "ORDER BY created DESC, id DESC LIMIT 1"))                               \
    /* A new card's reads in one (store_payments.h): its key's row, its customer held, its latest  \
     * intent (a committed one is the key's record on SQLite: card_key_put). SQLite joins the      \
     * intent's row by the rowid a subquery finds: a subquery joined would be copied into a        \
     * temporary table first (issue 15, session 11); the key's index ends in the rowid (v35), so   \
     * the subquery reads that index alone and the row is one search of the table. */              \
    X(CARD_HEAD,                                                                                   \
      DIALECT("SELECT (SELECT CAST(COUNT(*) AS BIGINT) FROM idempotency WHERE owner_id = $1 AND "  \
              "key = $2), (SELECT CAST(COUNT(*) AS BIGINT) FROM authority_holds WHERE "            \
              "customer_id = $4 AND lifted_at = 0), " INTENT_COLS " FROM (SELECT 1 AS one) AS o "  \
              "LEFT JOIN pay_intents ON pay_intents.rowid = (SELECT rowid FROM pay_intents WHERE " \
              "kind = $3 AND owner = $1 AND client_key = $2 ORDER BY attempt DESC LIMIT 1)",       \
              "SELECT (SELECT CAST(COUNT(*) AS BIGINT) FROM idempotency WHERE owner_id = $1 AND "  \
              "key = $2), (SELECT CAST(COUNT(*) AS BIGINT) FROM authority_holds WHERE "            \
              "customer_id = $4 AND lifted_at = 0), " INTENT_COLS " FROM (SELECT 1 AS one) AS o "  \
              "LEFT JOIN (SELECT " INTENT_COLS " FROM pay_intents WHERE kind = $3 AND owner = $1 " \
              "AND client_key = $2 ORDER BY attempt DESC LIMIT 1) AS p ON 1 = 1"))                 \
    /* A card round's new cards, CARD_HEAD's row for each in one statement (card_heads, issue 15,  \
     * session 14): $1-$3 owners, keys, customers; $4 the kind; one row a card, in order. */       \
    X(CARD_HEADS,                                                                                  \
      DIALECT(                                                                                     \
          NULL,                                                                                    \
          "SELECT (SELECT CAST(COUNT(*) AS BIGINT) FROM idempotency i "                            \
          "WHERE i.owner_id = t.o AND i.key = t.k), (SELECT CAST(COUNT(*) AS BIGINT) "             \
          "FROM authority_holds h WHERE h.customer_id = t.c AND h.lifted_at = 0), " INTENT_COLS    \
          " FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY "                      \
          "AS t(o, k, c, ord) LEFT JOIN LATERAL (SELECT " INTENT_COLS " FROM pay_intents "         \
          "WHERE kind = $4 AND owner = t.o AND client_key = t.k ORDER BY attempt DESC "            \
          "LIMIT 1) AS p ON true ORDER BY t.ord"))                                                 \
    /* The postal authority (schema v8). */                                                        \
    X(POSTAL_INSERT, BOTH("INSERT INTO postal_accounts(id, name, created) VALUES ($1, $2, $3)"))   \
    X(POSTAL_GET, BOTH("SELECT name FROM postal_accounts WHERE id = $1"))                          \
    X(PRESENTATION_INSERT,                                                                         \
      BOTH("INSERT INTO presentations(indicium_id, seq, postal_id, presented_at, location, "       \
           "recorded_at) VALUES ($1, $2, $3, $4, $5, $6)"))                                        \
    X(PRESENTATION_FIRST,                                                                          \
      BOTH("SELECT indicium_id, seq, postal_id, presented_at, location, recorded_at "              \
           "FROM presentations WHERE indicium_id = $1 ORDER BY seq LIMIT 1"))                      \
    X(DEPOSIT_CREDIT_INSERT,                                                                       \
      BOTH("INSERT INTO deposit_credits(id, amount_mills, reference, credited_by, at) "            \
           "VALUES ($1, $2, $3, $4, $5)"))                                                         \
    X(DEPOSIT_CREDIT_GET, BOTH("SELECT id, amount_mills, reference, credited_by, at "              \
                               "FROM deposit_credits WHERE id = $1"))                              \
    X(CLAIM_INSERT, BOTH("INSERT INTO refund_claims(" CLAIM_COLS ") "                              \
                         "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))                 \
    X(CLAIM_GET, BOTH("SELECT " CLAIM_COLS ", " CLAIM_SEEN " FROM refund_claims WHERE id = $1"))   \
    X(CLAIM_DECIDE, BOTH("UPDATE refund_claims SET status = $1, reason = $2, decided_by = $3, "    \
                         "decided_at = $4 WHERE id = $5 AND status = 0"))                          \
    X(CLAIM_LIST,                                                                                  \
      BOTH("SELECT " CLAIM_COLS ", " CLAIM_SEEN " FROM refund_claims "                             \
           "WHERE ($1 < 0 OR status = $1) "                                                        \
           "AND ($2 = '' OR seq < (SELECT c.seq FROM refund_claims c WHERE c.id = $2)) "           \
           "ORDER BY seq DESC LIMIT $3"))                                                          \
    X(CLAIM_TOTALS, BOTH("SELECT status, COUNT(*), CAST(SUM(amount_mills) AS BIGINT) "             \
                         "FROM refund_claims GROUP BY status ORDER BY status"))                    \
    X(HOLD_INSERT, BOTH("INSERT INTO authority_holds(" HOLD_COLS ") "                              \
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))                       \
    X(HOLD_GET, BOTH("SELECT " HOLD_COLS " FROM authority_holds WHERE id = $1"))                   \
    X(HOLD_LIFT, BOTH("UPDATE authority_holds SET lifted_by = $1, lifted_at = $2, "                \
                      "lift_reason = $3 WHERE id = $4 AND lifted_at = 0"))                         \
    X(HOLD_STANDING, BOTH("SELECT " HOLD_COLS " FROM authority_holds "                             \
                          "WHERE customer_id = $1 AND lifted_at = 0 ORDER BY seq LIMIT 1"))        \
    X(HOLD_LIST,                                                                                   \
      BOTH("SELECT " HOLD_COLS " FROM authority_holds WHERE ($1 = 0 OR lifted_at = 0) "            \
           "AND ($2 = '' OR seq < (SELECT h.seq FROM authority_holds h WHERE h.id = $2)) "         \
           "ORDER BY seq DESC LIMIT $3"))                                                          \
    X(PRESENTED_LIST,                                                                              \
      BOTH("SELECT i.seq, i.psd_id, i.serial, i.presentations, "                                   \
           "CASE WHEN f.indicium_id IS NULL THEN 0 ELSE 1 END, f.presented_at, "                   \
           "COALESCE(f.location, ''), CASE WHEN l.indicium_id IS NULL THEN 0 ELSE 1 END, "         \
           "l.presented_at, COALESCE(l.location, '') FROM indicia i "                              \
           "LEFT JOIN presentations f ON f.indicium_id = i.id AND f.seq = 1 "                      \
           "LEFT JOIN presentations l ON l.indicium_id = i.id AND l.seq = i.presentations "        \
           "WHERE i.presentations > 0 AND i.presentations >= $1 AND i.seq < $2 "                   \
           "ORDER BY i.seq DESC LIMIT $3"))                                                        \
    X(MKEY_INSERT, BOTH("INSERT INTO media_keys(key_id, secret, created) VALUES ($1, $2, $3)"))    \
    X(MKEY_LIST, BOTH("SELECT key_id, secret, created FROM media_keys ORDER BY key_id"))           \
    X(AFF_INSERT,                                                                                  \
      BOTH("INSERT INTO affiliates(" AFF_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))        \
    X(AFF_GET, BOTH("SELECT " AFF_COLS " FROM affiliates WHERE id = $1"))                          \
    X(AFF_LIST, BOTH("SELECT " AFF_COLS " FROM affiliates ORDER BY created, id"))                  \
    X(BATCH_NEXT, BOTH("SELECT coalesce(max(batch), 0) + 1 FROM media_batches"))                   \
    X(BATCH_INSERT, BOTH("INSERT INTO media_batches(" BATCH_COLS ") "                              \
                         "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))                 \
    X(SHEETS_INSERT,                                                                               \
      DIALECT("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "                    \
              "WHERE i < $3) INSERT INTO media_sheets(batch, sheet, payment) "                     \
              "SELECT $1, i, $2 FROM n",                                                           \
              "INSERT INTO media_sheets(batch, sheet, payment) "                                   \
              "SELECT $1::bigint, i, $2::bigint FROM generate_series(1, $3::bigint) i"))           \
    X(BATCH_GET, BOTH("SELECT " BATCH_COLS " FROM media_batches WHERE batch = $1"))                \
    X(SHEET_GET, BOTH("SELECT " SHEET_COLS " FROM media_sheets WHERE batch = $1 AND sheet = $2"))  \
    /* Locks the sheet's row: every use of its labels decides and writes under it. */              \
    X(SHEET_GET_LOCK,                                                                              \
      DIALECT(NULL, "SELECT " SHEET_COLS " FROM media_sheets WHERE batch = $1 AND sheet = $2 "     \
                    "FOR UPDATE"))                                                                 \
    X(SHEET_UPDATE, BOTH("UPDATE media_sheets SET payment = $1, paid_by = $2, paid_at = $3, "      \
                         "labels_used = $4, first_use = $5, last_use = $6 "                        \
                         "WHERE batch = $7 AND sheet = $8"))                                       \
    X(LABEL_INSERT,                                                                                \
      BOTH("INSERT INTO media_labels(" LABEL_COLS ") VALUES ($1, $2, $3, $4, $5, $6)"))            \
    X(LABEL_LIST, BOTH("SELECT " LABEL_COLS " FROM media_labels WHERE batch = $1 AND sheet = $2 "  \
                       "ORDER BY position"))                                                       \
    X(MEDIA_USAGE,                                                                                 \
      BOTH("SELECT CAST(coalesce((SELECT sum(sheets * labels_per_sheet) FROM media_batches "       \
           "WHERE affiliate_id = $1), 0) AS BIGINT), CAST(coalesce((SELECT sum(s.labels_used) "    \
           "FROM media_sheets s JOIN media_batches b ON b.batch = s.batch "                        \
           "WHERE b.affiliate_id = $1), 0) AS BIGINT), (SELECT count(*) FROM media_labels l "      \
           "JOIN media_batches b ON b.batch = l.batch "                                            \
           "WHERE b.affiliate_id = $1 AND l.used_at >= $2)"))                                      \
    X(RESUPPLY_INSERT, BOTH("INSERT INTO resupply_orders(" RSO_COLS ") "                           \
                            "VALUES ($1, $2, 0, $3, $4, $5, 0, 0) "                                \
                            "ON CONFLICT (affiliate_id) WHERE status = 0 DO NOTHING"))             \
    X(RESUPPLY_OPEN_GET, BOTH("SELECT " RSO_COLS " FROM resupply_orders "                          \
                              "WHERE affiliate_id = $1 AND status = 0"))                           \
    X(RESUPPLY_GET, BOTH("SELECT " RSO_COLS " FROM resupply_orders WHERE id = $1"))                \
    X(RESUPPLY_LIST,                                                                               \
      BOTH("SELECT " RSO_COLS " FROM resupply_orders ORDER BY created DESC, id DESC"))             \
    X(RESUPPLY_SHIP, BOTH("UPDATE resupply_orders SET status = 1, batch = $1, shipped_at = $2 "    \
                          "WHERE id = $3 AND status = 0"))                                         \
    X(IND_SEARCH, BOTH("SELECT " IND_COLS " FROM indicia WHERE customer_id = $1 AND seq < $2 "     \
                       "AND created >= $3 AND created < $4 AND ($5 = 0 OR mail_class = $5) "       \
                       "AND ($6 < 0 OR (flags & 1) = $6) "                                         \
                       "AND ($7 < 0 OR (CASE WHEN refunded_at <> 0 THEN 1 ELSE 0 END) = $7) "      \
                       "AND ($8 = '' OR id = $8 OR from_zip = $8 OR to_zip = $8 "                  \
                       "OR substr(to_zip, 1, 5) = $8) ORDER BY seq DESC LIMIT $9"))                \
    /* The same, driven by the metadata index: only the pieces with the pair are read. */          \
    X(IND_SEARCH_META,                                                                             \
      BOTH("SELECT " IND_COLS " FROM indicium_metadata CROSS JOIN indicia "                        \
           "WHERE owner = $1 AND mkey = $10 AND mvalue = $11 AND mseq < $2 AND id = indicium_id "  \
           "AND customer_id = $1 AND created >= $3 AND created < $4 "                              \
           "AND ($5 = 0 OR mail_class = $5) AND ($6 < 0 OR (flags & 1) = $6) "                     \
           "AND ($7 < 0 OR (CASE WHEN refunded_at <> 0 THEN 1 ELSE 0 END) = $7) "                  \
           "AND ($8 = '' OR id = $8 OR from_zip = $8 OR to_zip = $8 "                              \
           "OR substr(to_zip, 1, 5) = $8) ORDER BY mseq DESC LIMIT $9"))                           \
    /* Each PSD's pieces and postage a UTC day from day $1 on (v44: psd_days, no indicia). */      \
    X(SALES_DAILY, BOTH("SELECT day, psd_id, pieces, postage_mills FROM psd_days "                 \
                        "WHERE day >= $1 ORDER BY day, psd_id"))                                   \
    X(BUY_INSERT, BOTH("INSERT INTO buy_batches(" BBATCH_FIELDS ") "                               \
                       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)"))                              \
    X(BUY_ITEM_INSERT, BOTH("INSERT INTO buy_batch_items(batch_id, " BITEM_COLS ") "               \
                            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))                   \
    X(BUY_GET, BOTH("SELECT " BBATCH_READ " WHERE b.id = $1"))                                     \
    X(BUY_FIND, BOTH("SELECT " BBATCH_READ " WHERE b.customer_id = $1 AND b.test = $2 "            \
                     "AND b.idem_key = $3"))                                                       \
    X(BUY_LIST, BOTH("SELECT " BBATCH_READ " WHERE b.customer_id = $1 AND b.test = $2 "            \
                     "AND b.seq < $3 ORDER BY b.seq DESC LIMIT $4"))                               \
    X(BUY_ITEMS, BOTH("SELECT " BITEM_COLS " FROM buy_batch_items WHERE batch_id = $1 "            \
                      "AND n >= $2 AND ($3 < 0 OR status = $3) ORDER BY n LIMIT $4"))              \
    X(BUY_ITEM_DECIDE,                                                                             \
      BOTH("UPDATE buy_batch_items SET status = $3, indicium_id = $4, postage_mills = $5, "        \
           "error_code = $6, error_field = $7, error_message = $8, updated = $9 "                  \
           "WHERE batch_id = $1 AND n = $2 AND status = 0"))                                       \
    X(BUY_TOUCH, BOTH("UPDATE buy_batches SET updated = $2 WHERE id = $1"))                        \
    X(BUY_COMPLETE,                                                                                \
      BOTH("UPDATE buy_batches SET completed = $2, updated = $2 WHERE id = $1 AND completed = 0 "  \
           "AND NOT EXISTS (SELECT 1 FROM buy_batch_items i WHERE i.batch_id = $1 "                \
           "AND i.status = 0)"))                                                                   \
    PV_HOOK_STATEMENTS(X)                                                                          \
    PV_LEDGER_READ_STATEMENTS(X)                                                                   \
    PV_REPORT_STATEMENTS(X)

enum pv_sql {
#define PV_SQL_ENUM(name, texts) S_##name,
    PV_STATEMENTS(PV_SQL_ENUM)
#undef PV_SQL_ENUM
        PV_SQL_COUNT
};

/* One statement: its name (PostgreSQL's prepared-statement name, and for
 * messages) and its text per dialect (enum pv_dialect order). */
struct pv_sql_text {
    const char *name;
    const char *text[2];
};

extern const struct pv_sql_text pv_sql[PV_SQL_COUNT];

#endif
