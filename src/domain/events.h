/*
 * events.h - webhook events (docs/webhooks.md, docs/internals/events.md):
 * what a workflow calls to report something to a customer's endpoints,
 * the one JSON view of an event, its signature, the retry schedule, and
 * the rules for an endpoint's URL.
 *
 * An event is written into the outbox (store_hooks.h) in the SAME
 * transaction as what it reports, and only when the account has an enabled
 * endpoint subscribed to its type: one indexed read otherwise, so nothing
 * about webhooks slows a purchase. The delivery worker
 * (server/hooks_worker.c) sends it later.
 */
#ifndef STAMPD_DOMAIN_EVENTS_H
#define STAMPD_DOMAIN_EVENTS_H

#include "store/store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The types an endpoint may subscribe to ("webhook.test" is sent only by the test button). */
#define PV_EVENT_INDICIUM_CREATED   "indicium.created"
#define PV_EVENT_REFUND_DECIDED     "refund.decided"
#define PV_EVENT_FUNDS_ADDED        "funds.added"
#define PV_EVENT_AUTO_REFILL_FAILED "auto_refill.failed"
#define PV_EVENT_BALANCE_LOW        "balance.low"
#define PV_EVENT_BATCH_COMPLETED    "batch.completed"
#define PV_EVENT_WEBHOOK_TEST       "webhook.test"

/* The subscribable types, NULL-terminated. */
extern const char *const pv_event_types[];

/* 1 when name (borrowed) is one of pv_event_types. */
int pv_event_type_known(const char *name);

/*
 * pv_event_emit - record event type (borrowed; one of pv_event_types) of
 * account owner_id (borrowed, "cus_...") in mode test, with data (borrowed
 * JSON object, the "data.object" of the event), created at now (unix s),
 * with a pending delivery to every enabled endpoint of the account
 * subscribed to type; nothing at all when there is none. Call it inside
 * the transaction of what it reports (pv_store_begin ... commit), so the
 * event commits or rolls back with it. id_out (PV_ID_MAX bytes, may be
 * NULL) gets the event's "evt_..." id, or "" when nothing was recorded.
 * Returns PV_OK, PV_EINVAL, PV_ENOMEM or the store's error (the caller's
 * transaction must then roll back, as for any failed write in it).
 */
int pv_event_emit(struct pv_store *st, const char *owner_id, int test, const char *type,
                  json_t *data, int64_t now, char *id_out);

/*
 * An account's subscriptions, read once (pv_event_subs_load: one indexed
 * read of its enabled endpoints) and asked in memory, for a workflow that
 * may report several types (a purchase: indicium.created, balance.low).
 * pv_event_subs_want: 1 when an endpoint of s takes type.
 * pv_event_emit_subs: pv_event_emit to the endpoints of s taking type,
 * without reading them again (s must be of owner_id and test, read in the
 * same transaction).
 */
struct pv_event_subs {
    size_t n;
    char ids[PV_HOOK_FANOUT][PV_ID_MAX];
    char events[PV_HOOK_FANOUT][PV_HOOK_EVENTS_MAX];
};
int pv_event_subs_load(struct pv_store *st, const char *owner_id, int test,
                       struct pv_event_subs *s);
int pv_event_subs_want(const struct pv_event_subs *s, const char *type);
int pv_event_emit_subs(struct pv_store *st, const struct pv_event_subs *s, const char *owner_id,
                       int test, const char *type, json_t *data, int64_t now, char *id_out);

/*
 * pv_event_wanted - *yes = 1 when an enabled endpoint of (owner_id, test)
 * takes type: the cheap check, for callers that build the data only then.
 */
int pv_event_wanted(struct pv_store *st, const char *owner_id, int test, const char *type,
                    int *yes);

/*
 * The events of the workflows, each inside the caller's transaction and
 * a no-op (one read) when nobody subscribed. All arguments borrowed.
 * pv_event_funds_added: money credited to the balance by charge c
 * (purpose "funds" or "auto_refill"). pv_event_balance_low: a debit took
 * the balance from before to after; the event when it crossed the
 * account's low-balance line (its auto-refill trigger when one is set,
 * else PV_BALANCE_LOW_DEFAULT); subs (may be NULL: read here) as
 * pv_event_subs_load read it. pv_event_auto_refill_failed: an
 * auto-refill of amount could not be charged (decline: the card's decline
 * code or "", err why), in a transaction of its own when own_tx.
 */
#define PV_BALANCE_LOW_DEFAULT 10000 /* mills: $10.00 */
int pv_event_funds_added(struct pv_store *st, const struct pv_charge_rec *c, int64_t now);
int pv_event_balance_low(struct pv_store *st, const struct pv_event_subs *subs,
                         const char *owner_id, int test, pv_mills before, pv_mills after,
                         int64_t now);
int pv_event_auto_refill_failed(struct pv_store *st, const char *owner_id, int test,
                                pv_mills amount, const char *decline, int err, int own_tx,
                                int64_t now);

/*
 * pv_event_piece - the events of a piece just bought (rec, borrowed) by
 * owner_id in mode test: "indicium.created", and when it was paid from the
 * balance (balance_paid) "balance.low" if the debit from before to after
 * crossed the line. One read for both; none when hooks is 0 (the batch
 * found no endpoint of the owner's: pv_store_hook_owners). PV_OK or errors.
 */
int pv_event_piece(struct pv_store *st, const char *owner_id, int test,
                   const struct pv_indicium_rec *rec, int balance_paid, pv_mills before,
                   pv_mills after, int hooks, int64_t now);

/*
 * pv_event_emit_to - as pv_event_emit, to the one endpoint ep (borrowed)
 * whatever it subscribed to (the test button: "webhook.test"), in a
 * transaction of its own (not inside the caller's).
 */
int pv_event_emit_to(struct pv_store *st, const struct pv_hook_endpoint_rec *ep, const char *type,
                     json_t *data, int64_t now, char *id_out);

/*
 * pv_event_json - the public view of an event (borrowed): {"id", "object":
 * "event", "type", "created" (RFC 3339), "livemode", "data": {"object":
 * ...}}. Returns an owned object (json_decref), NULL when out of memory or
 * when the stored data is not JSON.
 */
json_t *pv_event_json(const struct pv_hook_event_rec *ev);

/*
 * pv_hook_sign - the Stampd-Signature header value "t=<t>,v1=<hex>" for
 * body (borrowed, len bytes) at unix time t under secret (borrowed; the
 * whole "whsec_..." string is the HMAC key): HMAC-SHA256 over "<t>.<body>".
 * out (borrowed, >= PV_HOOK_SIG_MAX). PV_OK, PV_ENOMEM or PV_ECRYPTO.
 */
#define PV_HOOK_SIG_MAX 96
int pv_hook_sign(const char *secret, int64_t t, const void *body, size_t len, char *out);

/* pv_hook_secret_new - a fresh signing secret "whsec_" + 64 hex into out
 * (PV_HOOK_SECRET_MAX). PV_OK or PV_ECRYPTO. */
int pv_hook_secret_new(char out[PV_HOOK_SECRET_MAX]);

/*
 * The retry schedule: after the n-th failed attempt (n >= 1) the next one
 * is due base_ms * 2^(n-1) later, at most PV_HOOK_BACKOFF_CAP_MS, times a
 * jitter of 80-120 % drawn from rnd (any value). Past window_s seconds
 * since the first attempt a delivery is failed instead.
 */
#define PV_HOOK_BASE_MS_DEFAULT  30000LL         /* 30 s */
#define PV_HOOK_BACKOFF_CAP_MS   (6LL * 3600000) /* 6 h */
#define PV_HOOK_WINDOW_S_DEFAULT (3LL * 86400)   /* 3 days */
int64_t pv_hook_backoff_ms(int n, int64_t base_ms, uint32_t rnd);

/*
 * pv_hook_url_check - is url (borrowed) an endpoint stampd may call?
 * "https://host[:port]/path" of at most PV_HOOK_URL_MAX - 1 printable
 * characters, no user-info, no fragment; "http://" only when allow_http.
 * Host names and literal addresses only: whether the address is private
 * is checked when it is resolved (pv_hook_addr_private). why (>= 128)
 * says what is wrong. PV_OK or PV_EWEBHOOKURL. host_out (>= 256, may be
 * NULL) gets the host (without brackets), port_out the port.
 */
int pv_hook_url_check(const char *url, int allow_http, char *why, char *host_out, int *port_out);

/*
 * pv_hook_addr_private - 1 when the address (family AF_INET or AF_INET6,
 * the raw 4 or 16 bytes) is loopback, private, link-local, unspecified,
 * carrier-grade NAT, multicast or otherwise not a public unicast address;
 * 2 when it is loopback (a subset: debug builds allow it).
 */
int pv_hook_addr_private(int family, const unsigned char *addr);

#endif
