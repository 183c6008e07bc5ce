/*
 * processor.h - the processors: group-commit writers of purchases, each
 * with its own store handle, crypto module and PSD leases (processor.c).
 */
#ifndef STAMPD_PROCESSOR_H
#define STAMPD_PROCESSOR_H

#include "domain/payment.h"
#include "server/job.h"

#include <stddef.h>
#include <stdint.h>

struct pv_processor;

/*
 * pv_processors_start - open o->n processors on o->dsn, each with its own
 * store handle and crypto module (o->crypto_spec, else the store's config),
 * register them in the servers table with the module's identity, take their share of the PSD leases
 * and start their writer threads (which also heartbeat and renew leases every second). *out is an
 * owned array released with pv_processors_stop(), which finishes every queued job first. Besides
 * store and crypto errors (PV_EMODULE, PV_ETOKEN, PV_EPIN): PV_ENOPSD when no active PSD is bound
 * to the module, PV_EKEYMODULE when one is whose key the module does not hold (each said on
 * stderr).
 */
struct pv_processor_opts {
    const char *dsn;               /* borrowed */
    size_t n;                      /* how many processors */
    const char *id;                /* NULL: "proc-1".."proc-N"; else this id (n == 1) */
    const char *address;           /* registered address: "inproc", or "http://host:port" */
    int64_t lease_ms;              /* 0: PV_LEASE_MS_DEFAULT */
    const struct pv_gateways *gws; /* borrowed card gateways, or NULL (no card payments) */
    const char *crypto_spec;       /* NULL: the store's; else this module (--crypto) */
    const char *crypto_pin;        /* the PKCS#11 token's PIN, or NULL */
    int64_t recovery_ms;           /* payment intents left this long are voided; 0: default */
    int no_reports;         /* 1: make no daily reports (--reports off); the watchdog still runs */
    size_t payment_threads; /* threads of a synchronous gateway's calls; 0: default */
    int sign_threads;       /* threads that sign with each writer (signpool.h); -1: default */
};

/* Sign threads per processor (--sign-threads): by default one less than the
 * cores online (the writer signs too), at most PV_SIGN_THREADS_MAX. */
#define PV_SIGN_THREADS_MAX 64

/* Payment threads (--payment-threads): the threads that make the calls of a
 * gateway without asynchronous calls (pv_gateway_sync_threads), so that many
 * cards are in flight at once; the sandbox's calls are asynchronous and need
 * none. The card payments' intents are written in the writer's batches (on
 * PostgreSQL their end states by the card payments' settler: cardpay_end.c). */
#define PV_PAYMENT_THREADS_DEFAULT 64
#define PV_PAYMENT_THREADS_MAX     512

int pv_processors_start(const struct pv_processor_opts *o, struct pv_processor **out);
/* pv_processors_drain - finish every queued job and stop the writers; later
 * enqueues answer PV_EBUSY. The array stays valid until pv_processors_stop. */
void pv_processors_drain(struct pv_processor *procs, size_t n);
/* pv_processors_stop - drain (if not yet), close each processor and free
 * the array (NULL: nothing). */
void pv_processors_stop(struct pv_processor *procs, size_t n);

/*
 * pv_processor_enqueue - queue a borrowed job on processor i (round-robin
 * is the caller's business: dispatch.c) without waiting; job->on_reply runs
 * when it is done. Returns PV_OK, or PV_EBUSY when stopping (on_reply will
 * not run).
 */
int pv_processor_enqueue(struct pv_processor *procs, size_t i, struct pv_job *job);
/* pv_processor_id - processor i's server id (borrowed from procs);
 * pv_processor_served - how many purchases it committed (replays not counted). */
const char *pv_processor_id(struct pv_processor *procs, size_t i);
uint64_t pv_processor_served(struct pv_processor *procs, size_t i);

#endif
