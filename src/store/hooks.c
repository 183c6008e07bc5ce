/*
 * hooks.c - webhooks in the store (store_hooks.h, schema v19): endpoints,
 * the event outbox, deliveries with their retry state and lease, and the
 * attempt log.
 *
 * Events and their deliveries are written by the domain (domain/events.c)
 * inside the transaction of what they report, so an event exists exactly
 * when its purchase, refund or credit committed. The delivery worker
 * (server/hooks_worker.c) claims a due delivery by a guarded update - only
 * one holder at a time, across processes - and writes the outcome and its
 * attempt in one transaction, only while it still holds the lease.
 */
#include "stampd/error.h"
#include "store/store_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int endpoint_ok(const struct pv_hook_endpoint_rec *r)
{
    return r && r->id[0] && PV_FITS(r->id) && r->owner_id[0] && PV_FITS(r->owner_id) && r->url[0] &&
           PV_FITS(r->url) && PV_FITS(r->description) && r->events[0] && PV_FITS(r->events) &&
           r->secret[0] && PV_FITS(r->secret) && (r->test == 0 || r->test == 1) &&
           (r->enabled == 0 || r->enabled == 1);
}

int pv_store_hook_endpoint_insert(struct pv_store *st, const struct pv_hook_endpoint_rec *rec)
{
    struct pv_q q;

    if (!endpoint_ok(rec))
        return PV_EINVAL;
    pv_q_start(&q, st, S_HOOK_EP_INSERT);
    pv_q_text(&q, rec->id);
    pv_q_text(&q, rec->owner_id);
    pv_q_int(&q, rec->test);
    pv_q_text(&q, rec->url);
    pv_q_text(&q, rec->description);
    pv_q_text(&q, rec->events);
    pv_q_int(&q, rec->enabled);
    pv_q_text(&q, rec->secret);
    pv_q_int(&q, rec->created);
    pv_q_int(&q, rec->updated);
    return pv_q_write(&q);
}

static int read_endpoint(struct pv_row *r, void *p)
{
    struct pv_hook_endpoint_rec *rec = p;

    pv_r_text(r, rec->id, sizeof rec->id);
    pv_r_text(r, rec->owner_id, sizeof rec->owner_id);
    rec->test = (int) pv_r_int(r);
    pv_r_text(r, rec->url, sizeof rec->url);
    pv_r_text(r, rec->description, sizeof rec->description);
    pv_r_text(r, rec->events, sizeof rec->events);
    rec->enabled = (int) pv_r_int(r);
    pv_r_text(r, rec->secret, sizeof rec->secret);
    rec->created = pv_r_int(r);
    rec->updated = pv_r_int(r);
    return r->rc;
}

int pv_store_hook_endpoint_get(struct pv_store *st, const char *owner_id, int test, const char *id,
                               struct pv_hook_endpoint_rec *out)
{
    struct pv_q q;

    if (!id || !out)
        return PV_EINVAL;
    pv_q_start(&q, st, S_HOOK_EP_GET);
    pv_q_text(&q, id);
    pv_q_text(&q, owner_id ? owner_id : "");
    pv_q_int(&q, test);
    return pv_q_get(&q, read_endpoint, out, sizeof *out);
}

int pv_store_hook_endpoint_update(struct pv_store *st, const struct pv_hook_endpoint_rec *rec)
{
    struct pv_q q;

    if (!endpoint_ok(rec))
        return PV_EINVAL;
    pv_q_start(&q, st, S_HOOK_EP_UPDATE);
    pv_q_text(&q, rec->url);
    pv_q_text(&q, rec->description);
    pv_q_text(&q, rec->events);
    pv_q_int(&q, rec->enabled);
    pv_q_text(&q, rec->secret);
    pv_q_int(&q, rec->updated);
    pv_q_text(&q, rec->id);
    pv_q_text(&q, rec->owner_id);
    pv_q_int(&q, rec->test);
    return pv_q_write_found(&q);
}

int pv_store_hook_endpoint_delete(struct pv_store *st, const char *owner_id, int test,
                                  const char *id, int64_t now_ms)
{
    struct pv_q q;
    int rc, own;

    if (!st || !owner_id || !id)
        return PV_EINVAL;
    if ((rc = pv_write_enter(st, 1, &own)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_HOOK_EP_DELETE);
    pv_q_text(&q, id);
    pv_q_text(&q, owner_id);
    pv_q_int(&q, test);
    if ((rc = pv_q_found(&q)) == PV_OK) {
        pv_q_start(&q, st, S_HOOK_EP_FAIL_PENDING);
        pv_q_text(&q, id);
        pv_q_int(&q, now_ms);
        rc = pv_q_exec(&q);
    }
    return pv_write_leave(st, own, rc);
}

int pv_store_hook_endpoint_list(struct pv_store *st, const char *owner_id, int test,
                                struct pv_hook_endpoint_rec **out, size_t *n)
{
    struct pv_q q;

    if (!owner_id)
        return PV_EINVAL;
    pv_q_start(&q, st, S_HOOK_EP_LIST);
    pv_q_text(&q, owner_id);
    pv_q_int(&q, test);
    return pv_q_list(&q, sizeof **out, read_endpoint, (void **) out, n);
}

int pv_store_hook_enabled(struct pv_store *st, const char *owner_id, int test,
                          char ids[][PV_ID_MAX], char events[][PV_HOOK_EVENTS_MAX], size_t *n)
{
    struct pv_q q;
    struct pv_row r;
    int rc;

    *n = 0;
    if (!owner_id)
        return PV_EINVAL;
    pv_q_start(&q, st, S_HOOK_ENABLED);
    pv_q_text(&q, owner_id);
    pv_q_int(&q, test);
    pv_q_int(&q, PV_HOOK_FANOUT);
    while ((rc = pv_q_row(&q)) == PV_OK) {
        r = pv_row_of(&q);
        pv_r_text(&r, ids[*n], PV_ID_MAX);
        pv_r_text(&r, events[*n], PV_HOOK_EVENTS_MAX);
        if (r.rc != PV_OK) {
            rc = r.rc;
            break;
        }
        (*n)++;
    }
    pv_q_done(&q);
    return rc == PV_ENOTFOUND ? PV_OK : rc;
}

static int plain_id(const char *s)
{
    if (!s || !*s || !pv_fits(s, PV_ID_MAX))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

int pv_store_hook_owners(struct pv_store *st, const char *const *owners, size_t n, uint8_t *has)
{
    char owner[PV_ID_MAX], *list, *w;
    size_t i, len = 3;
    struct pv_q q;
    struct pv_row r;
    int64_t test;
    int rc;

    if (n == 0)
        return PV_OK;
    if (!owners || !has)
        return PV_EINVAL;
    memset(has, 0, n);
    for (i = 0; i < n; i++) {
        if (!plain_id(owners[i]))
            return PV_EINVAL;
        len += strlen(owners[i]) + 3;
    }
    /* ["a","b"]: plain ids need no escaping. */
    if (!(list = malloc(len)))
        return PV_ENOMEM;
    w = list;
    *w++ = '[';
    for (i = 0; i < n; i++) { /* the batch's owners, on the writer: no printf a job */
        size_t k = strlen(owners[i]);

        if (i)
            *w++ = ',';
        *w++ = '"';
        memcpy(w, owners[i], k);
        w += k;
        *w++ = '"';
    }
    *w++ = ']';
    *w = '\0';
    pv_q_start(&q, st, S_HOOK_OWNERS);
    pv_q_text(&q, list);
    while ((rc = pv_q_row(&q)) == PV_OK) {
        r = pv_row_of(&q);
        pv_r_text(&r, owner, sizeof owner);
        test = pv_r_int(&r);
        if (r.rc != PV_OK) {
            rc = r.rc;
            break;
        }
        for (i = 0; i < n; i++)
            if (strcmp(owners[i], owner) == 0)
                has[i] |= test ? 2 : 1;
    }
    pv_q_done(&q);
    free(list);
    return rc == PV_ENOTFOUND ? PV_OK : rc;
}

int pv_store_hook_event_insert(struct pv_store *st, const struct pv_hook_event_rec *rec)
{
    struct pv_q q;

    if (!rec || !rec->id[0] || !PV_FITS(rec->id) || !rec->owner_id[0] || !PV_FITS(rec->owner_id) ||
        !rec->type[0] || !PV_FITS(rec->type) || !rec->data)
        return PV_EINVAL;
    pv_q_start(&q, st, S_HOOK_EV_INSERT);
    pv_q_text(&q, rec->id);
    pv_q_text(&q, rec->owner_id);
    pv_q_int(&q, rec->test ? 1 : 0);
    pv_q_text(&q, rec->type);
    pv_q_int(&q, rec->created);
    pv_q_text(&q, rec->data);
    return pv_q_write(&q);
}

static int read_event(struct pv_row *r, void *p)
{
    struct pv_hook_event_rec *rec = p;

    rec->seq = pv_r_int(r);
    pv_r_text(r, rec->id, sizeof rec->id);
    pv_r_text(r, rec->owner_id, sizeof rec->owner_id);
    rec->test = (int) pv_r_int(r);
    pv_r_text(r, rec->type, sizeof rec->type);
    rec->created = pv_r_int(r);
    rec->data = pv_r_dup(r);
    return r->rc;
}

void pv_store_hook_events_free(struct pv_hook_event_rec *recs, size_t n)
{
    if (!recs)
        return;
    for (size_t i = 0; i < n; i++)
        free(recs[i].data);
    free(recs);
}

int pv_store_hook_event_get(struct pv_store *st, const char *owner_id, int test, const char *id,
                            struct pv_hook_event_rec *out)
{
    struct pv_q q;
    int rc;

    if (!id || !out)
        return PV_EINVAL;
    pv_q_start(&q, st, S_HOOK_EV_GET);
    pv_q_text(&q, id);
    pv_q_text(&q, owner_id ? owner_id : "");
    pv_q_int(&q, test);
    rc = pv_q_get(&q, read_event, out, sizeof *out);
    if (rc != PV_OK && out->data) {
        free(out->data);
        out->data = NULL;
    }
    return rc;
}

int pv_store_hook_event_list(struct pv_store *st, const char *owner_id, int test, const char *type,
                             const char *before, size_t limit, struct pv_hook_event_rec **out,
                             size_t *n)
{
    struct pv_hook_event_rec cur;
    int64_t below = INT64_MAX;
    struct pv_q q;
    int rc;

    *out = NULL;
    *n = 0;
    if (!owner_id || limit == 0 || limit > 1000)
        return PV_EINVAL;
    if (before && before[0]) {
        rc = pv_store_hook_event_get(st, owner_id, test, before, &cur);
        if (rc == PV_ENOTFOUND)
            return PV_ECURSOR;
        if (rc != PV_OK)
            return rc;
        below = cur.seq;
        free(cur.data);
    }
    pv_q_start(&q, st, S_HOOK_EV_LIST);
    pv_q_text(&q, owner_id);
    pv_q_int(&q, test);
    pv_q_text(&q, type ? type : "");
    pv_q_int(&q, below);
    pv_q_int(&q, (int64_t) limit);
    /* Not pv_q_list: each row owns its data, and a failure half-way frees them all. */
    while ((rc = pv_q_row(&q)) == PV_OK) {
        struct pv_hook_event_rec *grown;
        struct pv_row r;

        if (*n % 16 == 0) {
            grown = realloc(*out, (*n + 16) * sizeof **out);
            if (!grown) {
                rc = PV_ENOMEM;
                break;
            }
            *out = grown;
        }
        memset(&(*out)[*n], 0, sizeof **out);
        r = pv_row_of(&q);
        rc = read_event(&r, &(*out)[*n]);
        (*n)++;
        if (rc != PV_OK)
            break;
    }
    pv_q_done(&q);
    if (rc == PV_ENOTFOUND)
        return PV_OK;
    pv_store_hook_events_free(*out, *n);
    *out = NULL;
    *n = 0;
    return rc;
}

int pv_store_hook_delivery_insert(struct pv_store *st, const char *event_id,
                                  const char *endpoint_id, int64_t now_ms)
{
    struct pv_q q;

    if (!event_id || !endpoint_id)
        return PV_EINVAL;
    pv_q_start(&q, st, S_HOOK_DL_INSERT);
    pv_q_text(&q, event_id);
    pv_q_text(&q, endpoint_id);
    pv_q_int(&q, now_ms / 1000);
    pv_q_int(&q, now_ms);
    return pv_q_write(&q);
}

static int read_seq(struct pv_row *r, void *p)
{
    *(int64_t *) p = pv_r_int(r);
    return r->rc;
}

int pv_store_hook_delivery_due(struct pv_store *st, int64_t now_ms, size_t limit, int64_t **out,
                               size_t *n)
{
    struct pv_q q;

    if (limit == 0 || limit > 1000)
        return PV_EINVAL;
    pv_q_start(&q, st, S_HOOK_DL_DUE);
    pv_q_int(&q, now_ms);
    pv_q_int(&q, (int64_t) limit);
    return pv_q_list(&q, sizeof **out, read_seq, (void **) out, n);
}

static int read_delivery(struct pv_row *r, void *p)
{
    struct pv_hook_delivery_rec *rec = p;

    rec->seq = pv_r_int(r);
    pv_r_text(r, rec->event_id, sizeof rec->event_id);
    pv_r_text(r, rec->endpoint_id, sizeof rec->endpoint_id);
    rec->status = (int) pv_r_int(r);
    rec->attempts = (int) pv_r_int(r);
    rec->first_at = pv_r_int(r);
    rec->next_at = pv_r_int(r);
    rec->last_code = (int) pv_r_int(r);
    pv_r_text(r, rec->last_error, sizeof rec->last_error);
    return r->rc;
}

int pv_store_hook_delivery_claim(struct pv_store *st, int64_t seq, const char *holder,
                                 int64_t now_ms, int64_t lease_until_ms,
                                 struct pv_hook_delivery_rec *out)
{
    struct pv_hook_delivery_rec d;
    int64_t changed = 0;
    struct pv_q q;
    int rc, own;

    if (!holder || !holder[0] || lease_until_ms <= now_ms)
        return PV_EINVAL;
    if ((rc = pv_write_enter(st, 0, &own)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_HOOK_DL_CLAIM);
    pv_q_text(&q, holder);
    pv_q_int(&q, lease_until_ms);
    pv_q_int(&q, seq);
    pv_q_int(&q, now_ms);
    rc = pv_write_leave(st, own, pv_q_changed(&q, &changed));
    if (rc != PV_OK)
        return rc;
    if (changed != 1)
        return PV_EBUSY;
    pv_q_start(&q, st, S_HOOK_DL_GET);
    pv_q_int(&q, seq);
    if ((rc = pv_q_get(&q, read_delivery, &d, sizeof d)) == PV_OK)
        *out = d;
    return rc;
}

int pv_store_hook_delivery_claim_due(struct pv_store *st, const char *holder, int64_t now_ms,
                                     int64_t lease_until_ms, size_t limit,
                                     struct pv_hook_delivery_rec **out, size_t *n)
{
    struct pv_q q;
    int rc, own;

    *out = NULL;
    *n = 0;
    if (!holder || !holder[0] || lease_until_ms <= now_ms || limit == 0 || limit > 1000)
        return PV_EINVAL;
    if ((rc = pv_write_enter(st, 0, &own)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_HOOK_DL_CLAIM_DUE);
    pv_q_text(&q, holder);
    pv_q_int(&q, lease_until_ms);
    pv_q_int(&q, now_ms);
    pv_q_int(&q, (int64_t) limit);
    if ((rc = pv_write_leave(st, own, pv_q_exec(&q))) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_HOOK_DL_CLAIMED);
    pv_q_text(&q, holder);
    pv_q_int(&q, lease_until_ms);
    return pv_q_list(&q, sizeof **out, read_delivery, (void **) out, n);
}

int pv_store_hook_delivery_finish(struct pv_store *st, const struct pv_hook_delivery_rec *d,
                                  const char *holder, const struct pv_hook_attempt_rec *a)
{
    int64_t changed = 0;
    struct pv_q q;
    int rc, own;

    if (!d || !a || !holder || d->status < PV_HOOK_PENDING || d->status > PV_HOOK_FAILED ||
        !PV_FITS(d->last_error) || !PV_FITS(a->error) || !PV_FITS(a->response))
        return PV_EINVAL;
    if ((rc = pv_write_enter(st, 1, &own)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_HOOK_DL_FINISH);
    pv_q_int(&q, d->status);
    pv_q_int(&q, d->attempts);
    pv_q_int(&q, d->next_at);
    pv_q_int(&q, d->last_code);
    pv_q_text(&q, d->last_error);
    pv_q_int(&q, a->at * 1000);
    pv_q_int(&q, d->seq);
    pv_q_text(&q, holder);
    rc = pv_q_changed(&q, &changed);
    if (rc == PV_OK && changed != 1)
        rc = PV_EBUSY; /* the lease ran out and another holder took it */
    if (rc == PV_OK) {
        pv_q_start(&q, st, S_HOOK_AT_INSERT);
        pv_q_int(&q, d->seq);
        pv_q_text(&q, d->endpoint_id);
        pv_q_text(&q, d->event_id);
        pv_q_int(&q, a->attempt);
        pv_q_int(&q, a->at);
        pv_q_int(&q, a->status_code);
        pv_q_int(&q, a->latency_ms);
        pv_q_int(&q, a->outcome);
        pv_q_text(&q, a->error);
        pv_q_text(&q, a->response);
        rc = pv_q_exec(&q);
    }
    return pv_write_leave(st, own, rc);
}

int pv_store_hook_delivery_release(struct pv_store *st, int64_t seq, const char *holder)
{
    struct pv_q q;

    if (!holder || !holder[0])
        return PV_EINVAL;
    pv_q_start(&q, st, S_HOOK_DL_RELEASE);
    pv_q_int(&q, seq);
    pv_q_text(&q, holder);
    return pv_q_write(&q);
}

int pv_store_hook_delivery_redeliver(struct pv_store *st, const char *owner_id, int test,
                                     const char *event_id, int all, int64_t now_ms,
                                     int64_t *changed)
{
    struct pv_q q;
    int rc, own;

    *changed = 0;
    if (!owner_id || !event_id)
        return PV_EINVAL;
    if ((rc = pv_write_enter(st, 0, &own)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_HOOK_DL_REDELIVER);
    pv_q_int(&q, now_ms);
    pv_q_int(&q, now_ms / 1000);
    pv_q_text(&q, event_id);
    pv_q_int(&q, all ? 1 : 0);
    pv_q_text(&q, owner_id);
    pv_q_int(&q, test);
    return pv_write_leave(st, own, pv_q_changed(&q, changed));
}

static int read_attempt(struct pv_row *r, void *p)
{
    struct pv_hook_attempt_rec *rec = p;

    rec->seq = pv_r_int(r);
    rec->delivery_seq = pv_r_int(r);
    pv_r_text(r, rec->endpoint_id, sizeof rec->endpoint_id);
    pv_r_text(r, rec->event_id, sizeof rec->event_id);
    pv_r_text(r, rec->event_type, sizeof rec->event_type);
    rec->attempt = (int) pv_r_int(r);
    rec->at = pv_r_int(r);
    rec->status_code = (int) pv_r_int(r);
    rec->latency_ms = pv_r_int(r);
    rec->outcome = (int) pv_r_int(r);
    pv_r_text(r, rec->error, sizeof rec->error);
    pv_r_text(r, rec->response, sizeof rec->response);
    return r->rc;
}

int pv_store_hook_attempt_list(struct pv_store *st, const char *endpoint_id, int64_t before,
                               size_t limit, struct pv_hook_attempt_rec **out, size_t *n)
{
    struct pv_q q;

    if (!endpoint_id || before < 0 || limit == 0 || limit > 1000)
        return PV_EINVAL;
    pv_q_start(&q, st, S_HOOK_AT_LIST);
    pv_q_text(&q, endpoint_id);
    pv_q_int(&q, before ? before : INT64_MAX);
    pv_q_int(&q, (int64_t) limit);
    return pv_q_list(&q, sizeof **out, read_attempt, (void **) out, n);
}
