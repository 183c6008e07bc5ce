/*
 * funds.c - prepaid funds by card, once per Idempotency-Key (funds.h).
 */
#include "domain/funds.h"

#include "domain/ledger.h"
#include "domain/purchase.h"
#include "stampd/error.h"

#include <stdio.h>
#include <string.h>

/* The idempotency namespace and key of a top-up ("funds:" + the client's key). */
static int idem_names(const char *customer_id, int test, const char *idem_key,
                      char owner[PV_ID_MAX], char key[PV_IDEM_KEY_MAX + 8])
{
    if (!idem_key || !idem_key[0])
        return PV_EIDEMREQUIRED;
    if (strlen(idem_key) > PV_IDEM_KEY_MAX)
        return PV_EINVAL;
    pv_idem_owner(customer_id, test, owner);
    snprintf(key, PV_IDEM_KEY_MAX + 8, "funds:%s", idem_key);
    return PV_OK;
}

static int balance_of(struct pv_store *st, const char *customer_id, int test, pv_mills *out)
{
    char acct[PV_ACCOUNT_MAX];

    pv_account_customer_mode(customer_id, test, acct);
    return pv_balance(st, acct, out);
}

/* The earlier top-up under (owner, key), inside or outside a transaction. */
static int replay(struct pv_store *st, const char *customer_id, int test, const char *owner,
                  const char *key, const char *req_hash, struct pv_funds_res *res)
{
    char stored[PV_HASH_HEX], ref[PV_ID_MAX];
    int rc = pv_store_idem_get(st, owner, key, stored, ref);

    if (rc != PV_OK)
        return rc;
    if (strcmp(stored, req_hash) != 0)
        return PV_EIDEMREUSED;
    if ((rc = pv_store_charge_find(st, "funds", ref, &res->charge)) != PV_OK)
        return rc;
    res->replayed = 1;
    return balance_of(st, customer_id, test, &res->balance);
}

int pv_funds_replay(struct pv_store *st, const char *customer_id, int test, const char *idem_key,
                    const char *req_hash, struct pv_funds_res *res)
{
    char owner[PV_ID_MAX], key[PV_IDEM_KEY_MAX + 8];
    int rc;

    memset(res, 0, sizeof *res);
    if ((rc = idem_names(customer_id, test, idem_key, owner, key)) != PV_OK)
        return rc;
    return replay(st, customer_id, test, owner, key, req_hash, res);
}

int pv_funds_add(struct pv_store *st, const struct pv_gateways *gws, const char *customer_id,
                 int test, const char *idem_key, const char *req_hash, pv_mills amount,
                 const struct pv_payment *pay, int64_t now, struct pv_funds_res *res)
{
    char owner[PV_ID_MAX], key[PV_IDEM_KEY_MAX + 8], gw_key[PV_ID_MAX + 8];
    struct pv_charge_rec *c = &res->charge;
    struct pv_gateway *gw = pv_pay_gateway(gws, test);
    int rc;

    memset(res, 0, sizeof *res);
    if ((rc = idem_names(customer_id, test, idem_key, owner, key)) != PV_OK)
        return rc;
    if (amount % 10 != 0 || amount < PV_FUNDS_MIN || amount > PV_FUNDS_MAX)
        return PV_EAMOUNT;
    if (!pay || pay->method != PV_PAY_CARD)
        return PV_EINVAL;
    snprintf(c->customer_id, sizeof c->customer_id, "%s", customer_id);
    c->test = test;
    snprintf(c->purpose, sizeof c->purpose, "funds");
    snprintf(c->payment_method_id, sizeof c->payment_method_id, "%s", pay->payment_method_id);
    snprintf(c->brand, sizeof c->brand, "%s", pay->brand);
    snprintf(c->last4, sizeof c->last4, "%s", pay->last4);
    c->amount = amount;
    if ((rc = pv_new_id("top", c->ref)) != PV_OK || (rc = pv_store_begin(st)) != PV_OK)
        return rc;
    /*
     * Like a purchase batch: the writer lock first (the same lock order as
     * the processors, so no deadlock on PostgreSQL), then the key again, so
     * two retries sent at once charge once and the second is a replay.
     */
    if ((rc = pv_store_lock_writer(st)) != PV_OK) {
        pv_store_rollback(st);
        return rc;
    }
    rc = replay(st, customer_id, test, owner, key, req_hash, res);
    if (rc != PV_ENOTFOUND) {
        pv_store_rollback(st);
        return rc;
    }
    snprintf(gw_key, sizeof gw_key, "funds:%s", c->ref);
    rc = pv_pay_charge(st, gw, c, pay->source, gw_key, "funds_added", res->decline, now);
    if (rc == PV_OK)
        rc = pv_store_idem_put(st, owner, key, req_hash, c->ref, now);
    if (rc == PV_OK)
        rc = pv_store_commit(st);
    if (rc != PV_OK) {
        pv_store_rollback(st);
        if (c->id[0])
            pv_pay_void(gw, c->id, c->amount);
        return rc;
    }
    return balance_of(st, customer_id, test, &res->balance);
}
