/*
 * batch.h - the bulk-buying runner (batch.c; docs/api.md "Batches"): one
 * thread per front process that sends a batch's pending items through the
 * normal purchase path (the front dispatcher, dispatch.h), a few at a time,
 * and records each item's outcome in the store.
 */
#ifndef STAMPD_BATCH_H
#define STAMPD_BATCH_H

#include "server/app.h"
#include "store/store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define PV_BATCH_INFLIGHT     8  /* items of one batch at the processors at once */
#define PV_BATCH_INFLIGHT_ALL 32 /* items of all batches of a process at once */
#define PV_BATCH_PER_CUSTOMER 4  /* batches of one customer running at once in a process */
#define PV_BATCH_STALE_S      30 /* a running batch untouched this long was interrupted */

/* One pending item, validated and priced (its purchase request with the
 * item's idempotency key and fingerprint), for pv_batches_run. */
struct pv_batch_job {
    uint32_t n;
    struct pv_purchase_req req;
};

struct pv_batches;

/* pv_batches_start - the runner for app (borrowed; its pool and dispatcher),
 * its thread started: *out owned (pv_batches_stop). PV_ENOMEM, PV_EINTERNAL. */
int pv_batches_start(struct pv_app *app, struct pv_batches **out);

/* pv_batches_stop - submit nothing more, wait for the items at the
 * processors and record them, stop the thread and free b (NULL: nothing).
 * Items not yet submitted stay pending (a retry of the batch resumes them). */
void pv_batches_stop(struct pv_batches *b);

/* pv_batch_jobs_free - frees n jobs (taken; NULL: none) and their requests' texts. */
void pv_batch_jobs_free(struct pv_batch_job *jobs, size_t n);

/*
 * pv_batches_run - run items[0..n-1] (taken: freed by the runner, also on
 * error) of batch rec (borrowed; copied) in the background. PV_OK;
 * PV_EEXIST when this process runs that batch already; PV_EBUSY when the
 * runner is stopping or the customer has PV_BATCH_PER_CUSTOMER batches
 * running; PV_ENOMEM. n may be 0: the batch is only completed.
 */
int pv_batches_run(struct pv_batches *b, const struct pv_batch_rec *rec, struct pv_batch_job *items,
                   size_t n);

/* pv_batches_active - 1 when this process runs batch id now. */
int pv_batches_active(struct pv_batches *b, const char *id);

/* pv_batches_customer_running - how many batches of customer_id run here. */
size_t pv_batches_customer_running(struct pv_batches *b, const char *customer_id);

/* pv_batches_started - when b's runner started (Unix seconds; 0 for NULL):
 * a batch nobody touched since was interrupted, not run by another front. */
int64_t pv_batches_started(const struct pv_batches *b);

/* pv_batch_view_json - the batch b (borrowed) without its items, as
 * GET /v1/batches/{id} and the batch.completed event show it; returns owned
 * (NULL: no memory). */
json_t *pv_batch_view_json(struct pv_app *app, const struct pv_batch_rec *b);

#endif
