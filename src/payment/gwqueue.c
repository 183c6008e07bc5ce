/*
 * gwqueue.c - the delay queue of asynchronous gateway calls (gwqueue.h):
 * one timer thread per queue, started with the first call, that makes the
 * calls due as one group and then answers them.
 */
#include "payment/gwqueue.h"

#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

int pv_gwq_init(struct pv_gwq *q)
{
    pthread_condattr_t ca;
    int rc;

    if (pthread_mutex_init(&q->mu, NULL) != 0)
        return PV_ENOMEM;
    /* Due times are on the monotonic clock: a step of the wall clock neither holds the
     * queue back nor makes its calls early. */
    if (pthread_condattr_init(&ca) != 0) {
        pthread_mutex_destroy(&q->mu);
        return PV_ENOMEM;
    }
    rc =
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&q->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!rc) {
        pthread_mutex_destroy(&q->mu);
        return PV_ENOMEM;
    }
    q->started = q->stop = 0;
    q->head = q->tail = NULL;
    return PV_OK;
}

/* Make one group (linked by ->link) and answer it. */
static void run_group(struct pv_gwq *q, struct pv_gateway_call *group)
{
    struct pv_gateway_call *c, *next;
    int end;

    if (q->group_begin)
        q->group_begin(q->gw);
    for (c = group; c; c = c->link)
        pv_gateway_call_sync(q->gw, c);
    end = q->group_end ? q->group_end(q->gw) : PV_OK;
    for (c = group; c; c = next) {
        next = c->link;
        c->link = NULL;
        if (end != PV_OK && c->rc == PV_OK) {
            /* Not known to be durable: the caller asks again under the same key. */
            free(c->charge_id);
            c->charge_id = NULL;
            c->result = PV_PAY_PROCESSING_ERROR;
            c->rc = end;
        }
        c->done(c);
    }
}

static void *timer_main(void *arg)
{
    struct pv_gwq *q = arg;
    struct pv_gateway_call *group, *c;
    struct timespec until;

    prctl(PR_SET_NAME, "gw-timer"); /* for top -H */
    pthread_mutex_lock(&q->mu);
    for (;;) {
        int64_t now = pv_mono_ms();

        if (!q->head) {
            if (q->stop)
                break;
            pthread_cond_wait(&q->cv, &q->mu);
            continue;
        }
        if (q->head->due_ms > now && !q->stop) {
            until.tv_sec = (time_t) (q->head->due_ms / 1000);
            until.tv_nsec = (long) (q->head->due_ms % 1000) * 1000000L;
            pthread_cond_timedwait(&q->cv, &q->mu, &until);
            continue;
        }
        /* Every due call (all of them when stopping) leaves the queue as one group. */
        group = c = q->head;
        while (c->link && (c->link->due_ms <= now || q->stop))
            c = c->link;
        q->head = c->link;
        if (!q->head)
            q->tail = NULL;
        c->link = NULL;
        pthread_mutex_unlock(&q->mu);
        run_group(q, group);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

void pv_gwq_submit(struct pv_gwq *q, struct pv_gateway_call *call)
{
    call->link = NULL;
    pthread_mutex_lock(&q->mu);
    call->due_ms = pv_mono_ms() + q->latency_ms; /* under the lock: the queue stays in order */
    if (!q->started && !q->stop && pthread_create(&q->thread, NULL, timer_main, q) == 0)
        q->started = 1;
    if (!q->started || q->stop) {
        pthread_mutex_unlock(&q->mu);
        run_group(q, call); /* no thread: made here and now */
        return;
    }
    /* Every call waits as long, so the queue is in order of due time: the timer waits for its
     * head, due no later than this call, and is woken only for a call that becomes the head
     * (issue 15, session 21: waking it for every call cost ~2,200 of its context switches a
     * second under card load). */
    if (q->tail) {
        q->tail->link = call;
    } else {
        q->head = call;
        pthread_cond_signal(&q->cv);
    }
    q->tail = call;
    pthread_mutex_unlock(&q->mu);
}

void pv_gwq_destroy(struct pv_gwq *q)
{
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    if (q->started)
        pthread_join(q->thread, NULL);
    q->started = 0;
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
}
