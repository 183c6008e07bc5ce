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

/* A PSD the processor may use and the key that signs for it. */
struct pv_psd_key {
    uint32_t psd_id;
    uint32_t key_id;
    char key_ref[512];
    int held; /* this processor holds the PSD's lease (see pv_processor_tick) */
};

/* A processor's state for the write path; owned by the processor. */
struct pv_processor_ctx {
    char server_id[PV_ID_MAX];
    char license[PV_LICENSE_LEN + 1];
    pv_mills refill_policy;  /* amount moved from the deposit on a refill */
    struct pv_crypto *cm;    /* borrowed */
    struct pv_gateways gws;  /* borrowed gateways for card payments */
    struct pv_psd_key *psds; /* owned array of npsds: every active live PSD and its key */
    size_t npsds;
    struct pv_psd_key test_psd; /* the test device (never leased); held = 0 when none */
    size_t current;             /* index of the PSD in use (selection policy state) */
    int64_t lease_ms;           /* lease length; renewed on every tick */
    int64_t live_ms;            /* a server is live when its heartbeat is this recent */
    char key_ids[128];          /* "1,3": the keys of the held PSDs, for the servers table */
};

#define PV_LEASE_MS_DEFAULT 5000
#define PV_LIVE_MS_DEFAULT  3000

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

/*
 * pv_processor_load - fill ctx->psds from the store: every active live PSD
 * with its key, none held yet, and ctx->test_psd with the first active test
 * PSD (held = 1 when there is one; test PSDs need no lease). Also reads the license and refill
 * policy and sets the lease defaults. Returns PV_OK, PV_ENOPSD when there is no active PSD,
 * PV_ECONFIG (a PSD without its key), or a store error.
 */
int pv_processor_load(struct pv_store *st, struct pv_processor_ctx *ctx);

/*
 * pv_processor_tick - heartbeat and lease upkeep; call about every second
 * outside a batch, on the thread that runs the batches. The processor must
 * be registered (server_register). Its fair share of the active PSDs is
 * floor(P/E), plus one for the first P mod E of the E live, active servers in
 * id order; it renews that many of its leases (preferring the one in use),
 * releases the rest, and takes free or expired PSDs up to its share. A
 * draining or disabled server holds none. *status (may be NULL) gets the
 * operator's status. Returns PV_OK or a store error.
 */
int pv_processor_tick(struct pv_store *st, struct pv_processor_ctx *ctx, int64_t now_ms,
                      int *status);

/* pv_idem_owner - the idempotency namespace of a customer's live or test
 * keys ("cus_..." or "test:cus_..."), into out. */
void pv_idem_owner(const char *customer_id, int test, char out[PV_ID_MAX]);

/* pv_processor_ctx_clear - free what pv_processor_load allocated. */
void pv_processor_ctx_clear(struct pv_processor_ctx *ctx);

/* Config keys kept in the store. */
#define PV_CFG_LICENSE "license"
#define PV_CFG_REFILL  "refill_mills"
#define PV_CFG_GATEWAY "gateway" /* live card payments: "sandbox" or unset (none) */

#endif
