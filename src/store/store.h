/*
 * store.h - the store interface: every operation on the database.
 *
 * Callers (src/domain, src/server, the CLIs) use only this header. The
 * operations are written once over a small driver per database (sqlite.c,
 * postgres.c; see store_int.h and docs/internals/store-driver.md). A handle
 * is one connection: use it from one thread at a time. Open several handles
 * for several threads.
 *
 * Transactions: begin() opens a write transaction; savepoint() opens one
 * savepoint inside it, which release() keeps and rollback_to() undoes - both
 * end the savepoint - so a batch of purchases can share one durable commit
 * while each purchase can fail on its own (group commit). A failed commit()
 * rolls back; rollback() without a transaction does nothing; nested begin()
 * or savepoint() is PV_EINVAL. Reads outside begin()/commit() see the last
 * committed state. Writes outside begin() are their own transaction.
 * begin_read() opens a read-only snapshot instead: every read until end_read()
 * sees one moment of the store, whatever commits meanwhile, and no writer waits
 * for it; writes and begin() refuse inside it.
 *
 * After a failed statement inside a transaction, only rollback_to() or
 * rollback() may follow (PostgreSQL aborts the transaction; SQLite would go
 * on, but callers must not rely on it). Inside a transaction, account_balance()
 * and psd_get() lock the row they read until commit, so two processes cannot
 * both spend one balance or move one PSD's registers.
 *
 * Every insert answers PV_EEXIST on a duplicate key. Backends enforce in the
 * schema what must never happen: a PSD whose ascending + descending differs
 * from its control total, registers or piece counts moving back, amounts
 * outside +-PV_MILLS_MAX.
 *
 * Ownership: record structs are filled in place and own nothing (fixed-size
 * fields); list functions return an owned array released with free().
 * Strings passed in are borrowed. Times are unix seconds (UTC).
 */
#ifndef STAMPD_STORE_H
#define STAMPD_STORE_H

#include "stampd/indicium.h"
#include "stampd/money.h"

#include <stddef.h>
#include <stdint.h>

#define PV_ID_MAX        40   /* "cus_" + 26 chars, "ind_...", with room */
#define PV_ACCOUNT_MAX   64   /* ledger account names: "customer:cus_...", "psd:1" */
#define PV_HASH_HEX      65   /* sha-256 hex + NUL */
#define PV_IDEM_KEY_MAX  256  /* Idempotency-Key header cap */
#define PV_ADDRESS_MAX   1024 /* a postal address block in UTF-8, lines joined by newlines */
#define PV_PRINTER_MAX   64   /* a printer's name in the customer's settings */
#define PV_PWHASH_MAX    160  /* an encoded argon2id hash ("$argon2id$v=19$...") + NUL */
#define PV_REF_MAX       128  /* a gateway token or charge id + NUL */
#define PV_KEYNAME_MAX   64   /* a customer's name for an API key */
#define PV_MODULE_ID_MAX 512  /* a crypto module's identity (PV_CRYPTO_ID_MAX) */
#define PV_REASON_MAX    256  /* a PSD status change's reason + NUL */

/* The schema version this binary's backends migrate to and require. */
#define PV_SCHEMA_VERSION 46

enum pv_psd_status { PV_PSD_ACTIVE = 0, PV_PSD_SUSPENDED = 1, PV_PSD_RETIRED = 2 };

struct pv_psd_rec {
    uint32_t id; /* device id, 1.. */
    int status;  /* enum pv_psd_status */
    uint32_t key_id;
    pv_mills descending;
    pv_mills ascending;
    pv_mills control_total;
    uint32_t piece_count;
    int64_t last_refill_at; /* 0 = never */
    /* Schema v4: a test device signs only pieces bought with test keys; it is
     * never leased, and its money lives in "test:" ledger accounts. */
    int test;
    /* The processor allowed to move these registers, and until when (unix
     * ms). Written only by lease_acquire/lease_release, never by psd_update. */
    char lease_holder[PV_ID_MAX]; /* "" = nobody */
    int64_t lease_expires_ms;
    /* Schema v11 (issue 13, device lifecycle): who suspended it ("operator",
     * "authority", "system" for a revoked key; "" when not suspended) and the
     * reason of its last status change. Written only by psd_set_status. */
    char suspended_by[16];
    char status_reason[PV_REASON_MAX];
};

enum pv_server_status { PV_SERVER_ACTIVE = 0, PV_SERVER_DRAINING = 1, PV_SERVER_DISABLED = 2 };

/* A processing server as registered in the servers table (schema v3). */
struct pv_server_rec {
    char id[PV_ID_MAX];               /* "proc-1", or --id NAME */
    char address[256];                /* "http://10.0.0.5:9001", or "inproc" inside stampd serve */
    char crypto_module[32];           /* "openssl" */
    char module_id[PV_MODULE_ID_MAX]; /* schema v6: the identity of its crypto module */
    char key_ids[128];                /* the PSD key ids it signs with now, "1,3" */
    int status;                       /* enum pv_server_status, set by operators */
    int64_t started_ms;
    int64_t heartbeat_ms;
};

/* One holder's tenure of a PSD lease: from its first acquisition to the last
 * expiry it renewed to (or its release). For audits and tests. */
struct pv_lease_rec {
    uint32_t psd_id;
    char holder[PV_ID_MAX];
    int64_t acquired_ms;
    int64_t expires_ms;
};

/* Indicia signed by one server since some time. */
struct pv_server_count {
    char server_id[PV_ID_MAX];
    int64_t count;
};

struct pv_refill_rec {
    int64_t id; /* the row's id, read back (refill_list, refill_from, reset_page); not written */
    uint32_t psd_id;
    pv_mills amount;
    pv_mills desc_before, asc_before, ctl_before;
    pv_mills desc_after, asc_after, ctl_after;
    char authorization[PV_ID_MAX]; /* reference of the authorisation: "rfl_..." */
    int64_t at;
    char authority_sig[129]; /* schema v9: hex r||s of the authority's signature; "" before */
};

struct pv_key_rec {
    uint32_t key_id;
    uint32_t psd_id;
    char algorithm[24]; /* "ecdsa-p256-sha256" */
    char module[24];    /* "openssl" */
    char key_ref[512];  /* module-specific reference (file path, PKCS#11 label) */
    char public_pem[512];
    int64_t created;
    /* Schema v6: the identity of the module that holds the key (crypto.h's
     * cm->id); "" for a key made before (lease.c derives a file module's). */
    char module_id[PV_MODULE_ID_MAX];
    /* Schema v10 (certs.h): the key's certificate from the vendor CA (PEM;
     * "" until issued), when a rotation retired it (0: current or never
     * retired) and when it was revoked, with why (0 and "": not revoked). */
    char cert_pem[2048];
    int64_t retired_at;
    int64_t revoked_at;
    char revoke_reason[32];
};

/* Postal: the postal authority or its inspector (API keys only; schema v8). */
enum pv_role { PV_ROLE_CUSTOMER = 1, PV_ROLE_OPERATOR = 2, PV_ROLE_POSTAL = 3 };

struct pv_principal {
    int role;                 /* enum pv_role */
    char owner_id[PV_ID_MAX]; /* "cus_...", "op_..." or "pa_..." */
    char key_id[PV_ID_MAX];   /* "key_..." of the API key used; "" for a session */
    int test;                 /* 1: an sk_test_ key (sandbox gateway, test pieces) */
    int session;              /* 1: a web session (cookie), not an API key */
};

/* An API key as listed to its owner (schema v4). Only the hash is kept. */
struct pv_apikey_rec {
    char id[PV_ID_MAX];     /* "key_..." */
    char hash[PV_HASH_HEX]; /* sha-256 hex of the whole secret */
    char prefix[24];        /* the first characters of the secret, for recognition */
    int role;               /* enum pv_role */
    char owner_id[PV_ID_MAX];
    int test; /* sk_test_ */
    char name[PV_KEYNAME_MAX];
    int64_t created;
    int64_t revoked_at; /* 0 = active */
};

/* A password login: what credential_get finds by email. */
struct pv_credential {
    int role;
    char owner_id[PV_ID_MAX];
    char password_hash[PV_PWHASH_MAX]; /* "" = no password set: cannot log in */
};

/* A web session (schema v4), stored by the SHA-256 hex of its token. */
struct pv_session_rec {
    char hash[PV_HASH_HEX];
    int role;
    char owner_id[PV_ID_MAX];
    char csrf[PV_HASH_HEX]; /* the CSRF token state changes must echo */
    int64_t created;
    int64_t expires;
};

/* A saved card (schema v4): never the number or the CVC. */
struct pv_payment_method_rec {
    char id[PV_ID_MAX]; /* "pm_..." */
    char customer_id[PV_ID_MAX];
    int test;                     /* saved with a test key: sandbox only */
    char gateway_ref[PV_REF_MAX]; /* the gateway's token */
    char brand[12];
    char last4[5];
    int exp_month;
    int exp_year;
    int64_t created;
};

/* One card charge the gateway approved (schema v4). */
struct pv_charge_rec {
    char id[PV_REF_MAX]; /* the gateway's charge id */
    char customer_id[PV_ID_MAX];
    int test;
    char purpose[16];                  /* "purchase", "funds", "auto_refill" */
    char ref[PV_ID_MAX];               /* what it paid for: "ind_...", "top_..." */
    char payment_method_id[PV_ID_MAX]; /* "" for a card typed for this payment */
    char brand[12];
    char last4[5];
    pv_mills amount;
    pv_mills refunded;
    int64_t created;
};

/* A customer's auto-refill rule for one mode (schema v4). */
struct pv_autorefill_rec {
    char customer_id[PV_ID_MAX];
    int test;
    int enabled;
    pv_mills trigger; /* top up when a purchase would leave less than this */
    pv_mills amount;  /* by this much */
    char payment_method_id[PV_ID_MAX];
    int64_t updated;
};

/*
 * A card payment stampd means to make (schema v7, docs/payments.md,
 * "Payment intents"): written and committed before the gateway is called,
 * moved from state to state by guarded updates, so that a retry or the
 * recovery finds it and finishes it - capture, void or refund - once.
 * States: "pending" (written, the gateway not yet answered), "authorized"
 * (a hold), "settling" (committed with what it paid for: capture it),
 * "captured", "voiding" (what it paid for did not commit: void it),
 * "voided", "declined" (nothing held); refunds "pending" -> "paid".
 */
struct pv_intent_rec {
    char id[PV_ID_MAX];    /* "pi_..." */
    char kind[16];         /* "purchase", "auto_refill", "funds", "refund" */
    char owner[PV_ID_MAX]; /* idempotency namespace: "cus_..." or "test:cus_..." */
    char customer_id[PV_ID_MAX];
    int test;
    char client_key[PV_IDEM_KEY_MAX];  /* the client's Idempotency-Key (refund: its id) */
    int attempt;                       /* 1, 2, ...: a new one only after a void or decline */
    char req_hash[PV_HASH_HEX];        /* the request it pays for; "" when none */
    char gateway_key[PV_IDEM_KEY_MAX]; /* the gateway's idempotency key */
    char source[PV_REF_MAX];           /* token or saved card reference */
    char payment_method_id[PV_ID_MAX];
    char brand[12];
    char last4[5];
    pv_mills amount;
    char state[12];
    char charge_id[PV_REF_MAX]; /* the gateway's hold / charge id, once known */
    char ref[PV_ID_MAX];        /* what it paid for: "ind_...", "top_...", "arf_...", "rfd_..." */
    char server_id[PV_ID_MAX];  /* who last acted on it */
    int64_t created;            /* unix ms */
    int64_t updated;            /* unix ms */
};

enum pv_refund_status { PV_REFUND_REQUESTED = 0, PV_REFUND_APPROVED = 1, PV_REFUND_DENIED = 2 };

/* A refund request and its decision (schema v4). */
struct pv_refund_rec {
    char id[PV_ID_MAX]; /* "rfd_..." */
    char indicium_id[PV_ID_MAX];
    char customer_id[PV_ID_MAX];
    int status;      /* enum pv_refund_status */
    char reason[24]; /* "" when approved; already_scanned, window_expired, ... */
    pv_mills amount;
    char destination[8]; /* "balance" or "card" ("" when denied) */
    int64_t requested_at;
    int64_t decided_at;
};

/* One line of an account's history: a journal entry seen from the account. */
struct pv_txn_rec {
    int64_t journal_id; /* the cursor: increasing with time */
    char kind[24];      /* journal kind: "postage_sale", "card_charge", ... */
    char ref[PV_ID_MAX];
    pv_mills amount; /* this account's line: + credit to the customer, - debit */
    int64_t at;
};

struct pv_customer_rec {
    char id[PV_ID_MAX];
    char email[256];
    int64_t created;
};

struct pv_ledger_line {
    char account[PV_ACCOUNT_MAX];
    pv_mills amount; /* the lines of one journal entry sum to zero */
    int shared;      /* a total every writer adds to: into this handle's part (set_part) */
};

/* A stored piece (struct pv_indicium_rec) and its owned texts. */
#include "store/store_indicium.h"

/* A customer's printer and its calibration offsets (1/100 mm, +x right, +y down). */
struct pv_printer_rec {
    char name[PV_PRINTER_MAX];
    int32_t offset_x;
    int32_t offset_y;
    int64_t updated;
};

/* A discrepancy found by ledger_audit (or pv_ledger_check). */
enum pv_ledger_issue_kind {
    PV_LEDGER_UNBALANCED_JOURNAL = 1, /* name: journal id; computed: the sum of its lines */
    PV_LEDGER_ACCOUNT_MISMATCH = 2,   /* name: account; recorded: balance; computed: lines */
    PV_LEDGER_PSD_MISMATCH = 3,       /* name: psd:N; recorded: account; computed: descending */
    PV_LEDGER_TOTALS_MISMATCH = 4     /* name: the account; computed: what it should hold */
};

struct pv_ledger_issue {
    int kind; /* enum pv_ledger_issue_kind */
    char name[PV_ACCOUNT_MAX];
    pv_mills recorded;
    pv_mills computed;
};

/* ---- media with identifier codes (schema v5, docs/media.md) ---- */

#define PV_MEDIA_SECRET_LEN 32 /* bytes of one vendor serial secret */
#define PV_NAME_MAX         128

/* One vendor serial secret (pv_serial_key); the newest key id is current. */
struct pv_media_key_rec {
    uint32_t key_id; /* 0..15 */
    uint8_t secret[PV_MEDIA_SECRET_LEN];
    int64_t created;
};

enum pv_media_payment { PV_MEDIA_UNPAID = 0, PV_MEDIA_PAID = 1, PV_MEDIA_FREE = 2 };

/* A reseller, or a customer who is its own affiliate (customer_id set). */
struct pv_affiliate_rec {
    char id[PV_ID_MAX]; /* "aff_..." */
    char name[PV_NAME_MAX];
    char customer_id[PV_ID_MAX]; /* "" for a reseller */
    uint32_t group_no;           /* affiliate group in its serials, 1..4095, unique */
    int64_t threshold_labels;    /* resupply when fewer labels than this remain (0 = never) */
    int64_t target_days;         /* ... or fewer days of supply than this (0 = never) */
    uint32_t resupply_sheets;    /* sheets in one resupply batch */
    int64_t created;
};

/* A batch of media given to one affiliate; its sheets are rows of their own. */
struct pv_media_batch_rec {
    uint32_t batch; /* 1..262143, assigned by media_batch_insert */
    uint32_t product;
    uint32_t group_no;
    uint32_t key_id; /* the serial secret its serials were made with */
    char affiliate_id[PV_ID_MAX];
    uint32_t sheets;
    uint32_t labels_per_sheet;
    int payment;              /* enum pv_media_payment each sheet starts with */
    pv_mills price;           /* per sheet: what an unpaid sheet costs its first user */
    int64_t distributed;      /* when it was given to the affiliate */
    char order_id[PV_ID_MAX]; /* the resupply order it filled, or "" */
};

/* The CRM record of one sheet (and so of its labels). */
struct pv_media_sheet_rec {
    uint32_t batch;
    uint32_t sheet;
    int payment;             /* enum pv_media_payment */
    char paid_by[PV_ID_MAX]; /* the customer who bought it, or "" */
    int64_t paid_at;
    uint32_t labels_used;
    int64_t first_use; /* 0 = never */
    int64_t last_use;
};

/* One printed label: which indicium, for whom. */
struct pv_media_label_rec {
    uint32_t batch;
    uint32_t sheet;
    uint32_t position; /* 1..99 */
    char indicium_id[PV_ID_MAX];
    char customer_id[PV_ID_MAX];
    int64_t used_at;
};

enum pv_resupply_status { PV_RESUPPLY_OPEN = 0, PV_RESUPPLY_SHIPPED = 1 };

struct pv_resupply_rec {
    char id[PV_ID_MAX]; /* "rso_..." */
    char affiliate_id[PV_ID_MAX];
    int status;               /* enum pv_resupply_status */
    uint32_t product;         /* of the medium whose use opened it */
    int64_t labels_remaining; /* the affiliate's unused labels when it opened */
    int64_t created;
    int64_t shipped_at; /* 0 while open */
    uint32_t batch;     /* the batch shipped, 0 while open */
};

/* What indicium_search keeps (schema v4 columns; no migration). Every
 * criterion is optional: the zero value of each field means "any". */
struct pv_indicium_filter {
    int64_t created_from; /* unix s, inclusive; 0 = any */
    int64_t created_to;   /* unix s, exclusive; 0 = any */
    int mail_class;       /* enum pv_mail_class; 0 = any */
    int test;             /* -1 any, 0 live pieces only, 1 test pieces only */
    int refunded;         /* -1 any, 0 not refunded, 1 refunded */
    /* "" = any; else the indicium id, or a ZIP: the origin, the whole
     * destination, or the destination's first five digits. */
    char q[PV_ID_MAX];
    const char *meta; /* NULL = any; else "key=value": pieces whose metadata has it (v17) */
};

/* Postage one PSD dispensed on one UTC day (for operators' charts). */
struct pv_sales_day {
    int64_t day; /* days since 1970-01-01 UTC: created / 86400 */
    uint32_t psd_id;
    int64_t count;
    pv_mills postage;
};

/* A store handle: opaque; one connection (see the file comment). */
struct pv_store;

/*
 * The operations. Each borrows st and every pointer argument; record structs
 * are filled in place; list functions return an owned array in *out (free()).
 * A NULL st is PV_EINVAL.
 */

/* Schema. migrate applies every pending migration in one transaction
 * and sets *from and *to; schema_version reads the current version (0 for
 * an empty database). */
int pv_store_migrate(struct pv_store *st, int *from, int *to);
int pv_store_schema_version(struct pv_store *st, int *version);
/* Transactions (see the file comment). */
int pv_store_begin(struct pv_store *st);
/* commit also reads what pv_store_defer queued and did not wait for (PostgreSQL: in the
 * COMMIT's round trip): a queued write's failure rolls back and is answered with its own
 * code. */
int pv_store_commit(struct pv_store *st);
int pv_store_rollback(struct pv_store *st);
int pv_store_savepoint(struct pv_store *st);
int pv_store_release(struct pv_store *st);
int pv_store_rollback_to(struct pv_store *st);
/* begin_read - a read-only snapshot (SQLite: a deferred transaction, which WAL keeps at
 * the moment of its first read; PostgreSQL: REPEATABLE READ READ ONLY), for reads that
 * must agree with each other (pv_ledger_check). Writers go on; SQLite's checkpoints copy
 * only what the snapshot does not need until it ends, so keep it short. A SQLite file not
 * in WAL mode (no shared memory) gets no snapshot: its readers' lock would stop commits. Inside it
 * every write and begin() are PV_EINVAL. PV_EINVAL inside a transaction or another snapshot.
 * end_read ends it (rollback() too): PV_EINVAL outside one. */
int pv_store_begin_read(struct pv_store *st);
int pv_store_end_read(struct pv_store *st);
/* defer - inside begin(), on: the writes of the purchase path whose callers need
 * nothing back (psd_update, indicium_insert, journal_post, idem_put, charge_insert) may be queued
 * by the driver instead of waited for (PostgreSQL: sent in libpq's pipeline with
 * the next statement; SQLite: run at once) and answer PV_OK. A queued write's
 * failure makes the next statement fail (PV_ESTORE) and is answered with its own
 * code by defer(st, 0), which waits for every queued write (savepoints, their
 * releases and a batch's locks may stay queued: pv_store_barrier): call it before
 * release() to learn whether the savepoint's work stands. PV_EINVAL outside begin(). */
int pv_store_defer(struct pv_store *st, int on);
/* Vendor settings (license, refill policy, ...). get: PV_ENOTFOUND when
 * unset; *value is owned (free()). delete: PV_ENOTFOUND when there was none. */
int pv_store_config_set(struct pv_store *st, const char *key, const char *value);
int pv_store_config_get(struct pv_store *st, const char *key, char **value);
int pv_store_config_delete(struct pv_store *st, const char *key);
/* Ledger. journal_post writes one entry of n lines and adds each line to
 * its account's balance (creating the account at 0 when new). It does
 * not check the sum: pv_ledger_post() in src/domain does. */
int pv_store_journal_post(struct pv_store *st, const char *kind, const char *ref,
                          const struct pv_ledger_line *lines, size_t n, int64_t at);
/* journal_post2: two entries of one ref (borrowed), kind1's journal first, as two
 * journal_post calls would write them. Inside a purchase batch (journal_batch, any backend
 * since session 12) both kept to the batch's end, or neither; otherwise on SQLite (eight
 * lines at most) in three statements, each account's lines netted into one add (a card purchase's
 * customer lines cancel when no medium is bought: its row is not rewritten); elsewhere the two
 * calls. All or nothing outside begin(); inside, a failure is undone with the caller's savepoint (a
 * purchase job's). */
int pv_store_journal_post2(struct pv_store *st, const char *kind1, const struct pv_ledger_line *l1,
                           size_t n1, const char *kind2, const struct pv_ledger_line *l2, size_t n2,
                           const char *ref, int64_t at);
int pv_store_account_balance(struct pv_store *st, const char *account, pv_mills *balance);
/* account_open: the account (borrowed name) at 0 if it has no row yet, so that
 * a purchase batch finds its row to lock before anything is posted to it
 * (purchase_lock.c). PV_OK either way; PV_EINVAL for a name too long. */
int pv_store_account_open(struct pv_store *st, const char *account);
/* PSDs and their keys. psd_get: PV_ENOTFOUND. psd_update writes the
 * registers, status and last_refill_at of rec->id. */
int pv_store_psd_insert(struct pv_store *st, const struct pv_psd_rec *rec);
int pv_store_psd_get(struct pv_store *st, uint32_t id, struct pv_psd_rec *rec);
int pv_store_psd_update(struct pv_store *st, const struct pv_psd_rec *rec);
int pv_store_psd_list(struct pv_store *st, struct pv_psd_rec **out, size_t *n);
int pv_store_refill_insert(struct pv_store *st, const struct pv_refill_rec *rec);
/* refill_list: the PSD's refills at or after since (unix s; 0: all of them), oldest first;
 * *out owned. */
int pv_store_refill_list(struct pv_store *st, uint32_t psd_id, int64_t since,
                         struct pv_refill_rec **out, size_t *n);
int pv_store_key_insert(struct pv_store *st, const struct pv_key_rec *rec);
int pv_store_key_list(struct pv_store *st, struct pv_key_rec **out, size_t *n);
/* Schema v10. key_set_cert: the key's certificate (borrowed PEM).
 * key_retire: retired_at of a key not retired yet. key_revoke: revoked_at
 * (> 0) and reason (borrowed) of a key not revoked yet. psd_set_key: the
 * PSD's signing key and status. Each PV_ENOTFOUND when no row changed,
 * PV_EINVAL for a value too long. */
int pv_store_key_set_cert(struct pv_store *st, uint32_t key_id, const char *cert_pem);
int pv_store_key_retire(struct pv_store *st, uint32_t key_id, int64_t at);
int pv_store_key_revoke(struct pv_store *st, uint32_t key_id, int64_t at, const char *reason);
int pv_store_psd_set_key(struct pv_store *st, uint32_t psd_id, uint32_t key_id, int status);

/* Customers, operators and API keys (stored as SHA-256 hex only). */
int pv_store_customer_insert(struct pv_store *st, const struct pv_customer_rec *rec);
int pv_store_customer_get(struct pv_store *st, const char *id, struct pv_customer_rec *rec);
int pv_store_operator_insert(struct pv_store *st, const char *id, const char *email, int64_t at);
int pv_store_apikey_insert(struct pv_store *st, const char *key_id, const char *hash_hex,
                           const char *prefix, int role, const char *owner_id, int64_t at);
/* apikey_lookup: PV_ENOTFOUND for an unknown or revoked key. */
int pv_store_apikey_lookup(struct pv_store *st, const char *hash_hex, struct pv_principal *out);
/* Idempotency rows (a purchase's key: purchase_key). get: PV_ENOTFOUND, or the request hash and
 * indicium id stored for (owner, key). put: PV_EEXIST when (owner, key) exists. */
int pv_store_idem_get(struct pv_store *st, const char *owner_id, const char *key,
                      char req_hash[PV_HASH_HEX], char indicium_id[PV_ID_MAX]);
int pv_store_idem_put(struct pv_store *st, const char *owner_id, const char *key,
                      const char *req_hash, const char *indicium_id, int64_t at);
/* Indicia. get: PV_ENOTFOUND. list: the customer's indicia newest
 * first, strictly older than the indicium whose id is before_id (NULL
 * or "" = from the newest), at most limit; PV_ECURSOR for an unknown
 * before_id. find: by (device id, serial). present: count one more
 * presentation and return how many there were before it. get and find
 * overwrite *rec (its texts owned by the caller after, pv_indicium_rec_clear;
 * clear a record that held texts first), list and search return an owned
 * array (pv_indicium_recs_free). */
int pv_store_indicium_insert(struct pv_store *st, const struct pv_indicium_rec *rec);
/* indicia_insert: n of them (borrowed), one statement where the driver has arrays. */
int pv_store_indicia_insert(struct pv_store *st, const struct pv_indicium_rec *const *recs,
                            size_t n);
int pv_store_indicium_get(struct pv_store *st, const char *id, struct pv_indicium_rec *rec);
int pv_store_indicium_list(struct pv_store *st, const char *customer_id, const char *before_id,
                           size_t limit, struct pv_indicium_rec **out, size_t *n);
int pv_store_indicium_find(struct pv_store *st, uint32_t device_id, uint32_t serial,
                           struct pv_indicium_rec *rec);
int pv_store_indicium_present(struct pv_store *st, const char *id, int64_t at,
                              int64_t *presented_before);
/* Printing (schema v2). render_record notes one render of an indicium
 * (who, when, format, layout) and counts it in the indicium's prints:
 * PV_ENOTFOUND for an unknown indicium. printer_put creates or replaces
 * the customer's printer rec->name; get/delete: PV_ENOTFOUND. */
int pv_store_render_record(struct pv_store *st, const char *indicium_id, const char *actor_id,
                           const char *format, const char *layout, int64_t at);
int pv_store_printer_put(struct pv_store *st, const char *customer_id,
                         const struct pv_printer_rec *rec);
int pv_store_printer_get(struct pv_store *st, const char *customer_id, const char *name,
                         struct pv_printer_rec *rec);
int pv_store_printer_list(struct pv_store *st, const char *customer_id, struct pv_printer_rec **out,
                          size_t *n);
int pv_store_printer_delete(struct pv_store *st, const char *customer_id, const char *name);
/* Scale-out (schema v3). server_register inserts the server or updates
 * its address, module, keys, start and heartbeat - an existing row keeps
 * the status an operator gave it. server_heartbeat stamps now_ms and the
 * key ids and answers the status; PV_ENOTFOUND. server_set_status:
 * PV_ENOTFOUND. server_traffic counts indicia per server created in the
 * sixty minutes from since's (unix seconds; since <= 0: every indicium, read
 * from the servers' kept counts), read from the servers' kept minutes (schema
 * v45), which hold the last sixty a server signed in: since 59 minutes back
 * or less is exact. Neither reads the indicia. In server order; *out owned. */
int pv_store_server_register(struct pv_store *st, const struct pv_server_rec *rec);
int pv_store_server_heartbeat(struct pv_store *st, const char *id, const char *key_ids,
                              int64_t now_ms, int *status);
int pv_store_server_list(struct pv_store *st, struct pv_server_rec **out, size_t *n);
int pv_store_server_set_status(struct pv_store *st, const char *id, int status);
int pv_store_server_traffic(struct pv_store *st, int64_t since, struct pv_server_count **out,
                            size_t *n);
/* PSD leases. lease_acquire gives holder the PSD until expires_ms when it
 * is free, expired (lease_expires_ms < now_ms) or already the holder's
 * (a renewal): PV_OK. PV_EBUSY when another holder's lease runs; PV_ENOTFOUND.
 * Atomic: two processors can never both succeed for one PSD at once.
 * lease_release ends the holder's lease now (nothing when not the holder).
 * lease_history lists tenures of one PSD, oldest first; *out owned. */
int pv_store_lease_acquire(struct pv_store *st, uint32_t psd_id, const char *holder, int64_t now_ms,
                           int64_t expires_ms);
int pv_store_lease_release(struct pv_store *st, uint32_t psd_id, const char *holder,
                           int64_t now_ms);
int pv_store_lease_history(struct pv_store *st, uint32_t psd_id, struct pv_lease_rec **out,
                           size_t *n);
/* lock_writer - inside begin(): wait until no purchase batch nor other
 * writer under this lock of any process writes (PostgreSQL: an advisory
 * transaction lock; SQLite: the write lock already does it). Funds, refunds,
 * holds, claims, media, lifecycle and verify take it: they exclude batches.
 * lock_batch - inside begin(), what a purchase batch takes instead: the same
 * lock shared (batches of several processors run at once; a lock_writer
 * holder excludes them all), then the rows of the accounts[0..n-1]
 * (borrowed, names that exist; others are skipped) in name order, so two
 * batches never wait for each other the other way round. */
int pv_store_lock_writer(struct pv_store *st);
int pv_store_lock_batch(struct pv_store *st, const char (*accounts)[PV_ACCOUNT_MAX], size_t n);
/* set_part - the part (non-zero; 0: none) this handle adds shared ledger
 * lines to (pv_ledger_line.shared): one per writer, so writers of several
 * processors never wait for each other's row (PostgreSQL; SQLite adds them to
 * the account's row). pv_store_part_of(writer) makes one of a writer's name. */
void pv_store_set_part(struct pv_store *st, int64_t part);
int64_t pv_store_part_of(const char *writer);
/* ledger_audit - count journals and accounts, and list every journal whose
 * lines do not sum to zero and every account whose balance is not the sum
 * of its lines (*out owned, NULL when none). */
int pv_store_ledger_audit(struct pv_store *st, int64_t *journals, int64_t *accounts,
                          struct pv_ledger_issue **out, size_t *n);
/* ---- schema v4: accounts, payments, refunds ---- */
/* password_set stores an encoded argon2id hash for a customer
 * (PV_ROLE_CUSTOMER), operator or postal account: PV_ENOTFOUND. credential_get
 * finds a customer or operator (role) by email, case-insensitively, and a
 * postal account by its exact name: PV_ENOTFOUND. */
int pv_store_password_set(struct pv_store *st, int role, const char *owner_id, const char *hash);
int pv_store_credential_get(struct pv_store *st, int role, const char *email,
                            struct pv_credential *out);
/* operator_get: the operator's email; PV_ENOTFOUND. */
int pv_store_operator_get(struct pv_store *st, const char *id, char email[256]);
/* Sessions. get: PV_ENOTFOUND when unknown or expired before now.
 * insert also deletes the sessions that expired before rec->created. */
int pv_store_session_insert(struct pv_store *st, const struct pv_session_rec *rec);
int pv_store_session_get(struct pv_store *st, const char *hash_hex, int64_t now,
                         struct pv_session_rec *out);
int pv_store_session_delete(struct pv_store *st, const char *hash_hex);
/* session_list: the unexpired sessions of (role, owner_id) at now, newest
 * first, at most 100 (*out owned, free(); *n of them). PV_EINVAL. */
int pv_store_session_list(struct pv_store *st, int role, const char *owner_id, int64_t now,
                          struct pv_session_rec **out, size_t *n);
/* API keys with mode and name. apikey_create: PV_EEXIST on a duplicate
 * id or hash. apikey_list: the owner's keys, newest first, revoked ones
 * included (*out owned). apikey_revoke: PV_ENOTFOUND unless owner_id
 * has an active key key_id. apikey_lookup (above) fills principal.test. */
int pv_store_apikey_create(struct pv_store *st, const struct pv_apikey_rec *rec);
int pv_store_apikey_list(struct pv_store *st, const char *owner_id, struct pv_apikey_rec **out,
                         size_t *n);
int pv_store_apikey_revoke(struct pv_store *st, const char *owner_id, const char *key_id,
                           int64_t at);
/* Saved cards. get: PV_ENOTFOUND unless the customer's and not deleted.
 * list: the customer's live (test 0) or test cards, oldest first.
 * delete: PV_ENOTFOUND; deleted cards are kept for the charges that name them. */
int pv_store_pm_insert(struct pv_store *st, const struct pv_payment_method_rec *rec);
int pv_store_pm_get(struct pv_store *st, const char *customer_id, const char *id,
                    struct pv_payment_method_rec *out);
int pv_store_pm_list(struct pv_store *st, const char *customer_id, int test,
                     struct pv_payment_method_rec **out, size_t *n);
int pv_store_pm_delete(struct pv_store *st, const char *customer_id, const char *id, int64_t at);
/* Charges. charge_find: the charge with purpose and ref (PV_ENOTFOUND).
 * charge_add_refund adds amount to refunded: PV_EOVERFLOW when that would
 * exceed the charge, PV_ENOTFOUND. charge_count (tests: a scan since v32): how many
 * charges a customer has with purpose ("" = any). charges_insert: store_payments.h. */
int pv_store_charge_insert(struct pv_store *st, const struct pv_charge_rec *rec);
int pv_store_charge_find(struct pv_store *st, const char *purpose, const char *ref,
                         struct pv_charge_rec *out);
int pv_store_charge_add_refund(struct pv_store *st, const char *id, pv_mills amount);
int pv_store_charge_count(struct pv_store *st, const char *customer_id, const char *purpose,
                          int64_t *n);
/* Auto-refill: put creates or replaces (customer_id, test); get: PV_ENOTFOUND. */
int pv_store_autorefill_put(struct pv_store *st, const struct pv_autorefill_rec *rec);
int pv_store_autorefill_get(struct pv_store *st, const char *customer_id, int test,
                            struct pv_autorefill_rec *out);
/* Refunds. refund_insert: PV_EEXIST for a second approved refund of one
 * indicium. refund_latest: the indicium's newest request (PV_ENOTFOUND).
 * indicium_mark_refunded sets refunded_at: PV_EEXIST when already set,
 * PV_ENOTFOUND. */
int pv_store_refund_insert(struct pv_store *st, const struct pv_refund_rec *rec);
int pv_store_refund_latest(struct pv_store *st, const char *indicium_id, struct pv_refund_rec *out);
int pv_store_indicium_mark_refunded(struct pv_store *st, const char *id, int64_t at);
/*
 * Payment intents (schema v7). intent_insert: PV_EEXIST when (kind, owner,
 * client_key, attempt) or the gateway key is taken. intent_get by id,
 * intent_latest the highest attempt of (kind, owner, client_key):
 * PV_ENOTFOUND. intent_move: from state `from` to `to` at `now`, setting
 * charge_id, ref and server_id where not NULL, only while the row is in
 * `from` and - when before > 0 - was last updated before `before`:
 * PV_EPAYSTATE when the guard refuses, PV_ENOTFOUND. intent_due: the
 * intents in state (pending, authorized, settling or voiding; none for
 * another: schema v24 indexes only those) last updated before `before`,
 * oldest first, at most limit (*out owned).
 * intent_active: the newest intent of (kind, owner) in pending, authorized
 * or settling (PV_ENOTFOUND). All strings borrowed.
 */
int pv_store_intent_insert(struct pv_store *st, const struct pv_intent_rec *rec);
int pv_store_intent_get(struct pv_store *st, const char *id, struct pv_intent_rec *out);
int pv_store_intent_latest(struct pv_store *st, const char *kind, const char *owner,
                           const char *client_key, struct pv_intent_rec *out);
int pv_store_intent_move(struct pv_store *st, const char *id, const char *from, const char *to,
                         const char *charge_id, const char *ref, const char *server_id,
                         int64_t before, int64_t now);
int pv_store_intent_due(struct pv_store *st, const char *state, int64_t before, size_t limit,
                        struct pv_intent_rec **out, size_t *n);
int pv_store_intent_active(struct pv_store *st, const char *kind, const char *owner,
                           struct pv_intent_rec *out);
/* account_lines: the account's lines newest first, journal_id < before (0: from the newest), at
 * most limit; *out owned. Not a customer's or the deposit's (v41, v42): in journal order. */
int pv_store_account_lines(struct pv_store *st, const char *account, int64_t before, size_t limit,
                           struct pv_txn_rec **out, size_t *n);
/* Media (schema v5). Secrets: media_key_list oldest first (*out owned).
 * affiliate_get: PV_ENOTFOUND; insert: PV_EEXIST on a taken id or group;
 * list in creation order (*out owned). */
int pv_store_media_key_insert(struct pv_store *st, const struct pv_media_key_rec *rec);
int pv_store_media_key_list(struct pv_store *st, struct pv_media_key_rec **out, size_t *n);
int pv_store_affiliate_insert(struct pv_store *st, const struct pv_affiliate_rec *rec);
int pv_store_affiliate_get(struct pv_store *st, const char *id, struct pv_affiliate_rec *rec);
int pv_store_affiliate_list(struct pv_store *st, struct pv_affiliate_rec **out, size_t *n);
/* media_batch_insert gives rec->batch the next batch number (highest + 1)
 * and writes the batch and one sheet row per sheet (rec->payment, no
 * use); PV_EOVERFLOW past PV_SERIAL_MAX_BATCH. batch_get: PV_ENOTFOUND. */
int pv_store_media_batch_insert(struct pv_store *st, struct pv_media_batch_rec *rec);
int pv_store_media_batch_get(struct pv_store *st, uint32_t batch, struct pv_media_batch_rec *rec);
/* media_sheet_get: PV_ENOTFOUND; inside a transaction it locks the sheet
 * row until commit, which serialises every use of the sheet's labels.
 * media_sheet_update writes payment, paid_by/at, labels_used, first and
 * last use of (rec->batch, rec->sheet): PV_ENOTFOUND. */
int pv_store_media_sheet_get(struct pv_store *st, uint32_t batch, uint32_t sheet,
                             struct pv_media_sheet_rec *rec);
int pv_store_media_sheet_update(struct pv_store *st, const struct pv_media_sheet_rec *rec);
/* media_label_insert: PV_EEXIST when that label was printed already.
 * media_label_list: the sheet's printed labels by position (*out owned). */
int pv_store_media_label_insert(struct pv_store *st, const struct pv_media_label_rec *rec);
int pv_store_media_label_list(struct pv_store *st, uint32_t batch, uint32_t sheet,
                              struct pv_media_label_rec **out, size_t *n);
/* media_usage - the affiliate's labels: *total in its batches, *used of
 * them, *used_since of them printed at or after since. */
int pv_store_media_usage(struct pv_store *st, const char *affiliate_id, int64_t since,
                         int64_t *total, int64_t *used, int64_t *used_since);
/* Resupply orders. resupply_open inserts rec unless the affiliate has an
 * open order already (a partial unique index: at most one open order per
 * affiliate, whatever the concurrency); either way rec is then that open
 * order and *opened says whether it is new. get: PV_ENOTFOUND. list:
 * newest first (*out owned). resupply_ship marks an open order shipped
 * with its batch: PV_ENOTFOUND when no open order has that id. */
int pv_store_resupply_open(struct pv_store *st, struct pv_resupply_rec *rec, int *opened);
int pv_store_resupply_get(struct pv_store *st, const char *id, struct pv_resupply_rec *rec);
int pv_store_resupply_list(struct pv_store *st, struct pv_resupply_rec **out, size_t *n);
int pv_store_resupply_ship(struct pv_store *st, const char *id, uint32_t batch, int64_t at);
/* ---- the web UI's history and charts (no schema change) ---- */
/* indicium_search: indicium_list narrowed by f (borrowed; NULL = no
 * filter), with the same cursor rules: newest first, strictly older than
 * before_id, PV_ECURSOR unless before_id is the customer's - and of mode
 * f->test when that is set (the other mode's pieces are unknown to its
 * caller, domain/mode.h). A cursor need not match the other filters, so
 * pages stay correct when they change. */
int pv_store_indicium_search(struct pv_store *st, const char *customer_id,
                             const struct pv_indicium_filter *f, const char *before_id,
                             size_t limit, struct pv_indicium_rec **out, size_t *n);
/* sales_daily: the indicia of UTC day first_day (days since 1970-01-01) and
 * after, counted and their postage summed per (day, PSD), ordered by day then
 * PSD; *out owned. Reads the kept days (psd_days, schema v44), no indicia. */
int pv_store_sales_daily(struct pv_store *st, int64_t first_day, struct pv_sales_day **out,
                         size_t *n);

/*
 * pv_store_open - open a borrowed DSN: "sqlite:PATH" (or a bare path), or
 * "postgres://..." / "postgresql://..." (libpq URI).
 * *out is owned; release with pv_store_close(). Errors: PV_ECONFIG
 * (unknown scheme), PV_ESTORE, PV_ENOMEM.
 */
int pv_store_open(const char *dsn, struct pv_store **out);

/*
 * pv_store_backup - a consistent copy of st's database (borrowed) as it was at
 * one moment, written to the file at path (borrowed; created, or truncated)
 * while other handles and processes go on writing: SQLite's online backup
 * API. The caller fsyncs and renames it. PV_ECONFIG for a backend that has
 * none (PostgreSQL: pg_dump); PV_ESTORE, PV_EINVAL.
 */
int pv_store_backup(struct pv_store *st, const char *path);

/* pv_store_cache - a hint that st (borrowed) may keep up to bytes of the
 * database's pages in memory: SQLite's page cache of that connection (others
 * keep SQLite's default, 2 MB); nothing on PostgreSQL, whose server caches. */
void pv_store_cache(struct pv_store *st, size_t bytes);

/* pv_store_close - close a handle; NULL is fine. */
void pv_store_close(struct pv_store *st);

/* pv_store_open_checked - pv_store_open, then PV_ESCHEMA unless the schema is exactly
 * PV_SCHEMA_VERSION (what servers do at start). */
int pv_store_open_checked(const char *dsn, struct pv_store **out);

/* Each PSD's status history (schema v11): a part of this header. */
#include "store/store_lifecycle.h"
#include "store/store_ckpt.h" /* what a file's checkpointer did (SQLite, issue 15) */
/* Daily device reports and the watchdog (schema v12): a part of this header. */
#include "store/store_reports.h"
/* The postal authority's orders: refund claims, holds, pieces seen (schema v13). */
#include "store/store_authority.h"
#include "store/store_rates.h" /* rate tables as data (schema v16) */
/* Bulk buying: batches of purchases and their items (schema v18). */
#include "store/store_batches.h"
/* Webhooks: endpoints, the event outbox, deliveries (schema v19). */
#include "store/store_hooks.h"
#include "store/store_payments.h" /* a new card's reads in one statement (issue 15) */
#include "store/store_watch.h"    /* told of other connections' changes (v28) */
#include "store/store_handle.h"   /* what a handle tells of itself: counts, abilities */
/* A purchase batch's reads and writes a batch at a time (issue 15, session 9). */
#include "store/store_batch.h"

#endif
