/*
 * cmd_authority.c - the postal authority from the command line: a postal
 * account with its API key (stampd authority create), and a credit of the
 * postal deposit for an authority that reaches the database but not the
 * API (stampd authority deposit). Both are what the API does, in one
 * transaction each (domain/authority.c). And the authority's reset signer
 * (stampd authority key; stampd init makes it too): its own P-256 key in a
 * directory of its own, apart from the vendor's PSD keys (reset_auth.h).
 */
#include "server/cmd_authority.h"

#include "domain/authority.h"
#include "domain/reset_auth.h"
#include "stampd/card.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/money.h"
#include "stampd/timeutil.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int pv_cmd_authority_signer(const struct opts *o, struct pv_store *st, int *made)
{
    char dir[PATH_MAX], abs[PATH_MAX], tmp[PATH_MAX], spec[PATH_MAX + 16], *pem = NULL;
    const char *path = pv_cmd_sqlite_path(o->db);
    int rc;

    *made = 0;
    if (pv_authority_public_key(st, &pem) == PV_OK) {
        free(pem);
        return PV_OK;
    }
    if (o->authority_dir) {
        pv_str_copy(dir, sizeof dir, o->authority_dir);
    } else if (path || o->keys_dir) {
        pv_str_copy(tmp, sizeof tmp, path ? path : o->keys_dir);
        snprintf(dir, sizeof dir, "%s/authority", dirname(tmp));
    } else {
        fprintf(stderr, "stampd: --authority-dir is required for this database (the postal "
                        "authority's reset signer)\n");
        return PV_ECONFIG;
    }
    if ((mkdir(dir, 0700) != 0 && errno != EEXIST) || !realpath(dir, abs)) {
        fprintf(stderr, "stampd: authority directory %s: %s\n", dir, strerror(errno));
        return PV_EIO;
    }
    snprintf(spec, sizeof spec, "openssl:%s", abs);
    if ((rc = pv_authority_key_create(st, spec, pv_now(), NULL)) == PV_OK) {
        *made = 1;
        fprintf(stderr, "stampd: the postal authority's reset signer is in %s\n", abs);
    }
    return rc;
}

int pv_cmd_authority_key(const struct opts *o)
{
    struct pv_store *st = NULL;
    char *pem = NULL;
    int rc, made = 0;

    if (!pv_cmd_db_exists(o->db))
        return 1;
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK)
        return pv_cmd_fail("open database", rc);
    if ((rc = pv_cmd_authority_signer(o, st, &made)) == PV_OK)
        rc = pv_authority_public_key(st, &pem);
    pv_store_close(st);
    if (rc != PV_OK)
        return pv_cmd_fail("authority key", rc);
    if (!made)
        fprintf(stderr, "stampd: the database has the authority's reset signer already\n");
    fputs(pem, stdout);
    free(pem);
    return 0;
}

int pv_cmd_authority_create(const struct opts *o)
{
    struct pv_store *st = NULL;
    const char *pw;
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
    /* A web password from STAMPD_PASSWORD, as for the vendor's accounts. */
    pw = getenv("STAMPD_PASSWORD");
    rc = pv_authority_create_pw(st, o->name, pw && *pw ? pw : NULL, pv_now(), id, key);
    pv_store_close(st);
    if (rc != PV_OK)
        return pv_cmd_fail(rc == PV_EEXIST      ? "a postal account has that name"
                           : rc == PV_EPASSWORD ? "STAMPD_PASSWORD breaks the password policy"
                                                : "create",
                           rc);
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
        !pv_deposit_amount_valid(amount)) {
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
