/*
 * gwqueue.h - a delay queue for asynchronous gateway calls (gwqueue.c): a
 * backend whose calls are quick but must look like a network round trip
 * (the sandbox, --gateway-latency) hands each submitted call to this queue,
 * which makes it after `latency_ms` on one timer thread, in groups, and then
 * calls its done callback (gateway.h, struct pv_gateway_call).
 *
 * The FIFO is in deadline order (every call waits the same latency). When
 * calls are due the thread takes them all as one group: group_begin, the
 * calls made with pv_gateway_call_sync, group_end (say, one fsync for the
 * group's journal records), and only then each done - so a backend can
 * make a group durable with one write.
 */
#ifndef STAMPD_PAYMENT_GWQUEUE_H
#define STAMPD_PAYMENT_GWQUEUE_H

#include "payment/gateway.h"

#include <pthread.h>

struct pv_gwq {
    /* set before pv_gwq_init, the owner's */
    struct pv_gateway *gw;
    int latency_ms;
    void (*group_begin)(struct pv_gateway *gw);
    /* PV_OK, or an error given to every call of the group that had succeeded (its
     * outcome is not known to be durable; the caller asks again under the same key) */
    int (*group_end)(struct pv_gateway *gw);
    /* the queue's */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int started, stop;
    struct pv_gateway_call *head, *tail;
};

/* pv_gwq_init - ready q (fields above set); the thread starts with the first
 * submit. PV_OK or PV_ENOMEM. */
int pv_gwq_init(struct pv_gwq *q);

/* pv_gwq_submit - queue call (borrowed until its done): made latency_ms from
 * now. Without a thread (it cannot start, or q is stopping) it is made now,
 * on this thread, and done is called before this returns. */
void pv_gwq_submit(struct pv_gwq *q, struct pv_gateway_call *call);

/* pv_gwq_destroy - make what is still queued at once, stop the thread, free q's own. */
void pv_gwq_destroy(struct pv_gwq *q);

#endif
