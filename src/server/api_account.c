/*
 * api_account.c - who the caller is and how they pay (docs/api.md,
 * docs/payments.md): sign-up, login and sessions, API keys, saved cards,
 * prepaid funds, auto-refill, the transaction history and refunds.
 *
 * Card numbers and CVCs are read from the request body into a
 * pv_card_input, handed to the gateway's tokenize, and never copied
 * anywhere else: not into the store, a log line, an error message, or the
 * request fingerprint used for idempotency (scrubbed first).
 */
#include "server/api_int.h"
#include "server/ratelimit.h"

#include "crypto/crypto.h"
#include "domain/ledger.h"
#include "domain/password.h"
#include "stampd/card.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KEY_MAX        128
#define SESSION_COOKIE "stampd_session"
#define SESSION_TTL_S  (12 * 3600)
#define FUNDS_MIN      1000     /* $1.00 */
#define FUNDS_MAX      10000000 /* $10,000.00 */
#define REFILL_MIN     5000     /* auto-refill amount of at least $5.00 */
#define SESSION_ID_MAX 48

/* ---- helpers ---- */

static int whole_cents(pv_mills m)
{
    return m % 10 == 0;
}

/* A money field given as a "12.34" string: into *out, or rp set. */
static int get_money(json_t *root, const char *name, int required, pv_mills min, pv_mills max,
                     pv_mills *out, struct pv_reply *rp)
{
    const char *text;
    char msg[160], a[32], b[32];
    int rc;

    if ((rc = pv_body_string(root, name, required, 32, PV_EAMOUNT, &text, rp)) != PV_OK)
        return rc;
    if (!text)
        return PV_ENOTFOUND;
    if (pv_money_parse(text, out) != PV_OK || !whole_cents(*out) || *out < min || *out > max) {
        snprintf(msg, sizeof msg, "%s must be whole cents from %s to %s (\"25.00\")", name,
                 pv_money_format(min, a, sizeof a), pv_money_format(max, b, sizeof b));
        pv_reply_error(rp, PV_EAMOUNT, name, msg);
        return PV_EAMOUNT;
    }
    return PV_OK;
}

static const char *money(pv_mills m, char buf[32])
{
    return pv_money_format(m, buf, 32);
}

#define CUSTOMER_WHY "this needs a customer key or session"

int pv_api_email_ok(const char *e)
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

/* ---- API keys ---- */

int pv_api_new_key(struct pv_store *st, int role, const char *owner, int test, const char *name,
                   char key[64], struct pv_apikey_rec *rec)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    uint8_t rnd[32], digest[32];
    int rc, i;

    memset(rec, 0, sizeof *rec);
    if (pv_random(rnd, sizeof rnd) != PV_OK)
        return PV_ECRYPTO;
    memcpy(key, test ? "sk_test_" : "sk_live_", 8);
    for (i = 0; i < 32; i++)
        key[8 + i] = alphabet[rnd[i] & 31];
    key[40] = '\0';
    pv_card_wipe(rnd, sizeof rnd);
    if ((rc = pv_new_id("key", rec->id)) != PV_OK)
        return rc;
    pv_sha256(key, 40, digest);
    pv_hex_encode(digest, sizeof digest, rec->hash);
    snprintf(rec->prefix, sizeof rec->prefix, "%.12s", key);
    rec->role = role;
    snprintf(rec->owner_id, sizeof rec->owner_id, "%s", owner);
    rec->test = test;
    snprintf(rec->name, sizeof rec->name, "%s", name ? name : "");
    rec->created = pv_now();
    return pv_store_apikey_create(st, rec);
}

static json_t *key_json(const struct pv_apikey_rec *k)
{
    char created[32], revoked[32];

    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "id", k->id, "object", "api_key",
                     "prefix", k->prefix, "mode", k->test ? "test" : "live", "name", k->name,
                     "created", pv_time_format(k->created, created, sizeof created), "revoked_at",
                     k->revoked_at
                         ? json_string(pv_time_format(k->revoked_at, revoked, sizeof revoked))
                         : json_null());
}

static const char *const key_fields[] = {"name", "mode", NULL};

static void api_keys(struct pv_store *st, const struct pv_principal *who, const char *id,
                     const struct pv_request *rq, struct pv_reply *rp)
{
    struct pv_apikey_rec *keys = NULL, rec;
    const char *name = NULL, *mode = NULL;
    size_t n = 0, i;
    char key[64];
    json_t *arr, *root, *j;
    int rc, test = 0;

    if (strcmp(rq->method, "GET") == 0 && !id) {
        if ((rc = pv_store_apikey_list(st, who->owner_id, &keys, &n)) != PV_OK) {
            pv_reply_error(rp, rc, NULL, NULL);
            return;
        }
        arr = json_array();
        for (i = 0; arr && i < n; i++)
            if (json_array_append_new(arr, key_json(&keys[i])) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        free(keys);
        pv_reply_json(rp, 200, arr ? json_pack("{s:s, s:o}", "object", "list", "data", arr) : NULL);
        return;
    }
    if (strcmp(rq->method, id ? "DELETE" : "POST") != 0) {
        pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
        return;
    }
    /* A test key is for trying things; it may not mint or revoke keys. */
    if (who->test) {
        pv_reply_error(rp, PV_EFORBIDDEN, NULL, "test keys cannot manage API keys");
        return;
    }
    if (id) {
        rc = pv_store_apikey_revoke(st, who->owner_id, id, pv_now());
        if (rc != PV_OK)
            pv_reply_error(rp, rc, rc == PV_ENOTFOUND ? "id" : NULL,
                           rc == PV_ENOTFOUND ? "no such active API key" : NULL);
        else
            pv_reply_json(
                rp, 200, json_pack("{s:s, s:s, s:b}", "id", id, "object", "api_key", "revoked", 1));
        return;
    }
    if (!(root = pv_body_object(rq, key_fields, rp)))
        return;
    if (pv_body_string(root, "name", 0, PV_KEYNAME_MAX - 1, PV_EINVAL, &name, rp) != PV_OK ||
        pv_body_string(root, "mode", 0, 8, PV_EINVAL, &mode, rp) != PV_OK)
        goto out;
    if (mode && strcmp(mode, "live") != 0 && strcmp(mode, "test") != 0) {
        pv_reply_error(rp, PV_EINVAL, "mode", "mode must be \"live\" or \"test\"");
        goto out;
    }
    test = mode && strcmp(mode, "test") == 0;
    if (test && who->role != PV_ROLE_CUSTOMER) {
        pv_reply_error(rp, PV_EINVAL, "mode", "operator keys are live keys");
        goto out;
    }
    if ((rc = pv_api_new_key(st, who->role, who->owner_id, test, name, key, &rec)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    j = key_json(&rec);
    /* The secret is shown this once; only its hash is kept. */
    if (j)
        json_object_set_new(j, "key", json_string(key));
    pv_card_wipe(key, sizeof key);
    pv_reply_json(rp, 201, j);
out:
    json_decref(root);
}

/* ---- sessions ---- */

/* The session token from the Cookie header into out, or 0. */
static int session_cookie(const struct pv_request *rq, char out[SESSION_ID_MAX])
{
    const char *c = rq->header ? rq->header(rq->arg_ctx, "Cookie") : NULL, *p, *end;
    size_t n = strlen(SESSION_COOKIE);

    for (p = c; p && (p = strstr(p, SESSION_COOKIE)) != NULL; p += n) {
        if ((p != c && p[-1] != ' ' && p[-1] != ';') || p[n] != '=')
            continue;
        p += n + 1;
        end = strchr(p, ';');
        n = end ? (size_t) (end - p) : strlen(p);
        if (n == 0 || n >= SESSION_ID_MAX)
            return 0;
        memcpy(out, p, n);
        out[n] = '\0';
        return 1;
    }
    return 0;
}

static void token_hash(const char *token, char hex[PV_HASH_HEX])
{
    uint8_t digest[32];

    pv_sha256(token, strlen(token), digest);
    pv_hex_encode(digest, sizeof digest, hex);
}

static int secure_request(const struct pv_request *rq)
{
    const char *proto = rq->header ? rq->header(rq->arg_ctx, "X-Forwarded-Proto") : NULL;

    return proto && strcasecmp(proto, "https") == 0;
}

static void set_cookie(const struct pv_request *rq, struct pv_reply *rp, const char *token,
                       int max_age)
{
    snprintf(rp->set_cookie, sizeof rp->set_cookie,
             SESSION_COOKIE "=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s", token, max_age,
             secure_request(rq) ? "; Secure" : "");
}

/* A new session for (role, owner): stored, its token into token. */
static int new_session(struct pv_store *st, int role, const char *owner, struct pv_session_rec *s,
                       char token[PV_ID_MAX])
{
    uint8_t rnd[16];
    int rc;

    memset(s, 0, sizeof *s);
    if ((rc = pv_new_id("sess", token)) != PV_OK)
        return rc;
    if (pv_random(rnd, sizeof rnd) != PV_OK)
        return PV_ECRYPTO;
    token_hash(token, s->hash);
    pv_hex_encode(rnd, sizeof rnd, s->csrf);
    s->role = role;
    snprintf(s->owner_id, sizeof s->owner_id, "%s", owner);
    s->created = pv_now();
    s->expires = s->created + SESSION_TTL_S;
    return pv_store_session_insert(st, s);
}

/* Answer status with who the session is, its cookie, and api_key (taken; may be NULL). */
static void answer_session(const struct pv_session_rec *s, const char *token, const char *email,
                           json_t *api_key, int status, const struct pv_request *rq,
                           struct pv_reply *rp)
{
    char expires[32];
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", s->owner_id, "role",
                          s->role == PV_ROLE_OPERATOR ? "operator" : "customer", "email", email,
                          "csrf_token", s->csrf, "expires",
                          pv_time_format(s->expires, expires, sizeof expires));

    if (j && api_key)
        json_object_set_new(j, "api_key", api_key);
    else
        json_decref(api_key);
    set_cookie(rq, rp, token, SESSION_TTL_S);
    pv_reply_json(rp, status, j);
}

/*
 * Inside the caller's transaction: the session of a sign-up or login and,
 * when want_key, the API key asked for with it (*key_json owned, shown
 * once), so that both exist or neither does.
 */
static int session_and_key(struct pv_store *st, int role, const char *owner, int want_key,
                           const char *key_name, int key_test, struct pv_session_rec *s,
                           char token[PV_ID_MAX], json_t **key_json_out)
{
    struct pv_apikey_rec rec;
    char key[64];
    int rc;

    *key_json_out = NULL;
    if (want_key) {
        if ((rc = pv_api_new_key(st, role, owner, key_test, key_name, key, &rec)) != PV_OK)
            return rc;
        *key_json_out = key_json(&rec);
        if (*key_json_out)
            json_object_set_new(*key_json_out, "key", json_string(key));
        pv_card_wipe(key, sizeof key);
        if (!*key_json_out)
            return PV_ENOMEM;
    }
    if ((rc = new_session(st, role, owner, s, token)) != PV_OK) {
        json_decref(*key_json_out);
        *key_json_out = NULL;
    }
    return rc;
}

int pv_api_authenticate(struct pv_app *app, struct pv_store *st, const struct pv_request *rq,
                        struct pv_principal *who, struct pv_reply *rp)
{
    struct pv_session_rec s;
    char hex[PV_HASH_HEX], token[SESSION_ID_MAX];
    const char *key, *csrf;
    int64_t now_ms = pv_now_ms();
    size_t len, i;
    int rc, wait;

    memset(who, 0, sizeof *who);
    if (pv_ratelimit_check(app->limits, rq->remote, now_ms, &wait) != PV_OK) {
        pv_reply_error(rp, PV_ERATELIMIT, NULL, NULL);
        rp->retry_after = wait;
        return PV_ERATELIMIT;
    }
    if (rq->authorization) {
        rc = PV_EUNAUTH;
        key = rq->authorization + 7;
        len = strncasecmp(rq->authorization, "Bearer ", 7) == 0 ? strlen(key) : 0;
        for (i = 0; i < len; i++)
            if (key[i] <= 0x20 || key[i] > 0x7e)
                len = 0;
        if (len >= 8 && len <= KEY_MAX) {
            token_hash(key, hex);
            rc = pv_store_apikey_lookup(st, hex, who);
        }
        if (rc == PV_ENOTFOUND || rc == PV_EUNAUTH) {
            /* A well-formed key that is not ours is a guess; a malformed header is a bug. */
            if (rc == PV_ENOTFOUND)
                pv_ratelimit_fail(app->limits, rq->remote, now_ms);
            pv_reply_error(rp, PV_EUNAUTH, "Authorization", NULL);
            return PV_EUNAUTH;
        }
        if (rc != PV_OK)
            pv_reply_error(rp, rc, NULL, NULL);
        return rc;
    }
    if (!session_cookie(rq, token)) {
        pv_reply_error(rp, PV_EUNAUTH, "Authorization", "an API key or a session is required");
        return PV_EUNAUTH;
    }
    token_hash(token, hex);
    rc = pv_store_session_get(st, hex, pv_now(), &s);
    if (rc == PV_ENOTFOUND) {
        pv_ratelimit_fail(app->limits, rq->remote, now_ms);
        pv_reply_error(rp, PV_EUNAUTH, "Cookie", "the session has expired; log in again");
        return PV_EUNAUTH;
    }
    if (rc != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return rc;
    }
    /* Cookies ride along on cross-site requests: every state change must
     * echo the session's CSRF token, which only our own pages can read. */
    if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0) {
        csrf = rq->header ? rq->header(rq->arg_ctx, "X-CSRF-Token") : NULL;
        if (!csrf || strlen(csrf) != strlen(s.csrf) || !pv_memeq_ct(csrf, s.csrf, strlen(s.csrf))) {
            pv_reply_error(rp, PV_ECSRF, "X-CSRF-Token", NULL);
            return PV_ECSRF;
        }
    }
    who->role = s.role;
    snprintf(who->owner_id, sizeof who->owner_id, "%s", s.owner_id);
    who->session = 1;
    return PV_OK;
}

static const char *const signup_fields[] = {"email", "password", "api_key", NULL};
static const char *const login_fields[] = {"email", "password", "role", "api_key", NULL};

/*
 * The optional "api_key": {"name": ..., "mode": "live"|"test"} of sign-up and
 * login: programs without cookies (the stamp CLI) log in and mint a key in
 * one step. Checked before the account is touched; *want 0 when absent.
 */
static int api_key_request(json_t *root, int role, int *want, const char **name, int *test,
                           struct pv_reply *rp)
{
    json_t *o = json_object_get(root, "api_key"), *v;
    const char *k, *mode = NULL;

    *want = 0;
    *name = NULL;
    *test = 0;
    if (!o)
        return PV_OK;
    if (!json_is_object(o)) {
        pv_reply_error(rp, PV_ETYPE, "api_key", "api_key must be an object {name, mode}");
        return PV_ETYPE;
    }
    json_object_foreach(o, k, v)
    {
        if (strcmp(k, "name") != 0 && strcmp(k, "mode") != 0) {
            pv_reply_error(rp, PV_EUNKNOWNFIELD, "api_key", "api_key takes name and mode");
            return PV_EUNKNOWNFIELD;
        }
    }
    if (pv_body_string(o, "name", 0, PV_KEYNAME_MAX - 1, PV_EINVAL, name, rp) != PV_OK ||
        pv_body_string(o, "mode", 0, 8, PV_EINVAL, &mode, rp) != PV_OK)
        return PV_EINVAL;
    if (mode && strcmp(mode, "live") != 0 &&
        (strcmp(mode, "test") != 0 || role != PV_ROLE_CUSTOMER)) {
        pv_reply_error(rp, PV_EINVAL, "api_key.mode",
                       "api_key.mode must be \"live\" or (customers) \"test\"");
        return PV_EINVAL;
    }
    *test = mode && strcmp(mode, "test") == 0;
    *want = 1;
    return PV_OK;
}

static void post_signup(struct pv_store *st, const struct pv_request *rq, struct pv_reply *rp)
{
    struct pv_customer_rec c;
    struct pv_session_rec sess;
    char hash[PV_PWHASH_MAX], token[PV_ID_MAX];
    const char *email, *password, *key_name;
    json_t *root, *kj = NULL;
    int rc, want_key, key_test;

    if (!(root = pv_body_object(rq, signup_fields, rp)))
        return;
    if (api_key_request(root, PV_ROLE_CUSTOMER, &want_key, &key_name, &key_test, rp) != PV_OK)
        goto out;
    if (pv_body_string(root, "email", 1, 254, PV_EEMAIL, &email, rp) != PV_OK ||
        pv_body_string(root, "password", 1, PV_PASSWORD_MAX * 4, PV_EPASSWORD, &password, rp) !=
            PV_OK)
        goto out;
    if (!pv_api_email_ok(email)) {
        pv_reply_error(rp, PV_EEMAIL, "email", NULL);
        goto out;
    }
    if ((rc = pv_password_hash(password, hash)) != PV_OK) {
        pv_reply_error(rp, rc, rc == PV_EPASSWORD ? "password" : NULL, NULL);
        goto out;
    }
    memset(&c, 0, sizeof c);
    snprintf(c.email, sizeof c.email, "%s", email);
    c.created = pv_now();
    if ((rc = pv_new_id("cus", c.id)) != PV_OK || (rc = pv_store_begin(st)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    /* The account, its session and the key asked for: all or nothing. */
    if ((rc = pv_store_customer_insert(st, &c)) != PV_OK ||
        (rc = pv_store_password_set(st, PV_ROLE_CUSTOMER, c.id, hash)) != PV_OK ||
        (rc = session_and_key(st, PV_ROLE_CUSTOMER, c.id, want_key, key_name, key_test, &sess,
                              token, &kj)) != PV_OK ||
        (rc = pv_store_commit(st)) != PV_OK) {
        pv_store_rollback(st);
        json_decref(kj);
        pv_reply_error(rp, rc, rc == PV_EEXIST ? "email" : NULL,
                       rc == PV_EEXIST ? "an account with this email exists; log in" : NULL);
        goto out;
    }
    answer_session(&sess, token, c.email, kj, 201, rq, rp);
out:
    pv_card_wipe(hash, sizeof hash);
    json_decref(root);
}

static void post_login(struct pv_app *app, struct pv_store *st, const struct pv_request *rq,
                       struct pv_reply *rp)
{
    struct pv_credential cred;
    struct pv_session_rec sess;
    const char *email, *password, *role_name = NULL, *key_name;
    char token[PV_ID_MAX];
    int64_t now_ms = pv_now_ms();
    json_t *root, *kj = NULL;
    int rc, role = PV_ROLE_CUSTOMER, wait, want_key, key_test;

    if (pv_ratelimit_check(app->limits, rq->remote, now_ms, &wait) != PV_OK) {
        pv_reply_error(rp, PV_ERATELIMIT, NULL, NULL);
        rp->retry_after = wait;
        return;
    }
    if (!(root = pv_body_object(rq, login_fields, rp)))
        return;
    if (pv_body_string(root, "email", 1, 254, PV_EEMAIL, &email, rp) != PV_OK ||
        pv_body_string(root, "password", 1, PV_PASSWORD_MAX * 4, PV_ELOGIN, &password, rp) !=
            PV_OK ||
        pv_body_string(root, "role", 0, 16, PV_EINVAL, &role_name, rp) != PV_OK)
        goto out;
    if (role_name && strcmp(role_name, "operator") == 0)
        role = PV_ROLE_OPERATOR;
    else if (role_name && strcmp(role_name, "customer") != 0) {
        pv_reply_error(rp, PV_EINVAL, "role", "role must be \"customer\" or \"operator\"");
        goto out;
    }
    if (api_key_request(root, role, &want_key, &key_name, &key_test, rp) != PV_OK)
        goto out;
    /* The attempt counts from here, before the slow verify, so parallel
     * guesses cannot all slip through one check. */
    if (pv_ratelimit_reserve(app->limits, rq->remote, now_ms, &wait) != PV_OK) {
        pv_reply_error(rp, PV_ERATELIMIT, NULL, NULL);
        rp->retry_after = wait;
        goto out;
    }
    rc = pv_store_credential_get(st, role, email, &cred);
    if (rc != PV_OK && rc != PV_ENOTFOUND) {
        pv_ratelimit_release(app->limits, rq->remote, now_ms); /* our fault, not theirs */
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    /* Unknown email and wrong password look and take the same. */
    if (pv_password_verify(password, rc == PV_OK ? cred.password_hash : NULL) != PV_OK) {
        pv_reply_error(rp, PV_ELOGIN, NULL, NULL);
        goto out;
    }
    /* The reserved attempt was not a failure. Earlier failures stay: a login
     * to one's own account must not launder guesses at others'. */
    pv_ratelimit_release(app->limits, rq->remote, now_ms);
    if ((rc = pv_store_begin(st)) == PV_OK) {
        rc = session_and_key(st, role, cred.owner_id, want_key, key_name, key_test, &sess, token,
                             &kj);
        rc = rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
    }
    if (rc != PV_OK) {
        json_decref(kj);
        pv_reply_error(rp, rc, NULL, NULL);
    } else {
        answer_session(&sess, token, email, kj, 200, rq, rp);
    }
out:
    json_decref(root);
}

static void post_logout(struct pv_store *st, const struct pv_principal *who,
                        const struct pv_request *rq, struct pv_reply *rp)
{
    char token[SESSION_ID_MAX], hex[PV_HASH_HEX];
    int rc;

    if (!who->session || !session_cookie(rq, token)) {
        pv_reply_error(rp, PV_EINVAL, NULL, "logout ends a web session; revoke API keys instead");
        return;
    }
    token_hash(token, hex);
    if ((rc = pv_store_session_delete(st, hex)) != PV_OK && rc != PV_ENOTFOUND) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    set_cookie(rq, rp, "", 0);
    pv_reply_json(rp, 200, json_pack("{s:b}", "logged_out", 1));
}

/* GET /v1/session: who the caller is (the web UI asks on every page). */
static void get_session(struct pv_store *st, const struct pv_principal *who,
                        const struct pv_request *rq, struct pv_reply *rp)
{
    struct pv_session_rec s;
    struct pv_customer_rec c;
    char token[SESSION_ID_MAX], hex[PV_HASH_HEX], email[256] = "";
    int rc;

    if (who->role == PV_ROLE_CUSTOMER) {
        rc = pv_store_customer_get(st, who->owner_id, &c);
        snprintf(email, sizeof email, "%s", rc == PV_OK ? c.email : "");
    } else {
        rc = pv_store_operator_get(st, who->owner_id, email);
    }
    if (rc != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    s.csrf[0] = '\0';
    if (who->session && session_cookie(rq, token)) {
        token_hash(token, hex);
        if (pv_store_session_get(st, hex, pv_now(), &s) != PV_OK)
            s.csrf[0] = '\0';
    }
    pv_reply_json(rp, 200,
                  json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", who->owner_id, "role",
                            who->role == PV_ROLE_OPERATOR ? "operator" : "customer", "email", email,
                            "mode", who->test ? "test" : "live", "csrf_token",
                            s.csrf[0] ? json_string(s.csrf) : json_null()));
}

/* ---- cards ---- */

static const char *const card_fields[] = {"number", "exp_month", "exp_year", "cvc", "zip", NULL};

/* Names of card fields as the API reports them. */
static const char *card_field(const char *f)
{
    static const char *const names[][2] = {{"number", "card.number"},
                                           {"exp_month", "card.exp_month"},
                                           {"exp_year", "card.exp_year"},
                                           {"cvc", "card.cvc"},
                                           {"zip", "card.zip"}};
    size_t i;

    for (i = 0; f && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(f, names[i][0]) == 0)
            return names[i][1];
    return "card";
}

/* Read card (borrowed JSON) and exchange it for a gateway token into pay. */
static int tokenize_card(struct pv_gateway *gw, json_t *card, struct pv_payment *pay,
                         struct pv_card_info *info, struct pv_reply *rp)
{
    struct pv_card_input in;
    const char *k, *field = NULL;
    char *token = NULL;
    json_t *v;
    int rc;

    if (!json_is_object(card)) {
        pv_reply_error(rp, PV_ECARDINVALID, "card", "card must be an object");
        return PV_ECARDINVALID;
    }
    json_object_foreach(card, k, v)
    {
        size_t i;
        for (i = 0; card_fields[i] && strcmp(k, card_fields[i]) != 0; i++)
            ;
        if (!card_fields[i]) {
            pv_reply_error(rp, PV_EUNKNOWNFIELD, "card", "unknown field in card");
            return PV_EUNKNOWNFIELD;
        }
    }
    memset(&in, 0, sizeof in);
    v = json_object_get(card, "number");
    in.number = json_is_string(v) ? json_string_value(v) : NULL;
    v = json_object_get(card, "exp_month");
    in.exp_month = json_is_integer(v) ? (int) json_integer_value(v) : 0;
    v = json_object_get(card, "exp_year");
    in.exp_year = json_is_integer(v) ? (int) json_integer_value(v) : 0;
    v = json_object_get(card, "cvc");
    in.cvc = json_is_string(v) ? json_string_value(v) : NULL;
    v = json_object_get(card, "zip");
    in.zip = json_is_string(v) ? json_string_value(v) : NULL;
    if (!gw) {
        pv_reply_error(rp, PV_ENOGATEWAY, "payment", NULL);
        return PV_ENOGATEWAY;
    }
    rc = pv_gateway_tokenize(gw, &in, (int) (pv_date_from_unix(pv_now()) / 100), &token, info,
                             &field);
    if (rc != PV_OK) {
        /* The message names the field, never its value. */
        pv_reply_error(rp, rc == PV_EINVAL ? PV_ECARDINVALID : rc,
                       rc == PV_EINVAL ? card_field(field) : NULL, NULL);
        return rc == PV_EINVAL ? PV_ECARDINVALID : rc;
    }
    snprintf(pay->source, sizeof pay->source, "%s", token);
    snprintf(pay->brand, sizeof pay->brand, "%s", info->brand);
    snprintf(pay->last4, sizeof pay->last4, "%s", info->last4);
    free(token);
    return PV_OK;
}

int pv_api_parse_payment(struct pv_app *app, struct pv_store *st, const struct pv_principal *who,
                         json_t *pay, int allow_balance, struct pv_payment *out,
                         struct pv_reply *rp)
{
    struct pv_payment_method_rec pm;
    struct pv_card_info info;
    json_t *m, *card, *pmid;
    const char *k;
    json_t *v;
    int rc;

    memset(out, 0, sizeof *out);
    if (!pay && allow_balance)
        return PV_OK;
    if (!pay) {
        pv_reply_error(rp, PV_EMISSING, "payment", NULL);
        return PV_EMISSING;
    }
    m = json_is_object(pay) ? json_object_get(pay, "method") : NULL;
    if (!json_is_string(m)) {
        pv_reply_error(rp, PV_ETYPE, "payment",
                       "payment must be {\"method\": \"balance\"} or {\"method\": \"card\", ...}");
        return PV_ETYPE;
    }
    json_object_foreach(pay, k, v)
    {
        if (strcmp(k, "method") != 0 && strcmp(k, "card") != 0 &&
            strcmp(k, "payment_method_id") != 0) {
            pv_reply_error(rp, PV_EUNKNOWNFIELD, "payment", "unknown field in payment");
            return PV_EUNKNOWNFIELD;
        }
    }
    card = json_object_get(pay, "card");
    pmid = json_object_get(pay, "payment_method_id");
    if (strcmp(json_string_value(m), "balance") == 0 && allow_balance && !card && !pmid)
        return PV_OK;
    if (strcmp(json_string_value(m), "card") != 0 || (!card == !pmid)) {
        pv_reply_error(rp, PV_EINVAL, "payment.method",
                       allow_balance ? "payment is {\"method\":\"balance\"}, or \"card\" with "
                                       "one of card or payment_method_id"
                                     : "payment is {\"method\":\"card\"} with one of card or "
                                       "payment_method_id");
        return PV_EINVAL;
    }
    out->method = PV_PAY_CARD;
    if (card)
        return tokenize_card(pv_pay_gateway(&app->gws, who->test), card, out, &info, rp);
    if (!json_is_string(pmid) || json_string_length(pmid) >= PV_ID_MAX) {
        pv_reply_error(rp, PV_ETYPE, "payment.payment_method_id", NULL);
        return PV_ETYPE;
    }
    rc = pv_store_pm_get(st, who->owner_id, json_string_value(pmid), &pm);
    if (rc == PV_OK && pm.test != who->test)
        rc = PV_ENOTFOUND; /* test cards are for test keys only, and live for live */
    if (rc != PV_OK) {
        pv_reply_error(rp, rc, "payment.payment_method_id",
                       rc == PV_ENOTFOUND ? "no such saved card" : NULL);
        return rc;
    }
    if (!pv_pay_gateway(&app->gws, who->test)) {
        pv_reply_error(rp, PV_ENOGATEWAY, "payment", NULL);
        return PV_ENOGATEWAY;
    }
    snprintf(out->source, sizeof out->source, "%s", pm.gateway_ref);
    snprintf(out->payment_method_id, sizeof out->payment_method_id, "%s", pm.id);
    snprintf(out->brand, sizeof out->brand, "%s", pm.brand);
    snprintf(out->last4, sizeof out->last4, "%s", pm.last4);
    return PV_OK;
}

void pv_api_scrub_card(json_t *root)
{
    json_t *pay = json_object_get(root, "payment");
    json_t *card = json_is_object(pay) ? json_object_get(pay, "card") : NULL;
    json_t *num = json_is_object(card) ? json_object_get(card, "number") : NULL;
    char last4[5] = "";
    size_t n, i, k = 4;

    if (!json_is_object(card))
        return;
    if (json_is_string(num)) {
        const char *s = json_string_value(num);
        /* Keep the last four digits: enough to tell two cards apart in a retry. */
        for (n = strlen(s), i = n; i > 0 && k > 0; i--)
            if (s[i - 1] >= '0' && s[i - 1] <= '9')
                last4[--k] = s[i - 1];
        memmove(last4, last4 + k, 5 - k);
        json_object_set_new(card, "number", json_string(last4));
    }
    json_object_del(card, "cvc");
}

static json_t *pm_json(const struct pv_payment_method_rec *pm)
{
    char created[32];

    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:s}", "id", pm->id, "object",
                     "payment_method", "brand", pm->brand, "last4", pm->last4, "exp_month",
                     pm->exp_month, "exp_year", pm->exp_year, "mode", pm->test ? "test" : "live",
                     "created", pv_time_format(pm->created, created, sizeof created));
}

static const char *const pm_fields[] = {"card", NULL};

static void payment_methods(struct pv_app *app, struct pv_store *st, const struct pv_principal *who,
                            const char *id, const struct pv_request *rq, struct pv_reply *rp)
{
    struct pv_payment_method_rec *list = NULL, pm;
    struct pv_autorefill_rec ar;
    struct pv_card_info info;
    struct pv_payment pay;
    size_t n = 0, i;
    json_t *arr, *root;
    int rc;

    if (pv_api_customer_only(who, CUSTOMER_WHY, rp) != PV_OK)
        return;
    if (strcmp(rq->method, "GET") == 0 && !id) {
        if ((rc = pv_store_pm_list(st, who->owner_id, who->test, &list, &n)) != PV_OK) {
            pv_reply_error(rp, rc, NULL, NULL);
            return;
        }
        arr = json_array();
        for (i = 0; arr && i < n; i++)
            if (json_array_append_new(arr, pm_json(&list[i])) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        free(list);
        pv_reply_json(rp, 200, arr ? json_pack("{s:s, s:o}", "object", "list", "data", arr) : NULL);
        return;
    }
    if (id && strcmp(rq->method, "DELETE") == 0) {
        /* The card goes and the auto-refill that used it stops, or neither. */
        if ((rc = pv_store_begin(st)) != PV_OK) {
            pv_reply_error(rp, rc, NULL, NULL);
            return;
        }
        /* A card of the other mode does not exist for this key. */
        rc = pv_store_pm_get(st, who->owner_id, id, &pm);
        if (rc == PV_OK && pm.test != who->test)
            rc = PV_ENOTFOUND;
        if (rc == PV_OK)
            rc = pv_store_pm_delete(st, who->owner_id, id, pv_now());
        if (rc == PV_OK && pv_store_autorefill_get(st, who->owner_id, who->test, &ar) == PV_OK &&
            strcmp(ar.payment_method_id, id) == 0 && ar.enabled) {
            /* Auto-refill cannot go on without its card. */
            ar.enabled = 0;
            ar.updated = pv_now();
            rc = pv_store_autorefill_put(st, &ar);
        }
        rc = rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
        if (rc != PV_OK)
            pv_reply_error(rp, rc, rc == PV_ENOTFOUND ? "id" : NULL,
                           rc == PV_ENOTFOUND ? "no such saved card" : NULL);
        else
            pv_reply_json(
                rp, 200,
                json_pack("{s:s, s:s, s:b}", "id", id, "object", "payment_method", "deleted", 1));
        return;
    }
    if (id || strcmp(rq->method, "POST") != 0) {
        pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
        return;
    }
    if (!(root = pv_body_object(rq, pm_fields, rp)))
        return;
    memset(&pay, 0, sizeof pay);
    if (!json_object_get(root, "card")) {
        pv_reply_error(rp, PV_EMISSING, "card", NULL);
        goto out;
    }
    if (tokenize_card(pv_pay_gateway(&app->gws, who->test), json_object_get(root, "card"), &pay,
                      &info, rp) != PV_OK)
        goto out;
    memset(&pm, 0, sizeof pm);
    if ((rc = pv_new_id("pm", pm.id)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    snprintf(pm.customer_id, sizeof pm.customer_id, "%s", who->owner_id);
    pm.test = who->test;
    snprintf(pm.gateway_ref, sizeof pm.gateway_ref, "%s", pay.source);
    snprintf(pm.brand, sizeof pm.brand, "%s", info.brand);
    snprintf(pm.last4, sizeof pm.last4, "%s", info.last4);
    pm.exp_month = info.exp_month;
    pm.exp_year = info.exp_year;
    pm.created = pv_now();
    if ((rc = pv_store_pm_insert(st, &pm)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    pv_reply_json(rp, 201, pm_json(&pm));
out:
    json_decref(root);
}

/* ---- funds ---- */

/* The fingerprint of a request body for idempotency, card number and CVC scrubbed. */
int pv_api_request_hash(const char *prefix, json_t *root, char out[PV_HASH_HEX])
{
    json_t *copy = json_deep_copy(root);
    char *canon;
    uint8_t digest[32];
    size_t plen = strlen(prefix), clen;
    char *buf;

    if (!copy)
        return PV_ENOMEM;
    pv_api_scrub_card(copy);
    canon = json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(copy);
    if (!canon)
        return PV_ENOMEM;
    clen = strlen(canon);
    buf = malloc(plen + clen + 1);
    if (!buf) {
        free(canon);
        return PV_ENOMEM;
    }
    memcpy(buf, prefix, plen);
    memcpy(buf + plen, canon, clen);
    pv_sha256(buf, plen + clen, digest);
    free(buf);
    free(canon);
    pv_hex_encode(digest, sizeof digest, out);
    return PV_OK;
}

static void funds_answer(struct pv_store *st, const struct pv_principal *who,
                         const struct pv_charge_rec *c, int status, struct pv_reply *rp)
{
    char acct[PV_ACCOUNT_MAX], a[32], b[32], created[32];
    pv_mills bal;
    int rc;

    pv_account_customer_mode(who->owner_id, who->test, acct);
    if ((rc = pv_balance(st, acct, &bal)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    pv_reply_json(
        rp, status,
        json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:{s:s, s:s, s:s, s:o}}", "id", c->ref,
                  "object", "funds", "amount", money(c->amount, a), "amount_mills",
                  (json_int_t) c->amount, "balance", money(bal, b), "balance_mills",
                  (json_int_t) bal, "created", pv_time_format(c->created, created, sizeof created),
                  "charge", "id", c->id, "brand", c->brand, "last4", c->last4, "payment_method_id",
                  c->payment_method_id[0] ? json_string(c->payment_method_id) : json_null()));
}

/*
 * An earlier top-up under this key: answer it again (same body) or refuse
 * (another body). Returns 1 when rp is answered, 0 when the key is new.
 */
static int funds_replay(struct pv_store *st, const struct pv_principal *who, const char *owner,
                        const char *key, const char *hash, struct pv_reply *rp)
{
    char stored[PV_HASH_HEX], ref[PV_ID_MAX];
    struct pv_charge_rec c;
    int rc = pv_store_idem_get(st, owner, key, stored, ref);

    if (rc == PV_ENOTFOUND)
        return 0;
    if (rc != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
    } else if (strcmp(stored, hash) != 0) {
        pv_reply_error(rp, PV_EIDEMREUSED, "Idempotency-Key", NULL);
    } else if ((rc = pv_store_charge_find(st, "funds", ref, &c)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
    } else {
        funds_answer(st, who, &c, 201, rp);
        rp->replayed = 1;
    }
    return 1;
}

static const char *const funds_fields[] = {"amount", "payment", NULL};

static void post_funds(struct pv_app *app, struct pv_store *st, const struct pv_principal *who,
                       const struct pv_request *rq, struct pv_reply *rp)
{
    char hash[PV_HASH_HEX], owner[PV_ID_MAX], key[PV_IDEM_KEY_MAX + 8], decline[24];
    struct pv_charge_rec c;
    struct pv_payment pay;
    pv_mills amount;
    json_t *root;
    int rc;

    if (pv_api_customer_only(who, CUSTOMER_WHY, rp) != PV_OK)
        return;
    if (pv_idem_key_check(rq->idempotency_key, rp) != PV_OK)
        return;
    if (!(root = pv_body_object(rq, funds_fields, rp)))
        return;
    pv_idem_owner(who->owner_id, who->test, owner);
    snprintf(key, sizeof key, "funds:%s", rq->idempotency_key);
    if ((rc = pv_api_request_hash("POST /v1/account/funds\n", root, hash)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    if (funds_replay(st, who, owner, key, hash, rp))
        goto out;
    if (get_money(root, "amount", 1, FUNDS_MIN, FUNDS_MAX, &amount, rp) != PV_OK ||
        pv_api_parse_payment(app, st, who, json_object_get(root, "payment"), 0, &pay, rp) != PV_OK)
        goto out;

    memset(&c, 0, sizeof c);
    snprintf(c.customer_id, sizeof c.customer_id, "%s", who->owner_id);
    c.test = who->test;
    snprintf(c.purpose, sizeof c.purpose, "funds");
    snprintf(c.payment_method_id, sizeof c.payment_method_id, "%s", pay.payment_method_id);
    snprintf(c.brand, sizeof c.brand, "%s", pay.brand);
    snprintf(c.last4, sizeof c.last4, "%s", pay.last4);
    c.amount = amount;
    if ((rc = pv_new_id("top", c.ref)) != PV_OK || (rc = pv_store_begin(st)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    /*
     * Like a purchase batch: the writer lock first (the same lock order as
     * the processors, so no deadlock on PostgreSQL), then the key again, so
     * two retries sent at once charge once and the second is a replay.
     */
    if ((rc = pv_store_lock_writer(st)) != PV_OK) {
        pv_store_rollback(st);
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    if (funds_replay(st, who, owner, key, hash, rp)) {
        pv_store_rollback(st);
        goto out;
    }
    {
        char gw_key[PV_ID_MAX + 8];
        snprintf(gw_key, sizeof gw_key, "funds:%s", c.ref);
        rc = pv_pay_charge(st, pv_pay_gateway(&app->gws, who->test), &c, pay.source, gw_key,
                           "funds_added", decline, pv_now());
    }
    if (rc == PV_OK)
        rc = pv_store_idem_put(st, owner, key, hash, c.ref, pv_now());
    if (rc == PV_OK)
        rc = pv_store_commit(st);
    if (rc != PV_OK) {
        pv_store_rollback(st);
        if (c.id[0])
            pv_pay_void(pv_pay_gateway(&app->gws, who->test), c.id, c.amount);
        if (rc == PV_ECARDDECLINED)
            pv_reply_declined(rp, decline);
        else
            pv_reply_error(rp, rc, rc == PV_ECARDINVALID ? "payment" : NULL, NULL);
        goto out;
    }
    funds_answer(st, who, &c, 201, rp);
out:
    json_decref(root);
}

/* ---- auto-refill ---- */

static json_t *autorefill_json(const struct pv_autorefill_rec *ar)
{
    char t[32], a[32];

    return json_pack("{s:s, s:b, s:s, s:I, s:s, s:I, s:o}", "object", "auto_refill", "enabled",
                     ar->enabled, "trigger", money(ar->trigger, t), "trigger_mills",
                     (json_int_t) ar->trigger, "amount", money(ar->amount, a), "amount_mills",
                     (json_int_t) ar->amount, "payment_method_id",
                     ar->payment_method_id[0] ? json_string(ar->payment_method_id) : json_null());
}

static const char *const refill_fields[] = {"enabled", "trigger", "amount", "payment_method_id",
                                            NULL};

static void auto_refill(struct pv_store *st, const struct pv_principal *who,
                        const struct pv_request *rq, struct pv_reply *rp)
{
    struct pv_autorefill_rec ar;
    struct pv_payment_method_rec pm;
    const char *pmid;
    json_t *root, *en;
    int rc;

    if (pv_api_customer_only(who, CUSTOMER_WHY, rp) != PV_OK)
        return;
    rc = pv_store_autorefill_get(st, who->owner_id, who->test, &ar);
    if (rc == PV_ENOTFOUND) {
        memset(&ar, 0, sizeof ar);
        snprintf(ar.customer_id, sizeof ar.customer_id, "%s", who->owner_id);
        ar.test = who->test;
    } else if (rc != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    if (strcmp(rq->method, "GET") == 0) {
        pv_reply_json(rp, 200, autorefill_json(&ar));
        return;
    }
    if (strcmp(rq->method, "PUT") != 0 && strcmp(rq->method, "POST") != 0) {
        pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
        return;
    }
    if (!(root = pv_body_object(rq, refill_fields, rp)))
        return;
    en = json_object_get(root, "enabled");
    if (!json_is_boolean(en)) {
        pv_reply_error(rp, en ? PV_ETYPE : PV_EMISSING, "enabled", "enabled must be true or false");
        goto out;
    }
    ar.enabled = json_is_true(en);
    rc = get_money(root, "trigger", ar.enabled, 0, FUNDS_MAX, &ar.trigger, rp);
    if (rc != PV_OK && rc != PV_ENOTFOUND)
        goto out;
    rc = get_money(root, "amount", ar.enabled, REFILL_MIN, FUNDS_MAX, &ar.amount, rp);
    if (rc != PV_OK && rc != PV_ENOTFOUND)
        goto out;
    if (pv_body_string(root, "payment_method_id", ar.enabled, PV_ID_MAX - 1, PV_EINVAL, &pmid,
                       rp) != PV_OK)
        goto out;
    if (pmid) {
        rc = pv_store_pm_get(st, who->owner_id, pmid, &pm);
        if (rc == PV_OK && pm.test != who->test)
            rc = PV_ENOTFOUND;
        if (rc != PV_OK) {
            pv_reply_error(rp, rc, "payment_method_id",
                           rc == PV_ENOTFOUND ? "no such saved card" : NULL);
            goto out;
        }
        snprintf(ar.payment_method_id, sizeof ar.payment_method_id, "%s", pmid);
    }
    ar.updated = pv_now();
    if ((rc = pv_store_autorefill_put(st, &ar)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    pv_reply_json(rp, 200, autorefill_json(&ar));
out:
    json_decref(root);
}

/* ---- history ---- */

static void transactions(struct pv_store *st, const struct pv_principal *who,
                         const struct pv_request *rq, struct pv_reply *rp)
{
    struct pv_txn_rec *rows = NULL;
    char acct[PV_ACCOUNT_MAX], id[32], at[32], a[32];
    uint64_t limit = LIST_DEFAULT, before = 0;
    const char *cursor = pv_query_arg(rq, "cursor");
    size_t n = 0, i;
    json_t *arr, *j;
    int rc;

    if (pv_api_customer_only(who, CUSTOMER_WHY, rp) != PV_OK)
        return;
    if (pv_query_arg(rq, "limit") &&
        pv_parse_u64(pv_query_arg(rq, "limit"), 1, LIST_MAX, &limit) != PV_OK) {
        pv_reply_error(rp, PV_ELIMIT, "limit", "limit must be an integer from 1 to 100");
        return;
    }
    if (cursor && (strncmp(cursor, "txn_", 4) != 0 ||
                   pv_parse_u64(cursor + 4, 1, (uint64_t) INT64_MAX, &before) != PV_OK)) {
        pv_reply_error(rp, PV_ECURSOR, "cursor", NULL);
        return;
    }
    pv_account_customer_mode(who->owner_id, who->test, acct);
    if ((rc = pv_store_account_lines(st, acct, (int64_t) before, (size_t) limit + 1, &rows, &n)) !=
        PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n && i < limit; i++) {
        snprintf(id, sizeof id, "txn_%lld", (long long) rows[i].journal_id);
        j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "id", id, "object", "transaction",
                      "kind", rows[i].kind, "ref", rows[i].ref, "amount", money(rows[i].amount, a),
                      "amount_mills", (json_int_t) rows[i].amount, "created",
                      pv_time_format(rows[i].at, at, sizeof at));
        if (json_array_append_new(arr, j) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (n > limit)
        snprintf(id, sizeof id, "txn_%lld", (long long) rows[limit - 1].journal_id);
    pv_reply_json(rp, 200,
                  arr ? json_pack("{s:s, s:o, s:b, s:o}", "object", "list", "data", arr, "has_more",
                                  n > limit, "next_cursor",
                                  n > limit ? json_string(id) : json_null())
                      : NULL);
    free(rows);
}

/* ---- refunds ---- */

static const char *const refund_status[] = {"requested", "approved", "denied"};

static json_t *refund_json(const struct pv_refund_rec *r)
{
    char a[32], req[32], dec[32];

    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:I, s:o, s:s, s:o}", "id", r->id, "object",
                     "refund", "indicium_id", r->indicium_id, "status", refund_status[r->status],
                     "reason", r->reason[0] ? json_string(r->reason) : json_null(), "amount",
                     money(r->amount, a), "amount_mills", (json_int_t) r->amount, "destination",
                     r->destination[0] ? json_string(r->destination) : json_null(), "requested_at",
                     pv_time_format(r->requested_at, req, sizeof req), "decided_at",
                     r->decided_at ? json_string(pv_time_format(r->decided_at, dec, sizeof dec))
                                   : json_null());
}

/* Why rec cannot be refunded now, or NULL. */
static const char *refund_denial(const struct pv_indicium_rec *rec, int64_t now, int64_t window)
{
    if (rec->ind.flags & PV_IND_FLAG_TEST)
        return "test_piece";
    if (rec->refunded_at)
        return "already_refunded";
    if (rec->presentations > 0)
        return "already_scanned";
    if (now - rec->created > window)
        return "window_expired";
    return NULL;
}

/* Approve: credit the balance, then send it on to the card when a card paid. */
static int refund_money(struct pv_app *app, struct pv_store *st, const struct pv_indicium_rec *rec,
                        struct pv_refund_rec *r, int64_t now)
{
    struct pv_ledger_line lines[2];
    struct pv_charge_rec c;
    struct pv_gateway *gw;
    char key[PV_ID_MAX + 8];
    int rc;

    memset(lines, 0, sizeof lines);
    pv_account_mode(PV_ACCT_REVENUE, 0, lines[0].account);
    lines[0].amount = -r->amount;
    pv_account_customer_mode(rec->customer_id, 0, lines[1].account);
    lines[1].amount = r->amount;
    if ((rc = pv_ledger_post(st, "refund", r->id, lines, 2, now)) != PV_OK)
        return rc;
    snprintf(r->destination, sizeof r->destination, "balance");
    rc = pv_store_charge_find(st, "purchase", rec->id, &c);
    if (rc == PV_ENOTFOUND)
        return PV_OK;
    if (rc != PV_OK)
        return rc;
    gw = pv_pay_gateway(&app->gws, c.test);
    /*
     * One key per indicium, not per request: if this transaction fails to
     * commit after the gateway paid, the retry's refund is the same one
     * again at the gateway, never a second. A gateway that does not know the
     * charge (the sandbox of another process, say) leaves the money on the
     * balance, where the customer can spend it; any other failure refuses
     * the refund for now (nothing is written) so that it is retried.
     */
    snprintf(key, sizeof key, "refund:%s", rec->id);
    if (!gw)
        return PV_OK;
    rc = pv_gateway_refund(gw, c.id, r->amount, key, NULL);
    if (rc == PV_ENOTFOUND)
        return PV_OK;
    if (rc != PV_OK)
        return PV_EGATEWAY;
    if ((rc = pv_store_charge_add_refund(st, c.id, r->amount)) != PV_OK)
        return rc;
    lines[0].amount = -r->amount;
    snprintf(lines[0].account, sizeof lines[0].account, "%s", lines[1].account);
    pv_account_mode(PV_ACCT_CLEARING, 0, lines[1].account);
    lines[1].amount = r->amount;
    if ((rc = pv_ledger_post(st, "card_refund", r->id, lines, 2, now)) != PV_OK)
        return rc;
    snprintf(r->destination, sizeof r->destination, "card");
    return PV_OK;
}

static void refund(struct pv_app *app, struct pv_store *st, const struct pv_principal *who,
                   const char *id, const struct pv_request *rq, struct pv_reply *rp)
{
    struct pv_indicium_rec *rec;
    struct pv_refund_rec r;
    const char *why;
    int64_t now = pv_now();
    int rc, attempt;

    if (strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "POST") == 0) {
        if (pv_api_customer_only(who, CUSTOMER_WHY, rp) != PV_OK)
            return;
    } else {
        pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
        return;
    }
    if (!(rec = malloc(sizeof *rec))) {
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        return;
    }
    if (pv_api_own_indicium(st, who, id, rec, rp) != PV_OK)
        goto out;
    if (strcmp(rq->method, "GET") == 0) {
        rc = pv_store_refund_latest(st, id, &r);
        if (rc != PV_OK)
            pv_reply_error(rp, rc, NULL, rc == PV_ENOTFOUND ? "no refund was requested" : NULL);
        else
            pv_reply_json(rp, 200, refund_json(&r));
        goto out;
    }
    for (attempt = 0; attempt < 2; attempt++) {
        memset(&r, 0, sizeof r);
        if ((rc = pv_new_id("rfd", r.id)) != PV_OK || (rc = pv_store_begin(st)) != PV_OK)
            break;
        /* The processors' lock order: no deadlock with purchases on PostgreSQL. */
        if ((rc = pv_store_lock_writer(st)) != PV_OK) {
            pv_store_rollback(st);
            break;
        }
        /* Read again inside the transaction: a scan or refund may have come since. */
        if ((rc = pv_store_indicium_get(st, id, rec)) != PV_OK) {
            pv_store_rollback(st);
            break;
        }
        snprintf(r.indicium_id, sizeof r.indicium_id, "%s", rec->id);
        snprintf(r.customer_id, sizeof r.customer_id, "%s", rec->customer_id);
        r.amount = rec->ind.postage_mills;
        r.requested_at = r.decided_at = now;
        why = refund_denial(rec, now, app->refund_window_s);
        if (why) {
            r.status = PV_REFUND_DENIED;
            snprintf(r.reason, sizeof r.reason, "%s", why);
            /* The approved refund stays the indicium's latest word on it. */
            rc = strcmp(why, "already_refunded") == 0 ? PV_OK : pv_store_refund_insert(st, &r);
        } else {
            r.status = PV_REFUND_APPROVED;
            if ((rc = pv_store_indicium_mark_refunded(st, rec->id, now)) == PV_OK &&
                (rc = refund_money(app, st, rec, &r, now)) == PV_OK)
                rc = pv_store_refund_insert(st, &r);
        }
        if (rc == PV_OK)
            rc = pv_store_commit(st);
        if (rc == PV_OK)
            break;
        pv_store_rollback(st);
        if (rc != PV_EEXIST) /* a concurrent refund won: decide again, it is denied */
            break;
    }
    if (rc != PV_OK)
        pv_reply_error(rp, rc, NULL, NULL);
    else
        pv_reply_json(rp, r.status == PV_REFUND_APPROVED ? 201 : 200, refund_json(&r));
out:
    free(rec);
}

/* ---- routing ---- */

int pv_api_public(struct pv_app *app, struct pv_store *st, const struct pv_request *rq,
                  struct pv_reply *rp)
{
    int post = strcmp(rq->method, "POST") == 0;

    if (strcmp(rq->path, "/v1/signup") == 0) {
        if (post)
            post_signup(st, rq, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
        return 1;
    }
    if (strcmp(rq->path, "/v1/login") == 0) {
        if (post)
            post_login(app, st, rq, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
        return 1;
    }
    return 0;
}

int pv_api_account_route(struct pv_app *app, struct pv_store *st, const struct pv_principal *who,
                         const struct pv_request *rq, struct pv_reply *rp)
{
    const char *p = rq->path, *m = rq->method;
    char id[PV_ID_MAX];

    if (strcmp(p, "/v1/logout") == 0) {
        if (strcmp(m, "POST") == 0)
            post_logout(st, who, rq, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
    } else if (strcmp(p, "/v1/session") == 0) {
        if (strcmp(m, "GET") == 0)
            get_session(st, who, rq, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
    } else if (strcmp(p, "/v1/account/api-keys") == 0) {
        api_keys(st, who, NULL, rq, rp);
    } else if (pv_api_path_id(p, "/v1/account/api-keys/", NULL, id)) {
        api_keys(st, who, id, rq, rp);
    } else if (strcmp(p, "/v1/payment-methods") == 0) {
        payment_methods(app, st, who, NULL, rq, rp);
    } else if (pv_api_path_id(p, "/v1/payment-methods/", NULL, id)) {
        payment_methods(app, st, who, id, rq, rp);
    } else if (strcmp(p, "/v1/account/funds") == 0) {
        if (strcmp(m, "POST") == 0)
            post_funds(app, st, who, rq, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
    } else if (strcmp(p, "/v1/account/auto-refill") == 0) {
        auto_refill(st, who, rq, rp);
    } else if (strcmp(p, "/v1/account/transactions") == 0) {
        if (strcmp(m, "GET") == 0)
            transactions(st, who, rq, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
    } else if (pv_api_path_id(p, "/v1/indicia/", "/refund", id)) {
        refund(app, st, who, id, rq, rp);
    } else {
        return 0;
    }
    return 1;
}
