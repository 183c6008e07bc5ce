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

#include <libpq-fe.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- schema ------------------------------------------------------------------------------- */

/* The money bound of money.h, spelled out for the SQL below. */
#define MILLS_MAX_SQL "1000000000000000"
_Static_assert(PV_MILLS_MAX == 1000000000000000LL, "MILLS_MAX_SQL is out of step with money.h");
#define U32_MAX_SQL "4294967295"

/* Serialises migrate() across processes (pg_advisory_xact_lock is per database): "stampd". */
#define MIGRATE_LOCK_KEY "126879297577060"
/* Serialises purchase batches across processes (lock_writer): "stampdPB" as a big-endian int8. */
#define WRITER_LOCK_KEY "8319381534325100610"

/*
 * Migration scripts, one statement per string (PQexecParams runs one at a
 * time), mirroring sqlite.c's migrations[] version for version. Never edit a
 * released script; add the next one, in step with sqlite.c.
 */
static const char *const migration_v1[] = {
    "CREATE TABLE schema_version (\n"
    "    version    BIGINT PRIMARY KEY,\n"
    "    applied_at BIGINT NOT NULL\n"
    ")",
    "CREATE TABLE config (\n"
    "    key   TEXT PRIMARY KEY,\n"
    "    value TEXT NOT NULL\n"
    ")",
    "CREATE TABLE accounts (\n"
    "    name          TEXT PRIMARY KEY,\n"
    "    balance_mills BIGINT NOT NULL CONSTRAINT balance_range\n"
    "        CHECK (balance_mills BETWEEN -" MILLS_MAX_SQL " AND " MILLS_MAX_SQL ")\n"
    ")",
    "CREATE TABLE journals (\n"
    "    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "    kind TEXT NOT NULL,\n"
    "    ref  TEXT,\n"
    "    at   BIGINT NOT NULL\n"
    ")",
    "CREATE INDEX journals_ref ON journals(ref)",
    "CREATE TABLE journal_lines (\n"
    "    journal_id   BIGINT NOT NULL REFERENCES journals(id),\n"
    "    line         INTEGER NOT NULL,\n"
    "    account      TEXT NOT NULL REFERENCES accounts(name),\n"
    "    amount_mills BIGINT NOT NULL\n"
    "        CHECK (amount_mills BETWEEN -" MILLS_MAX_SQL " AND " MILLS_MAX_SQL "),\n"
    "    PRIMARY KEY (journal_id, line)\n"
    ")",
    "CREATE INDEX journal_lines_account ON journal_lines(account, journal_id)",
    "CREATE TABLE psds (\n"
    "    id             BIGINT PRIMARY KEY CHECK (id BETWEEN 1 AND " U32_MAX_SQL "),\n"
    "    status         INTEGER NOT NULL CHECK (status IN (0, 1, 2)),\n"
    "    key_id         BIGINT NOT NULL CHECK (key_id BETWEEN 0 AND " U32_MAX_SQL "),\n"
    "    descending     BIGINT NOT NULL CHECK (descending >= 0),\n"
    "    ascending      BIGINT NOT NULL CHECK (ascending >= 0),\n"
    "    control_total  BIGINT NOT NULL CHECK (control_total BETWEEN 0 AND " MILLS_MAX_SQL "),\n"
    "    piece_count    BIGINT NOT NULL CHECK (piece_count BETWEEN 0 AND " U32_MAX_SQL "),\n"
    "    last_refill_at BIGINT NOT NULL DEFAULT 0,\n"
    "    CONSTRAINT registers CHECK (ascending + descending = control_total)\n"
    ")",
    /* Nothing ever moves a register back (DESIGN.md section 3). */
    "CREATE FUNCTION psds_refuse_move_back() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "    RAISE EXCEPTION 'psd registers may not move back';\n"
    "END\n"
    "$$",
    "CREATE TRIGGER psds_monotonic BEFORE UPDATE ON psds FOR EACH ROW\n"
    "WHEN (NEW.ascending < OLD.ascending OR NEW.control_total < OLD.control_total\n"
    "      OR NEW.piece_count < OLD.piece_count)\n"
    "EXECUTE FUNCTION psds_refuse_move_back()",
    "CREATE TABLE refills (\n"
    "    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "    psd_id            BIGINT NOT NULL REFERENCES psds(id),\n"
    "    amount_mills      BIGINT NOT NULL CHECK (amount_mills > 0),\n"
    "    desc_before       BIGINT NOT NULL,\n"
    "    asc_before        BIGINT NOT NULL,\n"
    "    ctl_before        BIGINT NOT NULL,\n"
    "    desc_after        BIGINT NOT NULL,\n"
    "    asc_after         BIGINT NOT NULL,\n"
    "    ctl_after         BIGINT NOT NULL,\n"
    "    authorization_ref TEXT NOT NULL,\n"
    "    at                BIGINT NOT NULL,\n"
    "    CHECK (asc_before + desc_before = ctl_before),\n"
    "    CHECK (asc_after + desc_after = ctl_after),\n"
    "    CHECK (ctl_after = ctl_before + amount_mills)\n"
    ")",
    "CREATE INDEX refills_psd ON refills(psd_id, at)",
    "CREATE TABLE keys (\n"
    "    key_id     BIGINT PRIMARY KEY CHECK (key_id BETWEEN 0 AND " U32_MAX_SQL "),\n"
    "    psd_id     BIGINT NOT NULL,\n"
    "    algorithm  TEXT NOT NULL,\n"
    "    module     TEXT NOT NULL,\n"
    "    key_ref    TEXT NOT NULL,\n"
    "    public_pem TEXT NOT NULL,\n"
    "    created    BIGINT NOT NULL\n"
    ")",
    /* SQLite's "UNIQUE COLLATE NOCASE" on email: a unique index on lower(email). */
    "CREATE TABLE customers (\n"
    "    id      TEXT PRIMARY KEY,\n"
    "    email   TEXT NOT NULL,\n"
    "    created BIGINT NOT NULL\n"
    ")",
    "CREATE UNIQUE INDEX customers_email ON customers(lower(email))",
    "CREATE TABLE operators (\n"
    "    id      TEXT PRIMARY KEY,\n"
    "    email   TEXT NOT NULL,\n"
    "    created BIGINT NOT NULL\n"
    ")",
    "CREATE UNIQUE INDEX operators_email ON operators(lower(email))",
    "CREATE TABLE api_keys (\n"
    "    id         TEXT PRIMARY KEY,\n"
    "    hash       TEXT NOT NULL UNIQUE,\n"
    "    prefix     TEXT NOT NULL,\n"
    "    role       INTEGER NOT NULL CHECK (role IN (1, 2)),\n"
    "    owner_id   TEXT NOT NULL,\n"
    "    created    BIGINT NOT NULL,\n"
    "    revoked_at BIGINT\n"
    ")",
    "CREATE INDEX api_keys_owner ON api_keys(owner_id)",
    "CREATE TABLE idempotency (\n"
    "    owner_id    TEXT NOT NULL,\n"
    "    key         TEXT NOT NULL,\n"
    "    req_hash    TEXT NOT NULL,\n"
    "    indicium_id TEXT NOT NULL,\n"
    "    created     BIGINT NOT NULL,\n"
    "    PRIMARY KEY (owner_id, key)\n"
    ")",
    "CREATE TABLE indicia (\n"
    "    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "    id                TEXT NOT NULL UNIQUE,\n"
    "    customer_id       TEXT NOT NULL REFERENCES customers(id),\n"
    "    server_id         TEXT NOT NULL,\n"
    "    psd_id            BIGINT NOT NULL REFERENCES psds(id),\n"
    "    key_id            BIGINT NOT NULL REFERENCES keys(key_id),\n"
    "    serial            BIGINT NOT NULL CHECK (serial BETWEEN 0 AND " U32_MAX_SQL "),\n"
    "    version           INTEGER NOT NULL,\n"
    "    sig_alg           INTEGER NOT NULL,\n"
    "    flags             INTEGER NOT NULL,\n"
    "    license           TEXT NOT NULL,\n"
    "    ascending_mills   BIGINT NOT NULL CHECK (ascending_mills >= 0),\n"
    "    postage_mills     BIGINT NOT NULL CHECK (postage_mills BETWEEN 0 AND " U32_MAX_SQL "),\n"
    "    mail_date         BIGINT NOT NULL,\n"
    "    mail_class        INTEGER NOT NULL,\n"
    "    weight_tenth_oz   INTEGER NOT NULL,\n"
    "    from_zip          TEXT NOT NULL,\n"
    "    to_zip            TEXT NOT NULL,\n"
    "    software_id       TEXT NOT NULL,\n"
    "    medium_serial     TEXT NOT NULL,\n"
    "    data              BYTEA NOT NULL,\n"
    "    created           BIGINT NOT NULL,\n"
    "    presentations     BIGINT NOT NULL DEFAULT 0,\n"
    "    last_presented_at BIGINT,\n"
    "    UNIQUE (psd_id, serial)\n"
    ")",
    "CREATE INDEX indicia_customer ON indicia(customer_id, seq)",
    NULL,
};

static const char *const migration_v2[] = {
    "ALTER TABLE indicia ADD COLUMN prints BIGINT NOT NULL DEFAULT 0 CHECK (prints >= 0)",
    "ALTER TABLE indicia ADD COLUMN from_address TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE indicia ADD COLUMN to_address TEXT NOT NULL DEFAULT ''",
    "CREATE TABLE renders (\n"
    "    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "    indicium_id TEXT NOT NULL REFERENCES indicia(id),\n"
    "    actor_id    TEXT NOT NULL,\n"
    "    format      TEXT NOT NULL,\n"
    "    layout      TEXT NOT NULL,\n"
    "    at          BIGINT NOT NULL\n"
    ")",
    "CREATE INDEX renders_indicium ON renders(indicium_id, at)",
    "CREATE TABLE printers (\n"
    "    customer_id TEXT NOT NULL REFERENCES customers(id),\n"
    "    name        TEXT NOT NULL,\n"
    "    offset_x    INTEGER NOT NULL CHECK (offset_x BETWEEN -1000 AND 1000),\n"
    "    offset_y    INTEGER NOT NULL CHECK (offset_y BETWEEN -1000 AND 1000),\n"
    "    updated     BIGINT NOT NULL,\n"
    "    PRIMARY KEY (customer_id, name)\n"
    ")",
    NULL,
};

/* A lease-only UPDATE of psds leaves the registers alone, so psds_monotonic stays quiet. */
static const char *const migration_v3[] = {
    "ALTER TABLE psds ADD COLUMN lease_holder TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE psds ADD COLUMN lease_expires BIGINT NOT NULL DEFAULT 0",
    "CREATE TABLE servers (\n"
    "    id            TEXT PRIMARY KEY,\n"
    "    address       TEXT NOT NULL,\n"
    "    crypto_module TEXT NOT NULL,\n"
    "    key_ids       TEXT NOT NULL,\n"
    "    status        INTEGER NOT NULL DEFAULT 0 CHECK (status IN (0, 1, 2)),\n"
    "    started_ms    BIGINT NOT NULL,\n"
    "    heartbeat_ms  BIGINT NOT NULL\n"
    ")",
    "CREATE TABLE lease_log (\n"
    "    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "    psd_id      BIGINT NOT NULL REFERENCES psds(id),\n"
    "    holder      TEXT NOT NULL,\n"
    "    acquired_ms BIGINT NOT NULL,\n"
    "    expires_ms  BIGINT NOT NULL\n"
    ")",
    "CREATE INDEX lease_log_psd ON lease_log(psd_id, id)",
    "CREATE INDEX indicia_server ON indicia(created, server_id)",
    NULL,
};

/* Accounts, payments, refunds: mirrors sqlite.c's migration_v4. */
static const char *const migration_v4[] = {
    "ALTER TABLE psds ADD COLUMN test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1))",
    "ALTER TABLE customers ADD COLUMN password_hash TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE operators ADD COLUMN password_hash TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE api_keys ADD COLUMN test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1))",
    "ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE indicia ADD COLUMN refunded_at BIGINT NOT NULL DEFAULT 0",
    "CREATE TABLE sessions (\n"
    "    hash     TEXT PRIMARY KEY,\n"
    "    role     INTEGER NOT NULL CHECK (role IN (1, 2)),\n"
    "    owner_id TEXT NOT NULL,\n"
    "    csrf     TEXT NOT NULL,\n"
    "    created  BIGINT NOT NULL,\n"
    "    expires  BIGINT NOT NULL\n"
    ")",
    "CREATE TABLE payment_methods (\n"
    "    id          TEXT PRIMARY KEY,\n"
    "    customer_id TEXT NOT NULL REFERENCES customers(id),\n"
    "    test        INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1)),\n"
    "    gateway_ref TEXT NOT NULL,\n"
    "    brand       TEXT NOT NULL,\n"
    "    last4       TEXT NOT NULL,\n"
    "    exp_month   INTEGER NOT NULL,\n"
    "    exp_year    INTEGER NOT NULL,\n"
    "    created     BIGINT NOT NULL,\n"
    "    deleted_at  BIGINT\n"
    ")",
    "CREATE INDEX payment_methods_customer ON payment_methods(customer_id)",
    "CREATE TABLE charges (\n"
    "    id                TEXT PRIMARY KEY,\n"
    "    customer_id       TEXT NOT NULL,\n"
    "    test              INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1)),\n"
    "    purpose           TEXT NOT NULL,\n"
    "    ref               TEXT NOT NULL,\n"
    "    payment_method_id TEXT NOT NULL DEFAULT '',\n"
    "    brand             TEXT NOT NULL,\n"
    "    last4             TEXT NOT NULL,\n"
    "    amount_mills      BIGINT NOT NULL\n"
    "        CHECK (amount_mills > 0 AND amount_mills <= " MILLS_MAX_SQL "),\n"
    "    refunded_mills    BIGINT NOT NULL DEFAULT 0\n"
    "        CHECK (refunded_mills BETWEEN 0 AND amount_mills),\n"
    "    created           BIGINT NOT NULL\n"
    ")",
    "CREATE INDEX charges_purpose_ref ON charges(purpose, ref)",
    "CREATE INDEX charges_customer ON charges(customer_id, purpose)",
    "CREATE TABLE auto_refill (\n"
    "    customer_id       TEXT NOT NULL,\n"
    "    test              INTEGER NOT NULL CHECK (test IN (0, 1)),\n"
    "    enabled           INTEGER NOT NULL CHECK (enabled IN (0, 1)),\n"
    "    trigger_mills     BIGINT NOT NULL CHECK (trigger_mills BETWEEN 0 AND " MILLS_MAX_SQL "),\n"
    "    amount_mills      BIGINT NOT NULL CHECK (amount_mills BETWEEN 0 AND " MILLS_MAX_SQL "),\n"
    "    payment_method_id TEXT NOT NULL DEFAULT '',\n"
    "    updated           BIGINT NOT NULL,\n"
    "    PRIMARY KEY (customer_id, test)\n"
    ")",
    "CREATE TABLE refunds (\n"
    "    id           TEXT PRIMARY KEY,\n"
    "    indicium_id  TEXT NOT NULL REFERENCES indicia(id),\n"
    "    customer_id  TEXT NOT NULL,\n"
    "    status       INTEGER NOT NULL CHECK (status IN (0, 1, 2)),\n"
    "    reason       TEXT NOT NULL DEFAULT '',\n"
    "    amount_mills BIGINT NOT NULL CHECK (amount_mills BETWEEN 0 AND " MILLS_MAX_SQL "),\n"
    "    destination  TEXT NOT NULL DEFAULT '',\n"
    "    requested_at BIGINT NOT NULL,\n"
    "    decided_at   BIGINT NOT NULL DEFAULT 0\n"
    ")",
    "CREATE INDEX refunds_indicium ON refunds(indicium_id, requested_at)",
    /* At most one approved refund per indicium. */
    "CREATE UNIQUE INDEX refunds_one_approved ON refunds(indicium_id) WHERE status = 1",
    NULL,
};

static const char *const migration_v5[] = {
    "CREATE TABLE media_keys (\n"
    "    key_id  BIGINT PRIMARY KEY CHECK (key_id BETWEEN 0 AND 15),\n"
    "    secret  BYTEA NOT NULL CHECK (length(secret) = 32),\n"
    "    created BIGINT NOT NULL\n"
    ")",
    "CREATE TABLE affiliates (\n"
    "    id               TEXT PRIMARY KEY,\n"
    "    name             TEXT NOT NULL,\n"
    "    customer_id      TEXT REFERENCES customers(id),\n"
    "    group_no         BIGINT NOT NULL UNIQUE CHECK (group_no BETWEEN 1 AND 4095),\n"
    "    threshold_labels BIGINT NOT NULL CHECK (threshold_labels >= 0),\n"
    "    target_days      BIGINT NOT NULL CHECK (target_days >= 0),\n"
    "    resupply_sheets  BIGINT NOT NULL CHECK (resupply_sheets BETWEEN 1 AND 65535),\n"
    "    created          BIGINT NOT NULL\n"
    ")",
    "CREATE TABLE media_batches (\n"
    "    batch            BIGINT PRIMARY KEY CHECK (batch BETWEEN 1 AND 262143),\n"
    "    product          BIGINT NOT NULL CHECK (product BETWEEN 0 AND 255),\n"
    "    group_no         BIGINT NOT NULL CHECK (group_no BETWEEN 0 AND 4095),\n"
    "    key_id           BIGINT NOT NULL REFERENCES media_keys(key_id),\n"
    "    affiliate_id     TEXT NOT NULL REFERENCES affiliates(id),\n"
    "    sheets           BIGINT NOT NULL CHECK (sheets BETWEEN 1 AND 65535),\n"
    "    labels_per_sheet BIGINT NOT NULL CHECK (labels_per_sheet BETWEEN 1 AND 99),\n"
    "    payment          BIGINT NOT NULL CHECK (payment IN (0, 1, 2)),\n"
    "    price_mills      BIGINT NOT NULL CHECK (price_mills BETWEEN 0 AND " MILLS_MAX_SQL "),\n"
    "    distributed      BIGINT NOT NULL,\n"
    "    order_id         TEXT NOT NULL DEFAULT ''\n"
    ")",
    "CREATE INDEX media_batches_affiliate ON media_batches(affiliate_id)",
    "CREATE TABLE media_sheets (\n"
    "    batch       BIGINT NOT NULL REFERENCES media_batches(batch),\n"
    "    sheet       BIGINT NOT NULL CHECK (sheet BETWEEN 1 AND 65535),\n"
    "    payment     BIGINT NOT NULL CHECK (payment IN (0, 1, 2)),\n"
    "    paid_by     TEXT NOT NULL DEFAULT '',\n"
    "    paid_at     BIGINT NOT NULL DEFAULT 0,\n"
    "    labels_used BIGINT NOT NULL DEFAULT 0 CHECK (labels_used BETWEEN 0 AND 99),\n"
    "    first_use   BIGINT NOT NULL DEFAULT 0,\n"
    "    last_use    BIGINT NOT NULL DEFAULT 0,\n"
    "    PRIMARY KEY (batch, sheet)\n"
    ")",
    "CREATE TABLE media_labels (\n"
    "    batch       BIGINT NOT NULL,\n"
    "    sheet       BIGINT NOT NULL,\n"
    "    position    BIGINT NOT NULL CHECK (position BETWEEN 1 AND 99),\n"
    "    indicium_id TEXT NOT NULL REFERENCES indicia(id),\n"
    "    customer_id TEXT NOT NULL REFERENCES customers(id),\n"
    "    used_at     BIGINT NOT NULL,\n"
    "    PRIMARY KEY (batch, sheet, position),\n"
    "    FOREIGN KEY (batch, sheet) REFERENCES media_sheets(batch, sheet)\n"
    ")",
    "CREATE INDEX media_labels_used ON media_labels(used_at)",
    "CREATE TABLE resupply_orders (\n"
    "    id               TEXT PRIMARY KEY,\n"
    "    affiliate_id     TEXT NOT NULL REFERENCES affiliates(id),\n"
    "    status           BIGINT NOT NULL CHECK (status IN (0, 1)),\n"
    "    product          BIGINT NOT NULL,\n"
    "    labels_remaining BIGINT NOT NULL,\n"
    "    created          BIGINT NOT NULL,\n"
    "    shipped_at       BIGINT NOT NULL DEFAULT 0,\n"
    "    batch            BIGINT NOT NULL DEFAULT 0\n"
    ")",
    "CREATE UNIQUE INDEX resupply_one_open ON resupply_orders(affiliate_id) WHERE status = 0",
    NULL,
};

static const char *const *const migrations[] = {
    migration_v1, /* 1: everything store.h v1 needs */
    migration_v2, /* 2: printing: render records, print counts, addresses, printers */
    migration_v3, /* 3: scale-out: servers, PSD leases and their log */
    migration_v4, /* 4: accounts, payments, refunds: sessions, cards, charges, refunds */
    migration_v5, /* 5: media: serial secrets, affiliates, batches, sheets, labels, resupply */
};

#define NMIGRATIONS ((int) (sizeof migrations / sizeof migrations[0]))
_Static_assert(sizeof migrations / sizeof migrations[0] == PV_SCHEMA_VERSION,
               "one migration script per schema version");

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
#define STMT_NAME(name, sql) #name,
    STATEMENTS(STMT_NAME)
#undef STMT_NAME
};

/* Type OIDs (pg_type.h, stable since forever) for the binary arrays of journal_post. */
#define INT8OID 20
#define TEXTOID 25

#define MAX_PARAMS 24 /* IND_INSERT has 23 */

/* ---- the handle --------------------------------------------------------------------------- */

struct pg_store {
    struct pv_store base; /* first: a struct pv_store * is a struct pg_store * */
    PGconn *conn;
    int in_tx;              /* begin() succeeded and neither commit() nor rollback() followed */
    int in_sp;              /* savepoint "p" is open */
    int aborted;            /* a statement failed in the transaction: only rollback(_to) helps */
    char sqlstate[6];       /* of the last failed statement, "" if none */
    char constraint[64];    /* constraint it broke, "" if none */
    char prepared[Q_COUNT]; /* prepared on this connection */
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
 * failures. Remembers the SQLSTATE and constraint name for callers that
 * tell them apart, and marks an open transaction aborted.
 */
static int fail(struct pg_store *s, const PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char line[512];
    int rc;

    copy_field(s->sqlstate, sizeof s->sqlstate, state);
    copy_field(s->constraint, sizeof s->constraint,
               res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL);
    if (s->in_tx)
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
    if (state_is(s, "40001") || state_is(s, "40P01") || state_is(s, "55P03") ||
        state_is(s, "57014"))
        rc = PV_EBUSY; /* serialization, deadlock, lock_timeout, statement_timeout */
    else if (state_is(s, "53200"))
        rc = PV_ENOMEM;
    else if (state_is(s, "22021") || state_is(s, "22P05"))
        rc = PV_EINVAL; /* text the database encoding cannot hold */
    else
        rc = PV_ESTORE;
    return rc;
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

static int prepare(struct pg_store *s, enum stmt_id id)
{
    PGresult *res;
    int rc;

    if (s->prepared[id])
        return PV_OK;
    res = PQprepare(s->conn, stmt_name[id], stmt_sql[id], 0, NULL);
    rc = check(s, res, stmt_name[id]);
    PQclear(res);
    if (rc == PV_OK)
        s->prepared[id] = 1;
    return rc;
}

/*
 * What every new (or reset) connection needs: UTF-8, a lock timeout like
 * SQLite's busy timeout unless the DSN chose one, and the transaction-control
 * statements prepared. Runs outside any transaction.
 */
static int session_setup(struct pg_store *s)
{
    static const char set_timeout[] = "SELECT set_config('lock_timeout', '10s', false) "
                                      "WHERE current_setting('lock_timeout') = '0'";
    PGresult *res;
    int rc, i;

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
    for (i = 0; rc == PV_OK && i <= Q_TX_LAST; i++)
        rc = prepare(s, (enum stmt_id) i);
    return rc;
}

/* After a lost connection, outside a transaction: connect again. */
static int reconnect(struct pg_store *s)
{
    char line[512];

    PQreset(s->conn);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        fprintf(stderr, "store: cannot reconnect to PostgreSQL: %s\n",
                one_line(PQerrorMessage(s->conn), line, sizeof line));
        return PV_ESTORE;
    }
    fprintf(stderr, "store: reconnected to PostgreSQL\n");
    return session_setup(s);
}

/* Can statement id run now? Reconnects outside a transaction, prepares on first use. */
static int ready(struct pg_store *s, enum stmt_id id)
{
    int rc;

    if (PQstatus(s->conn) != CONNECTION_OK) {
        if (s->in_tx) {
            s->aborted = 1;
            fprintf(stderr, "store: %s: the connection to PostgreSQL was lost in a transaction\n",
                    stmt_name[id]);
            return PV_ESTORE;
        }
        if ((rc = reconnect(s)) != PV_OK)
            return rc;
    }
    if (s->aborted && id != Q_ROLLBACK && id != Q_ROLLBACK_TO) {
        fprintf(stderr, "store: %s: an earlier statement failed; roll the transaction back\n",
                stmt_name[id]);
        return PV_ESTORE;
    }
    return prepare(s, id);
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
static int run(struct pg_store *s, enum stmt_id id)
{
    struct q b;

    q_start(&b, s, id);
    return q_exec(&b);
}

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

/* ---- transactions ------------------------------------------------------------------------- */

static void end_tx(struct pg_store *s)
{
    s->in_tx = 0;
    s->in_sp = 0;
    s->aborted = 0;
}

static int pg_begin(struct pv_store *st)
{
    struct pg_store *s = handle(st);
    int rc;

    if (s->in_tx) {
        fprintf(stderr, "store: begin() inside a transaction\n");
        return PV_EINVAL;
    }
    rc = run(s, Q_BEGIN);
    if (rc != PV_OK)
        return rc;
    s->in_tx = 1;
    s->in_sp = 0;
    s->aborted = 0;
    return PV_OK;
}

/* ROLLBACK unless the server is already outside a transaction (or gone). */
static int abort_tx(struct pg_store *s)
{
    int rc = PV_OK;

    if (PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        rc = run(s, Q_ROLLBACK);
    end_tx(s);
    return rc;
}

static int pg_commit(struct pv_store *st)
{
    struct pg_store *s = handle(st);
    struct q b;
    int rc;

    if (!s->in_tx)
        return PV_EINVAL;
    if (s->aborted) {
        fprintf(stderr, "store: commit: an earlier statement failed; rolled back\n");
        abort_tx(s);
        return PV_ESTORE;
    }
    q_start(&b, s, Q_COMMIT);
    rc = q_run(&b);
    /* COMMIT of a transaction the server had aborted answers "ROLLBACK", not an error. */
    if (rc == PV_OK && strcmp(PQcmdStatus(b.res), "COMMIT") != 0) {
        fprintf(stderr, "store: commit: the server rolled the transaction back\n");
        rc = PV_ESTORE;
    }
    done(&b);
    if (rc != PV_OK) {
        /* A lost connection leaves the outcome unknown to us; the server rolls back
         * unless the COMMIT got through. Either way this handle's transaction is over. */
        s->aborted = 0;
        abort_tx(s);
        return rc;
    }
    end_tx(s);
    return PV_OK;
}

static int pg_rollback(struct pv_store *st)
{
    struct pg_store *s = handle(st);

    if (!s->in_tx)
        return PV_OK;
    s->aborted = 0;
    return abort_tx(s);
}

static int pg_savepoint(struct pv_store *st)
{
    struct pg_store *s = handle(st);
    int rc;

    if (!s->in_tx || s->in_sp)
        return PV_EINVAL;
    rc = run(s, Q_SAVEPOINT);
    if (rc == PV_OK)
        s->in_sp = 1;
    return rc;
}

static int pg_release(struct pv_store *st)
{
    struct pg_store *s = handle(st);
    int rc;

    if (!s->in_sp)
        return PV_EINVAL;
    rc = run(s, Q_RELEASE);
    if (rc == PV_OK)
        s->in_sp = 0;
    return rc;
}

static int pg_rollback_to(struct pv_store *st)
{
    struct pg_store *s = handle(st);
    int rc;

    if (!s->in_sp)
        return PV_EINVAL;
    /* ROLLBACK TO keeps the savepoint open (and clears an abort); release it so
     * the next savepoint() does not nest one level deeper per failed purchase. */
    rc = run(s, Q_ROLLBACK_TO);
    if (rc == PV_OK) {
        s->aborted = 0;
        rc = run(s, Q_RELEASE);
    }
    if (rc == PV_OK)
        s->in_sp = 0;
    return rc;
}

/*
 * A write of several statements: outside begin() it runs in its own
 * transaction (write_leave commits it, or rolls it back on failure); inside
 * one it is part of the caller's, which ends it.
 */
static int write_enter(struct pg_store *s, int *own_tx)
{
    *own_tx = !s->in_tx;
    return *own_tx ? pg_begin(&s->base) : PV_OK;
}

static int write_leave(struct pg_store *s, int own_tx, int rc)
{
    if (!own_tx)
        return rc;
    if (rc == PV_OK)
        return pg_commit(&s->base);
    pg_rollback(&s->base);
    return rc;
}

/* ---- schema ------------------------------------------------------------------------------- */

static int read_version(struct pg_store *s, int *version)
{
    struct row r;
    struct q b;
    int64_t have = 0, v = 0;
    int rc;

    *version = 0;
    q_start(&b, s, Q_HAVE_SCHEMA);
    rc = q_row(&b);
    if (rc == PV_OK) {
        r = row_of(&b);
        have = r_int(&r);
        rc = r.rc;
    }
    done(&b);
    if (rc != PV_OK || !have)
        return rc;
    q_start(&b, s, Q_SCHEMA_MAX);
    rc = q_row(&b);
    if (rc == PV_OK) {
        r = row_of(&b);
        v = r_int(&r);
        rc = r.rc;
    }
    done(&b);
    if (rc == PV_OK && (v < 0 || v > INT_MAX)) {
        fprintf(stderr, "store: schema_version holds %lld\n", (long long) v);
        rc = PV_ESCHEMA;
    }
    if (rc == PV_OK)
        *version = (int) v;
    return rc;
}

static int pg_schema_version(struct pv_store *st, int *version)
{
    return read_version(handle(st), version);
}

/* One DDL statement of a migration script: fixed text, no values. */
static int run_ddl(struct pg_store *s, const char *sql, int version)
{
    char what[32];
    PGresult *res;
    int rc;

    snprintf(what, sizeof what, "migration %d", version);
    if (PQstatus(s->conn) != CONNECTION_OK)
        return fail(s, NULL, what);
    res = PQexecParams(s->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
    rc = check(s, res, what);
    PQclear(res);
    return rc;
}

static int pg_migrate(struct pv_store *st, int *from, int *to)
{
    struct pg_store *s = handle(st);
    const char *const *chunk;
    struct q b;
    int rc, v = 0, i;

    *from = *to = 0;
    if (s->in_tx)
        return PV_EINVAL;
    rc = pg_begin(st);
    if (rc != PV_OK)
        return rc;
    /* Two processes migrating at once serialise here; the second one then
     * reads the first one's committed version and finds nothing to do. */
    q_start(&b, s, Q_MIGRATE_LOCK);
    b_text(&b, MIGRATE_LOCK_KEY);
    if ((rc = q_exec(&b)) != PV_OK)
        goto out;
    if ((rc = read_version(s, &v)) != PV_OK)
        goto out;
    if (v > NMIGRATIONS) {
        fprintf(stderr, "store: database schema version %d is newer than this binary (%d)\n", v,
                NMIGRATIONS);
        rc = PV_ESCHEMA;
        goto out;
    }
    for (i = v; i < NMIGRATIONS; i++) {
        for (chunk = migrations[i]; rc == PV_OK && *chunk; chunk++)
            rc = run_ddl(s, *chunk, i + 1);
        if (rc != PV_OK)
            goto out;
        q_start(&b, s, Q_SCHEMA_INSERT);
        b_int(&b, i + 1);
        b_int(&b, (int64_t) time(NULL));
        if ((rc = q_exec(&b)) != PV_OK)
            goto out;
    }
out:
    if (rc == PV_OK) {
        rc = pg_commit(st);
    } else {
        pg_rollback(st);
    }
    if (rc == PV_OK) {
        *from = v;
        *to = NMIGRATIONS;
    }
    return rc;
}

/* ---- config ------------------------------------------------------------------------------- */

static int pg_config_set(struct pv_store *st, const char *key, const char *value)
{
    struct q b;

    if (!key || !value)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_CONFIG_SET);
    b_text(&b, key);
    b_text(&b, value);
    return q_exec(&b);
}

static int pg_config_get(struct pv_store *st, const char *key, char **value)
{
    struct q b;
    size_t len;
    int rc;

    *value = NULL;
    if (!key)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_CONFIG_GET);
    b_text(&b, key);
    rc = q_row(&b);
    if (rc == PV_OK) {
        len = (size_t) PQgetlength(b.res, 0, 0);
        *value = malloc(len + 1);
        if (*value) {
            memcpy(*value, PQgetvalue(b.res, 0, 0), len);
            (*value)[len] = '\0';
        } else {
            rc = PV_ENOMEM;
        }
    }
    done(&b);
    return rc;
}

/* ---- ledger ------------------------------------------------------------------------------- */

static unsigned char *put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
    return p + 4;
}

/* The header of a one-dimensional array of n elements in PostgreSQL's binary format. */
static unsigned char *array_header(unsigned char *p, uint32_t elem_type, size_t n)
{
    p = put32(p, 1);            /* dimensions */
    p = put32(p, 0);            /* no NULLs */
    p = put32(p, elem_type);    /* element type */
    p = put32(p, (uint32_t) n); /* length of the dimension */
    return put32(p, 1);         /* its lower bound */
}

#define ARRAY_HEADER 20

static int pg_journal_post(struct pv_store *st, const char *kind, const char *ref,
                           const struct pv_ledger_line *lines, size_t n, int64_t at)
{
    struct pg_store *s = handle(st);
    unsigned char *names = NULL, *amounts = NULL, *p;
    size_t i, len, names_len = ARRAY_HEADER, amounts_len;
    struct q b;
    int rc;

    if (!kind || (!lines && n) || n == 0)
        return PV_EINVAL;
    if (n > (INT_MAX - ARRAY_HEADER) / (4 + PV_ACCOUNT_MAX))
        return PV_EINVAL;
    for (i = 0; i < n; i++) {
        if (!FITS(lines[i].account) || !lines[i].account[0])
            return PV_EINVAL;
        if (lines[i].amount < -PV_MILLS_MAX || lines[i].amount > PV_MILLS_MAX)
            return PV_EOVERFLOW;
        names_len += 4 + strlen(lines[i].account);
    }
    amounts_len = ARRAY_HEADER + n * (4 + 8);
    names = malloc(names_len);
    amounts = malloc(amounts_len);
    if (!names || !amounts) {
        rc = PV_ENOMEM;
        goto out;
    }
    p = array_header(names, TEXTOID, n);
    for (i = 0; i < n; i++) {
        len = strlen(lines[i].account);
        p = put32(p, (uint32_t) len);
        memcpy(p, lines[i].account, len);
        p += len;
    }
    p = array_header(amounts, INT8OID, n);
    for (i = 0; i < n; i++) {
        p = put32(p, 8);
        p = put32(p, (uint32_t) ((uint64_t) lines[i].amount >> 32));
        p = put32(p, (uint32_t) (uint64_t) lines[i].amount);
    }

    q_start(&b, s, Q_JOURNAL_POST);
    b_text(&b, kind);
    b_text(&b, ref);
    b_int(&b, at);
    b_bin(&b, names, names_len);
    b_bin(&b, amounts, amounts_len);
    rc = q_exec(&b);
    /* The only CHECK on accounts is the balance range. */
    if (rc == PV_ESTORE && ((state_is(s, "23514") && strcmp(s->constraint, "balance_range") == 0) ||
                            state_is(s, "22003")))
        rc = PV_EOVERFLOW;
out:
    free(names);
    free(amounts);
    return rc;
}

static int pg_account_balance(struct pv_store *st, const char *account, pv_mills *balance)
{
    struct pg_store *s = handle(st);
    struct row r;
    struct q b;
    int rc;

    *balance = 0;
    if (!account)
        return PV_EINVAL;
    /* In a write transaction: lock the row until commit (see the file comment). */
    q_start(&b, s, s->in_tx ? Q_ACCOUNT_GET_LOCK : Q_ACCOUNT_GET);
    b_text(&b, account);
    rc = q_row(&b);
    if (rc == PV_OK) {
        r = row_of(&b);
        *balance = r_int(&r);
        rc = r.rc;
    }
    done(&b);
    return rc;
}

/* ---- PSDs, refills, keys ------------------------------------------------------------------ */

static int valid_psd(const struct pv_psd_rec *rec)
{
    return rec->status == PV_PSD_ACTIVE || rec->status == PV_PSD_SUSPENDED ||
           rec->status == PV_PSD_RETIRED;
}

static int read_psd(struct row *r, void *p)
{
    struct pv_psd_rec *rec = p;

    rec->id = (uint32_t) r_int(r);
    rec->status = (int) r_int(r);
    rec->key_id = (uint32_t) r_int(r);
    rec->descending = r_int(r);
    rec->ascending = r_int(r);
    rec->control_total = r_int(r);
    rec->piece_count = (uint32_t) r_int(r);
    rec->last_refill_at = r_int(r);
    rec->test = (int) r_int(r);
    r_text(r, rec->lease_holder, sizeof rec->lease_holder);
    rec->lease_expires_ms = r_int(r);
    return r->rc;
}

static int pg_psd_insert(struct pv_store *st, const struct pv_psd_rec *rec)
{
    struct q b;

    if (!valid_psd(rec))
        return PV_EINVAL;
    q_start(&b, handle(st), Q_PSD_INSERT);
    b_int(&b, rec->id);
    b_int(&b, rec->status);
    b_int(&b, rec->key_id);
    b_int(&b, rec->descending);
    b_int(&b, rec->ascending);
    b_int(&b, rec->control_total);
    b_int(&b, rec->piece_count);
    b_int(&b, rec->last_refill_at);
    b_int(&b, rec->test != 0);
    return q_exec(&b);
}

static int pg_psd_get(struct pv_store *st, uint32_t id, struct pv_psd_rec *rec)
{
    struct pg_store *s = handle(st);
    struct row r;
    struct q b;
    int rc;

    memset(rec, 0, sizeof *rec);
    /* In a write transaction: lock the row until commit (see the file comment). */
    q_start(&b, s, s->in_tx ? Q_PSD_GET_LOCK : Q_PSD_GET);
    b_int(&b, id);
    rc = q_row(&b);
    if (rc == PV_OK) {
        r = row_of(&b);
        rc = read_psd(&r, rec);
    }
    done(&b);
    return rc;
}

static int pg_psd_update(struct pv_store *st, const struct pv_psd_rec *rec)
{
    struct q b;
    int rc;

    if (!valid_psd(rec))
        return PV_EINVAL;
    q_start(&b, handle(st), Q_PSD_UPDATE);
    b_int(&b, rec->status);
    b_int(&b, rec->descending);
    b_int(&b, rec->ascending);
    b_int(&b, rec->control_total);
    b_int(&b, rec->piece_count);
    b_int(&b, rec->last_refill_at);
    b_int(&b, rec->id);
    rc = q_exec_found(&b);
    return rc;
}

static int pg_psd_list(struct pv_store *st, struct pv_psd_rec **out, size_t *n)
{
    struct q b;
    void *arr;
    int rc;

    q_start(&b, handle(st), Q_PSD_LIST);
    rc = collect(&b, sizeof **out, read_psd, &arr, n);
    *out = arr;
    return rc;
}

static int read_refill(struct row *r, void *p)
{
    struct pv_refill_rec *rec = p;

    rec->psd_id = (uint32_t) r_int(r);
    rec->amount = r_int(r);
    rec->desc_before = r_int(r);
    rec->asc_before = r_int(r);
    rec->ctl_before = r_int(r);
    rec->desc_after = r_int(r);
    rec->asc_after = r_int(r);
    rec->ctl_after = r_int(r);
    r_text(r, rec->authorization, sizeof rec->authorization);
    rec->at = r_int(r);
    return r->rc;
}

static int pg_refill_insert(struct pv_store *st, const struct pv_refill_rec *rec)
{
    struct q b;

    if (!FITS(rec->authorization))
        return PV_EINVAL;
    q_start(&b, handle(st), Q_REFILL_INSERT);
    b_int(&b, rec->psd_id);
    b_int(&b, rec->amount);
    b_int(&b, rec->desc_before);
    b_int(&b, rec->asc_before);
    b_int(&b, rec->ctl_before);
    b_int(&b, rec->desc_after);
    b_int(&b, rec->asc_after);
    b_int(&b, rec->ctl_after);
    b_text(&b, rec->authorization);
    b_int(&b, rec->at);
    return q_exec(&b);
}

static int pg_refill_list(struct pv_store *st, uint32_t psd_id, struct pv_refill_rec **out,
                          size_t *n)
{
    struct q b;
    void *arr;
    int rc;

    q_start(&b, handle(st), Q_REFILL_LIST);
    b_int(&b, psd_id);
    rc = collect(&b, sizeof **out, read_refill, &arr, n);
    *out = arr;
    return rc;
}

static int read_key(struct row *r, void *p)
{
    struct pv_key_rec *rec = p;

    rec->key_id = (uint32_t) r_int(r);
    rec->psd_id = (uint32_t) r_int(r);
    r_text(r, rec->algorithm, sizeof rec->algorithm);
    r_text(r, rec->module, sizeof rec->module);
    r_text(r, rec->key_ref, sizeof rec->key_ref);
    r_text(r, rec->public_pem, sizeof rec->public_pem);
    rec->created = r_int(r);
    return r->rc;
}

static int pg_key_insert(struct pv_store *st, const struct pv_key_rec *rec)
{
    struct q b;

    if (!FITS(rec->algorithm) || !FITS(rec->module) || !FITS(rec->key_ref) ||
        !FITS(rec->public_pem))
        return PV_EINVAL;
    q_start(&b, handle(st), Q_KEY_INSERT);
    b_int(&b, rec->key_id);
    b_int(&b, rec->psd_id);
    b_text(&b, rec->algorithm);
    b_text(&b, rec->module);
    b_text(&b, rec->key_ref);
    b_text(&b, rec->public_pem);
    b_int(&b, rec->created);
    return q_exec(&b);
}

static int pg_key_list(struct pv_store *st, struct pv_key_rec **out, size_t *n)
{
    struct q b;
    void *arr;
    int rc;

    q_start(&b, handle(st), Q_KEY_LIST);
    rc = collect(&b, sizeof **out, read_key, &arr, n);
    *out = arr;
    return rc;
}

/* ---- customers, operators, API keys, idempotency ------------------------------------------ */

static int pg_customer_insert(struct pv_store *st, const struct pv_customer_rec *rec)
{
    struct q b;

    if (!FITS(rec->id) || !FITS(rec->email) || !rec->id[0] || !rec->email[0])
        return PV_EINVAL;
    q_start(&b, handle(st), Q_CUSTOMER_INSERT);
    b_text(&b, rec->id);
    b_text(&b, rec->email);
    b_int(&b, rec->created);
    return q_exec(&b);
}

static int pg_customer_get(struct pv_store *st, const char *id, struct pv_customer_rec *rec)
{
    struct row r;
    struct q b;
    int rc;

    memset(rec, 0, sizeof *rec);
    if (!id)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_CUSTOMER_GET);
    b_text(&b, id);
    rc = q_row(&b);
    if (rc == PV_OK) {
        r = row_of(&b);
        r_text(&r, rec->id, sizeof rec->id);
        r_text(&r, rec->email, sizeof rec->email);
        rec->created = r_int(&r);
        rc = r.rc;
    }
    done(&b);
    return rc;
}

static int pg_operator_insert(struct pv_store *st, const char *id, const char *email, int64_t at)
{
    struct q b;

    /* Same bounds as customers: operator ids come back in pv_principal.owner_id. */
    if (!fits(id, PV_ID_MAX) || !fits(email, sizeof((struct pv_customer_rec *) 0)->email) ||
        !id[0] || !email[0])
        return PV_EINVAL;
    q_start(&b, handle(st), Q_OPERATOR_INSERT);
    b_text(&b, id);
    b_text(&b, email);
    b_int(&b, at);
    return q_exec(&b);
}

static int pg_apikey_insert(struct pv_store *st, const char *key_id, const char *hash_hex,
                            const char *prefix, int role, const char *owner_id, int64_t at)
{
    struct q b;

    /* The prefix comes back in pv_apikey_rec.prefix (apikey_list). */
    if (!fits(key_id, PV_ID_MAX) || !fits(owner_id, PV_ID_MAX) || !fits(hash_hex, PV_HASH_HEX) ||
        !fits(prefix, sizeof((struct pv_apikey_rec *) 0)->prefix) || !key_id[0] || !owner_id[0] ||
        strlen(hash_hex) != PV_HASH_HEX - 1 ||
        (role != PV_ROLE_CUSTOMER && role != PV_ROLE_OPERATOR))
        return PV_EINVAL;
    q_start(&b, handle(st), Q_APIKEY_INSERT);
    b_text(&b, key_id);
    b_text(&b, hash_hex);
    b_text(&b, prefix);
    b_int(&b, role);
    b_text(&b, owner_id);
    b_int(&b, at);
    return q_exec(&b);
}

static int pg_apikey_lookup(struct pv_store *st, const char *hash_hex, struct pv_principal *out)
{
    struct row r;
    struct q b;
    int rc;

    memset(out, 0, sizeof *out);
    if (!hash_hex)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_APIKEY_LOOKUP);
    b_text(&b, hash_hex);
    rc = q_row(&b);
    if (rc == PV_OK) {
        r = row_of(&b);
        out->role = (int) r_int(&r);
        r_text(&r, out->owner_id, sizeof out->owner_id);
        r_text(&r, out->key_id, sizeof out->key_id);
        out->test = (int) r_int(&r);
        rc = r.rc;
    }
    done(&b);
    if (rc != PV_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

static int pg_idem_get(struct pv_store *st, const char *owner_id, const char *key,
                       char req_hash[PV_HASH_HEX], char indicium_id[PV_ID_MAX])
{
    struct row r;
    struct q b;
    int rc;

    req_hash[0] = '\0';
    indicium_id[0] = '\0';
    if (!owner_id || !key)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_IDEM_GET);
    b_text(&b, owner_id);
    b_text(&b, key);
    rc = q_row(&b);
    if (rc == PV_OK) {
        r = row_of(&b);
        r_text(&r, req_hash, PV_HASH_HEX);
        r_text(&r, indicium_id, PV_ID_MAX);
        rc = r.rc;
    }
    done(&b);
    return rc;
}

static int pg_idem_put(struct pv_store *st, const char *owner_id, const char *key,
                       const char *req_hash, const char *indicium_id, int64_t at)
{
    struct q b;

    if (!fits(owner_id, PV_ID_MAX) || !fits(key, PV_IDEM_KEY_MAX) || !fits(req_hash, PV_HASH_HEX) ||
        !fits(indicium_id, PV_ID_MAX))
        return PV_EINVAL;
    q_start(&b, handle(st), Q_IDEM_PUT);
    b_text(&b, owner_id);
    b_text(&b, key);
    b_text(&b, req_hash);
    b_text(&b, indicium_id);
    b_int(&b, at);
    return q_exec(&b);
}

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

static int read_server(struct row *r, void *p)
{
    struct pv_server_rec *rec = p;

    r_text(r, rec->id, sizeof rec->id);
    r_text(r, rec->address, sizeof rec->address);
    r_text(r, rec->crypto_module, sizeof rec->crypto_module);
    r_text(r, rec->key_ids, sizeof rec->key_ids);
    rec->status = (int) r_int(r);
    rec->started_ms = r_int(r);
    rec->heartbeat_ms = r_int(r);
    return r->rc;
}

static int pg_server_register(struct pv_store *st, const struct pv_server_rec *rec)
{
    struct q b;

    if (!FITS(rec->id) || !rec->id[0] || !FITS(rec->address) || !FITS(rec->crypto_module) ||
        !FITS(rec->key_ids))
        return PV_EINVAL;
    q_start(&b, handle(st), Q_SERVER_REGISTER);
    b_text(&b, rec->id);
    b_text(&b, rec->address);
    b_text(&b, rec->crypto_module);
    b_text(&b, rec->key_ids);
    b_int(&b, rec->status);
    b_int(&b, rec->started_ms);
    b_int(&b, rec->heartbeat_ms);
    return q_exec(&b);
}

/* One statement: stamps the heartbeat and answers the status of the row it stamped. */
static int pg_server_heartbeat(struct pv_store *st, const char *id, const char *key_ids,
                               int64_t now_ms, int *status)
{
    struct row r;
    struct q b;
    int rc;

    *status = PV_SERVER_ACTIVE;
    if (!fits(id, PV_ID_MAX) || !fits(key_ids, sizeof((struct pv_server_rec *) 0)->key_ids))
        return PV_EINVAL;
    q_start(&b, handle(st), Q_SERVER_HEARTBEAT);
    b_int(&b, now_ms);
    b_text(&b, key_ids);
    b_text(&b, id);
    rc = q_row(&b);
    if (rc == PV_OK) {
        r = row_of(&b);
        *status = (int) r_int(&r);
        rc = r.rc;
    }
    done(&b);
    return rc;
}

static int pg_server_list(struct pv_store *st, struct pv_server_rec **out, size_t *n)
{
    struct q b;
    void *arr = NULL;
    int rc;

    q_start(&b, handle(st), Q_SERVER_LIST);
    rc = collect(&b, sizeof **out, read_server, &arr, n);
    *out = arr;
    return rc;
}

static int pg_server_set_status(struct pv_store *st, const char *id, int status)
{
    struct q b;
    int rc;

    if (!fits(id, PV_ID_MAX) || status < PV_SERVER_ACTIVE || status > PV_SERVER_DISABLED)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_SERVER_SET_STATUS);
    b_int(&b, status);
    b_text(&b, id);
    rc = q_exec_found(&b);
    return rc;
}

static int read_count(struct row *r, void *p)
{
    struct pv_server_count *rec = p;

    r_text(r, rec->server_id, sizeof rec->server_id);
    rec->count = r_int(r);
    return r->rc;
}

static int pg_server_traffic(struct pv_store *st, int64_t since, struct pv_server_count **out,
                             size_t *n)
{
    struct q b;
    void *arr = NULL;
    int rc;

    q_start(&b, handle(st), Q_SERVER_TRAFFIC);
    b_int(&b, since);
    rc = collect(&b, sizeof **out, read_count, &arr, n);
    *out = arr;
    return rc;
}

/*
 * Under the PSD's row lock (SELECT ... FOR UPDATE, held to the end of the
 * transaction): read its lease, decide, write it and its log. A second
 * acquirer waits for the first to commit and then reads its lease.
 */
static int pg_lease_acquire(struct pv_store *st, uint32_t psd_id, const char *holder,
                            int64_t now_ms, int64_t expires_ms)
{
    struct pg_store *s = handle(st);
    char cur[PV_ID_MAX] = "";
    int64_t cur_expires = 0;
    struct row r;
    struct q b;
    int rc, own;

    if (!fits(holder, PV_ID_MAX) || !holder[0] || expires_ms <= now_ms)
        return PV_EINVAL;
    rc = write_enter(s, &own);
    if (rc != PV_OK)
        return rc;
    q_start(&b, s, Q_LEASE_GET_LOCK);
    b_int(&b, psd_id);
    rc = q_row(&b);
    if (rc == PV_OK) {
        r = row_of(&b);
        r_text(&r, cur, sizeof cur);
        cur_expires = r_int(&r);
        rc = r.rc;
    }
    done(&b);
    if (rc != PV_OK)
        goto out;
    if (cur[0] && strcmp(cur, holder) != 0 && cur_expires >= now_ms) {
        rc = PV_EBUSY;
        goto out;
    }
    q_start(&b, s, Q_LEASE_SET);
    b_text(&b, holder);
    b_int(&b, expires_ms);
    b_int(&b, psd_id);
    if ((rc = q_exec(&b)) != PV_OK)
        goto out;
    /* A tenure starts no earlier than the last one ended: callers read their
     * clocks before waiting for this lock, so now_ms may be a little stale. */
    if (strcmp(cur, holder) == 0 && cur_expires >= now_ms) {
        /* A renewal extends the current tenure. */
        q_start(&b, s, Q_LEASE_LOG_EXTEND);
        b_int(&b, expires_ms);
        b_int(&b, psd_id);
        b_text(&b, holder);
    } else {
        q_start(&b, s, Q_LEASE_LOG_INSERT);
        b_int(&b, psd_id);
        b_text(&b, holder);
        b_int(&b, now_ms);
        b_int(&b, expires_ms);
    }
    rc = q_exec(&b);
out:
    /* PV_EBUSY and PV_ENOTFOUND broke no statement: an own transaction just rolls back. */
    return write_leave(s, own, rc);
}

static int pg_lease_release(struct pv_store *st, uint32_t psd_id, const char *holder,
                            int64_t now_ms)
{
    struct pg_store *s = handle(st);
    struct q b;
    long changed;
    int rc, own;

    if (!fits(holder, PV_ID_MAX))
        return PV_EINVAL;
    rc = write_enter(s, &own);
    if (rc != PV_OK)
        return rc;
    q_start(&b, s, Q_LEASE_RELEASE);
    b_int(&b, psd_id);
    b_text(&b, holder);
    rc = q_exec_n(&b, &changed);
    if (rc == PV_OK && changed > 0) {
        q_start(&b, s, Q_LEASE_LOG_EXTEND);
        b_int(&b, now_ms);
        b_int(&b, psd_id);
        b_text(&b, holder);
        rc = q_exec(&b);
    }
    return write_leave(s, own, rc);
}

static int read_lease(struct row *r, void *p)
{
    struct pv_lease_rec *rec = p;

    rec->psd_id = (uint32_t) r_int(r);
    r_text(r, rec->holder, sizeof rec->holder);
    rec->acquired_ms = r_int(r);
    rec->expires_ms = r_int(r);
    return r->rc;
}

static int pg_lease_history(struct pv_store *st, uint32_t psd_id, struct pv_lease_rec **out,
                            size_t *n)
{
    struct q b;
    void *arr = NULL;
    int rc;

    q_start(&b, handle(st), Q_LEASE_HISTORY);
    b_int(&b, psd_id);
    rc = collect(&b, sizeof **out, read_lease, &arr, n);
    *out = arr;
    return rc;
}

static int read_issue(struct row *r, void *p)
{
    struct pv_ledger_issue *rec = p;

    rec->kind = (int) r_int(r);
    r_text(r, rec->name, sizeof rec->name);
    rec->recorded = r_int(r);
    rec->computed = r_int(r);
    return r->rc;
}

static int pg_ledger_audit(struct pv_store *st, int64_t *journals, int64_t *accounts,
                           struct pv_ledger_issue **out, size_t *n)
{
    struct row r;
    struct q b;
    void *arr = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    q_start(&b, handle(st), Q_LEDGER_COUNTS);
    rc = q_row(&b);
    if (rc == PV_OK) {
        r = row_of(&b);
        *journals = r_int(&r);
        *accounts = r_int(&r);
        rc = r.rc;
    }
    done(&b);
    if (rc != PV_OK)
        return rc;
    q_start(&b, handle(st), Q_LEDGER_ISSUES);
    rc = collect(&b, sizeof **out, read_issue, &arr, n);
    *out = arr;
    return rc;
}

/* An advisory lock held to the end of the transaction (see the file comment). */
static int pg_lock_writer(struct pv_store *st)
{
    struct pg_store *s = handle(st);
    struct q b;

    if (!s->in_tx)
        return PV_EINVAL;
    q_start(&b, s, Q_WRITER_LOCK);
    b_text(&b, WRITER_LOCK_KEY);
    return q_exec(&b);
}

/* ---- accounts, payments, refunds (schema v4) ---------------------------------------------- */

/*
 * Each of these is one statement, atomic on its own under autocommit, except
 * charge_add_refund and indicium_mark_refunded: a guarded UPDATE, then - only
 * when it matched nothing - a read that tells "no such row" from "the guard
 * refused". That read decides nothing that is written, so it needs no lock.
 */

#define EMAIL_MAX sizeof((struct pv_customer_rec *) 0)->email

static int valid_role(int role)
{
    return role == PV_ROLE_CUSTOMER || role == PV_ROLE_OPERATOR;
}

/* A money amount a caller hands in: PV_EINVAL below min, PV_EOVERFLOW past the bound. */
static int check_mills(pv_mills v, pv_mills min)
{
    if (v < min)
        return PV_EINVAL;
    return v > PV_MILLS_MAX ? PV_EOVERFLOW : PV_OK;
}

/*
 * After a guarded UPDATE of the row keyed by id matched nothing: PV_ENOTFOUND
 * when there is no such row (the one-parameter SELECT exists), else refused -
 * the row is there but the guard said no.
 */
static int not_updated(struct pg_store *s, enum stmt_id exists, const char *id, int refused)
{
    struct q b;
    int rc;

    q_start(&b, s, exists);
    b_text(&b, id);
    rc = q_row(&b);
    done(&b);
    return rc == PV_OK ? refused : rc;
}

static int pg_password_set(struct pv_store *st, int role, const char *owner_id, const char *hash)
{
    struct q b;

    if (!valid_role(role) || !fits(owner_id, PV_ID_MAX) || !fits(hash, PV_PWHASH_MAX))
        return PV_EINVAL;
    q_start(&b, handle(st), role == PV_ROLE_CUSTOMER ? Q_CUSTOMER_PASSWORD : Q_OPERATOR_PASSWORD);
    b_text(&b, hash);
    b_text(&b, owner_id);
    return q_exec_found(&b);
}

static int pg_credential_get(struct pv_store *st, int role, const char *email,
                             struct pv_credential *out)
{
    struct row r;
    struct q b;
    int rc;

    memset(out, 0, sizeof *out);
    if (!valid_role(role) || !email)
        return PV_EINVAL;
    q_start(&b, handle(st),
            role == PV_ROLE_CUSTOMER ? Q_CUSTOMER_CREDENTIAL : Q_OPERATOR_CREDENTIAL);
    b_text(&b, email);
    rc = q_row(&b);
    if (rc == PV_OK) {
        r = row_of(&b);
        out->role = role;
        r_text(&r, out->owner_id, sizeof out->owner_id);
        r_text(&r, out->password_hash, sizeof out->password_hash);
        rc = r.rc;
    }
    done(&b);
    if (rc != PV_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

static int pg_operator_get(struct pv_store *st, const char *id, char email[256])
{
    struct row r;
    struct q b;
    int rc;

    email[0] = '\0';
    if (!id)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_OPERATOR_GET);
    b_text(&b, id);
    rc = q_row(&b);
    if (rc == PV_OK) {
        r = row_of(&b);
        r_text(&r, email, EMAIL_MAX);
        rc = r.rc;
    }
    done(&b);
    return rc;
}

static int read_session(struct row *r, void *p)
{
    struct pv_session_rec *rec = p;

    r_text(r, rec->hash, sizeof rec->hash);
    rec->role = (int) r_int(r);
    r_text(r, rec->owner_id, sizeof rec->owner_id);
    r_text(r, rec->csrf, sizeof rec->csrf);
    rec->created = r_int(r);
    rec->expires = r_int(r);
    return r->rc;
}

static int pg_session_insert(struct pv_store *st, const struct pv_session_rec *rec)
{
    struct q b;
    int rc;

    if (!FITS(rec->hash) || !rec->hash[0] || !valid_role(rec->role) || !FITS(rec->owner_id) ||
        !rec->owner_id[0] || !FITS(rec->csrf))
        return PV_EINVAL;
    /* Sessions that ran out go as new ones come, so the table stays small. */
    q_start(&b, handle(st), Q_SESSION_PURGE);
    b_int(&b, rec->created);
    if ((rc = q_exec(&b)) != PV_OK)
        return rc;
    q_start(&b, handle(st), Q_SESSION_INSERT);
    b_text(&b, rec->hash);
    b_int(&b, rec->role);
    b_text(&b, rec->owner_id);
    b_text(&b, rec->csrf);
    b_int(&b, rec->created);
    b_int(&b, rec->expires);
    return q_exec(&b);
}

/* Reads one row with reader into out (zeroed first, and again on failure). */
static int get_one(struct q *b, row_reader reader, void *out, size_t size)
{
    struct row r;
    int rc = q_row(b);

    if (rc == PV_OK) {
        r = row_of(b);
        rc = reader(&r, out);
    }
    done(b);
    if (rc != PV_OK)
        memset(out, 0, size);
    return rc;
}

static int pg_session_get(struct pv_store *st, const char *hash_hex, int64_t now,
                          struct pv_session_rec *out)
{
    struct q b;

    memset(out, 0, sizeof *out);
    if (!hash_hex)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_SESSION_GET);
    b_text(&b, hash_hex);
    b_int(&b, now);
    return get_one(&b, read_session, out, sizeof *out);
}

/* Deleting a session that is not there is fine: logging out twice is not an error. */
static int pg_session_delete(struct pv_store *st, const char *hash_hex)
{
    struct q b;

    if (!hash_hex)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_SESSION_DELETE);
    b_text(&b, hash_hex);
    return q_exec(&b);
}

static int read_apikey(struct row *r, void *p)
{
    struct pv_apikey_rec *rec = p;

    r_text(r, rec->id, sizeof rec->id);
    r_text(r, rec->hash, sizeof rec->hash);
    r_text(r, rec->prefix, sizeof rec->prefix);
    rec->role = (int) r_int(r);
    r_text(r, rec->owner_id, sizeof rec->owner_id);
    rec->test = (int) r_int(r);
    r_text(r, rec->name, sizeof rec->name);
    rec->created = r_int(r);
    rec->revoked_at = r_int(r);
    return r->rc;
}

static int pg_apikey_create(struct pv_store *st, const struct pv_apikey_rec *rec)
{
    struct q b;

    if (!FITS(rec->id) || !rec->id[0] || !FITS(rec->hash) || strlen(rec->hash) != PV_HASH_HEX - 1 ||
        !FITS(rec->prefix) || !valid_role(rec->role) || !FITS(rec->owner_id) || !rec->owner_id[0] ||
        !FITS(rec->name))
        return PV_EINVAL;
    q_start(&b, handle(st), Q_APIKEY_CREATE);
    b_text(&b, rec->id);
    b_text(&b, rec->hash);
    b_text(&b, rec->prefix);
    b_int(&b, rec->role);
    b_text(&b, rec->owner_id);
    b_int(&b, rec->test != 0);
    b_text(&b, rec->name);
    b_int(&b, rec->created);
    b_int(&b, rec->revoked_at);
    return q_exec(&b);
}

static int pg_apikey_list(struct pv_store *st, const char *owner_id, struct pv_apikey_rec **out,
                          size_t *n)
{
    struct q b;
    void *arr = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    if (!owner_id)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_APIKEY_LIST);
    b_text(&b, owner_id);
    rc = collect(&b, sizeof **out, read_apikey, &arr, n);
    *out = arr;
    return rc;
}

static int pg_apikey_revoke(struct pv_store *st, const char *owner_id, const char *key_id,
                            int64_t at)
{
    struct q b;

    if (!owner_id || !key_id)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_APIKEY_REVOKE);
    b_int(&b, at);
    b_text(&b, owner_id);
    b_text(&b, key_id);
    return q_exec_found(&b);
}

static int read_pm(struct row *r, void *p)
{
    struct pv_payment_method_rec *rec = p;

    r_text(r, rec->id, sizeof rec->id);
    r_text(r, rec->customer_id, sizeof rec->customer_id);
    rec->test = (int) r_int(r);
    r_text(r, rec->gateway_ref, sizeof rec->gateway_ref);
    r_text(r, rec->brand, sizeof rec->brand);
    r_text(r, rec->last4, sizeof rec->last4);
    rec->exp_month = (int) r_int(r);
    rec->exp_year = (int) r_int(r);
    rec->created = r_int(r);
    return r->rc;
}

static int pg_pm_insert(struct pv_store *st, const struct pv_payment_method_rec *rec)
{
    struct q b;

    if (!FITS(rec->id) || !rec->id[0] || !FITS(rec->customer_id) || !rec->customer_id[0] ||
        !FITS(rec->gateway_ref) || !FITS(rec->brand) || !FITS(rec->last4))
        return PV_EINVAL;
    q_start(&b, handle(st), Q_PM_INSERT);
    b_text(&b, rec->id);
    b_text(&b, rec->customer_id);
    b_int(&b, rec->test != 0);
    b_text(&b, rec->gateway_ref);
    b_text(&b, rec->brand);
    b_text(&b, rec->last4);
    b_int(&b, rec->exp_month);
    b_int(&b, rec->exp_year);
    b_int(&b, rec->created);
    return q_exec(&b);
}

static int pg_pm_get(struct pv_store *st, const char *customer_id, const char *id,
                     struct pv_payment_method_rec *out)
{
    struct q b;

    memset(out, 0, sizeof *out);
    if (!customer_id || !id)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_PM_GET);
    b_text(&b, customer_id);
    b_text(&b, id);
    return get_one(&b, read_pm, out, sizeof *out);
}

static int pg_pm_list(struct pv_store *st, const char *customer_id, int test,
                      struct pv_payment_method_rec **out, size_t *n)
{
    struct q b;
    void *arr = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    if (!customer_id)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_PM_LIST);
    b_text(&b, customer_id);
    b_int(&b, test != 0);
    rc = collect(&b, sizeof **out, read_pm, &arr, n);
    *out = arr;
    return rc;
}

static int pg_pm_delete(struct pv_store *st, const char *customer_id, const char *id, int64_t at)
{
    struct q b;

    if (!customer_id || !id)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_PM_DELETE);
    b_int(&b, at);
    b_text(&b, customer_id);
    b_text(&b, id);
    return q_exec_found(&b);
}

static int read_charge(struct row *r, void *p)
{
    struct pv_charge_rec *rec = p;

    r_text(r, rec->id, sizeof rec->id);
    r_text(r, rec->customer_id, sizeof rec->customer_id);
    rec->test = (int) r_int(r);
    r_text(r, rec->purpose, sizeof rec->purpose);
    r_text(r, rec->ref, sizeof rec->ref);
    r_text(r, rec->payment_method_id, sizeof rec->payment_method_id);
    r_text(r, rec->brand, sizeof rec->brand);
    r_text(r, rec->last4, sizeof rec->last4);
    rec->amount = r_int(r);
    rec->refunded = r_int(r);
    rec->created = r_int(r);
    return r->rc;
}

static int pg_charge_insert(struct pv_store *st, const struct pv_charge_rec *rec)
{
    struct q b;
    int rc;

    if (!FITS(rec->id) || !rec->id[0] || !FITS(rec->customer_id) || !rec->customer_id[0] ||
        !FITS(rec->purpose) || !FITS(rec->ref) || !FITS(rec->payment_method_id) ||
        !FITS(rec->brand) || !FITS(rec->last4))
        return PV_EINVAL;
    if ((rc = check_mills(rec->amount, 1)) != PV_OK)
        return rc;
    if (rec->refunded < 0 || rec->refunded > rec->amount)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_CHARGE_INSERT);
    b_text(&b, rec->id);
    b_text(&b, rec->customer_id);
    b_int(&b, rec->test != 0);
    b_text(&b, rec->purpose);
    b_text(&b, rec->ref);
    b_text(&b, rec->payment_method_id);
    b_text(&b, rec->brand);
    b_text(&b, rec->last4);
    b_int(&b, rec->amount);
    b_int(&b, rec->refunded);
    b_int(&b, rec->created);
    return q_exec(&b);
}

static int pg_charge_find(struct pv_store *st, const char *purpose, const char *ref,
                          struct pv_charge_rec *out)
{
    struct q b;

    memset(out, 0, sizeof *out);
    if (!purpose || !ref)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_CHARGE_FIND);
    b_text(&b, purpose);
    b_text(&b, ref);
    return get_one(&b, read_charge, out, sizeof *out);
}

/* One guarded UPDATE: two refunds racing on one charge can never both fit. */
static int pg_charge_add_refund(struct pv_store *st, const char *id, pv_mills amount)
{
    struct pg_store *s = handle(st);
    struct q b;
    int rc;

    if (!id)
        return PV_EINVAL;
    if ((rc = check_mills(amount, 0)) != PV_OK)
        return rc;
    q_start(&b, s, Q_CHARGE_ADD_REFUND);
    b_int(&b, amount);
    b_text(&b, id);
    rc = q_exec_found(&b);
    if (rc == PV_ENOTFOUND)
        rc = not_updated(s, Q_CHARGE_EXISTS, id, PV_EOVERFLOW);
    return rc;
}

static int pg_charge_count(struct pv_store *st, const char *customer_id, const char *purpose,
                           int64_t *n)
{
    struct row r;
    struct q b;
    int rc;

    *n = 0;
    if (!customer_id)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_CHARGE_COUNT);
    b_text(&b, customer_id);
    b_text(&b, purpose ? purpose : "");
    rc = q_row(&b);
    if (rc == PV_OK) {
        r = row_of(&b);
        *n = r_int(&r);
        rc = r.rc;
    }
    done(&b);
    return rc;
}

static int read_autorefill(struct row *r, void *p)
{
    struct pv_autorefill_rec *rec = p;

    r_text(r, rec->customer_id, sizeof rec->customer_id);
    rec->test = (int) r_int(r);
    rec->enabled = (int) r_int(r);
    rec->trigger = r_int(r);
    rec->amount = r_int(r);
    r_text(r, rec->payment_method_id, sizeof rec->payment_method_id);
    rec->updated = r_int(r);
    return r->rc;
}

static int pg_autorefill_put(struct pv_store *st, const struct pv_autorefill_rec *rec)
{
    struct q b;
    int rc;

    if (!FITS(rec->customer_id) || !rec->customer_id[0] || !FITS(rec->payment_method_id))
        return PV_EINVAL;
    if ((rc = check_mills(rec->trigger, 0)) != PV_OK || (rc = check_mills(rec->amount, 0)) != PV_OK)
        return rc;
    q_start(&b, handle(st), Q_AUTOREFILL_PUT);
    b_text(&b, rec->customer_id);
    b_int(&b, rec->test != 0);
    b_int(&b, rec->enabled != 0);
    b_int(&b, rec->trigger);
    b_int(&b, rec->amount);
    b_text(&b, rec->payment_method_id);
    b_int(&b, rec->updated);
    return q_exec(&b);
}

/* A plain read even inside a transaction: the rule decides whether to charge, and the
 * balance it compares against is what account_balance() locks. */
static int pg_autorefill_get(struct pv_store *st, const char *customer_id, int test,
                             struct pv_autorefill_rec *out)
{
    struct q b;

    memset(out, 0, sizeof *out);
    if (!customer_id)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_AUTOREFILL_GET);
    b_text(&b, customer_id);
    b_int(&b, test != 0);
    return get_one(&b, read_autorefill, out, sizeof *out);
}

static int read_refund(struct row *r, void *p)
{
    struct pv_refund_rec *rec = p;

    r_text(r, rec->id, sizeof rec->id);
    r_text(r, rec->indicium_id, sizeof rec->indicium_id);
    r_text(r, rec->customer_id, sizeof rec->customer_id);
    rec->status = (int) r_int(r);
    r_text(r, rec->reason, sizeof rec->reason);
    rec->amount = r_int(r);
    r_text(r, rec->destination, sizeof rec->destination);
    rec->requested_at = r_int(r);
    rec->decided_at = r_int(r);
    return r->rc;
}

static int pg_refund_insert(struct pv_store *st, const struct pv_refund_rec *rec)
{
    struct q b;
    int rc;

    if (!FITS(rec->id) || !rec->id[0] || !FITS(rec->indicium_id) || !rec->indicium_id[0] ||
        !FITS(rec->customer_id) || !FITS(rec->reason) || !FITS(rec->destination) ||
        rec->status < PV_REFUND_REQUESTED || rec->status > PV_REFUND_DENIED)
        return PV_EINVAL;
    if ((rc = check_mills(rec->amount, 0)) != PV_OK)
        return rc;
    q_start(&b, handle(st), Q_REFUND_INSERT);
    b_text(&b, rec->id);
    b_text(&b, rec->indicium_id);
    b_text(&b, rec->customer_id);
    b_int(&b, rec->status);
    b_text(&b, rec->reason);
    b_int(&b, rec->amount);
    b_text(&b, rec->destination);
    b_int(&b, rec->requested_at);
    b_int(&b, rec->decided_at);
    return q_exec(&b);
}

static int pg_refund_latest(struct pv_store *st, const char *indicium_id, struct pv_refund_rec *out)
{
    struct q b;

    memset(out, 0, sizeof *out);
    if (!indicium_id)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_REFUND_LATEST);
    b_text(&b, indicium_id);
    return get_one(&b, read_refund, out, sizeof *out);
}

static int pg_indicium_mark_refunded(struct pv_store *st, const char *id, int64_t at)
{
    struct pg_store *s = handle(st);
    struct q b;
    int rc;

    /* 0 means "not refunded": it cannot be the time of a refund. */
    if (!id || at <= 0)
        return PV_EINVAL;
    q_start(&b, s, Q_IND_MARK_REFUNDED);
    b_int(&b, at);
    b_text(&b, id);
    rc = q_exec_found(&b);
    if (rc == PV_ENOTFOUND)
        rc = not_updated(s, Q_IND_EXISTS, id, PV_EEXIST);
    return rc;
}

static int read_txn(struct row *r, void *p)
{
    struct pv_txn_rec *rec = p;

    rec->journal_id = r_int(r);
    r_text(r, rec->kind, sizeof rec->kind);
    r_text(r, rec->ref, sizeof rec->ref);
    rec->amount = r_int(r);
    rec->at = r_int(r);
    return r->rc;
}

static int pg_account_lines(struct pv_store *st, const char *account, int64_t before, size_t limit,
                            struct pv_txn_rec **out, size_t *n)
{
    struct q b;
    void *arr = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    if (!account || before < 0)
        return PV_EINVAL;
    if (limit == 0)
        return PV_OK;
    q_start(&b, handle(st), Q_ACCOUNT_LINES);
    b_text(&b, account);
    b_int(&b, before > 0 ? before : INT64_MAX);
    b_int(&b, limit > (size_t) INT64_MAX ? INT64_MAX : (int64_t) limit);
    rc = collect(&b, sizeof **out, read_txn, &arr, n);
    *out = arr;
    return rc;
}

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

static void pg_close(struct pv_store *st)
{
    struct pg_store *s = handle(st);

    if (!s)
        return;
    if (s->in_tx)
        pg_rollback(st);
    PQfinish(s->conn);
    free(s);
}

/* ---- media (schema v4) -------------------------------------------------------------------- */

/* Every row of a statement without parameters, as an owned array (collect). */
static void *list_of(struct pv_store *st, enum stmt_id id, size_t size, row_reader reader,
                     size_t *n, int *rc)
{
    void *arr = NULL;
    struct q b;

    q_start(&b, handle(st), id);
    *rc = collect(&b, size, reader, &arr, n);
    return arr;
}

static int pg_media_key_insert(struct pv_store *st, const struct pv_media_key_rec *rec)
{
    struct q b;

    if (rec->key_id > 15)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_MKEY_INSERT);
    b_int(&b, rec->key_id);
    b_bin(&b, rec->secret, sizeof rec->secret);
    b_int(&b, rec->created);
    return q_exec(&b);
}

static int read_mkey(struct row *r, void *p)
{
    struct pv_media_key_rec *rec = p;

    rec->key_id = (uint32_t) r_int(r);
    if (r->rc == PV_OK && (PQgetisnull(r->res, r->row, r->i) ||
                           PQgetlength(r->res, r->row, r->i) != (int) sizeof rec->secret))
        r->rc = PV_ESTORE;
    if (r->rc == PV_OK)
        memcpy(rec->secret, PQgetvalue(r->res, r->row, r->i), sizeof rec->secret);
    r->i++;
    rec->created = r_int(r);
    return r->rc;
}

static int pg_media_key_list(struct pv_store *st, struct pv_media_key_rec **out, size_t *n)
{
    int rc;

    *out = list_of(st, Q_MKEY_LIST, sizeof **out, read_mkey, n, &rc);
    return rc;
}

static int read_affiliate(struct row *r, void *p)
{
    struct pv_affiliate_rec *rec = p;

    r_text(r, rec->id, sizeof rec->id);
    r_text(r, rec->name, sizeof rec->name);
    r_text(r, rec->customer_id, sizeof rec->customer_id);
    rec->group_no = (uint32_t) r_int(r);
    rec->threshold_labels = r_int(r);
    rec->target_days = r_int(r);
    rec->resupply_sheets = (uint32_t) r_int(r);
    rec->created = r_int(r);
    return r->rc;
}

static int pg_affiliate_insert(struct pv_store *st, const struct pv_affiliate_rec *rec)
{
    struct q b;

    if (!FITS(rec->id) || !FITS(rec->name) || !FITS(rec->customer_id))
        return PV_EINVAL;
    q_start(&b, handle(st), Q_AFF_INSERT);
    b_text(&b, rec->id);
    b_text(&b, rec->name);
    b_text(&b, rec->customer_id[0] ? rec->customer_id : NULL);
    b_int(&b, rec->group_no);
    b_int(&b, rec->threshold_labels);
    b_int(&b, rec->target_days);
    b_int(&b, rec->resupply_sheets);
    b_int(&b, rec->created);
    return q_exec(&b);
}

/* One row by a text key into rec (zeroed first): PV_ENOTFOUND without it. */
static int get_by_text(struct pv_store *st, enum stmt_id id, const char *key, row_reader reader,
                       void *rec, size_t size)
{
    struct q b;

    memset(rec, 0, size);
    if (!key)
        return PV_EINVAL;
    q_start(&b, handle(st), id);
    b_text(&b, key);
    return get_one(&b, reader, rec, size);
}

static int pg_affiliate_get(struct pv_store *st, const char *id, struct pv_affiliate_rec *rec)
{
    return get_by_text(st, Q_AFF_GET, id, read_affiliate, rec, sizeof *rec);
}

static int pg_affiliate_list(struct pv_store *st, struct pv_affiliate_rec **out, size_t *n)
{
    int rc;

    *out = list_of(st, Q_AFF_LIST, sizeof **out, read_affiliate, n, &rc);
    return rc;
}

static int read_batch(struct row *r, void *p)
{
    struct pv_media_batch_rec *rec = p;

    rec->batch = (uint32_t) r_int(r);
    rec->product = (uint32_t) r_int(r);
    rec->group_no = (uint32_t) r_int(r);
    rec->key_id = (uint32_t) r_int(r);
    r_text(r, rec->affiliate_id, sizeof rec->affiliate_id);
    rec->sheets = (uint32_t) r_int(r);
    rec->labels_per_sheet = (uint32_t) r_int(r);
    rec->payment = (int) r_int(r);
    rec->price = r_int(r);
    rec->distributed = r_int(r);
    r_text(r, rec->order_id, sizeof rec->order_id);
    return r->rc;
}

static int read_one_int(struct row *r, void *p)
{
    *(int64_t *) p = r_int(r);
    return r->rc;
}

static int pg_media_batch_insert(struct pv_store *st, struct pv_media_batch_rec *rec)
{
    struct pg_store *s = handle(st);
    int64_t next = 0;
    struct q b;
    int rc, own;

    if (!FITS(rec->affiliate_id) || !FITS(rec->order_id))
        return PV_EINVAL;
    rc = write_enter(s, &own);
    if (rc != PV_OK)
        return rc;
    q_start(&b, s, Q_BATCH_NEXT);
    rc = get_one(&b, read_one_int, &next, sizeof next);
    if (rc == PV_OK && next > 262143)
        rc = PV_EOVERFLOW;
    if (rc != PV_OK)
        return write_leave(s, own, rc);
    rec->batch = (uint32_t) next;
    q_start(&b, s, Q_BATCH_INSERT);
    b_int(&b, rec->batch);
    b_int(&b, rec->product);
    b_int(&b, rec->group_no);
    b_int(&b, rec->key_id);
    b_text(&b, rec->affiliate_id);
    b_int(&b, rec->sheets);
    b_int(&b, rec->labels_per_sheet);
    b_int(&b, rec->payment);
    b_int(&b, rec->price);
    b_int(&b, rec->distributed);
    b_text(&b, rec->order_id);
    rc = q_exec(&b);
    if (rc == PV_OK) {
        q_start(&b, s, Q_SHEETS_INSERT);
        b_int(&b, rec->batch);
        b_int(&b, rec->payment);
        b_int(&b, rec->sheets);
        rc = q_exec(&b);
    }
    return write_leave(s, own, rc);
}

static int pg_media_batch_get(struct pv_store *st, uint32_t batch, struct pv_media_batch_rec *rec)
{
    struct q b;

    memset(rec, 0, sizeof *rec);
    q_start(&b, handle(st), Q_BATCH_GET);
    b_int(&b, batch);
    return get_one(&b, read_batch, rec, sizeof *rec);
}

static int read_sheet(struct row *r, void *p)
{
    struct pv_media_sheet_rec *rec = p;

    rec->batch = (uint32_t) r_int(r);
    rec->sheet = (uint32_t) r_int(r);
    rec->payment = (int) r_int(r);
    r_text(r, rec->paid_by, sizeof rec->paid_by);
    rec->paid_at = r_int(r);
    rec->labels_used = (uint32_t) r_int(r);
    rec->first_use = r_int(r);
    rec->last_use = r_int(r);
    return r->rc;
}

static int pg_media_sheet_get(struct pv_store *st, uint32_t batch, uint32_t sheet,
                              struct pv_media_sheet_rec *rec)
{
    struct pg_store *s = handle(st);
    struct q b;

    memset(rec, 0, sizeof *rec);
    /* In a write transaction: lock the row until commit (see store.h). */
    q_start(&b, s, s->in_tx ? Q_SHEET_GET_LOCK : Q_SHEET_GET);
    b_int(&b, batch);
    b_int(&b, sheet);
    return get_one(&b, read_sheet, rec, sizeof *rec);
}

static int pg_media_sheet_update(struct pv_store *st, const struct pv_media_sheet_rec *rec)
{
    struct q b;

    if (!FITS(rec->paid_by))
        return PV_EINVAL;
    q_start(&b, handle(st), Q_SHEET_UPDATE);
    b_int(&b, rec->payment);
    b_text(&b, rec->paid_by);
    b_int(&b, rec->paid_at);
    b_int(&b, rec->labels_used);
    b_int(&b, rec->first_use);
    b_int(&b, rec->last_use);
    b_int(&b, rec->batch);
    b_int(&b, rec->sheet);
    return q_exec_found(&b);
}

static int read_label(struct row *r, void *p)
{
    struct pv_media_label_rec *rec = p;

    rec->batch = (uint32_t) r_int(r);
    rec->sheet = (uint32_t) r_int(r);
    rec->position = (uint32_t) r_int(r);
    r_text(r, rec->indicium_id, sizeof rec->indicium_id);
    r_text(r, rec->customer_id, sizeof rec->customer_id);
    rec->used_at = r_int(r);
    return r->rc;
}

static int pg_media_label_insert(struct pv_store *st, const struct pv_media_label_rec *rec)
{
    struct q b;

    if (!FITS(rec->indicium_id) || !FITS(rec->customer_id))
        return PV_EINVAL;
    q_start(&b, handle(st), Q_LABEL_INSERT);
    b_int(&b, rec->batch);
    b_int(&b, rec->sheet);
    b_int(&b, rec->position);
    b_text(&b, rec->indicium_id);
    b_text(&b, rec->customer_id);
    b_int(&b, rec->used_at);
    return q_exec(&b);
}

static int pg_media_label_list(struct pv_store *st, uint32_t batch, uint32_t sheet,
                               struct pv_media_label_rec **out, size_t *n)
{
    struct q b;
    void *arr = NULL;
    int rc;

    q_start(&b, handle(st), Q_LABEL_LIST);
    b_int(&b, batch);
    b_int(&b, sheet);
    rc = collect(&b, sizeof **out, read_label, &arr, n);
    *out = arr;
    return rc;
}

static int read_usage(struct row *r, void *p)
{
    int64_t *v = p;

    v[0] = r_int(r);
    v[1] = r_int(r);
    v[2] = r_int(r);
    return r->rc;
}

static int pg_media_usage(struct pv_store *st, const char *affiliate_id, int64_t since,
                          int64_t *total, int64_t *used, int64_t *used_since)
{
    int64_t v[3] = {0, 0, 0};
    struct q b;
    int rc;

    *total = *used = *used_since = 0;
    if (!affiliate_id)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_MEDIA_USAGE);
    b_text(&b, affiliate_id);
    b_int(&b, since);
    rc = get_one(&b, read_usage, v, sizeof *v);
    if (rc == PV_OK) {
        *total = v[0];
        *used = v[1];
        *used_since = v[2];
    }
    return rc;
}

static int read_resupply(struct row *r, void *p)
{
    struct pv_resupply_rec *rec = p;

    r_text(r, rec->id, sizeof rec->id);
    r_text(r, rec->affiliate_id, sizeof rec->affiliate_id);
    rec->status = (int) r_int(r);
    rec->product = (uint32_t) r_int(r);
    rec->labels_remaining = r_int(r);
    rec->created = r_int(r);
    rec->shipped_at = r_int(r);
    rec->batch = (uint32_t) r_int(r);
    return r->rc;
}

/* ON CONFLICT DO NOTHING: a racing transaction's open order makes this one
 * wait for its commit and then insert nothing, never fail. */
static int pg_resupply_open(struct pv_store *st, struct pv_resupply_rec *rec, int *opened)
{
    struct pg_store *s = handle(st);
    struct pv_resupply_rec tmp;
    struct q b;
    int rc, own;

    *opened = 0;
    if (!FITS(rec->id) || !FITS(rec->affiliate_id))
        return PV_EINVAL;
    rc = write_enter(s, &own);
    if (rc != PV_OK)
        return rc;
    q_start(&b, s, Q_RESUPPLY_INSERT);
    b_text(&b, rec->id);
    b_text(&b, rec->affiliate_id);
    b_int(&b, rec->product);
    b_int(&b, rec->labels_remaining);
    b_int(&b, rec->created);
    rc = q_exec_found(&b);
    if (rc == PV_OK)
        *opened = 1;
    else if (rc == PV_ENOTFOUND)
        rc = PV_OK;
    if (rc == PV_OK)
        rc = get_by_text(st, Q_RESUPPLY_OPEN_GET, rec->affiliate_id, read_resupply, &tmp,
                         sizeof tmp);
    if (rc == PV_OK)
        *rec = tmp;
    return write_leave(s, own, rc);
}

static int pg_resupply_get(struct pv_store *st, const char *id, struct pv_resupply_rec *rec)
{
    return get_by_text(st, Q_RESUPPLY_GET, id, read_resupply, rec, sizeof *rec);
}

static int pg_resupply_list(struct pv_store *st, struct pv_resupply_rec **out, size_t *n)
{
    int rc;

    *out = list_of(st, Q_RESUPPLY_LIST, sizeof **out, read_resupply, n, &rc);
    return rc;
}

static int pg_resupply_ship(struct pv_store *st, const char *id, uint32_t batch, int64_t at)
{
    struct q b;

    if (!id)
        return PV_EINVAL;
    q_start(&b, handle(st), Q_RESUPPLY_SHIP);
    b_int(&b, batch);
    b_int(&b, at);
    b_text(&b, id);
    return q_exec_found(&b);
}

static const struct pv_store_ops postgres_ops = {
    .version = 1,
    .name = "postgres",
    .close = pg_close,
    .migrate = pg_migrate,
    .schema_version = pg_schema_version,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .savepoint = pg_savepoint,
    .release = pg_release,
    .rollback_to = pg_rollback_to,
    .config_set = pg_config_set,
    .config_get = pg_config_get,
    .journal_post = pg_journal_post,
    .account_balance = pg_account_balance,
    .psd_insert = pg_psd_insert,
    .psd_get = pg_psd_get,
    .psd_update = pg_psd_update,
    .psd_list = pg_psd_list,
    .refill_insert = pg_refill_insert,
    .refill_list = pg_refill_list,
    .key_insert = pg_key_insert,
    .key_list = pg_key_list,
    .customer_insert = pg_customer_insert,
    .customer_get = pg_customer_get,
    .operator_insert = pg_operator_insert,
    .apikey_insert = pg_apikey_insert,
    .apikey_lookup = pg_apikey_lookup,
    .idem_get = pg_idem_get,
    .idem_put = pg_idem_put,
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
    .server_register = pg_server_register,
    .server_heartbeat = pg_server_heartbeat,
    .server_list = pg_server_list,
    .server_set_status = pg_server_set_status,
    .server_traffic = pg_server_traffic,
    .lease_acquire = pg_lease_acquire,
    .lease_release = pg_lease_release,
    .lease_history = pg_lease_history,
    .ledger_audit = pg_ledger_audit,
    .media_key_insert = pg_media_key_insert,
    .media_key_list = pg_media_key_list,
    .affiliate_insert = pg_affiliate_insert,
    .affiliate_get = pg_affiliate_get,
    .affiliate_list = pg_affiliate_list,
    .media_batch_insert = pg_media_batch_insert,
    .media_batch_get = pg_media_batch_get,
    .media_sheet_get = pg_media_sheet_get,
    .media_sheet_update = pg_media_sheet_update,
    .media_label_insert = pg_media_label_insert,
    .media_label_list = pg_media_label_list,
    .media_usage = pg_media_usage,
    .resupply_open = pg_resupply_open,
    .resupply_get = pg_resupply_get,
    .resupply_list = pg_resupply_list,
    .resupply_ship = pg_resupply_ship,
    .lock_writer = pg_lock_writer,
    .password_set = pg_password_set,
    .credential_get = pg_credential_get,
    .operator_get = pg_operator_get,
    .session_insert = pg_session_insert,
    .session_get = pg_session_get,
    .session_delete = pg_session_delete,
    .apikey_create = pg_apikey_create,
    .apikey_list = pg_apikey_list,
    .apikey_revoke = pg_apikey_revoke,
    .pm_insert = pg_pm_insert,
    .pm_get = pg_pm_get,
    .pm_list = pg_pm_list,
    .pm_delete = pg_pm_delete,
    .charge_insert = pg_charge_insert,
    .charge_find = pg_charge_find,
    .charge_add_refund = pg_charge_add_refund,
    .charge_count = pg_charge_count,
    .autorefill_put = pg_autorefill_put,
    .autorefill_get = pg_autorefill_get,
    .refund_insert = pg_refund_insert,
    .refund_latest = pg_refund_latest,
    .indicium_mark_refunded = pg_indicium_mark_refunded,
    .account_lines = pg_account_lines,
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
