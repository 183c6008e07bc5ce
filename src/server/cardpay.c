/*
 * cardpay.c - a processor's card payments around its writer's batches
 * (cardpay.h; docs/internals/purchase-path.md): the holds before the batch,
 * the captures and voids after it, with the gateway's calls in flight
 * asynchronously and the payment intents written in the writer's batch
 * transactions (issue 15).
 *
 * Work arrives on four lists under one mutex: card jobs to hold, jobs back
 * from the writer to settle, and the gateway's answers to both (pushed by
 * the gateway's done callbacks, on the gateway's thread; each push wakes
 * the writer). The writer, inside each batch's transaction once it holds
 * the write lock (pv_cardpay_write), takes everything that is there and
 * writes it, one savepoint per card (none on SQLite, where each card's one
 * write is one statement that fails alone), so a store error on one card's
 * row fails that card only:
 *
 *   answers to holds   -> recorded (authorized / declined);
 *   new card jobs      -> checked and their intents written (pending);
 *   jobs to settle     -> (their batch failed) the holds given up (voiding);
 *   answers to those   -> the end states (captured / voided) - on a store whose
 *                         writers go side by side (PostgreSQL), written instead by
 *                         the settler's thread on its own connection (cardpay_end.c),
 *                         but for the jobs back with nothing to call for;
 *
 * and after the batch's commit (pv_cardpay_after) acts on what it made
 * durable: each hold submitted, each held job handed to the writer's queue,
 * each capture or void submitted, each finished job answered. A job whose
 * batch committed is answered and captured, or voided, straight away
 * (pv_cardpay_settle): the batch moved its intent to settling or voiding
 * itself.
 *
 * So a card costs no commit of its own - its writes ride on the batches'
 * one commit each, on the writer's connection (no second connection
 * committing, no page cache thrown away; on PostgreSQL the end states ride on
 * the settler's commits, beside the writer's: issue 15, session 18) - and every promise of the
 * intents is kept: an intent is committed before its gateway call is made,
 * its hold's answer is committed before the job reaches a batch, the
 * capture is made only for a job whose batch committed (its intent
 * "settling" in that commit), and a job is answered once that commit made
 * its purchase and its intent durable: a committed purchase's capture and
 * end state follow off its answer's path (issue 15, session 17), as the
 * recovery would make them after a crash (docs/payments.md). The gateway's
 * calls never run on the writer: pv_gateway_submit is asynchronous (the
 * sandbox's timer, or the synchronous fallback's thread pool).
 */
#include "server/cardpay.h"

#include "domain/intent.h"
#include "domain/purchase.h"
#include "payment/gateway.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cardpay_int.h"

void cp_list_push(struct cp_list *l, struct cp_item *x)
{
    x->next = NULL;
    if (l->tail)
        l->tail->next = x;
    else
        l->head = x;
    l->tail = x;
    l->n++;
}

struct cp_list cp_list_take(struct cp_list *l)
{
    struct cp_list out = {l->head, NULL, 0};
    struct cp_item *x = l->head, *last = NULL;

    while (x && out.n < GROUP_MAX) {
        last = x;
        x = x->next;
        out.n++;
    }
    if (last) {
        last->next = NULL;
        out.tail = last;
    }
    l->head = x;
    if (!x)
        l->tail = NULL;
    l->n -= out.n;
    return out;
}

/* The gateway's done callback (its thread): queue the answer for the writer's next round. */
static void answered(struct pv_gateway_call *call, int settle)
{
    struct cp_item *x = call->arg;
    struct pv_cardpay *cp = x->cp;

    pthread_mutex_lock(&cp->mu);
    cp_list_push(settle ? &cp->settled : &cp->held, x);
    cp->in_flight--;
    cp->in_cb++;
    if (settle && cp->sst)
        pthread_cond_signal(&cp->work);
    pthread_mutex_unlock(&cp->mu);
    /* The writer may see nothing in flight now and stop; pv_cardpay_stop (and so
     * the processor's end) waits until this callback is out. An end state the settler
     * writes is none of the writer's business: the settler wakes it once written. */
    if (!settle || !cp->sst)
        cp->hooks.wake(cp->hooks.owner);
    pthread_mutex_lock(&cp->mu);
    if (--cp->in_cb == 0)
        pthread_cond_broadcast(&cp->quiet);
    pthread_mutex_unlock(&cp->mu);
}

static void hold_answered(struct pv_gateway_call *call)
{
    answered(call, 0);
}

static void settle_answered(struct pv_gateway_call *call)
{
    struct cp_item *x = call->arg;

    x->ok = call->rc == PV_OK;
    if (!x->ok)
        pv_intent_finish_failed(&x->it, x->capture, call->rc);
    answered(call, 1);
}

/* Submit x's call to the gateway of its mode. */
static void submit(struct pv_cardpay *cp, struct cp_item *x, struct pv_gateway *gw)
{
    pthread_mutex_lock(&cp->mu);
    cp->in_flight++;
    pthread_mutex_unlock(&cp->mu);
    pv_gateway_submit(gw, &x->call);
}

/* A card's savepoint, when its store needs one: on SQLite (pv_store_stmt_atomic) a card's
 * round writes one row with one statement, which undoes itself when it fails, so the
 * savepoint pair is two statements a card for nothing (issue 15, session 9). */
int cp_sp_open(struct pv_store *st)
{
    return pv_store_stmt_atomic(st) ? PV_OK : pv_store_savepoint(st);
}

/* End x's savepoint: rolled back after a store error (failed != 0), else released. Without
 * one (SQLite), a failed statement may have taken the whole transaction with it (a full
 * disk, an I/O error): then PV_ESTORE, and the caller rolls the batch back. */
int cp_sp_end(struct pv_store *st, int failed)
{
    if (pv_store_stmt_atomic(st))
        return failed ? pv_store_alive(st) : PV_OK;
    return failed ? pv_store_rollback_to(st) : pv_store_release(st);
}

/*
 * The store's part of each stage, inside the writer's batch transaction,
 * one savepoint per card (sp_open: none on SQLite): a card's store error
 * undoes that card's writes only; an error of the savepoints themselves ends the transaction (the
 * caller rolls the batch back).
 */

/* The writer remembers the gateway key of a held job's hold (r: its result): its capture
 * needs no read. */
static void keep_key(struct pv_job *job, const struct pv_purchase_res *r,
                     const struct pv_intent_rec *it)
{
    if (!r->held)
        return;
    pv_str_copy(job->pay_key, sizeof job->pay_key, it->gateway_key);
    pv_str_copy(job->pay_charge, sizeof job->pay_charge, r->charge_id);
}

/* Holds answered: their answers recorded (authorized / declined); a job in this batch
 * (slot) gets its hold's result for the batch. */
static int db_held(struct pv_store *st, struct cp_list *l)
{
    int rc;

    for (struct cp_item *x = l->head; x; x = x->next) {
        struct pv_purchase_res *r = x->slot ? x->slot : &x->job->res;

        if (x->slot && x->call.rc == PV_OK && x->call.result == PV_PAY_APPROVED &&
            x->call.charge_id && strlen(x->call.charge_id) < sizeof x->it.charge_id) {
            /* Approved, its job in this batch: the answer is recorded by the batch's claim of
             * its intent (pending -> settling, pv_purchase_claim; or the job's own move, and
             * voiding when refused), in the same commit - one write, not two. */
            pv_crash_point("after_authorize");
            pv_str_copy(x->it.charge_id, sizeof x->it.charge_id, x->call.charge_id);
            x->out = PV_OK;
            pv_purchase_hold_done(r, &x->it, PV_OK);
            r->held_pending = 1;
            keep_key(x->job, r, &x->it);
            continue;
        }
        if ((rc = cp_sp_open(st)) != PV_OK)
            return rc;
        x->out = pv_intent_authorized(st, &x->it, x->call.rc, x->call.result, x->call.charge_id,
                                      r->decline, pv_now_ms());
        /* Not recorded: the intent stays pending, the recovery voids its hold. */
        if ((rc = cp_sp_end(st, pv_purchase_store_trouble(x->out))) != PV_OK)
            return rc;
        if (x->slot) {
            /* Its job is in this batch: bought (or refused) after this, in the same commit. */
            pv_purchase_hold_done(r, &x->it, x->out);
            keep_key(x->job, r, &x->it);
        }
    }
    return PV_OK;
}

/* A card of l (i-th) whose (owner, key) an earlier one of the round has: its head is read in
 * its turn, after that one's intent (a retry racing its first try adopts it, as before). */
static int twin(const struct cp_item *x, const struct cp_list *l)
{
    for (const struct cp_item *y = l->head; y != x; y = y->next)
        if (y->job->req.test == x->job->req.test &&
            strcmp(y->job->req.customer_id, x->job->req.customer_id) == 0 &&
            strcmp(y->job->req.idem_key, x->job->req.idem_key) == 0)
            return 1;
    return 0;
}

/* PostgreSQL: the intents to write of a round's cards (their places in l) in one statement,
 * in a savepoint of its own; a card whose intent another wrote meanwhile, or all of them when
 * the statement failed, are opened alone after the commit (need < 0), as a card whose own
 * statement failed. */
static int hold_write(struct pv_store *st, struct pv_intent_rec *its, struct cp_item **at, size_t k)
{
    uint8_t *done = calloc(k ? k : 1, 1);
    int rc, one = done ? PV_OK : PV_ENOMEM;

    if ((rc = cp_sp_open(st)) != PV_OK) {
        free(done);
        return rc;
    }
    if (one == PV_OK)
        one = pv_store_intents_insert(st, its, k, done);
    rc = cp_sp_end(st, one != PV_OK);
    for (size_t j = 0; rc == PV_OK && j < k; j++) {
        struct cp_item *x = at[j];

        x->it = its[j];
        x->need =
            one == PV_OK && done[j] ? pv_purchase_hold_opened(&x->job->res, &x->it, 1, PV_OK) : -1;
    }
    free(done);
    return rc;
}

/* n elements of size, not zeroed (owned); NULL for none, or when n x size overflows. */
static void *array_of(size_t n, size_t size)
{
    return n && n <= SIZE_MAX / size ? malloc(n * size) : NULL;
}

/* New card jobs: their checks and intents. On PostgreSQL (issue 15, session 14) their heads
 * in one read (pv_store_card_heads), then the new intents in one statement (hold_write); a
 * card whose key an earlier card of the round has reads its head and writes its intent alone,
 * after the others (it adopts theirs). On SQLite, where a statement costs no round trip, and
 * when memory is short, each card reads its head and writes its intent in its turn. */
static int db_hold(struct pv_cardpay *cp, struct pv_store *st, struct cp_list *l)
{
    int64_t now = pv_now_ms() / 1000;
    /* Where each card goes alone (SQLite) nothing is kept for the round: the heads and
     * intents are ~2.3 kB a card, and zeroing them cost the writer ~3.5 % of a card's time
     * (issue 15, session 20). Filled before they are read: only how[] starts zeroed. */
    int alone = pv_store_stmt_atomic(st);
    size_t n = alone ? 0 : l->n ? l->n : 1, i, m = 0, k = 0;
    char(*owners)[PV_ID_MAX] = array_of(n, sizeof *owners);
    const char **own = array_of(n, sizeof *own), **keys = array_of(n, sizeof *keys);
    const char **cus = array_of(n, sizeof *cus);
    struct pv_card_head *heads = array_of(n, sizeof *heads);
    int *how = n ? calloc(n, sizeof *how) : NULL; /* 0 final, 1 head with the others, 2 alone */
    struct pv_intent_rec *its = array_of(n, sizeof *its);
    struct cp_item **at = array_of(n, sizeof *at);
    int rc = PV_OK, one = PV_OK,
        together = !alone && owners && own && keys && cus && heads && how && its && at;
    struct cp_item *x;

    for (x = l->head, i = 0; together && x; x = x->next, i++) {
        struct pv_purchase_req *q = &x->job->req;

        if (!pv_purchase_hold_start(q, &x->job->res, now))
            continue;
        how[i] = twin(x, l) ? 2 : 1;
        if (how[i] == 1) {
            pv_idem_owner(q->customer_id, q->test, owners[m]);
            own[m] = owners[m];
            keys[m] = q->idem_key;
            cus[m++] = q->customer_id;
        }
    }
    /* Their heads: one statement in a savepoint of its own; when it fails, each card of it is
     * opened alone after the commit, as a card whose own statement failed. */
    if (together && m && (rc = cp_sp_open(st)) == PV_OK) {
        one = pv_store_card_heads(st, "purchase", own, keys, cus, m, heads);
        rc = cp_sp_end(st, one != PV_OK);
    }
    /* The cards whose heads were read together, then the others. */
    for (x = l->head, i = 0, m = 0; rc == PV_OK && together && x; x = x->next, i++) {
        if (how[i] != 1 || one != PV_OK) {
            x->need = how[i] == 1 ? -1 : 0; /* 0: refused, or no card (twins: below) */
            continue;
        }
        if ((rc = cp_sp_open(st)) != PV_OK)
            break;
        x->need = pv_purchase_hold_plan(st, cp->ctx, &x->job->req, &x->job->res, &x->it, 1,
                                        &heads[m++], PV_OK);
        /* Its statement failed (on PostgreSQL that spoils the savepoint): alone, after. */
        rc = cp_sp_end(st, x->need < 0);
        if (x->need == 2) {
            its[k] = x->it;
            at[k++] = x;
        }
    }
    if (rc == PV_OK && k)
        rc = hold_write(st, its, at, k);
    for (x = l->head, i = 0; rc == PV_OK && x; x = x->next, i++) {
        if (together && how[i] != 2)
            continue;
        if ((rc = cp_sp_open(st)) != PV_OK)
            break;
        x->need = pv_purchase_hold_open(st, cp->ctx, &x->job->req, &x->job->res, now, &x->it, 1);
        rc = cp_sp_end(st, x->need < 0);
    }
    free(owners);
    free(own);
    free(keys);
    free(cus);
    free(heads);
    free(how);
    free(its);
    free(at);
    return rc;
}

/* Jobs back from a batch that failed: their holds given up (voiding); those with a call to
 * make go to *calls, the others (nothing held, finished already, or not readable: left to
 * the recovery) to *done. */
static int db_settle(struct pv_store *st, struct cp_list *l, struct cp_list *calls,
                     struct cp_list *done)
{
    struct cp_item *x, *next;
    int rc = PV_OK, one = PV_OK, go;

    for (x = l->head; rc == PV_OK && x; x = next) {
        const char *id = x->job->res.intent_id;

        next = x->next;
        l->head = next;
        l->n--;
        x->capture = pv_purchase_res_pays(&x->job->res);
        if ((rc = cp_sp_open(st)) != PV_OK)
            go = 0;
        else if ((one = pv_intent_settle_prepare(st, &id, &x->capture, 1, &x->it, &go, 1,
                                                 pv_now_ms())) != PV_OK)
            go = 0;
        else if (!go && !x->capture && x->job->pay_charge[0] &&
                 strcmp(x->it.state, PV_INTENT_PENDING) == 0) {
            /* Its hold's answer rode on the batch that failed: given up with its charge. */
            one = pv_store_intent_move(st, id, PV_INTENT_PENDING, PV_INTENT_VOIDING,
                                       x->job->pay_charge, NULL, NULL, 0, pv_now_ms());
            if ((go = one == PV_OK)) {
                pv_str_copy(x->it.charge_id, sizeof x->it.charge_id, x->job->pay_charge);
                pv_str_copy(x->it.state, sizeof x->it.state, PV_INTENT_VOIDING);
            }
            one = one == PV_EPAYSTATE ? PV_OK : one;
        }
        if (rc == PV_OK)
            rc = cp_sp_end(st, one != PV_OK);
        x->ok = go && !x->it.charge_id[0]; /* nothing held: nothing to call */
        cp_list_push(rc == PV_OK && go && x->it.charge_id[0] ? calls : done, x);
    }
    if (!l->head)
        l->tail = NULL;
    return rc;
}

/* After the commit (rc: its outcome), the holds answered go to the writer. */
static void post_held(struct pv_cardpay *cp, struct cp_list *l, int rc)
{
    struct cp_item *x, *next;

    for (x = l->head; x; x = next) {
        next = x->next;
        free(x->call.charge_id);
        if (x->slot) {
            free(x); /* its job was in the batch */
            continue;
        }
        if (rc != PV_OK)
            x->job->res.decline[0] = '\0';
        /* Not recorded: the intent stays pending, the recovery voids its hold. */
        pv_purchase_hold_done(&x->job->res, &x->it, rc == PV_OK ? x->out : rc);
        keep_key(x->job, &x->job->res, &x->it);
        cp->hooks.held(cp->hooks.owner, x->job);
        free(x);
    }
}

/* ... the holds of committed intents are asked for (the others' jobs go to the writer). */
static void post_hold(struct pv_cardpay *cp, struct pv_store *st, struct cp_list *l, int rc)
{
    struct cp_item *x, *next;

    for (x = l->head; x; x = next) {
        struct pv_purchase_res *r = &x->job->res;

        next = x->next;
        if (rc != PV_OK) {
            /* Its intent was not written: nothing is held; the client may try again. */
            r->held = 0;
            r->pre_err = PV_EGATEWAY;
            x->need = 0;
        } else if (x->need < 0) {
            x->need =
                pv_purchase_hold_open(st, cp->ctx, &x->job->req, r, pv_now_ms() / 1000, &x->it, 0);
        }
        if (x->need != 1) {
            keep_key(x->job, r, &x->it); /* adopted with its hold */
            cp->hooks.held(cp->hooks.owner, x->job);
            free(x);
            continue;
        }
        memset(&x->call, 0, sizeof x->call);
        x->call.op = PV_GW_AUTHORIZE;
        x->call.source = x->it.source;
        x->call.amount = x->it.amount;
        x->call.key = x->it.gateway_key;
        x->call.done = hold_answered;
        x->call.arg = x;
        submit(cp, x, pv_pay_gateway(&cp->ctx->gws, x->job->req.test));
    }
}

/* Submit the capture (x->capture) or void of x->it's hold. */
static void submit_finish(struct pv_cardpay *cp, struct cp_item *x, struct pv_gateway *gw)
{
    pv_intent_finish_key(&x->it, x->capture, x->key);
    memset(&x->call, 0, sizeof x->call);
    x->call.op = x->capture ? PV_GW_CAPTURE : PV_GW_VOID;
    x->call.charge_id_in = x->it.charge_id;
    x->call.key = x->key;
    x->call.done = settle_answered;
    x->call.arg = x;
    submit(cp, x, gw);
}

/* ... the captures and voids are made (when the commit failed: left to the recovery). */
static void post_settle(struct pv_cardpay *cp, struct cp_list *l, int rc)
{
    struct cp_item *x, *next;

    for (x = l->head; x; x = next) {
        struct pv_gateway *gw = pv_pay_gateway(&cp->ctx->gws, x->it.test);

        next = x->next;
        if (rc != PV_OK || !gw) {
            if (x->job)
                cp->hooks.settled(cp->hooks.owner, x->job);
            free(x);
            continue;
        }
        submit_finish(cp, x, gw);
    }
}

size_t pv_cardpay_take(struct pv_cardpay *cp, struct pv_job **jobs, struct pv_purchase_res *res,
                       size_t room)
{
    struct cp_item *x;
    size_t k = 0;

    if (!cp)
        return 0;
    pthread_mutex_lock(&cp->mu);
    cp->r_held = cp_list_take(&cp->held);
    cp->r_hold = cp_list_take(&cp->to_hold);
    cp->r_settle = cp_list_take(&cp->to_settle);
    if (!cp->sst)
        cp->r_settled = cp_list_take(&cp->settled);
    pthread_mutex_unlock(&cp->mu);
    cp->r_calls = (struct cp_list){NULL, NULL, 0};
    /* The held jobs join this batch: their answers commit with their purchases. */
    for (x = cp->r_held.head; x && k < room; x = x->next, k++) {
        jobs[k] = x->job;
        x->slot = &res[k];
    }
    return k;
}

int pv_cardpay_round_shared_rows(struct pv_cardpay *cp)
{
    for (struct cp_item *x = cp ? cp->r_hold.head : NULL; x; x = x->next)
        if (x->job->req.medium_serial[0] || x->job->req.test)
            return 1;
    return 0;
}

int pv_cardpay_write(void *arg, struct pv_store *st)
{
    struct pv_cardpay *cp = arg;
    int rc = PV_OK;

    if (cp->r_held.n)
        rc = db_held(st, &cp->r_held);
    if (rc == PV_OK && cp->r_hold.n)
        rc = db_hold(cp, st, &cp->r_hold);
    if (rc == PV_OK && cp->r_settle.n)
        rc = db_settle(st, &cp->r_settle, &cp->r_calls, &cp->r_settled);
    if (rc == PV_OK && cp->r_settled.n)
        rc = cp_db_settled(st, &cp->r_settled);
    return rc;
}

void pv_cardpay_after(struct pv_cardpay *cp, struct pv_store *st, int rc)
{
    if (!cp)
        return;
    if (rc != PV_OK && (cp->r_settle.n || cp->r_calls.n || cp->r_settled.n))
        pv_log(PV_LOG_WARNING, "%s: settling card payments: %s (the recovery finishes them)\n",
               cp->ctx->server_id, pv_strerror(rc));
    post_held(cp, &cp->r_held, rc);
    post_hold(cp, st, &cp->r_hold, rc);
    post_settle(cp, &cp->r_settle, rc); /* what db_settle did not sort (it failed): answered */
    post_settle(cp, &cp->r_calls, rc);
    cp_settled_after(cp, &cp->r_settled, rc);
    cp->r_held = cp->r_hold = cp->r_settle = cp->r_settled = cp->r_calls =
        (struct cp_list){NULL, NULL, 0};
}

int pv_cardpay_start(struct pv_processor_ctx *ctx, const struct pv_cardpay_hooks *hooks,
                     struct pv_cardpay **out)
{
    struct pv_cardpay *cp;

    *out = NULL;
    if (!(cp = calloc(1, sizeof *cp)))
        return PV_ENOMEM;
    cp->ctx = ctx;
    cp->hooks = *hooks;
    pthread_mutex_init(&cp->mu, NULL);
    pthread_cond_init(&cp->quiet, NULL);
    pthread_cond_init(&cp->work, NULL);
    *out = cp;
    return PV_OK;
}

/* Queue job on list l; PV_ENOMEM when no item can be made. */
static int enqueue(struct pv_cardpay *cp, struct pv_job *job, int settle)
{
    struct cp_item *x = calloc(1, sizeof *x);

    if (!x)
        return PV_ENOMEM;
    x->job = job;
    x->cp = cp;
    pthread_mutex_lock(&cp->mu);
    cp_list_push(settle ? &cp->to_settle : &cp->to_hold, x);
    pthread_mutex_unlock(&cp->mu);
    cp->hooks.wake(cp->hooks.owner);
    return PV_OK;
}

int pv_cardpay_hold(struct pv_cardpay *cp, struct pv_job *job)
{
    return enqueue(cp, job, 0);
}

void pv_cardpay_settle(struct pv_cardpay *cp, struct pv_job *job, int committed)
{
    struct pv_purchase_res *r = &job->res;
    struct pv_gateway *gw = pv_pay_gateway(&cp->ctx->gws, job->req.test);
    struct cp_item *x;

    pv_crash_point("after_commit");
    if (!committed || !pv_purchase_res_pays(r) || !job->pay_key[0] || !r->charge_id[0] || !gw) {
        /* Its batch failed (the hold is to be given up first), it was refused or replayed
         * after its batch claimed its hold (voided only if its intent says voiding: the
         * recovery may own it), or not known enough to act without reading its intent: in
         * the next round. */
        if (enqueue(cp, job, 1) != PV_OK) {
            /* The intent says what to do: the recovery captures or voids it. */
            pv_log(PV_LOG_WARNING, "%s: settling card payments: %s (the recovery finishes them)\n",
                   cp->ctx->server_id, pv_strerror(PV_ENOMEM));
            cp->hooks.settled(cp->hooks.owner, job);
        }
        return;
    }
    if (!(x = calloc(1, sizeof *x))) {
        pv_log(PV_LOG_WARNING, "%s: settling card payments: %s (the recovery finishes them)\n",
               cp->ctx->server_id, pv_strerror(PV_ENOMEM));
        cp->hooks.settled(cp->hooks.owner, job);
        return;
    }
    /* Its batch committed the intent settling (pv_purchase_claim, or the job's own move):
     * the purchase is durable and paid for, so it is answered now, and its hold captured after
     * (issue 15, session 17: one gateway round trip and one commit sooner). The capture needs
     * nothing of the job, which is the front's again once answered. */
    x->cp = cp;
    x->capture = 1;
    pv_str_copy(x->it.id, sizeof x->it.id, r->intent_id);
    pv_str_copy(x->it.charge_id, sizeof x->it.charge_id, r->charge_id);
    pv_str_copy(x->it.gateway_key, sizeof x->it.gateway_key, job->pay_key);
    pv_str_copy(x->it.state, sizeof x->it.state, PV_INTENT_SETTLING);
    x->it.test = job->req.test;
    cp->hooks.settled(cp->hooks.owner, job);
    submit_finish(cp, x, gw);
}

int pv_cardpay_ready(struct pv_cardpay *cp)
{
    int ready;

    if (!cp)
        return 0;
    pthread_mutex_lock(&cp->mu);
    ready =
        cp->to_hold.head || cp->held.head || cp->to_settle.head || (cp->settled.head && !cp->sst);
    pthread_mutex_unlock(&cp->mu);
    return ready;
}

int pv_cardpay_busy(struct pv_cardpay *cp)
{
    int busy;

    if (!cp)
        return 0;
    pthread_mutex_lock(&cp->mu);
    busy = cp->to_hold.head || cp->held.head || cp->to_settle.head || cp->settled.head ||
           cp->in_flight > 0 || cp->s_busy;
    pthread_mutex_unlock(&cp->mu);
    return busy;
}

void pv_cardpay_stop(struct pv_cardpay *cp)
{
    if (!cp)
        return;
    pthread_mutex_lock(&cp->mu);
    while (cp->in_cb > 0)
        pthread_cond_wait(&cp->quiet, &cp->mu);
    cp->s_stop = 1;
    pthread_cond_signal(&cp->work);
    pthread_mutex_unlock(&cp->mu);
    if (cp->sst) {
        pthread_join(cp->settler, NULL);
        pv_store_close(cp->sst);
    }
    pthread_cond_destroy(&cp->work);
    pthread_cond_destroy(&cp->quiet);
    pthread_mutex_destroy(&cp->mu);
    free(cp);
}
