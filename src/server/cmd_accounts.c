/*
 * cmd_accounts.c - accounts from the command line: stampd customer|operator
 * create (with an opening balance, an API key and, from STAMPD_PASSWORD, a
 * web password) and stampd customer|operator set-password.
 */
#include "server/cmd_accounts.h"

#include "domain/account.h"
#include "domain/ledger.h"
#include "domain/password.h"
#include "server/cmd.h"
#include "server/h_auth.h"
#include "stampd/card.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A new live API key; only its hash is stored (pv_apikey_mint). */
static int new_api_key(struct pv_store *st, int role, const char *owner, char key[64])
{
    struct pv_apikey_rec rec;

    return pv_apikey_mint(st, role, owner, 0, PV_APIKEY_CLI_NAME, pv_now(), key, &rec);
}

/* The password in STAMPD_PASSWORD, if set, for a new account (hashed). */
static int set_password_env(struct pv_store *st, int role, const char *id, const char *fallback)
{
    const char *pw = getenv("STAMPD_PASSWORD");
    char hash[PV_PWHASH_MAX];
    int rc;

    if (!pw || !*pw)
        pw = fallback;
    if (!pw)
        return PV_OK;
    if ((rc = pv_password_hash(pw, hash)) != PV_OK)
        return rc;
    return pv_store_password_set(st, role, id, hash);
}

static int grant_balance(struct pv_store *st, const char *customer_id, pv_mills amount)
{
    struct pv_ledger_line lines[2];

    if (amount == 0)
        return PV_OK;
    memset(lines, 0, sizeof lines);
    snprintf(lines[0].account, sizeof lines[0].account, "%s", PV_ACCT_FUNDING);
    lines[0].amount = -amount;
    pv_account_customer(customer_id, lines[1].account);
    lines[1].amount = amount;
    return pv_ledger_post(st, "balance_grant", customer_id, lines, 2, pv_now());
}

/* Inside a transaction: a customer with an opening balance and a key. */
int pv_cmd_create_customer(struct pv_store *st, const char *email, pv_mills balance,
                           const char *password, char id[PV_ID_MAX], char key[64])
{
    struct pv_customer_rec c;
    int rc;

    memset(&c, 0, sizeof c);
    if ((rc = pv_new_id("cus", c.id)) != PV_OK)
        return rc;
    snprintf(c.email, sizeof c.email, "%s", email);
    c.created = pv_now();
    if ((rc = pv_store_customer_insert(st, &c)) != PV_OK ||
        (rc = grant_balance(st, c.id, balance)) != PV_OK ||
        (rc = set_password_env(st, PV_ROLE_CUSTOMER, c.id, password)) != PV_OK ||
        (rc = new_api_key(st, PV_ROLE_CUSTOMER, c.id, key)) != PV_OK)
        return rc;
    memcpy(id, c.id, PV_ID_MAX);
    return PV_OK;
}

int pv_cmd_create_operator(struct pv_store *st, const char *email, const char *password,
                           char id[PV_ID_MAX], char key[64])
{
    int rc;

    if ((rc = pv_new_id("op", id)) != PV_OK ||
        (rc = pv_store_operator_insert(st, id, email, pv_now())) != PV_OK ||
        (rc = set_password_env(st, PV_ROLE_OPERATOR, id, password)) != PV_OK)
        return rc;
    return new_api_key(st, PV_ROLE_OPERATOR, id, key);
}

int pv_cmd_create(const struct opts *o, int customer)
{
    struct pv_store *st = NULL;
    char id[PV_ID_MAX], key[64];
    pv_mills balance = 0;
    int rc;

    if (!pv_email_valid(o->email)) {
        fprintf(stderr, "stampd: --email must be an email address\n");
        return 2;
    }
    if (o->balance && (!customer || pv_money_parse(o->balance, &balance) != PV_OK)) {
        fprintf(stderr, "stampd: --balance must be a dollar amount (customers only)\n");
        return 2;
    }
    if (!pv_cmd_db_exists(o->db))
        return 1;
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK)
        return pv_cmd_fail("open database", rc);
    if ((rc = pv_store_begin(st)) == PV_OK) {
        rc = customer ? pv_cmd_create_customer(st, o->email, balance, NULL, id, key)
                      : pv_cmd_create_operator(st, o->email, NULL, id, key);
        if (rc == PV_OK)
            rc = pv_store_commit(st);
        else
            pv_store_rollback(st);
    }
    pv_store_close(st);
    if (rc != PV_OK)
        return pv_cmd_fail(rc == PV_EEXIST ? "email already registered" : "create", rc);
    fprintf(stderr, "stampd: created %s %s (%s)\n", customer ? "customer" : "operator", id,
            o->email);
    printf("%s=%s\n", customer ? "STAMP_KEY" : "STAMP_OPERATOR_KEY", key);
    return 0;
}

/* stampd customer|operator set-password: a web password for an account made
 * without one (before schema v4, or without STAMPD_PASSWORD), or a reset. */
int pv_cmd_set_password(const struct opts *o, int customer)
{
    struct pv_credential cred;
    struct pv_store *st = NULL;
    const char *pw = getenv("STAMPD_PASSWORD");
    char line[512], hash[PV_PWHASH_MAX];
    int role = customer ? PV_ROLE_CUSTOMER : PV_ROLE_OPERATOR, rc;

    if (!o->email) {
        fprintf(stderr, "stampd: --email is required\n");
        return 2;
    }
    if (!pw || !*pw) {
        if (!fgets(line, sizeof line, stdin)) {
            fprintf(stderr, "stampd: the password comes from STAMPD_PASSWORD or standard input\n");
            return 2;
        }
        line[strcspn(line, "\r\n")] = '\0';
        pw = line;
    }
    rc = pv_password_hash(pw, hash);
    pv_card_wipe(line, sizeof line);
    if (rc == PV_EPASSWORD) {
        fprintf(stderr, "stampd: the password must be %d to %d characters\n", PV_PASSWORD_MIN,
                PV_PASSWORD_MAX);
        return 2;
    }
    if (rc != PV_OK)
        return pv_cmd_fail("hash password", rc);
    if (!pv_cmd_db_exists(o->db))
        return 1;
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK)
        return pv_cmd_fail("open database", rc);
    if ((rc = pv_store_credential_get(st, role, o->email, &cred)) == PV_OK)
        rc = pv_store_password_set(st, role, cred.owner_id, hash);
    pv_store_close(st);
    if (rc != PV_OK)
        return pv_cmd_fail(rc == PV_ENOTFOUND ? "no such account" : "set password", rc);
    fprintf(stderr, "stampd: password set for %s %s (%s)\n", customer ? "customer" : "operator",
            cred.owner_id, o->email);
    return 0;
}
