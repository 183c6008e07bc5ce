/*
 * purchase_lock.c - what a purchase batch locks before it writes anything
 * (pv_purchase_lock, purchase.h; docs/internals/purchase-path.md).
 *
 * Batches of several processors run at once on PostgreSQL. Each takes the
 * writer lock shared - funds, refunds, holds and the other lock_writer
 * holders still exclude every batch, as before - and then, in one
 * statement, the balance rows of all its customers in name order: two
 * batches that share customers wait for each other in one direction only,
 * never in a circle, whatever order their jobs came in. Everything else a
 * batch locks afterwards is its own (its PSDs through their lease, their
 * psd: accounts, its part of the shared totals) or its customers' (their
 * sheets, idempotency keys) - but the postal deposit rows of PSD refills,
 * which two batches could still take in opposite orders (docs/performance.md).
 * Every customer has its balance row from the moment it is made (schema v22),
 * so a customer's first card purchase finds its row here too.
 * A batch with a job in test mode or on a medium, or whose card round checks
 * one (lease.h, lock_whole), would also lock rows every processor shares (the
 * test PSD, which is never leased; a sheet; the media sales account): it
 * takes the writer lock whole, excluding the other batches, as before.
 * SQLite's write lock is the whole database's.
 */
#include "domain/ledger.h"
#include "domain/purchase.h"
#include "stampd/error.h"

#include <stdlib.h>

int pv_purchase_lock_whole(const struct pv_purchase_req *reqs, const struct pv_purchase_res *res,
                           size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (res[i].pre_err == PV_OK && (reqs[i].test || reqs[i].medium_serial[0]))
            return 1;
    return 0;
}

int pv_purchase_lock(struct pv_store *st, const struct pv_purchase_req *reqs,
                     const struct pv_purchase_res *res, size_t n, int whole)
{
    char(*acct)[PV_ACCOUNT_MAX] = NULL;
    size_t i, m = 0;
    int rc;

    if (whole || pv_purchase_lock_whole(reqs, res, n))
        return pv_store_lock_writer(st);
    if (n && !(acct = calloc(n, sizeof *acct)))
        return PV_ENOMEM;
    for (i = 0; i < n; i++)
        if (res[i].pre_err == PV_OK)
            pv_account_customer_mode(reqs[i].customer_id, reqs[i].test, acct[m++]);
    rc = pv_store_lock_batch(st, (const char(*)[PV_ACCOUNT_MAX]) acct, m);
    free(acct);
    return rc;
}
