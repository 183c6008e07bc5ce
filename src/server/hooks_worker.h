/*
 * hooks_worker.h - delivering webhook events (hooks_worker.c,
 * docs/webhooks.md, docs/internals/events.md): one worker thread in
 * `stampd serve` and in each `stampd front` (never in a processor) takes
 * due deliveries from the outbox under a lease, so two fronts never send
 * one delivery at the same time, POSTs each signed event to its endpoint,
 * and records the attempt; failures are retried with exponential backoff
 * and jitter for a bounded time, then marked failed.
 *
 * Which URLs may be called (SSRF): https to public addresses only. A debug
 * build (no NDEBUG) also allows http and https to loopback addresses, for
 * development and the tests; --webhook-allow-private allows http and any
 * address (an operator's choice for a private network).
 */
#ifndef STAMPD_HOOKS_WORKER_H
#define STAMPD_HOOKS_WORKER_H

#include <stddef.h>
#include <stdint.h>

struct pv_app;
struct pv_hooks;

struct pv_hooks_opts {
    const char *dsn;    /* the database (borrowed until pv_hooks_stop) */
    int allow_private;  /* --webhook-allow-private */
    int64_t base_ms;    /* first retry after about this long (--webhook-retry-base-ms) */
    int64_t window_s;   /* give up this long after the first attempt (--webhook-retry-window) */
    int64_t timeout_ms; /* an answer within this long (--webhook-timeout-ms) */
};

/* pv_hooks_start - start the worker; *out owned (pv_hooks_stop). PV_OK,
 * PV_ENOMEM, PV_ESTORE (the database), PV_EINTERNAL (the thread). */
int pv_hooks_start(const struct pv_hooks_opts *o, struct pv_hooks **out);

/* pv_hooks_stop - stop after the attempt in progress, and free h (NULL: nothing). */
void pv_hooks_stop(struct pv_hooks *h);

/*
 * pv_hooks_url_allowed - may an endpoint have url (borrowed)? With the
 * rules above for a literal address; a host name is checked when it is
 * resolved for each delivery. why (n bytes) says why not. PV_OK or
 * PV_EWEBHOOKURL. allow_private as app->hooks_private.
 */
int pv_hooks_url_allowed(const struct pv_app *app, const char *url, char *why, size_t n);

#endif
