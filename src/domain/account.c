/*
 * account.c - customers, operators, passwords, API keys and sessions
 * (account.h). Secrets are made here, shown to the caller once, and only
 * their hashes are stored.
 */
#include "domain/account.h"

#include "crypto/primitives.h"
#include "domain/ledger.h"
#include "domain/password.h"
#include "stampd/card.h"
#include "stampd/codec.h"
#include "stampd/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pv_email_valid(const char *e)
{
    const char *at = e ? strchr(e, '@') : NULL;
    size_t i, n = e ? strlen(e) : 0;

    if (!at || at == e || n > 254 || !strchr(at, '.') || at[1] == '.' || e[n - 1] == '.' ||
        strchr(at + 1, '@'))
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char) e[i] <= 0x20 || (unsigned char) e[i] >= 0x7f || e[i] == '"' ||
            e[i] == '<' || e[i] == '>')
            return 0;
    return 1;
}

void pv_token_hash(const char *token, char hex[PV_HASH_HEX])
{
    uint8_t digest[32];

    pv_sha256(token, strlen(token), digest);
    pv_hex_encode(digest, sizeof digest, hex);
}

int pv_apikey_mint(struct pv_store *st, int role, const char *owner, int test, const char *name,
                   int64_t now, char key[64], struct pv_apikey_rec *rec)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    /* The authority's keys say whose they are, so one pasted in the wrong
     * place is recognised (and refused) at a glance. */
    const char *head = role == PV_ROLE_POSTAL ? PV_APIKEY_POSTAL : test ? "sk_test_" : "sk_live_";
    size_t h = strlen(head);
    uint8_t rnd[32];
    int rc, i;

    memset(rec, 0, sizeof *rec);
    key[0] = '\0';
    if (test && role != PV_ROLE_CUSTOMER)
        return PV_EINVAL;
    if (pv_random(rnd, sizeof rnd) != PV_OK)
        return PV_ECRYPTO;
    memcpy(key, head, h);
    for (i = 0; i < 32; i++)
        key[h + (size_t) i] = alphabet[rnd[i] & 31];
    key[h + 32] = '\0';
    pv_card_wipe(rnd, sizeof rnd);
    if ((rc = pv_new_id("key", rec->id)) != PV_OK)
        return rc;
    pv_token_hash(key, rec->hash);
    snprintf(rec->prefix, sizeof rec->prefix, "%.*s", (int) h + 4, key);
    rec->role = role;
    pv_str_copy(rec->owner_id, sizeof rec->owner_id, owner);
    rec->test = test;
    pv_str_copy(rec->name, sizeof rec->name, name ? name : "");
    rec->created = now;
    return pv_store_apikey_create(st, rec);
}

int pv_apikey_hash(const char *key, char hex[PV_HASH_HEX])
{
    size_t len = strlen(key), i;

    if (len < 8 || len > PV_APIKEY_MAX)
        return PV_EUNAUTH;
    for (i = 0; i < len; i++)
        if (key[i] <= 0x20 || key[i] > 0x7e)
            return PV_EUNAUTH;
    pv_token_hash(key, hex);
    return PV_OK;
}

int pv_apikey_lookup(struct pv_store *st, const char *key, struct pv_principal *who)
{
    char hex[PV_HASH_HEX];
    int rc;

    memset(who, 0, sizeof *who);
    if ((rc = pv_apikey_hash(key, hex)) != PV_OK)
        return rc;
    return pv_store_apikey_lookup(st, hex, who);
}

int pv_session_create(struct pv_store *st, int role, const char *owner, int64_t now,
                      struct pv_session_rec *s, char token[PV_ID_MAX])
{
    uint8_t rnd[16];
    int rc;

    memset(s, 0, sizeof *s);
    if ((rc = pv_new_token("sess", token)) != PV_OK)
        return rc;
    if (pv_random(rnd, sizeof rnd) != PV_OK)
        return PV_ECRYPTO;
    pv_token_hash(token, s->hash);
    pv_hex_encode(rnd, sizeof rnd, s->csrf);
    s->role = role;
    pv_str_copy(s->owner_id, sizeof s->owner_id, owner);
    s->created = now;
    s->expires = now + PV_SESSION_TTL_S;
    return pv_store_session_insert(st, s);
}

int pv_session_lookup(struct pv_store *st, const char *token, int64_t now, struct pv_session_rec *s)
{
    char hex[PV_HASH_HEX];

    pv_token_hash(token, hex);
    return pv_store_session_get(st, hex, now, s);
}

int pv_session_csrf(const struct pv_session_rec *s, const char *csrf)
{
    size_t n = strlen(s->csrf);

    if (!csrf || strlen(csrf) != n || !pv_memeq_ct(csrf, s->csrf, n))
        return PV_ECSRF;
    return PV_OK;
}

int pv_session_delete(struct pv_store *st, const char *token)
{
    char hex[PV_HASH_HEX];

    pv_token_hash(token, hex);
    return pv_store_session_delete(st, hex);
}

/* The handle of a stored session (account.h): never the hash itself. */
static void session_handle(const char *hash, char id[PV_SESSION_HANDLE])
{
    char hex[PV_HASH_HEX];

    pv_token_hash(hash, hex);
    snprintf(id, PV_SESSION_HANDLE, "ses_%.20s", hex);
}

/* The unexpired sessions of (role, owner): the stored records into *recs
 * and their owner's view of them into *views (both owned, free()). */
static int owner_sessions(struct pv_store *st, int role, const char *owner,
                          const char *current_token, int64_t now, struct pv_session_rec **recs,
                          struct pv_session_view **views, size_t *n)
{
    char cur[PV_HASH_HEX] = "";
    size_t i;
    int rc;

    *views = NULL;
    if (current_token)
        pv_token_hash(current_token, cur);
    if ((rc = pv_store_session_list(st, role, owner, now, recs, n)) != PV_OK)
        return rc;
    if (*n && !(*views = calloc(*n, sizeof **views))) {
        free(*recs);
        *recs = NULL;
        *n = 0;
        return PV_ENOMEM;
    }
    for (i = 0; i < *n; i++) {
        session_handle((*recs)[i].hash, (*views)[i].id);
        (*views)[i].created = (*recs)[i].created;
        (*views)[i].expires = (*recs)[i].expires;
        (*views)[i].current = cur[0] && strcmp(cur, (*recs)[i].hash) == 0;
    }
    return PV_OK;
}

int pv_session_list(struct pv_store *st, int role, const char *owner, const char *current_token,
                    int64_t now, struct pv_session_view **out, size_t *n)
{
    struct pv_session_rec *recs = NULL;
    int rc = owner_sessions(st, role, owner, current_token, now, &recs, out, n);

    free(recs);
    return rc;
}

int pv_session_end(struct pv_store *st, int role, const char *owner, const char *id,
                   const char *current_token, int64_t now, int *was_current)
{
    struct pv_session_rec *recs = NULL;
    struct pv_session_view *views = NULL;
    size_t i, n = 0;
    int rc;

    *was_current = 0;
    /* Only the owner's own sessions are searched: a handle of someone
     * else's is not found, whatever it is. */
    if ((rc = owner_sessions(st, role, owner, current_token, now, &recs, &views, &n)) != PV_OK)
        return rc;
    rc = PV_ENOTFOUND;
    for (i = 0; i < n; i++) {
        if (strcmp(views[i].id, id) != 0)
            continue;
        *was_current = views[i].current;
        rc = pv_store_session_delete(st, recs[i].hash);
        break;
    }
    free(recs);
    free(views);
    return rc;
}

/* Inside the caller's transaction: the wished key, then the session. */
static int session_and_key(struct pv_store *st, int role, const char *owner,
                           const struct pv_key_wish *kw, int64_t now, struct pv_login *out)
{
    int rc;

    if (kw && kw->want) {
        if ((rc = pv_apikey_mint(st, role, owner, kw->test, kw->name, now, out->key,
                                 &out->key_rec)) != PV_OK)
            return rc;
        out->has_key = 1;
    }
    return pv_session_create(st, role, owner, now, &out->session, out->token);
}

/* Wipe what a failed sign-up or login would have shown. */
static int forget(struct pv_login *out, int rc)
{
    pv_card_wipe(out, sizeof *out);
    memset(out, 0, sizeof *out);
    return rc;
}

static int insert_customer(struct pv_store *st, const char *email, int64_t now,
                           struct pv_customer_rec *c)
{
    char acct[PV_ACCOUNT_MAX];
    int rc;

    memset(c, 0, sizeof *c);
    if ((rc = pv_new_id("cus", c->id)) != PV_OK)
        return rc;
    pv_str_copy(c->email, sizeof c->email, email);
    c->created = now;
    if ((rc = pv_store_customer_insert(st, c)) != PV_OK)
        return rc;
    /* Its balance row from the start: a purchase batch locks it in name order
     * before anything else (purchase_lock.c), even before the first funds. */
    pv_account_customer_mode(c->id, 0, acct);
    return pv_store_account_open(st, acct);
}

int pv_account_signup(struct pv_store *st, const char *email, const char *password,
                      const struct pv_key_wish *kw, int64_t now, char customer_id[PV_ID_MAX],
                      struct pv_login *out)
{
    struct pv_customer_rec c;
    char hash[PV_PWHASH_MAX];
    int rc;

    memset(out, 0, sizeof *out);
    customer_id[0] = '\0';
    if (!pv_email_valid(email))
        return PV_EEMAIL;
    /* A refused password costs what a taken email costs (the hash below),
     * so the time of the answer does not tell the two apart. */
    if (pv_password_policy(password) != PV_OK) {
        (void) pv_password_verify(password, NULL);
        return PV_EPASSWORD;
    }
    /* The slow hash before the transaction, so it holds no lock meanwhile. */
    if ((rc = pv_password_hash(password, hash)) != PV_OK)
        return rc;
    if ((rc = pv_store_begin(st)) != PV_OK)
        goto out;
    if ((rc = insert_customer(st, email, now, &c)) != PV_OK ||
        (rc = pv_store_password_set(st, PV_ROLE_CUSTOMER, c.id, hash)) != PV_OK ||
        (rc = session_and_key(st, PV_ROLE_CUSTOMER, c.id, kw, now, out)) != PV_OK ||
        (rc = pv_store_commit(st)) != PV_OK) {
        pv_store_rollback(st);
        forget(out, rc);
        goto out;
    }
    memcpy(customer_id, c.id, PV_ID_MAX);
out:
    pv_card_wipe(hash, sizeof hash);
    return rc;
}

int pv_account_check_password(struct pv_store *st, int role, const char *email,
                              const char *password, char owner[PV_ID_MAX])
{
    struct pv_credential cred;
    int rc = pv_store_credential_get(st, role, email, &cred);

    owner[0] = '\0';
    if (rc != PV_OK && rc != PV_ENOTFOUND)
        return rc;
    /* Unknown email and wrong password look and take the same. */
    if (pv_password_verify(password, rc == PV_OK ? cred.password_hash : NULL) != PV_OK)
        return PV_ELOGIN;
    memcpy(owner, cred.owner_id, PV_ID_MAX);
    return PV_OK;
}

int pv_account_open_session(struct pv_store *st, int role, const char *owner,
                            const struct pv_key_wish *kw, int64_t now, struct pv_login *out)
{
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = pv_store_begin(st)) != PV_OK)
        return rc;
    rc = session_and_key(st, role, owner, kw, now, out);
    rc = rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
    return rc == PV_OK ? PV_OK : forget(out, rc);
}

int pv_account_password_in(struct pv_store *st, int role, const char *id, const char *password)
{
    char hash[PV_PWHASH_MAX];
    int rc;

    if (!password)
        return PV_OK;
    if ((rc = pv_password_hash(password, hash)) == PV_OK)
        rc = pv_store_password_set(st, role, id, hash);
    pv_card_wipe(hash, sizeof hash);
    return rc;
}

static int cli_key(struct pv_store *st, int role, const char *owner, int64_t now, char key[64])
{
    struct pv_apikey_rec rec;

    return pv_apikey_mint(st, role, owner, 0, PV_APIKEY_CLI_NAME, now, key, &rec);
}

int pv_account_create_customer(struct pv_store *st, const char *email, pv_mills balance,
                               const char *password, int64_t now, char id[PV_ID_MAX], char key[64])
{
    struct pv_customer_rec c;
    struct pv_ledger_line lines[2];
    int rc;

    id[0] = key[0] = '\0';
    if (!pv_email_valid(email))
        return PV_EEMAIL;
    if (balance < 0 || balance > PV_MILLS_MAX)
        return PV_EAMOUNT;
    if ((rc = insert_customer(st, email, now, &c)) != PV_OK)
        return rc;
    if (balance > 0) {
        memset(lines, 0, sizeof lines);
        pv_str_copy(lines[0].account, sizeof lines[0].account, PV_ACCT_FUNDING);
        lines[0].amount = -balance;
        pv_account_customer(c.id, lines[1].account);
        lines[1].amount = balance;
        if ((rc = pv_ledger_post(st, "balance_grant", c.id, lines, 2, now)) != PV_OK)
            return rc;
    }
    if ((rc = pv_account_password_in(st, PV_ROLE_CUSTOMER, c.id, password)) != PV_OK ||
        (rc = cli_key(st, PV_ROLE_CUSTOMER, c.id, now, key)) != PV_OK)
        return rc;
    memcpy(id, c.id, PV_ID_MAX);
    return PV_OK;
}

int pv_account_create_operator(struct pv_store *st, const char *email, const char *password,
                               int64_t now, char id[PV_ID_MAX], char key[64])
{
    int rc;

    key[0] = '\0';
    if (!pv_email_valid(email))
        return PV_EEMAIL;
    if ((rc = pv_new_id("op", id)) != PV_OK ||
        (rc = pv_store_operator_insert(st, id, email, now)) != PV_OK ||
        (rc = pv_account_password_in(st, PV_ROLE_OPERATOR, id, password)) != PV_OK ||
        (rc = cli_key(st, PV_ROLE_OPERATOR, id, now, key)) != PV_OK)
        id[0] = '\0';
    return rc;
}

int pv_account_create(struct pv_store *st, int role, const char *email, pv_mills balance,
                      const char *password, int64_t now, char id[PV_ID_MAX], char key[64])
{
    int rc;

    id[0] = key[0] = '\0';
    if (role != PV_ROLE_CUSTOMER && (role != PV_ROLE_OPERATOR || balance != 0))
        return PV_EINVAL;
    if ((rc = pv_store_begin(st)) != PV_OK)
        return rc;
    rc = role == PV_ROLE_CUSTOMER
             ? pv_account_create_customer(st, email, balance, password, now, id, key)
             : pv_account_create_operator(st, email, password, now, id, key);
    if (rc == PV_OK && (rc = pv_store_commit(st)) == PV_OK)
        return PV_OK;
    pv_store_rollback(st);
    /* The key of an account that was not kept is no key. */
    pv_card_wipe(key, 64);
    id[0] = '\0';
    return rc;
}

int pv_account_set_password(struct pv_store *st, int role, const char *email, const char *password,
                            char owner[PV_ID_MAX])
{
    struct pv_credential cred;
    char hash[PV_PWHASH_MAX];
    int rc;

    owner[0] = '\0';
    if ((rc = pv_password_hash(password, hash)) != PV_OK)
        return rc;
    if ((rc = pv_store_credential_get(st, role, email, &cred)) == PV_OK &&
        (rc = pv_store_password_set(st, role, cred.owner_id, hash)) == PV_OK)
        memcpy(owner, cred.owner_id, PV_ID_MAX);
    pv_card_wipe(hash, sizeof hash);
    return rc;
}
