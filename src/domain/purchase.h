/*
 * purchase.h - the purchase write path, run in batches (group commit).
 *
 * A processor collects purchase jobs from many concurrent requests and
 * hands them to pv_purchase_batch(), which opens one write transaction,
 * runs each job inside its own savepoint (so one refused purchase does not
 * disturb the others), and commits once: one durable fsync for the whole
 * batch. For each job the registers, the refill (when needed), the signed
 * indicium, the customer charge, the ledger lines and the idempotency
 * record are written together or not at all.
 */
#ifndef STAMPD_PURCHASE_H
#define STAMPD_PURCHASE_H

#include "crypto/crypto.h"
#include "domain/lease.h"
#include "domain/payment.h"
#include "stampd/timeutil.h" /* pv_now_ms, which callers of this header use */
#include "domain/media.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/* What the front validated and priced; borrowed by the batch. */
struct pv_purchase_req {
    char customer_id[PV_ID_MAX];
    char idem_key[PV_IDEM_KEY_MAX];
    char req_hash[PV_HASH_HEX]; /* sha-256 hex of the canonical request */
    int mail_class;
    uint16_t weight_tenth_oz;
    uint32_t mail_date; /* YYYYMMDD */
    char from_zip[6];
    char to_zip[10];
    char medium_serial[PV_MEDIUM_MAX + 1];
    char from_address[PV_ADDRESS_MAX]; /* "" when none; printed, not signed */
    char to_address[PV_ADDRESS_MAX];
    uint8_t flags; /* PV_IND_FLAG_*; PV_IND_FLAG_TEST exactly when test */
    pv_mills postage;
    int test;              /* bought with an sk_test_ key: test PSD, test money, sandbox */
    struct pv_payment pay; /* balance (default) or a card's gateway source */
    int commit_medium; /* "commit_to_purchase_medium": buy an unpaid medium with this purchase */
};

struct pv_purchase_res {
    int err;      /* PV_OK or the job's error */
    int replayed; /* 1 when an earlier purchase with this key was returned */
    pv_mills balance_after;
    char decline[24]; /* PV_ECARDDECLINED: "card_declined", "insufficient_funds", ... */
    /* Card charges this job made: voided when the job or the batch does not commit. */
    char charge_id[PV_REF_MAX]; /* paid by card */
    pv_mills charged;
    char refill_id[PV_REF_MAX]; /* auto-refill before a balance payment */
    pv_mills refilled;
    struct pv_indicium_rec rec;
    struct pv_media_use medium; /* with a medium_serial (media.h) */
};

/*
 * pv_purchase_batch - run n jobs in one transaction (see the file comment).
 * now is the unix time the jobs happen at, or PV_NOW_AT_LOCK to read the
 * clock once the writer lock is held, so that indicia of batches that
 * waited for one another carry times in the order they were issued.
 * reqs are borrowed; res[i] is filled for every i. Returns PV_OK when the
 * batch committed (each res[i].err says how its job went), or the commit
 * error, in which case every res[i].err is that error and nothing was
 * written.
 */
#define PV_NOW_AT_LOCK 0

int pv_purchase_batch(struct pv_store *st, struct pv_processor_ctx *ctx,
                      const struct pv_purchase_req *reqs, struct pv_purchase_res *res, size_t n,
                      int64_t now);

/* pv_idem_owner - the idempotency namespace of a customer's live or test
 * keys ("cus_..." or "test:cus_..."), into out. */
void pv_idem_owner(const char *customer_id, int test, char out[PV_ID_MAX]);

/* Config keys kept in the store. */
#define PV_CFG_LICENSE "license"
#define PV_CFG_REFILL  "refill_mills"
#define PV_CFG_GATEWAY "gateway" /* live card payments: "sandbox" or unset (none) */

#endif
