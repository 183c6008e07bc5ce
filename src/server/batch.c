/*
 * batch.c - the bulk-buying runner (batch.h; docs/api.md "Batches").
 *
 * POST /v1/batches (h_batches.c) validates and prices every item exactly as
 * POST /v1/indicia does, writes the batch and its items (pending, or failed
 * with the validation error), and hands the pending ones here. One thread
 * per process sends them through the front dispatcher (dispatch.h) as
 * ordinary purchase jobs - the same processors, batch transactions,
 * payment rules and idempotency: each item's key is derived from the
 * batch's key and the item's reference, so a resumed batch or an item
 * retried by hand replays the stamp it bought and never buys twice. A
 * failed item wrote nothing (the processor rolled back its savepoint), so
 * it is never charged.
 *
 * Work is bounded: at most PV_BATCH_INFLIGHT items of a batch and
 * PV_BATCH_INFLIGHT_ALL of all batches are at the processors at once, the
 * batches taking turns, so a 1,000-item batch neither floods the
 * processors' queues nor starves single purchases. Nothing here blocks a
 * processor: a finished job is put on a list and recorded by this thread.
 *
 * A restart: items already bought were recorded (or, if the process died
 * between the processor's commit and the record, are replayed by their key
 * when the batch is retried); the rest stay pending until the client
 * retries the batch with the same Idempotency-Key, which resumes them.
 */
#include "server/batch.h"

#include "domain/events.h"

#include "server/dispatch.h"
#include "server/pool.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/log.h"
#include "stampd/money.h"
#include "stampd/timeutil.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRIES_MAX    5    /* attempts of an item that found no processor (unavailable) */
#define RETRY_MS     500  /* the pause before such an item is sent again */
#define HEARTBEAT_MS 5000 /* how often a running batch's updated is refreshed */
#define TOUCH_MAX    64   /* batches refreshed per heartbeat */

struct item {
    struct pv_batch_job j;
    int64_t not_before_ms;
    unsigned tries;
};

struct run {
    struct pv_batch_rec rec;
    struct item *items;
    size_t n;
    size_t *queue; /* a ring of the indexes waiting to be sent */
    size_t qhead, qlen;
    size_t inflight;
    struct run *next;
};

/* A purchase job of an item; job first, so the dispatcher's pointer is ours. */
struct bjob {
    struct pv_job job;
    struct pv_batches *b;
    struct run *run;
    size_t idx;
    struct bjob *next_done;
};

struct pv_batches {
    struct pv_app *app;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
    int64_t started; /* when this process's runner started (Unix seconds) */
    struct run *runs;
    struct bjob *done;
    size_t inflight;
};

/* On a processor's or the router's thread: hand the finished job over. */
static void job_done(struct pv_job *job)
{
    struct bjob *d = (struct bjob *) job;
    struct pv_batches *b = d->b;

    pthread_mutex_lock(&b->mu);
    d->next_done = b->done;
    b->done = d;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static const char *batch_status(struct pv_app *app, const struct pv_batch_rec *b)
{
    if (b->completed)
        return "completed";
    /* Ours, or another front's whose heartbeat came since this one started. */
    if (pv_batches_active(app->batches, b->id) ||
        (pv_now() - b->updated < PV_BATCH_STALE_S && b->updated > pv_batches_started(app->batches)))
        return "running";
    return "interrupted";
}

json_t *pv_batch_view_json(struct pv_app *app, const struct pv_batch_rec *b)
{
    char created[32], updated[32], done[32], m[32];

    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:{s:i, s:i, s:i, s:i}, s:I, s:s}", "object", "batch",
        "id", b->id, "status", batch_status(app, b), "mode", b->test ? "test" : "live", "created",
        pv_time_format(b->created, created, sizeof created), "updated",
        pv_time_format(b->updated, updated, sizeof updated), "completed",
        b->completed ? json_string(pv_time_format(b->completed, done, sizeof done)) : json_null(),
        "counts", "total", (int) b->items, "pending", (int) b->pending, "bought", (int) b->bought,
        "failed", (int) b->failed, "postage_mills", (json_int_t) b->postage, "postage",
        pv_money_format(b->postage, m, sizeof m));
}

/*
 * The batch's end, once: completed = now when nothing is pending, and - in the
 * same transaction - its batch.completed event for the webhooks of its owner
 * that take it (domain/events.h). A failure leaves it uncompleted: the next
 * item recorded, or the resumed batch, completes it.
 */
static void complete_batch(struct pv_batches *b, struct pv_store *st, const char *id)
{
    struct pv_batch_rec rec;
    json_t *data = NULL;
    int rc, yes = 0;

    if ((rc = pv_store_begin(st)) != PV_OK)
        goto fail;
    rc = pv_store_batch_complete(st, id, pv_now());
    if (rc == PV_OK)
        rc = pv_store_batch_get(st, id, &rec);
    if (rc == PV_OK)
        rc = pv_event_wanted(st, rec.customer_id, rec.test, PV_EVENT_BATCH_COMPLETED, &yes);
    if (rc == PV_OK && yes)
        rc = (data = pv_batch_view_json(b->app, &rec)) == NULL
                 ? PV_ENOMEM
                 : pv_event_emit(st, rec.customer_id, rec.test, PV_EVENT_BATCH_COMPLETED, data,
                                 pv_now(), NULL);
    json_decref(data);
    if (rc == PV_OK && (rc = pv_store_commit(st)) == PV_OK) {
        pv_log(PV_LOG_INFO, "batch %s completed: %u bought, %u failed\n", rec.id,
               (unsigned) rec.bought, (unsigned) rec.failed);
        return;
    }
    pv_store_rollback(st);
    if (rc == PV_ENOTFOUND)
        return; /* not complete yet, or completed already */
fail:
    pv_log(PV_LOG_ERROR, "batch %s: completion not recorded: %s\n", id, pv_strerror(rc));
}

/* The outcome of a finished job as its item's row. */
static void outcome(const struct bjob *d, struct pv_batch_item_rec *it)
{
    const struct pv_job *job = &d->job;
    int err = job->res.err;

    memset(it, 0, sizeof *it);
    it->n = d->run->items[d->idx].j.n;
    it->updated = pv_now();
    if (err == PV_OK) {
        it->status = PV_ITEM_BOUGHT;
        pv_str_copy(it->indicium_id, sizeof it->indicium_id, job->res.rec.id);
        it->postage = job->req.postage;
        return;
    }
    it->status = PV_ITEM_FAILED;
    pv_str_copy(it->error_code, sizeof it->error_code, pv_error_code(err));
    if (err == PV_ECARDDECLINED)
        snprintf(it->error_message, sizeof it->error_message, "the card was declined (%s)",
                 job->res.decline[0] ? job->res.decline : "card_declined");
    else
        pv_str_copy(it->error_message, sizeof it->error_message, pv_strerror(err));
    if (err == PV_ECARDINVALID || err == PV_EGATEWAY || err == PV_ENOGATEWAY ||
        err == PV_ECARDDECLINED)
        snprintf(it->error_field, sizeof it->error_field, "payment");
}

static void store_write(struct pv_batches *b, const char *id, const struct pv_batch_item_rec *it,
                        int complete)
{
    struct pv_store *st = NULL;
    int rc;

    if ((rc = pv_pool_get(b->app->pool, &st)) != PV_OK) {
        pv_log(PV_LOG_ERROR, "batch %s: no store handle: %s\n", id, pv_strerror(rc));
        return;
    }
    if (it) {
        rc = pv_store_batch_item_decide(st, id, it);
        if (rc == PV_OK)
            rc = pv_store_batch_touch(st, id, it->updated);
        if (rc != PV_OK && rc != PV_ENOTFOUND)
            pv_log(PV_LOG_ERROR, "batch %s item %u not recorded: %s\n", id, (unsigned) it->n,
                   pv_strerror(rc));
    }
    if (complete)
        complete_batch(b, st, id);
    pv_pool_put(b->app->pool, st);
}

static void queue_push(struct run *r, size_t idx)
{
    r->queue[(r->qhead + r->qlen) % r->n] = idx;
    r->qlen++;
}

static void bjob_free(struct bjob *d)
{
    pv_purchase_res_reset(&d->job.res);
    free(d);
}

/* Locked: one finished job, recorded with the lock let go. */
static void finish_job(struct pv_batches *b, struct bjob *d)
{
    struct run *r = d->run;
    struct item *it = &r->items[d->idx];
    struct pv_batch_item_rec rec;
    int err = d->job.res.err;

    b->inflight--;
    r->inflight--;
    if (err == PV_EBUSY || err == PV_ENOPSD) {
        /* Nothing was written: send it again later, or leave it pending. */
        if (!b->stopping && it->tries < TRIES_MAX) {
            it->not_before_ms = pv_now_ms() + RETRY_MS;
            queue_push(r, d->idx);
            bjob_free(d);
            return;
        }
        if (b->stopping) {
            bjob_free(d);
            return;
        }
    }
    outcome(d, &rec);
    bjob_free(d);
    pthread_mutex_unlock(&b->mu);
    store_write(b, r->rec.id, &rec, 0);
    pthread_mutex_lock(&b->mu);
}

/* Locked: send what the bounds allow, the batches taking turns. */
static void submit_some(struct pv_batches *b)
{
    int64_t now = pv_now_ms();
    int sent = 1;

    while (sent && !b->stopping && b->inflight < PV_BATCH_INFLIGHT_ALL) {
        struct run *r;
        sent = 0;
        for (r = b->runs; r && b->inflight < PV_BATCH_INFLIGHT_ALL; r = r->next) {
            struct bjob *d;
            struct item *it;
            size_t idx;
            if (r->qlen == 0 || r->inflight >= PV_BATCH_INFLIGHT)
                continue;
            idx = r->queue[r->qhead];
            it = &r->items[idx];
            if (it->not_before_ms > now)
                continue;
            if (!(d = calloc(1, sizeof *d)))
                return;
            r->qhead = (r->qhead + 1) % r->n;
            r->qlen--;
            d->b = b;
            d->run = r;
            d->idx = idx;
            d->job.req = it->j.req;
            d->job.on_done = job_done;
            snprintf(d->job.request_id, sizeof d->job.request_id, "%s-%u", r->rec.id,
                     (unsigned) it->j.n);
            it->tries++;
            r->inflight++;
            b->inflight++;
            sent = 1;
            pthread_mutex_unlock(&b->mu);
            if (pv_dispatch_submit(b->app, &d->job) != PV_OK) {
                d->job.res.err = PV_EBUSY; /* on_done will not run: as if it had */
                job_done(&d->job);
            }
            pthread_mutex_lock(&b->mu);
        }
    }
}

void pv_batch_jobs_free(struct pv_batch_job *jobs, size_t n)
{
    for (size_t i = 0; jobs && i < n; i++)
        pv_purchase_req_clear(&jobs[i].req);
    free(jobs);
}

static void run_free(struct run *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->items && i < r->n; i++)
        pv_purchase_req_clear(&r->items[i].j.req);
    free(r->items);
    free(r->queue);
    free(r);
}

/* Locked: batches with nothing left to send or to wait for are done here. */
static void finish_runs(struct pv_batches *b)
{
    struct run **pp = &b->runs, *r;

    while ((r = *pp)) {
        if (r->inflight > 0 || (r->qlen > 0 && !b->stopping)) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        pthread_mutex_unlock(&b->mu);
        if (r->qlen == 0)
            store_write(b, r->rec.id, NULL, 1);
        run_free(r);
        pthread_mutex_lock(&b->mu);
        pp = &b->runs; /* the list may have changed meanwhile */
    }
}

/* Locked: refresh the running batches' updated, so readers see them alive. */
static void heartbeat(struct pv_batches *b)
{
    char ids[TOUCH_MAX][PV_ID_MAX];
    struct pv_store *st = NULL;
    struct run *r;
    size_t n = 0, i;

    for (r = b->runs; r && n < TOUCH_MAX; r = r->next)
        memcpy(ids[n++], r->rec.id, PV_ID_MAX);
    if (n == 0)
        return;
    pthread_mutex_unlock(&b->mu);
    if (pv_pool_get(b->app->pool, &st) == PV_OK) {
        for (i = 0; i < n; i++)
            (void) pv_store_batch_touch(st, ids[i], pv_now());
        pv_pool_put(b->app->pool, st);
    }
    pthread_mutex_lock(&b->mu);
}

static void *runner(void *arg)
{
    struct pv_batches *b = arg;
    int64_t beat = pv_now_ms() + HEARTBEAT_MS;

    pthread_mutex_lock(&b->mu);
    for (;;) {
        struct timespec ts;
        while (b->done) {
            struct bjob *d = b->done;
            b->done = d->next_done;
            finish_job(b, d);
        }
        submit_some(b);
        finish_runs(b);
        if (b->stopping && b->inflight == 0 && !b->done)
            break;
        if (pv_now_ms() >= beat) {
            heartbeat(b);
            beat = pv_now_ms() + HEARTBEAT_MS;
        }
        if (b->done)
            continue;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&b->cv, &b->mu, &ts);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

int pv_batches_start(struct pv_app *app, struct pv_batches **out)
{
    struct pv_batches *b = calloc(1, sizeof *b);

    *out = NULL;
    if (!b)
        return PV_ENOMEM;
    b->app = app;
    b->started = pv_now();
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    if (pthread_create(&b->thread, NULL, runner, b) != 0) {
        pthread_cond_destroy(&b->cv);
        pthread_mutex_destroy(&b->mu);
        free(b);
        return PV_EINTERNAL;
    }
    *out = b;
    return PV_OK;
}

void pv_batches_stop(struct pv_batches *b)
{
    struct run *r;

    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->stopping = 1;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    while ((r = b->runs)) {
        b->runs = r->next;
        run_free(r);
    }
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static struct run *find_run(struct pv_batches *b, const char *id)
{
    struct run *r;

    for (r = b->runs; r; r = r->next)
        if (strcmp(r->rec.id, id) == 0)
            return r;
    return NULL;
}

int pv_batches_run(struct pv_batches *b, const struct pv_batch_rec *rec, struct pv_batch_job *items,
                   size_t n)
{
    struct run *r = calloc(1, sizeof *r);
    size_t i;
    int rc = PV_OK;

    if (!r || (n && (!(r->items = calloc(n, sizeof *r->items)) ||
                     !(r->queue = calloc(n, sizeof *r->queue))))) {
        run_free(r);
        pv_batch_jobs_free(items, n);
        return PV_ENOMEM;
    }
    r->rec = *rec;
    r->n = n;
    for (i = 0; i < n; i++) {
        r->items[i].j = items[i];
        queue_push(r, i);
    }
    free(items);
    pthread_mutex_lock(&b->mu);
    if (b->stopping)
        rc = PV_EBUSY;
    else if (find_run(b, rec->id))
        rc = PV_EEXIST;
    if (rc == PV_OK) {
        r->next = NULL;
        /* At the end: the batches take turns, the oldest first. */
        struct run **pp = &b->runs;
        while (*pp)
            pp = &(*pp)->next;
        *pp = r;
        r = NULL;
        pthread_cond_signal(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    run_free(r);
    return rc;
}

int pv_batches_active(struct pv_batches *b, const char *id)
{
    int yes;

    if (!b)
        return 0;
    pthread_mutex_lock(&b->mu);
    yes = find_run(b, id) != NULL;
    pthread_mutex_unlock(&b->mu);
    return yes;
}

size_t pv_batches_customer_running(struct pv_batches *b, const char *customer_id)
{
    struct run *r;
    size_t n = 0;

    if (!b)
        return 0;
    pthread_mutex_lock(&b->mu);
    for (r = b->runs; r; r = r->next)
        if (strcmp(r->rec.customer_id, customer_id) == 0)
            n++;
    pthread_mutex_unlock(&b->mu);
    return n;
}

int64_t pv_batches_started(const struct pv_batches *b)
{
    return b ? b->started : 0;
}
