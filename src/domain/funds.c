/*
 * funds.c - prepaid funds by card, once per Idempotency-Key (funds.h).
 *
 * The card pattern of intent.h: the intent (gateway key
 * "funds:<owner>:<Idempotency-Key>:<attempt>") committed, the hold, one
 * transaction crediting the balance with the idempotency record and the
 * intent "settling", then the capture. A retry with the same key adopts
 * the intent and the gateway answers the same hold.
 */
#include "domain/funds.h"

#include "domain/events.h"
#include "domain/intent.h"
#include "domain/ledger.h"
#include "domain/purchase.h"
#include "stampd/codec.h"
#include "stampd/error.h"

#include <stdio.h>
#include <string.h>

/*
 * A top-up's names: owner, the customer's live or test namespace, which its intent is kept
 * under (the intent's kind keeps it apart from a purchase's), and idem, the namespace of its
 * idempotency record ("funds:" + owner; the client's key stored as it is). Until schema v37 the
 * record was the purchases' namespace under "funds:" + the key, so a purchase under the key
 * "funds:x" and a top-up under "x" were refused as one key's reuse.
 */
static int idem_names(const char *customer_id, int test, const char *idem_key,
                      char owner[PV_ID_MAX], char idem[PV_ID_MAX])
{
    if (!idem_key || !idem_key[0])
        return PV_EIDEMREQUIRED;
    if (strlen(idem_key) >= PV_IDEM_KEY_MAX)
        return PV_EINVAL;
    pv_idem_owner(customer_id, test, owner);
    if (!owner[0] || snprintf(idem, PV_ID_MAX, "funds:%s", owner) >= PV_ID_MAX)
        return PV_EINVAL;
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
    char owner[PV_ID_MAX], idem[PV_ID_MAX];
    int rc;

    memset(res, 0, sizeof *res);
    if ((rc = idem_names(customer_id, test, idem_key, owner, idem)) != PV_OK)
        return rc;
    return replay(st, customer_id, test, idem, idem_key, req_hash, res);
}

/* In one transaction: the charge, its journal, the idempotency record, the intent settling. */
static int credit(struct pv_store *st, const struct pv_intent_rec *it, const char *owner,
                  const char *key, const char *req_hash, int64_t now, struct pv_funds_res *res)
{
    struct pv_charge_rec *c = &res->charge;
    int rc;

    if ((rc = pv_store_begin(st)) != PV_OK)
        return rc;
    /*
     * Like a purchase batch: the writer lock first (the same lock order as
     * the processors, so no deadlock on PostgreSQL), then the key again: a
     * twin sent at once holds the same intent, and the second to get here
     * finds the first one's top-up.
     */
    if ((rc = pv_store_lock_writer(st)) != PV_OK)
        goto out;
    rc = replay(st, it->customer_id, it->test, owner, key, req_hash, res);
    if (rc != PV_ENOTFOUND)
        goto out;
    pv_str_copy(c->id, sizeof c->id, it->charge_id);
    c->refunded = 0;
    c->created = now;
    if ((rc = pv_pay_book(st, c, "funds_added", now)) == PV_OK &&
        (rc = pv_store_idem_put(st, owner, key, req_hash, c->ref, now)) == PV_OK &&
        (rc = pv_store_intent_move(st, it->id, PV_INTENT_AUTHORIZED, PV_INTENT_SETTLING, NULL,
                                   c->ref, NULL, 0, pv_now_ms())) == PV_OK &&
        (rc = pv_event_funds_added(st, c, now)) == PV_OK)
        rc = pv_store_commit(st);
out:
    if (rc != PV_OK || res->replayed)
        pv_store_rollback(st);
    return rc;
}

int pv_funds_add(struct pv_store *st, const struct pv_gateways *gws, const char *customer_id,
                 int test, const char *idem_key, const char *req_hash, pv_mills amount,
                 const struct pv_payment *pay, int64_t now, struct pv_funds_res *res)
{
    char owner[PV_ID_MAX], idem[PV_ID_MAX];
    struct pv_charge_rec *c = &res->charge;
    struct pv_gateway *gw = pv_pay_gateway(gws, test);
    struct pv_intent_rec it;
    int rc;

    memset(res, 0, sizeof *res);
    if ((rc = idem_names(customer_id, test, idem_key, owner, idem)) != PV_OK)
        return rc;
    if (amount % 10 != 0 || amount < PV_FUNDS_MIN || amount > PV_FUNDS_MAX)
        return PV_EAMOUNT;
    if (!pay || pay->method != PV_PAY_CARD)
        return PV_EINVAL;
    /* Done already: answer it without touching the card. */
    rc = replay(st, customer_id, test, idem, idem_key, req_hash, res);
    if (rc != PV_ENOTFOUND)
        return rc;
    if (!gw)
        return PV_ENOGATEWAY;
    pv_str_copy(c->customer_id, sizeof c->customer_id, customer_id);
    c->test = test;
    snprintf(c->purpose, sizeof c->purpose, "funds");
    pv_str_copy(c->payment_method_id, sizeof c->payment_method_id, pay->payment_method_id);
    pv_str_copy(c->brand, sizeof c->brand, pay->brand);
    pv_str_copy(c->last4, sizeof c->last4, pay->last4);
    c->amount = amount;
    if ((rc = pv_new_id("top", c->ref)) != PV_OK)
        return rc;

    /* The intent is committed before the card is touched (intent.h). */
    pv_intent_draft(&it, "funds", owner, customer_id, test, idem_key, req_hash, amount, pay,
                    "front");
    rc = pv_intent_open(st, &it, pv_now_ms());
    if (rc == PV_EEXIST) /* a twin's top-up committed since the replay check above */
        return replay(st, customer_id, test, idem, idem_key, req_hash, res);
    if (rc == PV_OK)
        rc = pv_intent_authorize(st, gw, &it, res->decline, pv_now_ms());
    if (rc == PV_EEXIST)
        return replay(st, customer_id, test, idem, idem_key, req_hash, res);
    if (rc != PV_OK)
        return rc == PV_EIO ? PV_EGATEWAY : rc;
    rc = credit(st, &it, idem, idem_key, req_hash, now, res);
    if (rc != PV_OK || res->replayed) {
        /* Nothing of ours committed: give the hold up (a twin's replay owns none). */
        if (!res->replayed)
            pv_intent_abandon(st, gws, it.id, pv_now_ms());
        if (rc != PV_OK)
            return rc;
    } else {
        pv_crash_point("after_commit");
        pv_intent_settle(st, gws, it.id, 1, pv_now_ms());
    }
    return balance_of(st, customer_id, test, &res->balance);
}
