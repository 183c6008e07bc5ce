/*
 * server.h - the pieces of `stampd serve`: the store handle pool, the
 * processors (group-commit writers), the HTTP front and the API handlers.
 */
#ifndef STAMPD_SERVER_H
#define STAMPD_SERVER_H

#include "crypto/crypto.h"
#include "domain/purchase.h"
#include "store/store.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ---- store handle pool (pool.c) ---- */

struct pv_pool;

/* pv_pool_new - pool of up to max handles on dsn (borrowed, copied). */
int pv_pool_new(const char *dsn, size_t max, struct pv_pool **out);
void pv_pool_free(struct pv_pool *p);
/* pv_pool_get - borrow a handle (opened on demand); give it back with put. */
int pv_pool_get(struct pv_pool *p, struct pv_store **st);
void pv_pool_put(struct pv_pool *p, struct pv_store *st);

/* ---- processors (processor.c) ---- */

struct pv_job {
    struct pv_purchase_req req;
    struct pv_purchase_res res;
    /* Called on the processor's thread once res is final (committed or
     * refused); must not block. ctx is the caller's. */
    void (*on_done)(struct pv_job *job);
    void *ctx;
    struct pv_job *next;
    struct pv_app *app; /* set by pv_api_purchase_submit */
    unsigned attempts;  /* processors tried */
    int internal;       /* came over the internal protocol: answer in its format */
};

struct pv_processor;

/*
 * pv_processors_start - open o->n processors on o->dsn, each with its own
 * store handle and crypto module (spec from the store's config), register
 * them in the servers table, take their share of the PSD leases and start
 * their writer threads (which also heartbeat and renew leases every second). *out is an owned array
 * released with pv_processors_stop(), which finishes every queued job first.
 */
struct pv_processor_opts {
    const char *dsn;               /* borrowed */
    size_t n;                      /* how many processors */
    const char *id;                /* NULL: "proc-1".."proc-N"; else this id (n == 1) */
    const char *address;           /* registered address: "inproc", or "http://host:port" */
    int64_t lease_ms;              /* 0: PV_LEASE_MS_DEFAULT */
    const struct pv_gateways *gws; /* borrowed card gateways, or NULL (no card payments) */
};

int pv_processors_start(const struct pv_processor_opts *o, struct pv_processor **out);
/* pv_processors_drain - finish every queued job and stop the writers; later
 * enqueues answer PV_EBUSY. The array stays valid until pv_processors_stop. */
void pv_processors_drain(struct pv_processor *procs, size_t n);
void pv_processors_stop(struct pv_processor *procs, size_t n);

/*
 * pv_processor_enqueue - queue a borrowed job on processor i (round-robin
 * is the caller's business) without waiting; job->on_done runs when it is
 * done. Returns PV_OK, or PV_EBUSY when stopping (on_done will not run).
 */
int pv_processor_enqueue(struct pv_processor *procs, size_t i, struct pv_job *job);
const char *pv_processor_id(struct pv_processor *procs, size_t i);
uint64_t pv_processor_served(struct pv_processor *procs, size_t i);

/* ---- the front's router to processor processes (router.c) ---- */

struct pv_router;

/*
 * pv_router_start - a router reading processors from dsn's servers table,
 * signing with secret (both borrowed, copied), with threads dispatchers.
 * *out owned; pv_router_stop() finishes every queued job first.
 */
int pv_router_start(const char *dsn, const char *secret, unsigned threads, struct pv_router **out);
void pv_router_stop(struct pv_router *r);
/* pv_router_submit - queue a borrowed job; on_done runs when it is final.
 * PV_EBUSY when stopping. */
int pv_router_submit(struct pv_router *r, struct pv_job *job);

/* ---- the API (api.c) ---- */

struct pv_app {
    struct pv_pool *pool;
    struct pv_processor *procs; /* in-process processors (stampd serve / processor) */
    size_t nprocs;
    atomic_size_t next_proc;
    struct pv_router *router; /* stampd front: processors in other processes */
    int internal;             /* stampd processor: answer only the internal protocol */
    char secret[128];         /* internal protocol secret (front and processor) */
    char license[PV_LICENSE_LEN + 1];
    struct pv_gateways gws;      /* card payments (owned by main; shared with the processors) */
    struct pv_ratelimit *limits; /* failed logins and key attempts per source (owned by main) */
    int64_t refund_window_s;     /* refunds of unused pieces within this many seconds */
    /* A reverse proxy whose X-Forwarded-For is believed ("" = none): requests
     * from it are rate-limited by the client address it reports. */
    char trusted_proxy[64];
    /* Media serial secrets, so a purchase's serial is authenticated before
     * any database work (media.h); main.c loads them. */
    struct pv_media_keyring media;
};

/* What a handler answers: a status, a JSON body (owned) and headers, or a
 * purchase job still to run (owned; see pv_api_purchase_*). */
struct pv_reply {
    int status;
    json_t *body;
    int replayed; /* adds Idempotent-Replayed: true */
    struct pv_job *job;
    /* A document instead of JSON (labels): owned bytes, static type, file name. */
    uint8_t *raw;
    size_t raw_len;
    const char *content_type;
    char filename[128];
    /* A static file of the web UI instead (web.c): never freed, cacheable. */
    const unsigned char *asset;
    size_t asset_len;
    const char *cache_control; /* NULL = "no-store" */
    const char *etag;          /* an ETag header, or NULL */
    char set_cookie[256];      /* a Set-Cookie header, or "" */
    int retry_after;           /* seconds for a Retry-After header (429), or 0 */
};

struct pv_request {
    const char *method;
    const char *path;
    /* Query-string argument / request header by name, or NULL: arg(arg_ctx, "limit"). */
    const char *(*arg)(void *arg_ctx, const char *name);
    const char *(*header)(void *arg_ctx, const char *name);
    void *arg_ctx;
    const char *authorization;
    const char *idempotency_key;
    const char *body;
    size_t body_len;
    const char *remote; /* the client's address ("127.0.0.1"), for rate limits; may be NULL */
};

/*
 * pv_api_handle - route and answer one request (all borrowed). A valid
 * purchase is not answered here: rp->job is set instead, and the caller
 * hands it to pv_api_purchase_submit() and, once its on_done ran, to
 * pv_api_purchase_finish() - so no thread waits for the durable commit.
 */
void pv_api_handle(struct pv_app *app, const struct pv_request *rq, struct pv_reply *rp);

/* pv_api_purchase_submit - queue job on the next processor (round-robin).
 * PV_OK, or PV_EBUSY when the server is stopping (on_done will not run). */
int pv_api_purchase_submit(struct pv_app *app, struct pv_job *job);

/* pv_api_purchase_retry - from on_done: when the job failed for a reason
 * another processor may not have (no PSD lease, busy), queue it on the next
 * one and answer PV_OK (on_done will run again); otherwise PV_EBUSY. */
int pv_api_purchase_retry(struct pv_job *job);

/* pv_api_purchase_finish - the answer for a finished job (or for err when
 * it could not be submitted); takes the job and frees it. */
void pv_api_purchase_finish(struct pv_job *job, int err, struct pv_reply *rp);

/*
 * pv_web_handle - answer rq from the web UI's files compiled into stampd
 * (web/ via cmake/embed_web.cmake): GET or HEAD of "/" (index.html) or a
 * file's path, 304 when If-None-Match names its ETag; 404 for any other
 * path, 405 for other methods. rp borrows the file's bytes.
 */
void pv_web_handle(const struct pv_request *rq, struct pv_reply *rp);

/* pv_reply_error - set rp to the standard error body for err. field may be NULL. */
void pv_reply_error(struct pv_reply *rp, int err, const char *field, const char *message);

/* ---- rate limits on failed authentication (ratelimit.c) ---- */

struct pv_ratelimit;

/*
 * pv_ratelimit_new - per-source counters of failed logins and API-key
 * attempts. After PV_RL_FREE failures a source must wait 1, 2, 4, ... s
 * between attempts; after PV_RL_LOCK failures it is refused for lockout_s.
 * Failures older than PV_RL_WINDOW_S are forgotten. *out owned
 * (pv_ratelimit_free). PV_ENOMEM.
 */
#define PV_RL_FREE     10
#define PV_RL_LOCK     20
#define PV_RL_WINDOW_S 900
int pv_ratelimit_new(int64_t lockout_s, struct pv_ratelimit **out);
void pv_ratelimit_free(struct pv_ratelimit *rl);
/* pv_ratelimit_check - PV_OK when source (borrowed; NULL = no limit) may
 * try now, else PV_ERATELIMIT with *retry_after (s). */
int pv_ratelimit_check(struct pv_ratelimit *rl, const char *source, int64_t now_ms,
                       int *retry_after);
/* pv_ratelimit_fail - count a failure. Nothing resets a source but time:
 * a good login of one's own must not launder guesses at other accounts. */
void pv_ratelimit_fail(struct pv_ratelimit *rl, const char *source, int64_t now_ms);
/*
 * pv_ratelimit_reserve - check and, when allowed, count an attempt as failed
 * at once, so that parallel attempts (logins, which take a while to verify)
 * see each other: PV_OK, or PV_ERATELIMIT with *retry_after.
 * pv_ratelimit_release takes the count back when the attempt succeeded.
 */
int pv_ratelimit_reserve(struct pv_ratelimit *rl, const char *source, int64_t now_ms,
                         int *retry_after);
void pv_ratelimit_release(struct pv_ratelimit *rl, const char *source, int64_t now_ms);

/* ---- HTTP (http.c) ---- */

#define PV_BODY_MAX (64 * 1024)

struct pv_http;

/*
 * pv_http_start - serve app on host:port (port 0 = any free port) with
 * threads worker threads. *bound_port gets the port actually bound.
 */
int pv_http_start(struct pv_app *app, const char *host, uint16_t port, unsigned threads,
                  struct pv_http **out, uint16_t *bound_port);
/* pv_http_quiesce - stop accepting connections; open ones go on. */
void pv_http_quiesce(struct pv_http *h);
/* pv_http_stop - close everything; call after the processors stopped, so no
 * connection is still suspended waiting for a purchase. */
void pv_http_stop(struct pv_http *h);

#endif
