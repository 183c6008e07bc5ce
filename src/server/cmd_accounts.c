/*
 * cmd_accounts.c - accounts from the command line: stampd customer|operator
 * create (with an opening balance, an API key and, from STAMPD_PASSWORD, a
 * web password) and stampd customer|operator|authority set-password.
 */
#include "server/cmd_accounts.h"

#include "domain/account.h"
#include "domain/password.h"
#include "server/cmd.h"
#include "stampd/card.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The web password of a new account: STAMPD_PASSWORD when set, else none. */
static const char *env_password(void)
{
    const char *pw = getenv("STAMPD_PASSWORD");

    return pw && *pw ? pw : NULL;
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
    rc = pv_account_create(st, customer ? PV_ROLE_CUSTOMER : PV_ROLE_OPERATOR, o->email, balance,
                           env_password(), pv_now(), id, key);
    pv_store_close(st);
    if (rc != PV_OK)
        return pv_cmd_fail(rc == PV_EEXIST ? "email already registered" : "create", rc);
    fprintf(stderr, "stampd: created %s %s (%s)\n", customer ? "customer" : "operator", id,
            o->email);
    printf("%s=%s\n", customer ? "STAMP_KEY" : "STAMP_OPERATOR_KEY", key);
    pv_card_wipe(key, sizeof key);
    return 0;
}

/* stampd customer|operator|authority set-password: a web password for an
 * account made without one (before schema v4 or the postal web login, or without
 * STAMPD_PASSWORD), or a reset. A postal account is named by --name. */
int pv_cmd_set_password(const struct opts *o, int role)
{
    struct pv_store *st = NULL;
    const char *pw = getenv("STAMPD_PASSWORD");
    const char *who = role == PV_ROLE_POSTAL ? o->name : o->email;
    const char *kind = role == PV_ROLE_CUSTOMER   ? "customer"
                       : role == PV_ROLE_OPERATOR ? "operator"
                                                  : "postal account";
    char line[512], owner[PV_ID_MAX];
    int rc;

    if (!who) {
        fprintf(stderr, "stampd: %s is required\n", role == PV_ROLE_POSTAL ? "--name" : "--email");
        return 2;
    }
    line[0] = '\0';
    if (!pw || !*pw) {
        if (!fgets(line, sizeof line, stdin)) {
            fprintf(stderr, "stampd: the password comes from STAMPD_PASSWORD or standard input\n");
            return 2;
        }
        line[strcspn(line, "\r\n")] = '\0';
        pw = line;
    }
    /* The policy before the database, so that a bad password changes nothing. */
    if (pv_password_policy(pw) != PV_OK) {
        pv_card_wipe(line, sizeof line);
        fprintf(stderr, "stampd: the password must be %d to %d characters\n", PV_PASSWORD_MIN,
                PV_PASSWORD_MAX);
        return 2;
    }
    if (!pv_cmd_db_exists(o->db)) {
        rc = PV_ENOTFOUND;
    } else if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK) {
        pv_cmd_fail("open database", rc);
    } else {
        rc = pv_account_set_password(st, role, who, pw, owner);
        pv_store_close(st);
        if (rc != PV_OK)
            pv_cmd_fail(rc == PV_ENOTFOUND ? "no such account" : "set password", rc);
    }
    pv_card_wipe(line, sizeof line);
    if (rc != PV_OK)
        return 1;
    fprintf(stderr, "stampd: password set for %s %s (%s)\n", kind, owner, who);
    return 0;
}
