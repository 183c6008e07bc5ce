/*
 * cardpay.c - a processor's card payments off its writer (cardpay.h;
 * docs/internals/purchase-path.md): the holds before the batch, the
 * captures and voids after it, with the gateway's calls in flight
 * asynchronously and the payment intents written in group commits.
 *
 * Work arrives on four lists under one mutex: card jobs to hold, jobs back
 * from the writer to settle, and the gateway's answers to both (pushed by
 * the gateway's done callbacks, on the gateway's thread). A payment thread
 * takes everything that is there and makes it one group per stage:
 *
 *   answers to holds   -> recorded (authorized / declined) in one commit,
 *                         then each job goes to the writer;
 *   new card jobs      -> checked and their intents written (pending) in
 *                         one commit, then each hold submitted;
 *   jobs to settle     -> the holds of jobs that failed given up
 *                         (voiding) in one commit, then each capture or
 *                         void submitted;
 *   answers to those   -> the end states (captured / voided) in one
 *                         commit, then each job answered.
 *
 * So no thread waits on a call in flight (the number in flight is bounded
 * by the jobs, not the threads), and a group of cards costs one commit per
 * stage instead of one per card per stage. Every promise of the intents is
 * kept: an intent is committed before its gateway call is made, its hold's
 * answer is committed before the job reaches the batch, the capture is
 * made only for a job whose batch committed (its intent "settling" in that
 * commit), and the answer waits for the capture (docs/payments.md).
 */
#include "server/cardpay.h"

#include "domain/intent.h"
#include "domain/purchase.h"
#include "payment/gateway.h"
#include "stampd/error.h"
#include "stampd/log.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* At most this many jobs per group (one transaction). */
#define GROUP_MAX 512

/* One card job while it is with the payment threads (one stage). */
struct cp_item {
    struct cp_item *next;
    struct pv_job *job;
    struct pv_intent_rec it;
    struct pv_gateway_call call;
    char key[PV_INTENT_SUBKEY_MAX];
    int need;    /* hold: 1 the hold is to be asked for; < 0 to be opened alone, after */
    int out;     /* held: what recording the gateway's answer gave */
    int capture; /* settle: capture (1) or void (0) */
    int ok;      /* settle: the call succeeded (or none was needed): record the end state */
    struct pv_cardpay *cp;
};

struct cp_list {
    struct cp_item *head, *tail;
    size_t n;
};

struct cp_thread {
    struct pv_cardpay *cp;
    struct pv_store *st;
    pthread_t thread;
    int started;
};

struct pv_cardpay {
    struct pv_processor_ctx *ctx;
    char *dsn;
    struct pv_cardpay_hooks hooks;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct cp_list to_hold, held, to_settle, settled;
    size_t in_flight; /* gateway calls submitted, not yet answered */
    int stopping;
    struct cp_thread *threads;
    size_t nthreads;
};

static void list_push(struct cp_list *l, struct cp_item *x)
{
    x->next = NULL;
    if (l->tail)
        l->tail->next = x;
    else
        l->head = x;
    l->tail = x;
    l->n++;
}

static struct cp_list list_take(struct cp_list *l)
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

static int idle(const struct pv_cardpay *cp)
{
    return !cp->to_hold.head && !cp->held.head && !cp->to_settle.head && !cp->settled.head;
}

/* The gateway's done callback (its thread): queue the answer for the payment threads. */
static void answered(struct pv_gateway_call *call, int settle)
{
    struct cp_item *x = call->arg;
    struct pv_cardpay *cp = x->cp;

    pthread_mutex_lock(&cp->mu);
    list_push(settle ? &cp->settled : &cp->held, x);
    cp->in_flight--;
    pthread_cond_signal(&cp->cv);
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

/*
 * The store's part of each stage, all inside the iteration's one transaction
 * (cp_round): a store error ends it (the caller rolls back).
 */

/* Holds answered: their answers recorded (authorized / declined). */
static int db_held(struct pv_store *st, struct cp_list *l)
{
    for (struct cp_item *x = l->head; x; x = x->next) {
        x->out = pv_intent_authorized(st, &x->it, x->call.rc, x->call.result, x->call.charge_id,
                                      x->job->res.decline, pv_now_ms());
        if (x->out == PV_ESTORE || x->out == PV_ENOMEM || x->out == PV_EBUSY)
            return x->out;
    }
    return PV_OK;
}

/* New card jobs: their checks and intents, one savepoint each. */
static int db_hold(struct pv_cardpay *cp, struct pv_store *st, struct cp_list *l)
{
    int64_t now = pv_now_ms() / 1000;
    int rc;

    for (struct cp_item *x = l->head; x; x = x->next) {
        if ((rc = pv_store_savepoint(st)) != PV_OK)
            return rc;
        x->need = pv_purchase_hold_open(st, cp->ctx, &x->job->req, &x->job->res, now, &x->it, 1);
        /* Its statement failed (on PostgreSQL that spoils the savepoint): alone, after. */
        rc = x->need < 0 ? pv_store_rollback_to(st) : pv_store_release(st);
        if (rc != PV_OK)
            return rc;
    }
    return PV_OK;
}

/* Jobs back from the writer: the holds of those that failed given up (voiding); those with
 * a call to make go to *calls, the others (nothing held, or finished already) to *done. */
static int db_settle(struct pv_store *st, struct cp_list *l, struct cp_list *calls,
                     struct cp_list *done)
{
    const char **ids = calloc(l->n, sizeof *ids);
    int *capture = calloc(l->n, sizeof *capture);
    int *go = calloc(l->n, sizeof *go);
    struct pv_intent_rec *its = calloc(l->n, sizeof *its);
    struct cp_item *x, *next;
    size_t i = 0;
    int rc = PV_ENOMEM;

    if (ids && capture && go && its) {
        for (x = l->head; x; x = x->next, i++) {
            ids[i] = x->job->res.intent_id;
            capture[i] = x->job->res.err == PV_OK;
        }
        rc = pv_intent_settle_prepare(st, ids, capture, l->n, its, go, 1, pv_now_ms());
    }
    for (x = l->head, i = 0; rc == PV_OK && x; x = next, i++) {
        next = x->next;
        x->it = its[i];
        x->capture = capture[i];
        x->ok = go[i] && !x->it.charge_id[0]; /* nothing held: nothing to call */
        list_push(go[i] && x->it.charge_id[0] ? calls : done, x);
    }
    if (rc == PV_OK)
        *l = (struct cp_list){NULL, NULL, 0};
    free(ids);
    free(capture);
    free(go);
    free(its);
    return rc;
}

/* Captures and voids answered (or not needed): their end states. */
static int db_settled(struct pv_store *st, struct cp_list *l)
{
    struct pv_intent_rec *its = calloc(l->n, sizeof *its);
    int *capture = calloc(l->n, sizeof *capture);
    int *ok = calloc(l->n, sizeof *ok);
    size_t i = 0;
    int rc = PV_ENOMEM;

    if (its && capture && ok) {
        for (struct cp_item *x = l->head; x; x = x->next, i++) {
            its[i] = x->it;
            capture[i] = x->capture;
            ok[i] = x->ok;
        }
        rc = pv_intent_settle_record(st, its, capture, ok, l->n, 1, pv_now_ms());
    }
    free(its);
    free(capture);
    free(ok);
    return rc;
}

/* After the commit (rc: its outcome), the holds answered go to the writer. */
static void post_held(struct pv_cardpay *cp, struct cp_list *l, int rc)
{
    struct cp_item *x, *next;

    for (x = l->head; x; x = next) {
        next = x->next;
        if (rc != PV_OK)
            x->job->res.decline[0] = '\0';
        /* Not recorded: the intent stays pending, the recovery voids its hold. */
        pv_purchase_hold_done(&x->job->res, &x->it, rc == PV_OK ? x->out : rc);
        free(x->call.charge_id);
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

/* ... the captures and voids are made (when the commit failed: left to the recovery). */
static void post_settle(struct pv_cardpay *cp, struct cp_list *l, int rc)
{
    struct cp_item *x, *next;

    for (x = l->head; x; x = next) {
        struct pv_gateway *gw = pv_pay_gateway(&cp->ctx->gws, x->it.test);

        next = x->next;
        if (rc != PV_OK || !gw) {
            cp->hooks.settled(cp->hooks.owner, x->job);
            free(x);
            continue;
        }
        pv_intent_finish_key(&x->it, x->capture, x->key);
        memset(&x->call, 0, sizeof x->call);
        x->call.op = x->capture ? PV_GW_CAPTURE : PV_GW_VOID;
        x->call.charge_id_in = x->it.charge_id;
        x->call.key = x->key;
        x->call.done = settle_answered;
        x->call.arg = x;
        submit(cp, x, gw);
    }
}

/* ... and the jobs whose end state is recorded are answered. */
static void post_settled(struct pv_cardpay *cp, struct cp_list *l)
{
    struct cp_item *x, *next;

    for (x = l->head; x; x = next) {
        next = x->next;
        cp->hooks.settled(cp->hooks.owner, x->job);
        free(x);
    }
}

/*
 * One round: every stage's writes in ONE transaction (one commit for all the
 * cards of the round), then what each stage does once they are durable: a
 * hold is asked for only after its intent committed, a job reaches the
 * writer only after its hold's answer committed, a capture or void is made
 * only for an intent the batch (or the give-up here) committed, and a job
 * is answered only after its end state committed.
 */
static void cp_round(struct pv_cardpay *cp, struct pv_store *st, struct cp_list *held,
                     struct cp_list *hold, struct cp_list *settle, struct cp_list *settled)
{
    struct cp_list calls = {NULL, NULL, 0};
    int rc;

    if (settle->n)
        pv_crash_point("after_commit");
    if ((rc = pv_store_begin(st)) == PV_OK) {
        if (rc == PV_OK && held->n)
            rc = db_held(st, held);
        if (rc == PV_OK && hold->n)
            rc = db_hold(cp, st, hold);
        if (rc == PV_OK && settle->n)
            rc = db_settle(st, settle, &calls, settled);
        if (rc == PV_OK && settled->n)
            rc = db_settled(st, settled);
        rc = rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
    }
    if (rc != PV_OK && (settle->n || calls.n || settled->n))
        pv_log(PV_LOG_WARNING, "%s: settling card payments: %s (the recovery finishes them)\n",
               cp->ctx->server_id, pv_strerror(rc));
    post_held(cp, held, rc);
    post_hold(cp, st, hold, rc);
    post_settle(cp, settle, rc); /* what db_settle did not sort (it failed): answered */
    post_settle(cp, &calls, rc);
    post_settled(cp, settled);
}

/* Without a store handle nothing can be written: refuse the holds, leave the rest to recovery. */
static void no_store(struct pv_cardpay *cp, struct cp_list *l, int settle, int rc)
{
    struct cp_item *x, *next;

    for (x = l->head; x; x = next) {
        next = x->next;
        free(x->call.charge_id); /* an answered hold: its intent stays pending, for the recovery */
        if (settle) {
            cp->hooks.settled(cp->hooks.owner, x->job);
        } else {
            memset(&x->job->res, 0, sizeof x->job->res);
            x->job->res.pre_err = rc; /* nothing held: the batch answers it */
            cp->hooks.held(cp->hooks.owner, x->job);
        }
        free(x);
    }
}

static void *cp_main(void *arg)
{
    struct cp_thread *t = arg;
    struct pv_cardpay *cp = t->cp;
    int rc = PV_OK;

    prctl(PR_SET_NAME, "cardpay"); /* for top -H */

    pthread_mutex_lock(&cp->mu);
    for (;;) {
        struct cp_list held, hold, settle, settled;

        if (idle(cp)) {
            if (cp->stopping && cp->in_flight == 0)
                break;
            pthread_cond_wait(&cp->cv, &cp->mu);
            continue;
        }
        held = list_take(&cp->held);
        hold = list_take(&cp->to_hold);
        settle = list_take(&cp->to_settle);
        settled = list_take(&cp->settled);
        pthread_mutex_unlock(&cp->mu);

        /* A handle of its own, opened when first needed. */
        if (!t->st && (rc = pv_store_open_checked(cp->dsn, &t->st)) != PV_OK)
            pv_log(PV_LOG_ERROR, "%s: payment thread: open the store: %s\n", cp->ctx->server_id,
                   pv_strerror(rc));
        if (!t->st) {
            no_store(cp, &held, 0, rc);
            no_store(cp, &hold, 0, rc);
            no_store(cp, &settle, 1, rc);
            no_store(cp, &settled, 1, rc);
        } else {
            cp_round(cp, t->st, &held, &hold, &settle, &settled);
        }
        pthread_mutex_lock(&cp->mu);
        if (idle(cp) && cp->stopping && cp->in_flight == 0)
            pthread_cond_broadcast(&cp->cv); /* the others may end too */
    }
    pthread_mutex_unlock(&cp->mu);
    return NULL;
}

int pv_cardpay_start(struct pv_processor_ctx *ctx, const char *dsn, size_t nthreads,
                     const struct pv_cardpay_hooks *hooks, struct pv_cardpay **out)
{
    struct pv_cardpay *cp;
    pthread_attr_t attr;
    size_t i;
    int ok = 1;

    *out = NULL;
    if (!(cp = calloc(1, sizeof *cp)))
        return PV_ENOMEM;
    cp->ctx = ctx;
    cp->hooks = *hooks;
    cp->nthreads = nthreads ? nthreads : 1;
    pthread_mutex_init(&cp->mu, NULL);
    pthread_cond_init(&cp->cv, NULL);
    if (!(cp->dsn = strdup(dsn)) || !(cp->threads = calloc(cp->nthreads, sizeof *cp->threads))) {
        pv_cardpay_stop(cp);
        return PV_ENOMEM;
    }
    /* A payment thread only waits on the store: a small stack. */
    if (pthread_attr_init(&attr) != 0) {
        pv_cardpay_stop(cp);
        return PV_EINTERNAL;
    }
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (i = 0; i < cp->nthreads && ok; i++) {
        cp->threads[i].cp = cp;
        ok = pthread_create(&cp->threads[i].thread, &attr, cp_main, &cp->threads[i]) == 0 &&
             (cp->threads[i].started = 1);
    }
    pthread_attr_destroy(&attr);
    if (!ok) {
        pv_cardpay_stop(cp);
        return PV_EINTERNAL;
    }
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
    list_push(settle ? &cp->to_settle : &cp->to_hold, x);
    pthread_cond_signal(&cp->cv);
    pthread_mutex_unlock(&cp->mu);
    return PV_OK;
}

int pv_cardpay_hold(struct pv_cardpay *cp, struct pv_job *job)
{
    return enqueue(cp, job, 0);
}

void pv_cardpay_settle(struct pv_cardpay *cp, struct pv_job *job)
{
    if (enqueue(cp, job, 1) != PV_OK) {
        /* The intent says what to do: the recovery captures or voids it. */
        pv_log(PV_LOG_WARNING, "%s: settling card payments: %s (the recovery finishes them)\n",
               cp->ctx->server_id, pv_strerror(PV_ENOMEM));
        cp->hooks.settled(cp->hooks.owner, job);
    }
}

void pv_cardpay_stop(struct pv_cardpay *cp)
{
    size_t i;

    if (!cp)
        return;
    pthread_mutex_lock(&cp->mu);
    cp->stopping = 1;
    pthread_cond_broadcast(&cp->cv);
    pthread_mutex_unlock(&cp->mu);
    for (i = 0; cp->threads && i < cp->nthreads; i++)
        if (cp->threads[i].started)
            pthread_join(cp->threads[i].thread, NULL);
    for (i = 0; cp->threads && i < cp->nthreads; i++)
        pv_store_close(cp->threads[i].st);
    free(cp->threads);
    free(cp->dsn);
    pthread_cond_destroy(&cp->cv);
    pthread_mutex_destroy(&cp->mu);
    free(cp);
}
