/*
 * cardpay.h - a processor's card payments around its writer's batches
 * (cardpay.c): card jobs held before a batch and captured or voided after
 * it, the gateway's calls asynchronous (pv_gateway_submit) and the payment
 * intents written inside the writer's batch transactions
 * (docs/internals/purchase-path.md, issue 15).
 */
#ifndef STAMPD_CARDPAY_H
#define STAMPD_CARDPAY_H

#include "domain/purchase.h"
#include "server/job.h"

#include <stddef.h>

struct pv_cardpay;

/*
 * What the card payments hand back, on the writer's thread (never under
 * their lock) except wake: held - the job's card was held or refused
 * (job->res says which; the job goes to the writer's queue next); settled
 * - answer the job: its purchase committed (its capture follows), or its
 * void is done (or left to the recovery) - with a settler
 * (pv_cardpay_settler), a void the gateway made is answered on the
 * settler's thread; wake - work is
 * waiting for the writer's next round, or a settler's round is done (called
 * on any thread: the gateway's, a front's, the settler's). owner is passed
 * back.
 */
struct pv_cardpay_hooks {
    void (*held)(void *owner, struct pv_job *job);
    void (*settled)(void *owner, struct pv_job *job);
    void (*wake)(void *owner);
    void *owner;
};

/*
 * pv_cardpay_start - the card payments of the processor of ctx (borrowed,
 * must outlive it); hooks copied. *out owned: release with
 * pv_cardpay_stop. PV_ENOMEM.
 */
int pv_cardpay_start(struct pv_processor_ctx *ctx, const struct pv_cardpay_hooks *hooks,
                     struct pv_cardpay **out);

/*
 * pv_cardpay_settler - the end states of cp's captures and voids written from now on by a
 * thread of their own in transactions of st (taken: a connection of the processor's store
 * whose writers go side by side, pv_store_writers_parallel), instead of in the writer's
 * rounds (which still write the end states of what a failed batch sent back with nothing to
 * call for, and hand the settler what their failed commit leaves); the voided jobs are
 * answered on that thread. Call once, before any card arrives. PV_OK, or PV_EINTERNAL (no
 * thread: st closed; the processor then refuses to start).
 */
int pv_cardpay_settler(struct pv_cardpay *cp, struct pv_store *st);

/*
 * pv_cardpay_hold - hold job's card (job borrowed until hooks.held):
 * pv_purchase_authorize's work in the writer's rounds. PV_OK, or PV_ENOMEM
 * (job not taken: the caller holds it another way).
 * pv_cardpay_settle - after job's batch (committed: it committed): capture
 * (job->res.err == PV_OK) or void job's hold (job borrowed until
 * hooks.settled). A committed purchase is answered (hooks.settled) at once and
 * its hold captured after; any other job is answered once its hold's end is
 * recorded. The writer's thread.
 */
int pv_cardpay_hold(struct pv_cardpay *cp, struct pv_job *job);
void pv_cardpay_settle(struct pv_cardpay *cp, struct pv_job *job, int committed);

/* At most this many jobs per stage in one round: a writer that gives the held jobs this
 * much room of their own (pv_cardpay_take) never has to record a hold's answer apart from
 * its purchase and queue the job for a later batch (issue 15, session 10). */
#define PV_CARDPAY_GROUP_MAX 512

/*
 * pv_cardpay_take - the round, for the writer, before its batch: takes
 * what is waiting; the jobs whose holds were answered, up to room, join
 * the batch (the others' answers are recorded in the round and their jobs
 * handed back through hooks.held, to a later batch): into jobs[k] (borrowed as before), their
 * results to be written into res[k] (the batch's, borrowed until pv_cardpay_after) by
 * pv_cardpay_write once their answers are recorded. Returns k (cp NULL: 0).
 * pv_cardpay_write - the round taken, inside that batch's transaction with
 * the write lock held and before its jobs (pv_processor_ctx.in_batch; arg
 * is the struct pv_cardpay): writes it, one savepoint per card (none on
 * SQLite, where a card's one statement fails alone; a card's store error
 * fails that card only). PV_OK, or a store error of the savepoints or a
 * transaction the database rolled back itself (the batch is rolled back).
 * pv_cardpay_after - after that batch's commit (rc its outcome, PV_OK:
 * committed; st borrowed, outside any transaction): what the round made
 * durable is acted on. cp NULL: nothing.
 */
size_t pv_cardpay_take(struct pv_cardpay *cp, struct pv_job **jobs, struct pv_purchase_res *res,
                       size_t room);
int pv_cardpay_write(void *cp, struct pv_store *st);
void pv_cardpay_after(struct pv_cardpay *cp, struct pv_store *st, int rc);

/* pv_cardpay_round_shared_rows - 1 when the round just taken checks a new card job
 * with a medium or in test mode: rows every processor may lock (a sheet, the test
 * PSD), so its batch takes the writer lock whole (pv_processor_ctx.lock_whole). */
int pv_cardpay_round_shared_rows(struct pv_cardpay *cp);

/* pv_cardpay_ready - work waits for a round (cp NULL: 0; end states a settler writes are not
 * the round's). pv_cardpay_busy - that, a gateway call in flight, or end states not yet
 * written (the settler's too): the writer may not stop yet. */
int pv_cardpay_ready(struct pv_cardpay *cp);
int pv_cardpay_busy(struct pv_cardpay *cp);

/* pv_cardpay_stop - takes cp (NULL fine), once the writer has stopped and
 * pv_cardpay_busy said 0: its settler joined and the settler's store closed. */
void pv_cardpay_stop(struct pv_cardpay *cp);

#endif
