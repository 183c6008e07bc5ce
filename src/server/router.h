/*
 * router.h - the front's transport to processors in other processes:
 * signed HTTP posts of purchases (router.c).
 */
#ifndef STAMPD_ROUTER_H
#define STAMPD_ROUTER_H

#include "server/job.h"
#include "server/tls.h"

struct pv_router;

/*
 * pv_router_start - a router reading processors from dsn's servers table,
 * signing with secret (both borrowed, copied), with threads dispatchers.
 * tls (borrowed: it must outlive the router): post over mutual TLS, only to
 * https:// processors whose certificate chains to tls->ca_pem alone and
 * names the host dialled, presenting tls->cert_pem; NULL: plain HTTP to
 * http:// processors (--internal-plaintext). *out owned; pv_router_stop()
 * finishes every queued job first.
 */
int pv_router_start(const char *dsn, const char *secret, const struct pv_tls *tls, unsigned threads,
                    struct pv_router **out);
/* pv_router_stop - answer every queued job, stop the threads and free r (NULL: nothing). */
void pv_router_stop(struct pv_router *r);
/* pv_router_submit - queue a borrowed job for the next processor of its
 * round (pv_job_target); job->on_reply runs once it was posted, or could not
 * be. PV_EBUSY when stopping (unless it is a retry: job->tries > 0). */
int pv_router_submit(struct pv_router *r, struct pv_job *job);

#endif
