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
    uint8_t flags; /* PV_IND_FLAG_* */
    pv_mills postage;
};

struct pv_purchase_res {
    int err;      /* PV_OK or the job's error */
    int replayed; /* 1 when an earlier purchase with this key was returned */
    pv_mills balance_after;
    struct pv_indicium_rec rec;
};

/* A PSD the processor may use and the key that signs for it. */
struct pv_psd_key {
    uint32_t psd_id;
    uint32_t key_id;
    char key_ref[512];
};

/* A processor's state for the write path; owned by the processor. */
struct pv_processor_ctx {
    char server_id[PV_ID_MAX];
    char license[PV_LICENSE_LEN + 1];
    pv_mills refill_policy;  /* amount moved from the deposit on a refill */
    struct pv_crypto *cm;    /* borrowed */
    struct pv_psd_key *psds; /* owned array of npsds */
    size_t npsds;
    size_t current; /* index of the PSD in use (selection policy state) */
};

/*
 * pv_purchase_batch - run n jobs in one transaction (see the file comment).
 * reqs are borrowed; res[i] is filled for every i. Returns PV_OK when the
 * batch committed (each res[i].err says how its job went), or the commit
 * error, in which case every res[i].err is that error and nothing was
 * written.
 */
int pv_purchase_batch(struct pv_store *st, struct pv_processor_ctx *ctx,
                      const struct pv_purchase_req *reqs, struct pv_purchase_res *res, size_t n,
                      int64_t now);

/*
 * pv_processor_load - fill ctx->psds from the store: every active PSD
 * whose index i (in id order) satisfies i % nproc == slot, with its key.
 * Also reads the license and refill policy. Returns PV_OK, PV_ENOPSD when
 * none is assigned, or a store error.
 */
int pv_processor_load(struct pv_store *st, struct pv_processor_ctx *ctx, size_t slot, size_t nproc);

/* pv_processor_ctx_clear - free what pv_processor_load allocated. */
void pv_processor_ctx_clear(struct pv_processor_ctx *ctx);

/* Config keys kept in the store. */
#define PV_CFG_LICENSE "license"
#define PV_CFG_REFILL  "refill_mills"

#endif
