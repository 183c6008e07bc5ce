/*
 * accounts.c - who may do what: customers, operators, API keys (stored as
 * SHA-256 hex only), password credentials, web sessions, and the
 * idempotency keys of purchases (store.h).
 *
 * Each operation is one statement, atomic on its own, except session_insert
 * (a purge of expired sessions, then the insert). Emails are unique and
 * compared case-insensitively: SQLite's COLLATE NOCASE, PostgreSQL's unique
 * index on lower(email) (schema.c). idem_put racing another transaction's
 * insert of the same (owner, key) waits for it; if it commits, the answer
 * is PV_EEXIST (the primary key does it), if it rolls back, the insert goes
 * through.
 */
#include "stampd/error.h"
#include "store/store_int.h"

#include <string.h>

#define EMAIL_MAX sizeof((struct pv_customer_rec *) 0)->email

/* Who may hold an API key: customers, operators and the postal authority. */
static int valid_role(int role)
{
    return role == PV_ROLE_CUSTOMER || role == PV_ROLE_OPERATOR || role == PV_ROLE_POSTAL;
}

/* Who may log in on the web: customers, operators and the postal authority. */
static int login_role(int role)
{
    return valid_role(role);
}

/* Each role's password and credential statements. */
static enum pv_sql password_stmt(int role)
{
    return role == PV_ROLE_CUSTOMER   ? S_CUSTOMER_PASSWORD
           : role == PV_ROLE_OPERATOR ? S_OPERATOR_PASSWORD
                                      : S_POSTAL_PASSWORD;
}

static enum pv_sql credential_stmt(int role)
{
    return role == PV_ROLE_CUSTOMER   ? S_CUSTOMER_CREDENTIAL
           : role == PV_ROLE_OPERATOR ? S_OPERATOR_CREDENTIAL
                                      : S_POSTAL_CREDENTIAL;
}

static int read_customer(struct pv_row *r, void *p)
{
    struct pv_customer_rec *rec = p;

    pv_r_text(r, rec->id, sizeof rec->id);
    pv_r_text(r, rec->email, sizeof rec->email);
    rec->created = pv_r_int(r);
    return r->rc;
}

int pv_store_customer_insert(struct pv_store *st, const struct pv_customer_rec *rec)
{
    struct pv_q q;

    if (!PV_FITS(rec->id) || !PV_FITS(rec->email) || !rec->id[0] || !rec->email[0])
        return PV_EINVAL;
    pv_q_start(&q, st, S_CUSTOMER_INSERT);
    pv_q_text(&q, rec->id);
    pv_q_text(&q, rec->email);
    pv_q_int(&q, rec->created);
    return pv_q_write(&q);
}

int pv_store_customer_get(struct pv_store *st, const char *id, struct pv_customer_rec *rec)
{
    return pv_get_by_text(st, S_CUSTOMER_GET, id, read_customer, rec, sizeof *rec);
}

int pv_store_operator_insert(struct pv_store *st, const char *id, const char *email, int64_t at)
{
    struct pv_q q;

    /* Same bounds as customers: operator ids come back in pv_principal.owner_id. */
    if (!pv_fits(id, PV_ID_MAX) || !pv_fits(email, EMAIL_MAX) || !id[0] || !email[0])
        return PV_EINVAL;
    pv_q_start(&q, st, S_OPERATOR_INSERT);
    pv_q_text(&q, id);
    pv_q_text(&q, email);
    pv_q_int(&q, at);
    return pv_q_write(&q);
}

static int read_email(struct pv_row *r, void *p)
{
    pv_r_text(r, p, EMAIL_MAX);
    return r->rc;
}

int pv_store_operator_get(struct pv_store *st, const char *id, char email[256])
{
    return pv_get_by_text(st, S_OPERATOR_GET, id, read_email, email, EMAIL_MAX);
}

int pv_store_apikey_insert(struct pv_store *st, const char *key_id, const char *hash_hex,
                           const char *prefix, int role, const char *owner_id, int64_t at)
{
    struct pv_q q;

    /* The prefix comes back in pv_apikey_rec.prefix (apikey_list). */
    if (!pv_fits(key_id, PV_ID_MAX) || !pv_fits(owner_id, PV_ID_MAX) ||
        !pv_fits(hash_hex, PV_HASH_HEX) ||
        !pv_fits(prefix, sizeof((struct pv_apikey_rec *) 0)->prefix) || !key_id[0] ||
        !owner_id[0] || strlen(hash_hex) != PV_HASH_HEX - 1 || !valid_role(role))
        return PV_EINVAL;
    pv_q_start(&q, st, S_APIKEY_INSERT);
    pv_q_text(&q, key_id);
    pv_q_text(&q, hash_hex);
    pv_q_text(&q, prefix);
    pv_q_int(&q, role);
    pv_q_text(&q, owner_id);
    pv_q_int(&q, at);
    return pv_q_write(&q);
}

static int read_principal(struct pv_row *r, void *p)
{
    struct pv_principal *out = p;

    out->role = (int) pv_r_int(r);
    pv_r_text(r, out->owner_id, sizeof out->owner_id);
    pv_r_text(r, out->key_id, sizeof out->key_id);
    out->test = (int) pv_r_int(r);
    return r->rc;
}

int pv_store_apikey_lookup(struct pv_store *st, const char *hash_hex, struct pv_principal *out)
{
    return pv_get_by_text(st, S_APIKEY_LOOKUP, hash_hex, read_principal, out, sizeof *out);
}

/* The idempotency record's two columns, into req_hash (PV_HASH_HEX) and then indicium_id. */
struct idem {
    char req_hash[PV_HASH_HEX];
    char indicium_id[PV_ID_MAX];
};

static int read_idem(struct pv_row *r, void *p)
{
    struct idem *rec = p;

    pv_r_text(r, rec->req_hash, sizeof rec->req_hash);
    pv_r_text(r, rec->indicium_id, sizeof rec->indicium_id);
    return r->rc;
}

/* A key's record by statement id (IDEM_GET or PURCHASE_KEY): idem_get's contract. */
static int key_read(struct pv_store *st, int id, const char *owner_id, const char *key,
                    char req_hash[PV_HASH_HEX], char indicium_id[PV_ID_MAX])
{
    struct idem rec;
    struct pv_q q;
    int rc;

    req_hash[0] = '\0';
    indicium_id[0] = '\0';
    if (!owner_id || !key)
        return PV_EINVAL;
    pv_q_start(&q, st, id);
    pv_q_text(&q, owner_id);
    pv_q_text(&q, key);
    if ((rc = pv_q_get(&q, read_idem, &rec, sizeof rec)) == PV_OK) {
        memcpy(req_hash, rec.req_hash, sizeof rec.req_hash);
        memcpy(indicium_id, rec.indicium_id, sizeof rec.indicium_id);
    }
    return rc;
}

int pv_store_idem_get(struct pv_store *st, const char *owner_id, const char *key,
                      char req_hash[PV_HASH_HEX], char indicium_id[PV_ID_MAX])
{
    return key_read(st, S_IDEM_GET, owner_id, key, req_hash, indicium_id);
}

/* 1 when an idempotency record of these fits its columns (idem_put, card_key_put). */
static int idem_fits(const char *owner_id, const char *key, const char *req_hash,
                     const char *indicium_id)
{
    return pv_fits(owner_id, PV_ID_MAX) && pv_fits(key, PV_IDEM_KEY_MAX) &&
           pv_fits(req_hash, PV_HASH_HEX) && pv_fits(indicium_id, PV_ID_MAX);
}

int pv_store_idem_put(struct pv_store *st, const char *owner_id, const char *key,
                      const char *req_hash, const char *indicium_id, int64_t at)
{
    struct pv_q q;
    int rc, kept = 0;

    if (!idem_fits(owner_id, key, req_hash, indicium_id))
        return PV_EINVAL;
    /* A batch locking late keeps it for one statement at its end (batch_settle). */
    if (st &&
        (rc = pv_jbuf_idem_keep(st, owner_id, key, req_hash, indicium_id, at, &kept)) != PV_OK)
        return rc;
    if (kept)
        return PV_OK;
    pv_q_start(&q, st, S_IDEM_PUT);
    pv_q_text(&q, owner_id);
    pv_q_text(&q, key);
    pv_q_text(&q, req_hash);
    pv_q_text(&q, indicium_id);
    pv_q_int(&q, at);
    return pv_q_send(&q, 0); /* queued in a purchase (pv_store_defer) */
}

int pv_store_purchase_key(struct pv_store *st, const char *owner_id, const char *key,
                          char req_hash[PV_HASH_HEX], char indicium_id[PV_ID_MAX])
{
    return key_read(st, S_PURCHASE_KEY, owner_id, key, req_hash, indicium_id);
}

int pv_store_card_key_put(struct pv_store *st, const char *owner_id, const char *key,
                          const char *req_hash, const char *indicium_id, int64_t at)
{
    /* One writer at a time: no other transaction can store the key between this one's read
     * of it (purchase_key) and its commit, and the intent this transaction moved is the
     * record. Only inside that transaction. */
    if (!st || !st->in_tx || !idem_fits(owner_id, key, req_hash, indicium_id))
        return PV_EINVAL;
    if (!pv_store_writers_parallel(st))
        return PV_OK;
    return pv_store_idem_put(st, owner_id, key, req_hash, indicium_id, at);
}

int pv_store_prefetch_customer(struct pv_store *st, const char *customer_id, int test,
                               const char *account, unsigned facts)
{
    struct pv_q q;

    if (!customer_id || !account)
        return PV_EINVAL;
    /* The same statements and parameters as hold_standing, account_balance, autorefill_get. */
    if (facts & PV_FACT_HOLD) {
        pv_q_start(&q, st, S_HOLD_STANDING);
        pv_q_text(&q, customer_id);
        if (pv_q_prefetch(&q) != PV_OK)
            return q.rc;
    }
    if (!pv_jbuf_known(st, account)) { /* else the batch read it with its lock */
        pv_q_start(&q, st, pv_locking(st, S_ACCOUNT_GET, S_ACCOUNT_GET_LOCK));
        pv_q_text(&q, account);
        if (pv_q_prefetch(&q) != PV_OK)
            return q.rc;
    }
    if (!(facts & PV_FACT_RULE))
        return PV_OK;
    pv_q_start(&q, st, S_AUTOREFILL_GET);
    pv_q_text(&q, customer_id);
    pv_q_int(&q, test != 0);
    return pv_q_prefetch(&q);
}

int pv_store_password_set(struct pv_store *st, int role, const char *owner_id, const char *hash)
{
    struct pv_q q;

    if (!login_role(role) || !pv_fits(owner_id, PV_ID_MAX) || !pv_fits(hash, PV_PWHASH_MAX))
        return PV_EINVAL;
    pv_q_start(&q, st, password_stmt(role));
    pv_q_text(&q, hash);
    pv_q_text(&q, owner_id);
    return pv_q_write_found(&q);
}

static int read_credential(struct pv_row *r, void *p)
{
    struct pv_credential *out = p;

    pv_r_text(r, out->owner_id, sizeof out->owner_id);
    pv_r_text(r, out->password_hash, sizeof out->password_hash);
    return r->rc;
}

int pv_store_credential_get(struct pv_store *st, int role, const char *email,
                            struct pv_credential *out)
{
    int rc;

    memset(out, 0, sizeof *out);
    if (!login_role(role))
        return PV_EINVAL;
    rc = pv_get_by_text(st, credential_stmt(role), email, read_credential, out, sizeof *out);
    if (rc == PV_OK)
        out->role = role;
    return rc;
}

static int read_session(struct pv_row *r, void *p)
{
    struct pv_session_rec *rec = p;

    pv_r_text(r, rec->hash, sizeof rec->hash);
    rec->role = (int) pv_r_int(r);
    pv_r_text(r, rec->owner_id, sizeof rec->owner_id);
    pv_r_text(r, rec->csrf, sizeof rec->csrf);
    rec->created = pv_r_int(r);
    rec->expires = pv_r_int(r);
    return r->rc;
}

/* Two statements: on PostgreSQL each atomic on its own (the purge need not share
 * the insert's fate), on SQLite one write through the gate. */
int pv_store_session_insert(struct pv_store *st, const struct pv_session_rec *rec)
{
    struct pv_q q;
    int rc, own;

    if (!st || !PV_FITS(rec->hash) || !rec->hash[0] || !login_role(rec->role) ||
        !PV_FITS(rec->owner_id) || !rec->owner_id[0] || !PV_FITS(rec->csrf))
        return PV_EINVAL;
    if ((rc = pv_write_enter(st, 0, &own)) != PV_OK)
        return rc;
    /* Sessions that ran out go as new ones come, so the table stays small. */
    pv_q_start(&q, st, S_SESSION_PURGE);
    pv_q_int(&q, rec->created);
    if ((rc = pv_q_exec(&q)) == PV_OK) {
        pv_q_start(&q, st, S_SESSION_INSERT);
        pv_q_text(&q, rec->hash);
        pv_q_int(&q, rec->role);
        pv_q_text(&q, rec->owner_id);
        pv_q_text(&q, rec->csrf);
        pv_q_int(&q, rec->created);
        pv_q_int(&q, rec->expires);
        rc = pv_q_exec(&q);
    }
    return pv_write_leave(st, own, rc);
}

int pv_store_session_get(struct pv_store *st, const char *hash_hex, int64_t now,
                         struct pv_session_rec *out)
{
    struct pv_q q;

    memset(out, 0, sizeof *out);
    if (!hash_hex)
        return PV_EINVAL;
    pv_q_start(&q, st, S_SESSION_GET);
    pv_q_text(&q, hash_hex);
    pv_q_int(&q, now);
    return pv_q_get(&q, read_session, out, sizeof *out);
}

/* Deleting a session that is not there is fine: logging out twice is not an error. */
int pv_store_session_delete(struct pv_store *st, const char *hash_hex)
{
    struct pv_q q;

    if (!hash_hex)
        return PV_EINVAL;
    pv_q_start(&q, st, S_SESSION_DELETE);
    pv_q_text(&q, hash_hex);
    return pv_q_write(&q);
}

int pv_store_session_list(struct pv_store *st, int role, const char *owner_id, int64_t now,
                          struct pv_session_rec **out, size_t *n)
{
    struct pv_q q;

    *out = NULL;
    *n = 0;
    if (!owner_id || !login_role(role))
        return PV_EINVAL;
    pv_q_start(&q, st, S_SESSION_LIST);
    pv_q_int(&q, role);
    pv_q_text(&q, owner_id);
    pv_q_int(&q, now);
    return pv_q_list(&q, sizeof **out, read_session, (void **) out, n);
}

static int read_apikey(struct pv_row *r, void *p)
{
    struct pv_apikey_rec *rec = p;

    pv_r_text(r, rec->id, sizeof rec->id);
    pv_r_text(r, rec->hash, sizeof rec->hash);
    pv_r_text(r, rec->prefix, sizeof rec->prefix);
    rec->role = (int) pv_r_int(r);
    pv_r_text(r, rec->owner_id, sizeof rec->owner_id);
    rec->test = (int) pv_r_int(r);
    pv_r_text(r, rec->name, sizeof rec->name);
    rec->created = pv_r_int(r);
    rec->revoked_at = pv_r_int(r);
    return r->rc;
}

int pv_store_apikey_create(struct pv_store *st, const struct pv_apikey_rec *rec)
{
    struct pv_q q;

    if (!PV_FITS(rec->id) || !rec->id[0] || !PV_FITS(rec->hash) ||
        strlen(rec->hash) != PV_HASH_HEX - 1 || !PV_FITS(rec->prefix) || !valid_role(rec->role) ||
        !PV_FITS(rec->owner_id) || !rec->owner_id[0] || !PV_FITS(rec->name))
        return PV_EINVAL;
    pv_q_start(&q, st, S_APIKEY_CREATE);
    pv_q_text(&q, rec->id);
    pv_q_text(&q, rec->hash);
    pv_q_text(&q, rec->prefix);
    pv_q_int(&q, rec->role);
    pv_q_text(&q, rec->owner_id);
    pv_q_int(&q, rec->test != 0);
    pv_q_text(&q, rec->name);
    pv_q_int(&q, rec->created);
    pv_q_int(&q, rec->revoked_at);
    return pv_q_write(&q);
}

int pv_store_apikey_list(struct pv_store *st, const char *owner_id, struct pv_apikey_rec **out,
                         size_t *n)
{
    struct pv_q q;

    *out = NULL;
    *n = 0;
    if (!owner_id)
        return PV_EINVAL;
    pv_q_start(&q, st, S_APIKEY_LIST);
    pv_q_text(&q, owner_id);
    return pv_q_list(&q, sizeof **out, read_apikey, (void **) out, n);
}

int pv_store_apikey_revoke(struct pv_store *st, const char *owner_id, const char *key_id,
                           int64_t at)
{
    struct pv_q q;

    if (!owner_id || !key_id)
        return PV_EINVAL;
    pv_q_start(&q, st, S_APIKEY_REVOKE);
    pv_q_int(&q, at);
    pv_q_text(&q, owner_id);
    pv_q_text(&q, key_id);
    return pv_q_write_found(&q);
}

int pv_store_batch_facts(struct pv_store *st, const char *const *customers, const int64_t *tests,
                         const char *const *owners, const char *const *keys, size_t n,
                         uint8_t *facts)
{
    struct pv_q q;
    struct pv_row r;
    size_t i = 0;
    int64_t v;
    int rc;

    if (!st || (n && (!customers || !tests || !owners || !keys || !facts)))
        return PV_EINVAL;
    memset(facts, PV_FACT_ALL, n);
    if (n == 0 || !pv_sql_has(st, S_BATCH_FACTS))
        return PV_OK; /* SQLite: each job reads for itself */
    pv_q_start(&q, st, S_BATCH_FACTS);
    pv_q_array(&q, PV_P_TEXT_ARRAY, customers, n, 0);
    pv_q_array(&q, PV_P_INT_ARRAY, tests, n, sizeof *tests);
    pv_q_array(&q, PV_P_TEXT_ARRAY, owners, n, 0);
    pv_q_array(&q, PV_P_TEXT_ARRAY, keys, n, 0);
    /* One row a job, in order. */
    while ((rc = pv_q_row(&q)) == PV_OK) {
        r = pv_row_of(&q);
        v = pv_r_int(&r);
        if (r.rc != PV_OK || i >= n || v < 0 || v > (int64_t) PV_FACT_ALL) {
            rc = r.rc != PV_OK ? r.rc : PV_ESTORE;
            break;
        }
        facts[i++] = (uint8_t) v;
    }
    pv_q_done(&q);
    if (rc == PV_ENOTFOUND)
        rc = i == n ? PV_OK : PV_ESTORE;
    if (rc != PV_OK)
        memset(facts, PV_FACT_ALL, n);
    return rc;
}
