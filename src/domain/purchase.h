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
 *
 * With a sign pool (ctx->sign_pool, signpool.h) a batch runs in two halves:
 * each job's savepoint writes its registers, money and idempotency record
 * and encodes its indicium; then the batch's indicia are signed together on
 * the pool's threads; then each is stored with its medium's use and events,
 * and the batch commits. A job with a medium, and every job of a batch that
 * uses one key twice, is signed and stored in its own savepoint as before.
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
 * error - or a signature or store error in the batch's second half, which
 * cannot be undone for one job alone - in which case every res[i].err is
 * that error and nothing was written.
 */
#define PV_NOW_AT_LOCK 0

int pv_purchase_batch(struct pv_store *st, struct pv_processor_ctx *ctx,
                      const struct pv_purchase_req *reqs, struct pv_purchase_res *res, size_t n,
                      int64_t now);

/*
 * The card stages around a batch (purchase_pay.c), separable so that they
 * may run off the writer thread:
 *
 * pv_purchase_authorize - before the batch, for one job q (borrowed): when
 * it pays by card, the cheap checks (price, a replay, the medium's price),
 * then its payment intent written and committed (or a retry's adopted),
 * then the hold at the gateway. Fills r (cleared first): held, intent_id,
 * charge_id, charged, or pre_err (and decline) when the job is refused now
 * - pv_purchase_batch then answers it without running it. now: unix
 * seconds. Jobs that pay from the balance get a cleared r.
 *
 * pv_purchase_settle - after pv_purchase_batch returned, for the same n
 * jobs: capture the holds of jobs that committed, void those of jobs that
 * did not (their intents say which). Gateway failures are left to the
 * recovery (pv_intent_recover).
 */
void pv_purchase_authorize(struct pv_store *st, struct pv_processor_ctx *ctx,
                           const struct pv_purchase_req *q, struct pv_purchase_res *r, int64_t now);
void pv_purchase_settle(struct pv_store *st, struct pv_processor_ctx *ctx,
                        const struct pv_purchase_res *res, size_t n);
/* pv_purchase_res_rerun - clear what a batch fills in r (borrowed; its piece's texts
 * freed), keeping what pv_purchase_authorize put there: the hold, and unless failed
 * (the batch failed) the card's answer too, and whether its intent records it yet
 * (held_pending: a job deferred to a later batch, session 16; purchase_pay.c). */
void pv_purchase_res_rerun(struct pv_purchase_res *r, int failed);

/*
 * pv_purchase_authorize in steps, for a caller that calls the gateway
 * asynchronously and writes many cards' intents in one commit (issue 15):
 *
 * pv_purchase_hold_open - the checks and the intent of q (borrowed), r
 * cleared first as by pv_purchase_authorize, *it (the caller's) the intent.
 * Returns 1 when the hold is to be asked for now (it->source, amount,
 * gateway_key), 0 when r is final (refused: pre_err; a replay; a hold
 * adopted: held). in_group: inside the caller's transaction, where a store
 * error is returned (< 0, r untouched) rather than answered, so that the
 * caller rolls back its savepoint and runs the job again alone.
 *
 * pv_purchase_hold_start, pv_purchase_hold_plan and pv_purchase_hold_opened -
 * pv_purchase_hold_open in three, for a caller that reads many cards' heads
 * and writes their intents in one statement each (pv_store_card_heads,
 * pv_store_intents_insert; issue 15, session 14): hold_start clears r and
 * checks q's price, 1 when its head is to be read (0: r is final);
 * hold_plan goes on from the head as read (head_rc the read's code, head
 * borrowed) and answers 2 when *it is a new intent to be written (what
 * pv_intent_plan decided), else what hold_open answers; hold_opened goes on
 * from rc, the outcome of writing it (or of pv_intent_open), and answers
 * what hold_open answers.
 *
 * pv_purchase_hold_done - r from the outcome rc of recording the hold of it
 * (pv_intent_authorize's or pv_intent_authorized's return).
 */
int pv_purchase_hold_open(struct pv_store *st, struct pv_processor_ctx *ctx,
                          const struct pv_purchase_req *q, struct pv_purchase_res *r, int64_t now,
                          struct pv_intent_rec *it, int in_group);
int pv_purchase_hold_start(const struct pv_purchase_req *q, struct pv_purchase_res *r, int64_t now);
int pv_purchase_hold_plan(struct pv_store *st, struct pv_processor_ctx *ctx,
                          const struct pv_purchase_req *q, struct pv_purchase_res *r,
                          struct pv_intent_rec *it, int in_group, const struct pv_card_head *head,
                          int head_rc);
int pv_purchase_hold_opened(struct pv_purchase_res *r, const struct pv_intent_rec *it, int in_group,
                            int rc);
void pv_purchase_hold_done(struct pv_purchase_res *r, const struct pv_intent_rec *it, int rc);

/*
 * The card jobs' holds in a batch (issue 15, session 15), after its card round and before its
 * jobs: pv_purchase_claim moves the intents of res[0..n)'s held jobs (pre_err PV_OK; one job
 * for each intent, the first) to "settling" naming a new piece id each, res[i].piece_id - one
 * statement for the batch on PostgreSQL, in a savepoint, instead of a round trip in each job -
 * and sets res[i].claimed, locking the intents in id order; a job not claimed (its intent
 * moved meanwhile or held by another transaction, or the statement failed) moves its own in
 * its job (pv_purchase_book_hold). PV_OK, or
 * PV_ENOMEM / PV_EBUSY (a lock waited for too long, a deadlock) / a store error that ends the
 * batch.
 * pv_purchase_book_hold - in a card job's head, after the price: PV_EPAYSTATE when due is not
 * the hold's; the two journal lines of its charge into lines; a claimed job's charge checked
 * as charges_insert will check it (PV_EINVAL), a job not claimed writes its charge row and
 * moves its intent (PV_EPAYSTATE when the guard refuses) - first taking the intent's row only
 * when free (PostgreSQL): held by another transaction, PV_EBUSY with r->refill.deferred set
 * (the job is run again in a later batch, its hold kept; session 16).
 * pv_purchase_card_tails - after the jobs, the charge rows of res[0..n)'s claimed card jobs
 * that made their pieces, in one statement on PostgreSQL (queued with the batch's writes; its
 * failure fails the batch). PV_OK, PV_ENOMEM or a store error.
 * pv_purchase_hold_drop - a held job refused, or one claimed that replayed: its intent to
 * "voiding" in the batch's transaction (voided after the commit) - from "settling" when
 * claimed (a refusal then is PV_EINTERNAL: the batch's own row), else from the state its
 * hold left it in (a refusal is PV_OK: someone else moved it, the recovery).
 * pv_purchase_res_again - pv_purchase_res_rerun(r, 0) keeping what the card round and the
 * claim set for this batch (a job run again within it).
 * All borrow their arguments; r is the caller's.
 */
int pv_purchase_claim(struct pv_store *st, struct pv_processor_ctx *ctx,
                      struct pv_purchase_res *res, size_t n);
int pv_purchase_book_hold(struct pv_store *st, struct pv_processor_ctx *ctx,
                          const struct pv_purchase_req *q, struct pv_purchase_res *r, pv_mills due,
                          int64_t now, struct pv_ledger_line lines[2]);
int pv_purchase_card_tails(struct pv_store *st, const struct pv_purchase_req *reqs,
                           const struct pv_purchase_res *res, size_t n, int64_t now);
int pv_purchase_hold_drop(struct pv_store *st, struct pv_processor_ctx *ctx,
                          const struct pv_purchase_res *r);
void pv_purchase_res_again(struct pv_purchase_res *r);

/*
 * pv_purchase_refill - after the batch (and pv_purchase_settle), for the
 * same n jobs: each job the batch deferred for its own auto-refill
 * (res[i].refill) gets the refill's card held under its intent, credited
 * in a transaction of its own (charge, journal "auto_refill", intent
 * "settling") and captured; the outcome is kept in res[i].refill (done,
 * err, decline) and refill_id / refilled. Every deferred job
 * (res[i].refill.deferred) must then be run again, with its res kept, in a
 * later batch.
 *
 * pv_purchase_refill_record - the batch's own step (purchase.c): after a
 * deferred job's savepoint is rolled back, write its refill's intent in the
 * batch's transaction. PV_OK, or a store error that ends the batch.
 */
/*
 * pv_purchase_store_trouble - 1 when rc is a store failure (PV_ESTORE,
 * PV_ENOMEM, PV_EBUSY) rather than an answer about the purchase: inside a
 * group (a card round, a hold's preparation) that card is undone and done
 * alone, the others go on.
 */
int pv_purchase_store_trouble(int rc);

/*
 * pv_purchase_lock - the batch's first step after begin() (purchase_lock.c):
 * the writer lock shared and the balance rows of the customers of
 * reqs[0..n-1] whose res[i].pre_err is PV_OK, in name order; the writer
 * lock whole instead when whole, or when pv_purchase_lock_whole says so.
 * Borrows all. PV_OK, PV_ENOMEM, or a store error (PV_EBUSY on a lock wait
 * too long).
 * pv_purchase_lock_whole - 1 when a job of reqs (pre_err PV_OK) is in test
 * mode or bought on a medium: it will lock rows that every processor's
 * batches may lock in another order (the test PSD, a sheet, the media sales
 * account), so its batch excludes the others, as every batch did before.
 */
int pv_purchase_lock(struct pv_store *st, const struct pv_purchase_req *reqs,
                     const struct pv_purchase_res *res, size_t n, int whole, int late);
/*
 * pv_purchase_lock_first - the second half of a batch locking first, after a pv_purchase_lock
 * with late (the writer lock shared only) and the batch's card round: the gate shared with the
 * batches locking first and its customers' balance rows in name order, as pv_purchase_lock
 * takes them without late (the writer lock shared queued again: one statement more). No
 * round then waits for another batch's round while its own batch holds the gate that batch
 * waits for (purchase-path.md, "Customers' rows locked late", with the job's side: a held job
 * never waits for its intent after the gate). Borrows all. PV_OK, PV_ENOMEM or a store error
 * (PV_EBUSY on a lock wait too long).
 */
int pv_purchase_lock_first(struct pv_store *st, const struct pv_purchase_req *reqs,
                           const struct pv_purchase_res *res, size_t n);
/*
 * Customers' rows locked late (PostgreSQL; issue 15, session 10): pv_purchase_lock with late
 * takes the writer lock shared only; pv_purchase_late, before the jobs, reads the customers'
 * balances without a lock (pv_store_batch_late; *late 0 on SQLite); once the jobs decided,
 * pv_purchase_late_settle locks the rows in name order and says in *moved whether a decision
 * no longer holds against the balance locked (then pv_store_batch_undo and the batch again,
 * locking first), and in shift[n] by how much each job's balance moved under it, which it adds
 * to res[i].balance_after when nothing moved (facts[n] from pv_purchase_facts). Borrows all. PV_OK,
 * PV_ENOMEM or a store error.
 */
int pv_purchase_late(struct pv_store *st, const struct pv_purchase_req *reqs,
                     const struct pv_purchase_res *res, size_t n, int *late);
int pv_purchase_late_settle(struct pv_store *st, const struct pv_purchase_req *reqs,
                            struct pv_purchase_res *res, size_t n, const uint8_t *facts,
                            pv_mills *shift, int *moved);
int pv_purchase_lock_whole(const struct pv_purchase_req *reqs, const struct pv_purchase_res *res,
                           size_t n);
/*
 * pv_purchase_facts - after the locks: for each job of reqs[0..n-1] the
 * PV_FACT_* bits (store.h, pv_store_batch_facts) of what its own reads may
 * find, into facts[n]; every bit set for a job refused before the batch and
 * for every job when a key is used twice (repeats, from pv_purchase_repeats:
 * the second must find the first's) and when memory is short. With it,
 * in its round trip, the rows of the PSDs the first jobs will use (the
 * current live one, the test one), locked and kept in ctx->psdb, which the
 * caller emptied. Borrows all. PV_OK or a store error.
 */
int pv_purchase_facts(struct pv_store *st, struct pv_processor_ctx *ctx,
                      const struct pv_purchase_req *reqs, const struct pv_purchase_res *res,
                      size_t n, int repeats, uint8_t *facts);
int pv_purchase_repeats(const struct pv_purchase_req *reqs, size_t n);
void pv_purchase_refill(struct pv_store *st, struct pv_processor_ctx *ctx,
                        const struct pv_purchase_req *reqs, struct pv_purchase_res *res, size_t n);
int pv_purchase_refill_record(struct pv_store *st, struct pv_processor_ctx *ctx,
                              const struct pv_purchase_req *q, struct pv_purchase_res *r);

/*
 * pv_purchase_check_price - PV_OK when q's postage is the rate of its piece
 * on its mail date at unix time now: PV_EMAILDATE outside the window, the
 * quote's error for a class or weight without a rate, PV_EPOSTAGE for any
 * other price.
 */
int pv_purchase_check_price(const struct pv_purchase_req *q, int64_t now);

/* pv_idem_owner - the idempotency namespace of a customer's live or test
 * keys ("cus_..." or "test:cus_..."), into out. */
void pv_idem_owner(const char *customer_id, int test, char out[PV_ID_MAX]);

#endif
