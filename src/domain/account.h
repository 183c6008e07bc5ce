/*
 * account.h - who may act: customers and operators, their passwords, API
 * keys and web sessions (docs/api.md, "Authentication").
 *
 * API keys are "sk_live_" or "sk_test_" (the postal authority's:
 * "sk_postal_") and 32 random base32 characters;
 * only their SHA-256 hex is stored. A web session is a random token in a
 * cookie (stored as its SHA-256 hex) with a CSRF token that every state
 * change must echo. Sign-up, login and account creation write the account,
 * its session and the key asked for together, or nothing.
 *
 * Functions that say "inside the caller's transaction" do not begin or
 * commit; the others do what they write in one transaction of their own.
 */
#ifndef STAMPD_ACCOUNT_H
#define STAMPD_ACCOUNT_H

#include "store/store.h"

#define PV_SESSION_TTL_S   (12 * 3600)  /* a web session lasts this long */
#define PV_APIKEY_LEN      40           /* "sk_live_" + 32 characters */
#define PV_APIKEY_POSTAL   "sk_postal_" /* the postal authority's keys: 42 characters */
#define PV_APIKEY_MAX      128          /* longest bearer token looked up */
#define PV_APIKEY_CLI_NAME "created by stampd"

/* An API key asked for with a sign-up or login ("api_key": {name, mode}). */
struct pv_key_wish {
    int want;
    const char *name; /* borrowed; NULL = no name */
    int test;         /* an sk_test_ key (customers only) */
};

/* What a sign-up or login opened: the session and, when wished, a key. */
struct pv_login {
    struct pv_session_rec session;
    char token[PV_ID_MAX]; /* the session cookie's value: shown once */
    int has_key;
    char key[64]; /* the API key's secret: shown once; wipe it (pv_card_wipe) */
    struct pv_apikey_rec key_rec;
};

/* pv_email_valid - 1 when e (borrowed, may be NULL) looks like a deliverable address. */
int pv_email_valid(const char *e);

/* pv_token_hash - the SHA-256 hex under which a key or session token (borrowed) is stored. */
void pv_token_hash(const char *token, char hex[PV_HASH_HEX]);

/*
 * pv_apikey_mint - a new API key for (role, owner) in test or live mode
 * named name (borrowed; NULL = ""), created at now: the secret into key
 * (NUL-terminated, shown once: wipe it), the stored record into *rec.
 * PV_EINVAL for a test key of an operator; PV_ECRYPTO; store errors
 * (PV_EEXIST).
 */
int pv_apikey_mint(struct pv_store *st, int role, const char *owner, int test, const char *name,
                   int64_t now, char key[64], struct pv_apikey_rec *rec);

/*
 * pv_apikey_hash - the hash under which a bearer token key (borrowed) is
 * stored, into hex; PV_EUNAUTH for a malformed token (under 8 or over
 * PV_APIKEY_MAX characters, or not printable ASCII).
 */
int pv_apikey_hash(const char *key, char hex[PV_HASH_HEX]);

/*
 * pv_apikey_lookup - the principal whose active key is the bearer token
 * key (borrowed). PV_EUNAUTH for a malformed token (under 8 or over
 * PV_APIKEY_MAX characters, or not printable ASCII), PV_ENOTFOUND for a
 * well-formed token that is no active key (a guess), store errors.
 */
int pv_apikey_lookup(struct pv_store *st, const char *key, struct pv_principal *who);

/*
 * pv_session_create - a new session for (role, owner) from now for
 * PV_SESSION_TTL_S: stored, into *s, its token into token. PV_ECRYPTO,
 * store errors.
 */
int pv_session_create(struct pv_store *st, int role, const char *owner, int64_t now,
                      struct pv_session_rec *s, char token[PV_ID_MAX]);

/* pv_session_lookup - the session of token (borrowed) at now. PV_ENOTFOUND when
 * unknown or expired; store errors. */
int pv_session_lookup(struct pv_store *st, const char *token, int64_t now,
                      struct pv_session_rec *s);

/* pv_session_csrf - PV_OK when csrf (borrowed, may be NULL) is s's CSRF token
 * (compared in constant time), else PV_ECSRF. */
int pv_session_csrf(const struct pv_session_rec *s, const char *csrf);

/* pv_session_delete - end the session of token (borrowed). PV_ENOTFOUND, store errors. */
int pv_session_delete(struct pv_store *st, const char *token);

/*
 * A session as its owner sees it (GET /v1/account/sessions): a handle that
 * names it without being a secret - "ses_" and 20 hex digits of the SHA-256
 * of the stored hash, so neither the token nor its stored hash is shown.
 */
#define PV_SESSION_HANDLE 25 /* "ses_" + 20 hex + NUL */
struct pv_session_view {
    char id[PV_SESSION_HANDLE];
    int64_t created, expires;
    int current; /* the session of current_token */
};

/*
 * pv_session_list - the unexpired sessions of (role, owner) at now, newest
 * first (at most 100); current_token (borrowed; NULL = none) marks the
 * caller's own. *out owned (free()), *n of them. Store errors.
 */
int pv_session_list(struct pv_store *st, int role, const char *owner, const char *current_token,
                    int64_t now, struct pv_session_view **out, size_t *n);

/*
 * pv_session_end - end the session of (role, owner) whose handle is id
 * (borrowed); *was_current set when it is the session of current_token
 * (borrowed; NULL = none). PV_ENOTFOUND (no such unexpired session of
 * theirs), store errors.
 */
int pv_session_end(struct pv_store *st, int role, const char *owner, const char *id,
                   const char *current_token, int64_t now, int *was_current);

/*
 * pv_account_signup - a new customer with email and password (borrowed),
 * its session and the key of *kw (borrowed; may be NULL), in one
 * transaction. The customer's id into customer_id, the tokens into *out.
 * PV_EEMAIL, PV_EPASSWORD (policy), PV_EINVAL (a test key for no
 * customer), PV_EEXIST (the email has an account), PV_ECRYPTO, store
 * errors. PV_EPASSWORD and PV_EEXIST come after the same argon2id work,
 * so that a caller answering both alike (docs/api.md, sign-up) does not
 * tell by the time which one it was.
 */
int pv_account_signup(struct pv_store *st, const char *email, const char *password,
                      const struct pv_key_wish *kw, int64_t now, char customer_id[PV_ID_MAX],
                      struct pv_login *out);

/*
 * pv_account_check_password - the owner of (role, email) when password is
 * theirs, into owner. PV_ELOGIN for a wrong password or an unknown email,
 * after the same work either way; store errors (not the caller's fault).
 */
int pv_account_check_password(struct pv_store *st, int role, const char *email,
                              const char *password, char owner[PV_ID_MAX]);

/*
 * pv_account_open_session - the session of a login of (role, owner) and the
 * key of *kw (may be NULL), both or neither, in one transaction. PV_EINVAL
 * (a test key for an operator), PV_ECRYPTO, store errors.
 */
int pv_account_open_session(struct pv_store *st, int role, const char *owner,
                            const struct pv_key_wish *kw, int64_t now, struct pv_login *out);

/*
 * pv_account_password_in - inside the caller's transaction: the web password
 * (borrowed; NULL = none, nothing happens) of the new account id of role,
 * hashed with argon2id. PV_ENOTFOUND (no such account), PV_ENOMEM, store errors.
 * The caller checked pv_password_policy.
 */
int pv_account_password_in(struct pv_store *st, int role, const char *id, const char *password);

/*
 * pv_account_create_customer - inside the caller's transaction: a customer
 * with email, an opening balance (>= 0; journal "balance_grant" from
 * funding:manual when > 0), the password when not NULL, and a live key
 * named PV_APIKEY_CLI_NAME (secret into key: wipe it). Its id into id.
 * PV_EEMAIL, PV_EAMOUNT, PV_EPASSWORD, PV_EEXIST (email), store errors.
 */
int pv_account_create_customer(struct pv_store *st, const char *email, pv_mills balance,
                               const char *password, int64_t now, char id[PV_ID_MAX], char key[64]);

/* pv_account_create_operator - the same for an operator (no balance). */
int pv_account_create_operator(struct pv_store *st, const char *email, const char *password,
                               int64_t now, char id[PV_ID_MAX], char key[64]);

/*
 * pv_account_create - stampd customer|operator create: the customer
 * (role PV_ROLE_CUSTOMER) or operator (PV_ROLE_OPERATOR, balance 0) of
 * pv_account_create_customer / _operator, in one transaction of its own,
 * committed when it succeeds (all borrowed; id and key as there, both
 * empty unless it committed). Their errors; PV_EINVAL for another role or
 * an operator's balance.
 */
int pv_account_create(struct pv_store *st, int role, const char *email, pv_mills balance,
                      const char *password, int64_t now, char id[PV_ID_MAX], char key[64]);

/*
 * pv_account_set_password - set (or reset) the password of the customer or
 * operator (role) with email. Its id into owner. PV_EPASSWORD (policy,
 * checked first), PV_ENOTFOUND (no such account), store errors.
 */
int pv_account_set_password(struct pv_store *st, int role, const char *email, const char *password,
                            char owner[PV_ID_MAX]);

#endif
