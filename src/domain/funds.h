/*
 * funds.h - adding prepaid funds by card (POST /v1/account/funds,
 * docs/payments.md).
 *
 * A top-up is idempotent under the customer's Idempotency-Key: the same key
 * with the same request (its fingerprint, req_hash) answers the first
 * top-up again and charges nothing; with another request it is refused.
 * The card is held under a payment intent committed first (intent.h); the
 * charge, its ledger entry (card_clearing -> the customer's balance,
 * journal "funds_added"), the idempotency record and the intent's move to
 * "settling" are one transaction taken under the writer lock, then the hold
 * is captured. Two retries sent at once share the intent and its hold and
 * credit once; a hold whose transaction does not commit is voided.
 * Test keys top up the "test:" balance through the sandbox.
 */
#ifndef STAMPD_FUNDS_H
#define STAMPD_FUNDS_H

#include "domain/payment.h"
#include "store/store.h"

#define PV_FUNDS_MIN ((pv_mills) 1000)     /* $1.00 */
#define PV_FUNDS_MAX ((pv_mills) 10000000) /* $10,000.00 */

/* What a top-up did, or what the first one under the key did. */
struct pv_funds_res {
    struct pv_charge_rec charge; /* its ref ("top_...") is the top-up's id */
    pv_mills balance;            /* the customer's balance in that mode, now */
    int replayed;                /* 1: the key's earlier top-up, nothing charged now */
    char decline[24];            /* on PV_ECARDDECLINED: the gateway's reason */
};

/*
 * pv_funds_replay - the top-up made earlier under idem_key by customer_id
 * with a test or live key (all borrowed), if any. Returns PV_OK (*res is
 * that top-up, res->replayed = 1), PV_ENOTFOUND (the key is new),
 * PV_EIDEMREUSED (the key was used for another request: req_hash differs),
 * or a store error. The API asks before it reads the rest of the body, so a
 * retry is answered even when its card could not be read again.
 */
int pv_funds_replay(struct pv_store *st, const char *customer_id, int test, const char *idem_key,
                    const char *req_hash, struct pv_funds_res *res);

/*
 * pv_funds_add - charge amount (whole cents, PV_FUNDS_MIN..PV_FUNDS_MAX) to
 * pay's card (borrowed; method PV_PAY_CARD) through gws (borrowed; the
 * sandbox for test) and add it to customer_id's balance, under idem_key and
 * req_hash (see the file comment; a concurrent twin becomes a replay).
 * Returns PV_OK (*res filled), PV_EAMOUNT, PV_EINVAL (not a card payment, or
 * a key of PV_IDEM_KEY_MAX characters or more), PV_EIDEMREQUIRED (no key), PV_EIDEMREUSED,
 * PV_ECARDDECLINED (res->decline set), PV_EGATEWAY, PV_ENOGATEWAY (no live
 * gateway), or a store error; on every error nothing is charged or written.
 */
int pv_funds_add(struct pv_store *st, const struct pv_gateways *gws, const char *customer_id,
                 int test, const char *idem_key, const char *req_hash, pv_mills amount,
                 const struct pv_payment *pay, int64_t now, struct pv_funds_res *res);

#endif
