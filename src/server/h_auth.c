/*
 * h_auth.c - who the caller is (docs/api.md): sign-up, login, logout and
 * sessions, the account itself, API keys, and authenticating every request
 * by its key or session cookie (with its CSRF token and rate limits).
 */
#include "server/h_auth.h"

#include "domain/account.h"
#include "domain/ledger.h"
#include "domain/password.h"
#include "server/keycache.h"
#include "server/ratelimit.h"
#include "stampd/card.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SESSION_COOKIE "stampd_session"
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
    if (who->role == PV_ROLE_POSTAL) {
        char name[PV_POSTAL_NAME_MAX];

        if ((rc = pv_store_postal_get(st, who->owner_id, name)) != PV_OK)
            pv_reply_error(rp, rc, NULL, NULL);
        else
            pv_reply_json(
                rp, 200,
                json_pack("{s:s, s:s, s:s}", "id", who->owner_id, "role", "postal", "name", name));
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

/* The role's name in answers: "customer", "operator" or "postal". */
static const char *role_name(int role)
{
    return role == PV_ROLE_OPERATOR ? "operator" : role == PV_ROLE_POSTAL ? "postal" : "customer";
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
        /* Refused here at once; the other fronts forget it when the trigger's word comes. */
        pv_keycache_forget(c->app->keys);
        if (rc != PV_OK)
            pv_reply_error(rp, rc, rc == PV_ENOTFOUND ? "id" : NULL,
                           rc == PV_ENOTFOUND ? "no such active API key" : NULL);
        else
            pv_reply_json(
                rp, 200, json_pack("{s:s, s:s, s:b}", "id", id, "object", "api_key", "revoked", 1));
        return;
    }
    rp->collect = 1; /* every bad field listed */
    if (!(root = pv_body_object(rq, key_fields, rp)))
        return;
    pv_body_string(root, "name", 0, PV_KEYNAME_MAX - 1, PV_EINVAL, &name, rp);
    if (pv_body_string(root, "mode", 0, 8, PV_EINVAL, &mode, rp) == PV_OK && mode &&
        strcmp(mode, "live") != 0 && strcmp(mode, "test") != 0)
        pv_reply_error(rp, PV_EINVAL, "mode", "mode must be \"live\" or \"test\"");
    if (pv_reply_failed(rp))
        goto out;
    test = mode && strcmp(mode, "test") == 0;
    if (test && who->role != PV_ROLE_CUSTOMER) {
        pv_reply_error(rp, PV_EINVAL, "mode", "operator and postal keys are live keys");
        goto out;
    }
    rc = pv_apikey_mint(st, who->role, who->owner_id, test, name, pv_now(), key, &rec);
    if (rc != PV_OK) {
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

static int secure_request(const struct pv_request *rq)
{
    const char *proto = rq->header ? rq->header(rq->arg_ctx, "X-Forwarded-Proto") : NULL;

    return rq->tls || (proto && strcasecmp(proto, "https") == 0);
}

static void set_cookie(const struct pv_request *rq, struct pv_reply *rp, const char *token,
                       int max_age)
{
    snprintf(rp->set_cookie, sizeof rp->set_cookie,
             SESSION_COOKIE "=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s", token, max_age,
             secure_request(rq) ? "; Secure" : "");
}

/*
 * Answer status with the session of *in (its cookie, who it is, email as
 * typed) and the API key minted with it, shown this once; the key's secret
 * in *in is wiped.
 */
static void answer_session(struct pv_login *in, const char *email, int status,
                           const struct pv_request *rq, struct pv_reply *rp)
{
    const struct pv_session_rec *s = &in->session;
    char expires[32];
    json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "id", s->owner_id, "role", role_name(s->role),
                          "csrf_token", s->csrf, "expires",
                          pv_time_format(s->expires, expires, sizeof expires));
    json_t *kj = NULL;

    /* The postal authority's accounts have a name where the others have an email. */
    if (j &&
        (s->role == PV_ROLE_POSTAL ? json_object_set_new(j, "name", json_string(email))
                                   : json_object_set_new(j, "email", json_string(email))) != 0) {
        json_decref(j);
        j = NULL;
    }

    if (j && in->has_key) {
        kj = key_json(&in->key_rec);
        if (kj && json_object_set_new(kj, "key", json_string(in->key)) != 0) {
            json_decref(kj);
            kj = NULL;
        }
        if (!kj || json_object_set_new(j, "api_key", kj) != 0) {
            json_decref(j);
            j = NULL;
        }
    }
    pv_card_wipe(in->key, sizeof in->key);
    set_cookie(rq, rp, in->token, PV_SESSION_TTL_S);
    pv_reply_json(rp, status, j);
}

int pv_auth_authenticate(struct pv_app *app, struct pv_store *st, const struct pv_request *rq,
                         struct pv_principal *who, struct pv_reply *rp)
{
    struct pv_session_rec s;
    char token[SESSION_ID_MAX];
    int64_t now_ms = pv_now_ms();
    int rc, wait;

    memset(who, 0, sizeof *who);
    if (pv_ratelimit_check(app->limits, rq->remote, now_ms, &wait) != PV_OK) {
        pv_reply_error(rp, PV_ERATELIMIT, NULL, NULL);
        rp->retry_after = wait;
        return PV_ERATELIMIT;
    }
    if (rq->authorization) {
        rc = strncasecmp(rq->authorization, "Bearer ", 7) == 0
                 ? pv_keycache_lookup(app->keys, st, rq->authorization + 7, who)
                 : PV_EUNAUTH;
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
    rc = pv_session_lookup(st, token, pv_now(), &s);
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
    if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0 &&
        pv_session_csrf(&s, rq->header ? rq->header(rq->arg_ctx, "X-CSRF-Token") : NULL) != PV_OK) {
        pv_reply_error(rp, PV_ECSRF, "X-CSRF-Token", NULL);
        return PV_ECSRF;
    }
    who->role = s.role;
    pv_str_copy(who->owner_id, sizeof who->owner_id, s.owner_id);
    who->session = 1;
    return PV_OK;
}

static const char *const signup_fields[] = {"email", "password", "api_key", NULL};

static const char *const login_fields[] = {"email", "name", "password", "role", "api_key", NULL};

/*
 * The optional "api_key": {"name": ..., "mode": "live"|"test"} of sign-up and
 * login: programs without cookies (the stamp CLI) log in and mint a key in
 * one step. Checked before the account is touched; *want 0 when absent.
 */
static int api_key_request(json_t *root, int role, struct pv_key_wish *kw, struct pv_reply *rp)
{
    json_t *o = json_object_get(root, "api_key"), *v;
    const char *k, *mode = NULL;

    memset(kw, 0, sizeof *kw);
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
    if (pv_body_string(o, "name", 0, PV_KEYNAME_MAX - 1, PV_EINVAL, &kw->name, rp) != PV_OK ||
        pv_body_string(o, "mode", 0, 8, PV_EINVAL, &mode, rp) != PV_OK)
        return PV_EINVAL;
    if (mode && strcmp(mode, "live") != 0 &&
        (strcmp(mode, "test") != 0 || role != PV_ROLE_CUSTOMER)) {
        pv_reply_error(rp, PV_EINVAL, "api_key.mode",
                       "api_key.mode must be \"live\" or (customers) \"test\"");
        return PV_EINVAL;
    }
    kw->test = mode && strcmp(mode, "test") == 0;
    kw->want = 1;
    return PV_OK;
}

void pv_h_signup(struct pv_call *call)
{
    const struct pv_request *rq = call->rq;
    struct pv_reply *rp = call->rp;
    struct pv_key_wish kw;
    struct pv_login login;
    char id[PV_ID_MAX];
    const char *email, *password;
    json_t *root;
    int rc, wait;

    rp->collect = 1; /* every bad field listed */
    if (!(root = pv_body_object(rq, signup_fields, rp)))
        return;
    api_key_request(root, PV_ROLE_CUSTOMER, &kw, rp);
    pv_body_string(root, "email", 1, 254, PV_EEMAIL, &email, rp);
    pv_body_string(root, "password", 1, PV_PASSWORD_MAX * 4, PV_EPASSWORD, &password, rp);
    if (pv_reply_failed(rp))
        goto out;
    /* Every sign-up costs an argon2id hash (and maybe an account): a budget
     * per source, spent before the work. */
    if (pv_ratelimit_reserve(call->app->signups, rq->remote, pv_now_ms(), &wait) != PV_OK) {
        pv_reply_error(rp, PV_ERATELIMIT, NULL, "too many sign-ups from this address; try later");
        rp->retry_after = wait;
        goto out;
    }
    rc = pv_account_signup(call->st, email, password, &kw, pv_now(), id, &login);
    if (rc == PV_EEMAIL)
        pv_reply_error(rp, rc, "email", NULL);
    else if (rc == PV_EPASSWORD || rc == PV_EEXIST)
        /* One answer, after the same work: sign-up must not tell who has an
         * account (docs/api.md, "Sign-up and existing accounts"). */
        pv_reply_error(rp, PV_ESIGNUP, "password", NULL);
    else if (rc != PV_OK)
        pv_reply_error(rp, rc, NULL, NULL);
    else
        answer_session(&login, email, 201, rq, rp);
out:
    json_decref(root);
}

/*
 * Who logs in: customers and operators by email, the postal authority's
 * accounts by name (they have a name where the others have an email); the
 * other field is refused rather than ignored. *id borrows from root.
 */
static int login_id(json_t *root, int role, const char **id, struct pv_reply *rp)
{
    const char *mine = role == PV_ROLE_POSTAL ? "name" : "email";
    const char *other = role == PV_ROLE_POSTAL ? "email" : "name";

    if (json_object_get(root, other)) {
        pv_reply_error(rp, PV_EINVAL, other,
                       role == PV_ROLE_POSTAL ? "a postal account logs in by name, not email"
                                              : "customers and operators log in by email");
        return PV_EINVAL;
    }
    return role == PV_ROLE_POSTAL
               ? pv_body_string(root, mine, 1, PV_POSTAL_NAME_MAX - 1, PV_ELOGIN, id, rp)
               : pv_body_string(root, mine, 1, 254, PV_EEMAIL, id, rp);
}

void pv_h_login(struct pv_call *c)
{
    struct pv_app *app = c->app;
    struct pv_store *st = c->st;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    struct pv_key_wish kw;
    struct pv_login login;
    const char *email, *password, *role_name = NULL;
    char owner[PV_ID_MAX];
    int64_t now_ms = pv_now_ms();
    json_t *root;
    int rc, role = PV_ROLE_CUSTOMER, wait;

    if (pv_ratelimit_check(app->limits, rq->remote, now_ms, &wait) != PV_OK) {
        pv_reply_error(rp, PV_ERATELIMIT, NULL, NULL);
        rp->retry_after = wait;
        return;
    }
    rp->collect = 1; /* every bad field listed */
    if (!(root = pv_body_object(rq, login_fields, rp)))
        return;
    pv_body_string(root, "role", 0, 16, PV_EINVAL, &role_name, rp);
    if (role_name && strcmp(role_name, "operator") == 0)
        role = PV_ROLE_OPERATOR;
    else if (role_name && strcmp(role_name, "postal") == 0)
        role = PV_ROLE_POSTAL;
    else if (role_name && strcmp(role_name, "customer") != 0)
        pv_reply_error(rp, PV_EINVAL, "role",
                       "role must be \"customer\", \"operator\" or \"postal\"");
    login_id(root, role, &email, rp);
    pv_body_string(root, "password", 1, PV_PASSWORD_MAX * 4, PV_ELOGIN, &password, rp);
    api_key_request(root, role, &kw, rp);
    if (pv_reply_failed(rp))
        goto out;
    /* The attempt counts from here, before the slow verify, so parallel
     * guesses cannot all slip through one check. */
    if (pv_ratelimit_reserve(app->limits, rq->remote, now_ms, &wait) != PV_OK) {
        pv_reply_error(rp, PV_ERATELIMIT, NULL, NULL);
        rp->retry_after = wait;
        goto out;
    }
    rc = pv_account_check_password(st, role, email, password, owner);
    if (rc == PV_ELOGIN) {
        pv_reply_error(rp, rc, NULL, role == PV_ROLE_POSTAL ? "name or password is wrong" : NULL);
        goto out;
    }
    /* A store error is our fault, not theirs; and a good password was no
     * failure. Earlier failures stay: a login to one's own account must not
     * launder guesses at others'. */
    pv_ratelimit_release(app->limits, rq->remote, now_ms);
    if (rc == PV_OK)
        rc = pv_account_open_session(st, role, owner, &kw, pv_now(), &login);
    if (rc != PV_OK)
        pv_reply_error(rp, rc, NULL, NULL);
    else
        answer_session(&login, email, 200, rq, rp);
out:
    json_decref(root);
}

void pv_h_logout(struct pv_call *c)
{
    struct pv_store *st = c->st;
    const struct pv_principal *who = c->who;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    char token[SESSION_ID_MAX];
    int rc;

    if (!who->session || !session_cookie(rq, token)) {
        pv_reply_error(rp, PV_EINVAL, NULL, "logout ends a web session; revoke API keys instead");
        return;
    }
    if ((rc = pv_session_delete(st, token)) != PV_OK && rc != PV_ENOTFOUND) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    set_cookie(rq, rp, "", 0);
    pv_reply_json(rp, 200, json_pack("{s:b}", "logged_out", 1));
}

/*
 * GET /v1/account/sessions: the caller's web sessions; DELETE
 * /v1/account/sessions/{id}: end one (the caller's own = log out).
 */
void pv_h_sessions(struct pv_call *call)
{
    const struct pv_principal *who = call->who;
    const struct pv_request *rq = call->rq;
    struct pv_reply *rp = call->rp;
    struct pv_session_view *v = NULL;
    char token[SESSION_ID_MAX], created[32], expires[32];
    const char *cur = who->session && session_cookie(rq, token) ? token : NULL;
    json_t *arr;
    size_t n = 0, i;
    int rc, was_current;

    if (!call->id) {
        if ((rc = pv_session_list(call->st, who->role, who->owner_id, cur, pv_now(), &v, &n)) !=
            PV_OK) {
            pv_reply_error(rp, rc, NULL, NULL);
            return;
        }
        arr = json_array();
        for (i = 0; arr && i < n; i++)
            if (json_array_append_new(
                    arr, json_pack("{s:s, s:s, s:s, s:s, s:b}", "id", v[i].id, "object", "session",
                                   "created", pv_time_format(v[i].created, created, sizeof created),
                                   "expires", pv_time_format(v[i].expires, expires, sizeof expires),
                                   "current", v[i].current)) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        free(v);
        pv_reply_json(rp, 200, arr ? json_pack("{s:s, s:o}", "object", "list", "data", arr) : NULL);
        return;
    }
    /* Like API keys: a test key is for trying things, not for the account. */
    if (who->test) {
        pv_reply_error(rp, PV_EFORBIDDEN, NULL, "test keys cannot end sessions");
        return;
    }
    rc = pv_session_end(call->st, who->role, who->owner_id, call->id, cur, pv_now(), &was_current);
    if (rc == PV_ENOTFOUND) {
        pv_reply_error(rp, rc, "id", "no such session");
        return;
    }
    if (rc != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    if (was_current)
        set_cookie(rq, rp, "", 0);
    pv_reply_json(rp, 200,
                  json_pack("{s:s, s:s, s:b}", "id", call->id, "object", "session", "ended", 1));
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
    char token[SESSION_ID_MAX], email[256] = "";
    json_t *j;
    int rc;

    if (who->role == PV_ROLE_CUSTOMER) {
        rc = pv_store_customer_get(st, who->owner_id, &c);
        pv_str_copy(email, sizeof email, rc == PV_OK ? c.email : "");
    } else if (who->role == PV_ROLE_POSTAL) {
        /* A postal account has a name, no email. */
        rc = pv_store_postal_get(st, who->owner_id, email);
    } else {
        rc = pv_store_operator_get(st, who->owner_id, email);
    }
    if (rc != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    s.csrf[0] = '\0';
    if (who->session && session_cookie(rq, token) &&
        pv_session_lookup(st, token, pv_now(), &s) != PV_OK)
        s.csrf[0] = '\0';
    j = json_pack("{s:s, s:s, s:s, s:o}", "id", who->owner_id, "role", role_name(who->role), "mode",
                  who->test ? "test" : "live", "csrf_token",
                  s.csrf[0] ? json_string(s.csrf) : json_null());
    /* A postal account has a name where the others have an email. */
    if (j && who->role == PV_ROLE_POSTAL)
        rc = json_object_set_new(j, "name", json_string(email));
    else if (j)
        rc = json_object_set_new(j, "email", json_string(email));
    if (j && rc != 0) {
        json_decref(j);
        j = NULL;
    }
    pv_reply_json(rp, 200, j);
}
