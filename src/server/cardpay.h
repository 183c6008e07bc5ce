/*
 * cardpay.h - a processor's payment threads (cardpay.c): card jobs held
 * before the writer's batch and captured or voided after it, the gateway's
 * calls asynchronous (pv_gateway_submit) and the payment intents written in
 * group commits (docs/internals/purchase-path.md, issue 15).
 */
#ifndef STAMPD_CARDPAY_H
#define STAMPD_CARDPAY_H

#include "domain/purchase.h"
#include "server/job.h"

#include <stddef.h>

struct pv_cardpay;

/*
 * What the payment threads hand back, on one of their threads (never under
 * their lock): held - the job's card was held or refused (job->res says
 * which; the job goes to the writer next); settled - the job's capture or
 * void is done (or left to the recovery): answer it. owner is passed back.
 */
struct pv_cardpay_hooks {
    void (*held)(void *owner, struct pv_job *job);
    void (*settled)(void *owner, struct pv_job *job);
    void *owner;
};

/*
 * pv_cardpay_start - nthreads (0: 1) payment threads for the processor of
 * ctx (borrowed, must outlive it), each opening its own store handle on dsn
 * (borrowed, copied) with its first job; hooks copied. *out owned: release
 * with pv_cardpay_stop. PV_ENOMEM, PV_EINTERNAL.
 */
int pv_cardpay_start(struct pv_processor_ctx *ctx, const char *dsn, size_t nthreads,
                     const struct pv_cardpay_hooks *hooks, struct pv_cardpay **out);

/*
 * pv_cardpay_hold - hold job's card (job borrowed until hooks.held):
 * pv_purchase_authorize's work in groups. PV_OK, or PV_ENOMEM (job not
 * taken: the caller holds it another way).
 * pv_cardpay_settle - after the batch: capture (job->res.err == PV_OK) or
 * void job's hold (job borrowed until hooks.settled).
 */
int pv_cardpay_hold(struct pv_cardpay *cp, struct pv_job *job);
void pv_cardpay_settle(struct pv_cardpay *cp, struct pv_job *job);

/* pv_cardpay_stop - takes cp (NULL fine): finish everything queued or in
 * flight (every job handed back through the hooks), then stop the threads. */
void pv_cardpay_stop(struct pv_cardpay *cp);

#endif
