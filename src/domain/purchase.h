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

#include "crypto/primitives.h"
#include "domain/config.h"
#include "domain/lease.h"
#include "domain/purchase_types.h"
#include "stampd/timeutil.h" /* pv_now_ms, which callers of this header use */
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

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

#endif
