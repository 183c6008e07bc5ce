/*
 * job.h - a purchase on its way from the front to a processor and back:
 * what the handler parsed, what the processor answered, who is told, and
 * the front dispatcher's failover state (dispatch.c). Transports - the
 * in-process processors (processor.c) and the HTTP router (router.c) - see
 * only this header, never the dispatcher.
 */
#ifndef STAMPD_JOB_H
#define STAMPD_JOB_H

#include "domain/purchase.h"
#include "server/reply.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct pv_app;

struct pv_job {
    struct pv_purchase_req req;
    struct pv_purchase_res res;
    /* The front's: what the address check corrected, as the answer's
     * "address_corrections" (owned; NULL: nothing), h_indicia.c. */
    json_t *fixes;
    /* The caller's: called once res is final (committed or refused), on a
     * processor's or the router's thread; must not block. ctx is the caller's. */
    void (*on_done)(struct pv_job *job);
    void *ctx;
    /* The dispatcher's: a transport calls on_reply once one processor
     * answered into res, or could not be reached (res.err PV_EBUSY). */
    void (*on_reply)(struct pv_job *job);
    struct pv_job *next; /* a transport's queue */
    int pay_stage;       /* processor.c's: where a card job is between its card rounds and
                            its batch (0: not there) */
    struct pv_app *app;  /* set by pv_dispatch_submit */
    int internal;        /* came over the internal protocol: answer in its format */
    /* h_indicia.c: when (ms) its key would have been read had it been read
     * before it was queued (pv_view_replay_late), else 0 */
    int64_t replay_late_ms;
    char req_sig[65]; /* internal: the request's X-Stampd-Signature, to sign the answer */
    char request_id[PV_REQUEST_ID_MAX]; /* the front's X-Request-Id, sent on to the processor */
    /* cardpay.c's: the gateway key and charge of its card's hold ("": not known) */
    char pay_key[PV_IDEM_KEY_MAX];
    char pay_charge[PV_REF_MAX];
    /* Failover (dispatch.c): this round's first processor (a round-robin
     * ticket), the processors tried in it and how many there were, and
     * when to give up or try the next round. */
    size_t start;
    size_t attempts;
    size_t round_n;
    unsigned tries; /* attempts in all rounds */
    int64_t deadline_ms, pause_ms;
    int64_t not_before_ms; /* a transport posts no earlier than this (0: now) */
    int deposit_short;     /* a processor of this round answered PV_EDEPOSIT */
    int crypto_failed;     /* a processor of this round could not sign (PV_ECRYPTO) */
    int resets_locked;     /* a processor of this round needed a reset the authority locked */
    int overdue;           /* a processor of this round had only overdue PSDs (PV_EOVERDUE) */
};

/* Every purchase in flight is a job, and with a slow card gateway thousands
 * wait at once: their texts are owned strings, not arrays (issue 15). */
_Static_assert(sizeof(struct pv_job) < 4 * 1024, "a purchase in flight stays small");

/* pv_job_free - frees job (taken; NULL: no-op) and what its request and
 * result own (a bulk batch's job borrows its request: batch.c frees it). */
static inline void pv_job_free(struct pv_job *job)
{
    if (job) {
        pv_purchase_req_clear(&job->req);
        pv_purchase_res_reset(&job->res);
        json_decref(job->fixes);
    }
    free(job);
}

/* pv_job_target - for a transport about to send job to one of its n > 0
 * processors: which one (the next of this round) - counting the attempt. */
static inline size_t pv_job_target(struct pv_job *job, size_t n)
{
    job->round_n = n;
    job->tries++;
    return (job->start + job->attempts++) % n;
}

#endif
