/*
 * h_auth.c - who the caller is (docs/api.md): sign-up, login, logout and
 * sessions, the account itself, API keys, and authenticating every request
 * by its key or session cookie (with its CSRF token and rate limits).
 */
#include "server/h_auth.h"

#include "crypto/crypto.h"
#include "domain/ledger.h"
#include "domain/password.h"
#include "server/ratelimit.h"
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
#define SESSION_ID_MAX 48

void pv_h_account(struct pv_call *call)
{
    struct pv_store *st = call->st;
    const struct pv_principal *who = call->who;
    struct pv_reply *rp = call->rp;
    struct pv_customer_rec c;
    char acct[PV_ACCOUNT_MAX], money[32];
    pv_mills bal;
    int rc;

    if (who->role == PV_ROLE_OPERATOR) {
        pv_reply_json(rp, 200, json_pack("{s:s, s:s}", "id", who->owner_id, "role", "operator"));
        return;
    }
    if ((rc = pv_store_customer_get(st, who->owner_id, &c)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    pv_account_customer_mode(c.id, who->test, acct);
    if ((rc = pv_balance(st, acct, &bal)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    pv_reply_json(rp, 200,
                  json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "id", c.id, "role", "customer",
                            "email", c.email, "balance_mills", (json_int_t) bal, "balance",
                            pv_money_format(bal, money, sizeof money), "mode",
                            who->test ? "test" : "live"));
}

int pv_auth_email_ok(const char *e)
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

int pv_auth_new_key(struct pv_store *st, int role, const char *owner, int test, const char *name,
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

void pv_h_api_keys(struct pv_call *c)
{
    struct pv_store *st = c->st;
    const struct pv_principal *who = c->who;
    const char *id = c->id;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
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
    /* The route table lets only POST of the list and DELETE of one key on. */
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
    if ((rc = pv_auth_new_key(st, who->role, who->owner_id, test, name, key, &rec)) != PV_OK) {
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
        if ((rc = pv_auth_new_key(st, role, owner, key_test, key_name, key, &rec)) != PV_OK)
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

int pv_auth_authenticate(struct pv_app *app, struct pv_store *st, const struct pv_request *rq,
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

void pv_h_signup(struct pv_call *call)
{
    struct pv_store *st = call->st;
    const struct pv_request *rq = call->rq;
    struct pv_reply *rp = call->rp;
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
    if (!pv_auth_email_ok(email)) {
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

void pv_h_login(struct pv_call *c)
{
    struct pv_app *app = c->app;
    struct pv_store *st = c->st;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
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

void pv_h_logout(struct pv_call *c)
{
    struct pv_store *st = c->st;
    const struct pv_principal *who = c->who;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
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
void pv_h_session(struct pv_call *call)
{
    struct pv_store *st = call->st;
    const struct pv_principal *who = call->who;
    const struct pv_request *rq = call->rq;
    struct pv_reply *rp = call->rp;
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
