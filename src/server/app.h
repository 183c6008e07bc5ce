/*
 * app.h - what one running server shares between its request threads:
 * the store pool, where purchases go, secrets, gateways and limits.
 */
#ifndef STAMPD_APP_H
#define STAMPD_APP_H

#include "domain/media.h"
#include "domain/payment.h"
#include "domain/purchase.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct pv_pool;
struct pv_processor;
struct pv_router;
struct pv_replay;
struct pv_ratelimit;
struct pv_batches;

struct pv_app {
    struct pv_pool *pool;
    struct pv_processor *procs; /* in-process processors (stampd serve / processor) */
    size_t nprocs;
    atomic_size_t next_proc;
    struct pv_router *router; /* stampd front: processors in other processes */
    int internal;             /* stampd processor: answer only the internal protocol */
    char secret[128];         /* internal protocol secret (front and processor) */
    struct pv_replay *replay; /* stampd processor: signatures served (internal.h; owned) */
    char license[PV_LICENSE_LEN + 1];
    struct pv_gateways gws;       /* card payments (owned by main; shared with the processors) */
    struct pv_keycache *keys;     /* API keys found (keycache.h; owned by main), or NULL */
    struct pv_ratelimit *limits;  /* failed logins and key attempts per source (owned by main) */
    struct pv_ratelimit *signups; /* sign-ups per source (owned by main) */
    _Atomic int64_t
        refund_window_s; /* refunds of unused pieces within this many seconds (SIGHUP) */
    /* A reverse proxy whose X-Forwarded-For is believed ("" = none): requests
     * from it are rate-limited by the client address it reports. */
    char trusted_proxy[64];
    /* Media serial secrets, so a purchase's serial is authenticated before
     * any database work (media.h); cmd_run.c loads them. */
    struct pv_media_keyring media;
    /* GET /metrics also takes "Authorization: Bearer <this>" ("" = only an
     * operator's key): Prometheus need not hold an operator key (h_metrics.c). */
    char metrics_token[128];
    struct pv_batches *batches; /* bulk buying's runner (batch.h; serve and front), or NULL */
    /* Webhook URLs may name http and private addresses (--webhook-allow-private;
     * hooks_worker.h). */
    int hooks_private;
};

#endif
