/*
 * store_hooks.h - the part of the store interface (store.h, which includes
 * it; include store.h, never this) for webhooks (schema v19,
 * store/hooks.c, domain/events.h, docs/webhooks.md): a customer's
 * endpoints, the event outbox, one delivery per event and endpoint with
 * its retry state and lease, and the log of every attempt.
 */
#ifndef STAMPD_STORE_HOOKS_H
#define STAMPD_STORE_HOOKS_H

#define PV_HOOK_URL_MAX    512 /* an endpoint's URL + NUL */
#define PV_HOOK_DESC_MAX   256 /* its description + NUL */
#define PV_HOOK_EVENTS_MAX 256 /* ",type,type," or "*" + NUL */
#define PV_HOOK_SECRET_MAX 80  /* "whsec_" + 64 hex + NUL, with room */
#define PV_HOOK_TYPE_MAX   32  /* an event type ("indicium.created") + NUL */
#define PV_HOOK_ERROR_MAX  256 /* an attempt's error + NUL */
#define PV_HOOK_EXCERPT    512 /* bytes of a receiver's answer kept, + NUL */

/* A webhook endpoint. events is "*" or ",type,type," (each type once). */
struct pv_hook_endpoint_rec {
    char id[PV_ID_MAX]; /* "we_..." */
    char owner_id[PV_ID_MAX];
    int test; /* registered with a test key: test events only */
    char url[PV_HOOK_URL_MAX];
    char description[PV_HOOK_DESC_MAX];
    char events[PV_HOOK_EVENTS_MAX];
    int enabled;
    char secret[PV_HOOK_SECRET_MAX]; /* the signing secret: never in an answer but once */
    int64_t created, updated;
};

/* An event of the outbox. data is an owned JSON text (free()). */
struct pv_hook_event_rec {
    int64_t seq;
    char id[PV_ID_MAX]; /* "evt_..." */
    char owner_id[PV_ID_MAX];
    int test;
    char type[PV_HOOK_TYPE_MAX];
    int64_t created;
    char *data; /* owned by the record; pv_store_hook_events_free */
};

enum pv_hook_status { PV_HOOK_PENDING = 0, PV_HOOK_DELIVERED = 1, PV_HOOK_FAILED = 2 };

/* One event to one endpoint. Times in unix ms but first_at (unix seconds). */
struct pv_hook_delivery_rec {
    int64_t seq;
    char event_id[PV_ID_MAX];
    char endpoint_id[PV_ID_MAX];
    int status; /* enum pv_hook_status */
    int attempts;
    int64_t first_at; /* unix s: the retry window starts here */
    int64_t next_at;  /* unix ms: due at */
    int last_code;
    char last_error[PV_HOOK_ERROR_MAX];
};

/* One attempt, as the delivery log shows it. outcome is enum pv_hook_status
 * of the delivery after the attempt. */
struct pv_hook_attempt_rec {
    int64_t seq; /* "wha_<seq>" */
    int64_t delivery_seq;
    char endpoint_id[PV_ID_MAX];
    char event_id[PV_ID_MAX];
    char event_type[PV_HOOK_TYPE_MAX]; /* read from the event (list only) */
    int attempt;                       /* 1.. */
    int64_t at;                        /* unix s */
    int status_code;                   /* 0: no HTTP answer */
    int64_t latency_ms;
    int outcome;
    char error[PV_HOOK_ERROR_MAX];
    char response[PV_HOOK_EXCERPT + 1];
};

/*
 * Endpoints. hook_endpoint_insert: PV_EEXIST on a taken id.
 * hook_endpoint_get: the endpoint id of owner_id in mode test (PV_ENOTFOUND
 * otherwise); an owner_id of NULL finds it whoever owns it (the worker).
 * hook_endpoint_update: url, description, events, enabled, secret and
 * updated of rec->id (owner and mode must match): PV_ENOTFOUND.
 * hook_endpoint_delete: the endpoint, and its pending deliveries failed
 * ("endpoint deleted"): PV_ENOTFOUND. hook_endpoint_list: owner_id's in mode
 * test, oldest first (*out owned, free()). hook_enabled: every enabled
 * endpoint of (owner_id, test), at most PV_HOOK_FANOUT, its id and events
 * into ids and events - one indexed read, the cheap check
 * (domain/events.h, pv_event_subs_load).
 */
#define PV_HOOK_FANOUT 16 /* endpoints per account */
int pv_store_hook_endpoint_insert(struct pv_store *st, const struct pv_hook_endpoint_rec *rec);
int pv_store_hook_endpoint_get(struct pv_store *st, const char *owner_id, int test, const char *id,
                               struct pv_hook_endpoint_rec *out);
int pv_store_hook_endpoint_update(struct pv_store *st, const struct pv_hook_endpoint_rec *rec);
int pv_store_hook_endpoint_delete(struct pv_store *st, const char *owner_id, int test,
                                  const char *id, int64_t now_ms);
int pv_store_hook_endpoint_list(struct pv_store *st, const char *owner_id, int test,
                                struct pv_hook_endpoint_rec **out, size_t *n);
int pv_store_hook_enabled(struct pv_store *st, const char *owner_id, int test,
                          char ids[][PV_ID_MAX], char events[][PV_HOOK_EVENTS_MAX], size_t *n);

/*
 * pv_store_hook_owners - which of n owners (borrowed ids, repeats allowed)
 * have an enabled endpoint, in one read for a whole purchase batch: has[i]
 * (caller-owned, n bytes) gets bit 1 for live, bit 2 for test endpoints.
 * PV_OK; PV_EINVAL when an owner is not a plain id (letters, digits, '_',
 * '-'); store errors.
 */
int pv_store_hook_owners(struct pv_store *st, const char *const *owners, size_t n, uint8_t *has);

/*
 * Events. hook_event_insert: rec (data borrowed; seq ignored): PV_EEXIST.
 * hook_event_get: the event id of owner_id in mode test (NULL owner: any):
 * PV_ENOTFOUND; out->data owned (free()). hook_event_list: owner_id's
 * events in mode test, newest first, older than the event `before` (NULL
 * or "": from the newest; an unknown one is PV_ECURSOR), of type (NULL or
 * "": any), at most limit; *out owned (pv_store_hook_events_free).
 */
int pv_store_hook_event_insert(struct pv_store *st, const struct pv_hook_event_rec *rec);
int pv_store_hook_event_get(struct pv_store *st, const char *owner_id, int test, const char *id,
                            struct pv_hook_event_rec *out);
int pv_store_hook_event_list(struct pv_store *st, const char *owner_id, int test, const char *type,
                             const char *before, size_t limit, struct pv_hook_event_rec **out,
                             size_t *n);
void pv_store_hook_events_free(struct pv_hook_event_rec *recs, size_t n);

/*
 * Deliveries. hook_delivery_insert: a pending delivery of event to
 * endpoint, due at next_ms: PV_EEXIST when there is one already.
 * hook_delivery_due: the seqs of up to limit pending deliveries due at
 * now_ms whose lease is free (*out owned, free()). hook_delivery_claim:
 * take delivery seq for holder until lease_until_ms, only if it is still
 * pending, due and free: PV_EBUSY when another took it, and then out
 * untouched. hook_delivery_claim_due: up to limit due deliveries claimed for
 * holder until lease_until_ms in one statement (the outer guards are checked again on the row a
 * concurrent claim left, so two workers never share one), and then read:
 * *out owned (free()), *n of them. hook_delivery_finish: the outcome of an attempt by holder -
 * status, attempts, next_ms, code and error, the lease released - and the
 * attempt logged, in one transaction: PV_EBUSY when holder lost the
 * lease. hook_delivery_release: holder's lease on delivery seq given up
 * unused (nothing when holder lost it). hook_delivery_redeliver: the failed (or, with all, every)
 * delivery of event_id to endpoints of owner_id pending again, due now,
 * its retry window restarted; *changed how many.
 */
int pv_store_hook_delivery_insert(struct pv_store *st, const char *event_id,
                                  const char *endpoint_id, int64_t now_ms);
int pv_store_hook_delivery_due(struct pv_store *st, int64_t now_ms, size_t limit, int64_t **out,
                               size_t *n);
int pv_store_hook_delivery_claim(struct pv_store *st, int64_t seq, const char *holder,
                                 int64_t now_ms, int64_t lease_until_ms,
                                 struct pv_hook_delivery_rec *out);
int pv_store_hook_delivery_claim_due(struct pv_store *st, const char *holder, int64_t now_ms,
                                     int64_t lease_until_ms, size_t limit,
                                     struct pv_hook_delivery_rec **out, size_t *n);
int pv_store_hook_delivery_finish(struct pv_store *st, const struct pv_hook_delivery_rec *d,
                                  const char *holder, const struct pv_hook_attempt_rec *a);
int pv_store_hook_delivery_release(struct pv_store *st, int64_t seq, const char *holder);
int pv_store_hook_delivery_redeliver(struct pv_store *st, const char *owner_id, int test,
                                     const char *event_id, int all, int64_t now_ms,
                                     int64_t *changed);

/* The delivery log: endpoint_id's attempts, newest first, older than
 * attempt seq before (0: from the newest), at most limit; *out owned (free()). */
int pv_store_hook_attempt_list(struct pv_store *st, const char *endpoint_id, int64_t before,
                               size_t limit, struct pv_hook_attempt_rec **out, size_t *n);

#endif
