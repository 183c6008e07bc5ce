/*
 * cmd_authority.c - the postal authority from the command line: a postal
 * account with its API key (stampd authority create), and a credit of the
 * postal deposit for an authority that reaches the database but not the
 * API (stampd authority deposit). Both are what the API does, in one
 * transaction each (domain/authority.c).
 */
#include "server/cmd_authority.h"

#include "domain/authority.h"
#include "stampd/card.h"
#include "stampd/error.h"
#include "stampd/money.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <string.h>

int pv_cmd_authority_create(const struct opts *o)
{
    struct pv_store *st = NULL;
    char id[PV_ID_MAX], key[64];
    int rc;

    if (!pv_postal_name_valid(o->name)) {
        fprintf(stderr, "stampd: --name must be 1 to 127 printable characters\n");
        return 2;
    }
    if (!pv_cmd_db_exists(o->db))
        return 1;
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK)
        return pv_cmd_fail("open database", rc);
    rc = pv_authority_create(st, o->name, pv_now(), id, key);
    pv_store_close(st);
    if (rc != PV_OK)
        return pv_cmd_fail(rc == PV_EEXIST ? "a postal account has that name" : "create", rc);
    fprintf(stderr, "stampd: created postal account %s (%s)\n", id, o->name);
    printf("STAMP_POSTAL_KEY=%s\n", key);
    pv_card_wipe(key, sizeof key);
    return 0;
}

int pv_cmd_authority_deposit(const struct opts *o)
{
    struct pv_deposit_res res;
    struct pv_store *st = NULL;
    pv_mills amount;
    char a[32], b[32];
    int rc;

    if (!o->amount || pv_money_parse(o->amount, &amount) != PV_OK ||
        amount < PV_DEPOSIT_CREDIT_MIN || amount % 10 != 0) {
        fprintf(stderr, "stampd: --amount must be a dollar amount in whole cents (2500.00)\n");
        return 2;
    }
    if (!o->reference) {
        fprintf(stderr, "stampd: --reference is required (the authority's transfer reference)\n");
        return 2;
    }
    if (!pv_cmd_db_exists(o->db))
        return 1;
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK)
        return pv_cmd_fail("open database", rc);
    rc = pv_deposit_credit(st, PV_CLI_CREDITOR, NULL, NULL, amount, o->reference, pv_now(), &res);
    pv_store_close(st);
    if (rc == PV_EINVAL) {
        fprintf(stderr, "stampd: --reference must be 1 to 128 printable characters\n");
        return 2;
    }
    if (rc != PV_OK)
        return pv_cmd_fail(
            rc == PV_EOVERFLOW ? "the deposit would pass the money limit" : "deposit", rc);
    fprintf(stderr, "stampd: credited the postal deposit with $%s (%s); it holds $%s\n",
            pv_money_format(amount, a, sizeof a), o->reference,
            pv_money_format(res.balance, b, sizeof b));
    printf("deposit_credit=%s\nbalance=%s\n", res.credit.id, b);
    return 0;
}
