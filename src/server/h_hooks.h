/*
 * h_hooks.h - webhooks in the API (h_hooks.c, docs/webhooks.md): a
 * customer's endpoints under /v1/webhooks, its events under /v1/events.
 * Every route takes a customer's key or session; a test key sees and makes
 * only test-mode endpoints and events, a live key only live ones.
 */
#ifndef STAMPD_H_HOOKS_H
#define STAMPD_H_HOOKS_H

#include "server/reply.h"

/* GET, POST /v1/webhooks: list, create (the secret shown once). */
void pv_h_webhooks(struct pv_call *c);
/* GET, POST (update), DELETE /v1/webhooks/{id}. */
void pv_h_webhook(struct pv_call *c);
/* POST /v1/webhooks/{id}/rotate-secret: a new secret, shown once. */
void pv_h_webhook_rotate(struct pv_call *c);
/* POST /v1/webhooks/{id}/test: a webhook.test event to this endpoint. */
void pv_h_webhook_test(struct pv_call *c);
/* GET /v1/webhooks/{id}/deliveries: the delivery log, newest first. */
void pv_h_webhook_deliveries(struct pv_call *c);
/* GET /v1/events, GET /v1/events/{id}. */
void pv_h_events(struct pv_call *c);
void pv_h_event(struct pv_call *c);
/* POST /v1/events/{id}/redeliver: its failed deliveries (or all, {"all": true}) again. */
void pv_h_event_redeliver(struct pv_call *c);

#endif
