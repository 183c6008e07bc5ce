/*
 * authority.c - the postal authority's accounts and its credits of the
 * postal deposit (authority.h).
 */
#include "domain/authority.h"

#include "domain/account.h"
#include "domain/ledger.h"
#include "domain/password.h"
#include "stampd/card.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <string.h>

#define IDEM_PREFIX "dep:" /* the idempotency namespace of a postal account's credits */

/* 1..cap-1 printable ASCII characters, no space at either end. */
static int printable(const char *s, size_t cap)
{
    size_t n = s ? strlen(s) : 0, i;

    if (n == 0 || n >= cap || s[0] == ' ' || s[n - 1] == ' ')
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] > 0x7e)
            return 0;
    return 1;
}

int pv_postal_name_valid(const char *name)
{
    return printable(name, PV_POSTAL_NAME_MAX);
}

int pv_authority_create_in(struct pv_store *st, const char *name, int64_t now, char id[PV_ID_MAX],
                           char key[64])
{
    struct pv_apikey_rec rec;
    int rc;

    id[0] = key[0] = '\0';
    if (!pv_postal_name_valid(name))
        return PV_EINVAL;
    if ((rc = pv_new_id("pa", id)) != PV_OK ||
        (rc = pv_store_postal_insert(st, id, name, now)) != PV_OK ||
        (rc = pv_apikey_mint(st, PV_ROLE_POSTAL, id, 0, PV_APIKEY_CLI_NAME, now, key, &rec)) !=
            PV_OK) {
        pv_card_wipe(key, 64);
        id[0] = '\0';
    }
    return rc;
}

int pv_authority_create(struct pv_store *st, const char *name, int64_t now, char id[PV_ID_MAX],
                        char key[64])
{
    return pv_authority_create_pw(st, name, NULL, now, id, key);
}

int pv_authority_create_pw(struct pv_store *st, const char *name, const char *password, int64_t now,
                           char id[PV_ID_MAX], char key[64])
{
    int rc;

    id[0] = key[0] = '\0';
    if (!pv_postal_name_valid(name))
        return PV_EINVAL;
    if (password && pv_password_policy(password) != PV_OK)
        return PV_EPASSWORD;
    if ((rc = pv_store_begin(st)) != PV_OK)
        return rc;
    if ((rc = pv_authority_create_in(st, name, now, id, key)) == PV_OK &&
        (rc = pv_account_password_in(st, PV_ROLE_POSTAL, id, password)) == PV_OK &&
        (rc = pv_store_commit(st)) == PV_OK)
        return PV_OK;
    pv_store_rollback(st);
    pv_card_wipe(key, 64);
    id[0] = '\0';
    return rc;
}

/* n decimal digits of s into *out. */
static int digits(const char *s, int n, int *out)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

int pv_time_parse_utc(const char *t, int64_t *out)
{
    int y, mo, d, h, mi, se;
    uint32_t ymd;

    *out = 0;
    if (!t || strlen(t) != 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' ||
        t[16] != ':' || t[19] != 'Z' || !digits(t, 4, &y) || !digits(t + 5, 2, &mo) ||
        !digits(t + 8, 2, &d) || !digits(t + 11, 2, &h) || !digits(t + 14, 2, &mi) ||
        !digits(t + 17, 2, &se))
        return PV_EINVAL;
    if (y < 2000 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59)
        return PV_EINVAL;
    ymd = (uint32_t) (y * 10000 + mo * 100 + d);
    /* A day the month lacks (02-30) comes back as another date: refused. */
    if (pv_date_from_unix(pv_date_to_unix(ymd)) != ymd)
        return PV_EINVAL;
    *out = pv_date_to_unix(ymd) + h * 3600 + mi * 60 + se;
    return PV_OK;
}

/* The idempotency namespace of credited_by's credits ("dep:" + it), into
 * owner; the client's key is stored as it is (1..PV_IDEM_KEY_MAX-1 bytes). */
static int idem_owner(const char *credited_by, const char *idem_key, char owner[PV_ID_MAX])
{
    if (!idem_key[0] || strlen(idem_key) >= PV_IDEM_KEY_MAX ||
        strlen(credited_by) + strlen(IDEM_PREFIX) >= PV_ID_MAX)
        return PV_EINVAL;
    snprintf(owner, PV_ID_MAX, IDEM_PREFIX "%s", credited_by);
    return PV_OK;
}

/* The earlier credit under (owner, key): PV_ENOTFOUND when none. */
static int replay(struct pv_store *st, const char *owner, const char *key, const char *req_hash,
                  struct pv_deposit_res *res)
{
    char stored[PV_HASH_HEX], id[PV_ID_MAX];
    int rc = pv_store_idem_get(st, owner, key, stored, id);

    if (rc != PV_OK)
        return rc;
    if (strcmp(stored, req_hash) != 0)
        return PV_EIDEMREUSED;
    if ((rc = pv_store_deposit_credit_get(st, id, &res->credit)) != PV_OK)
        return rc;
    res->replayed = 1;
    return pv_balance(st, PV_ACCT_DEPOSIT, &res->balance);
}

/* Inside the transaction: the credit, its journal entry, its key. */
static int credit(struct pv_store *st, const char *owner, const char *key, const char *req_hash,
                  struct pv_deposit_res *res)
{
    struct pv_deposit_credit_rec *c = &res->credit;
    struct pv_ledger_line lines[2];
    pv_mills authority, after, paid;
    int rc;

    /* Both sides stay within the money bound the accounts are checked against. */
    if ((rc = pv_balance(st, PV_ACCT_DEPOSIT, &res->balance)) != PV_OK ||
        (rc = pv_balance(st, PV_ACCT_AUTHORITY, &authority)) != PV_OK)
        return rc;
    if (pv_money_add(res->balance, c->amount, &after) != PV_OK ||
        pv_money_sub(authority, c->amount, &paid) != PV_OK)
        return PV_EOVERFLOW;
    if ((rc = pv_store_deposit_credit_insert(st, c)) != PV_OK)
        return rc;
    memset(lines, 0, sizeof lines);
    pv_str_copy(lines[0].account, sizeof lines[0].account, PV_ACCT_AUTHORITY);
    lines[0].amount = -c->amount;
    pv_str_copy(lines[1].account, sizeof lines[1].account, PV_ACCT_DEPOSIT);
    lines[1].amount = c->amount;
    if ((rc = pv_ledger_post(st, "postal_deposit", c->id, lines, 2, c->at)) != PV_OK)
        return rc;
    res->balance = after;
    if (key)
        rc = pv_store_idem_put(st, owner, key, req_hash, c->id, c->at);
    return rc;
}

int pv_deposit_amount_valid(pv_mills amount)
{
    return amount >= PV_DEPOSIT_CREDIT_MIN && amount <= PV_MILLS_MAX && amount % 10 == 0;
}

int pv_deposit_credit(struct pv_store *st, const char *credited_by, const char *idem_key,
                      const char *req_hash, pv_mills amount, const char *reference, int64_t now,
                      struct pv_deposit_res *res)
{
    char owner[PV_ID_MAX] = "";
    struct pv_deposit_credit_rec *c = &res->credit;
    int rc;

    memset(res, 0, sizeof *res);
    if (!pv_deposit_amount_valid(amount))
        return PV_EAMOUNT;
    if (!printable(reference, PV_DEPOSIT_REF_MAX) || !credited_by || !credited_by[0] ||
        strlen(credited_by) >= PV_ID_MAX)
        return PV_EINVAL;
    if (idem_key && (!req_hash || idem_owner(credited_by, idem_key, owner) != PV_OK))
        return PV_EINVAL;
    if ((rc = pv_new_id("dep", c->id)) != PV_OK)
        return rc;
    c->amount = amount;
    pv_str_copy(c->reference, sizeof c->reference, reference);
    pv_str_copy(c->credited_by, sizeof c->credited_by, credited_by);
    c->at = now;
    if ((rc = pv_store_begin(st)) != PV_OK)
        return rc;
    /* The writer lock first, like a purchase batch drawing on the deposit
     * (no deadlock on PostgreSQL), then the key again: two retries at once
     * credit once and the second is a replay. */
    if ((rc = pv_store_lock_writer(st)) == PV_OK && idem_key) {
        rc = replay(st, owner, idem_key, req_hash, res);
        if (rc == PV_OK) {
            pv_store_rollback(st);
            return PV_OK;
        }
        /* replay() cleared nothing of *c when it found no earlier credit. */
        if (rc == PV_ENOTFOUND)
            rc = PV_OK;
    }
    if (rc == PV_OK)
        rc = credit(st, owner, idem_key, req_hash, res);
    if (rc == PV_OK && (rc = pv_store_commit(st)) == PV_OK)
        return PV_OK;
    pv_store_rollback(st);
    memset(res, 0, sizeof *res);
    return rc;
}

int pv_deposit_history(struct pv_store *st, int64_t before, size_t limit,
                       struct pv_deposit_entry **out, size_t *n)
{
    return pv_store_deposit_history(st, PV_ACCT_DEPOSIT, before, limit, out, n);
}
