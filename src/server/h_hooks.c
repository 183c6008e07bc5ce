/*
 * h_hooks.c - webhook endpoints and events in the API (h_hooks.h,
 * docs/webhooks.md). Endpoints belong to a customer account and a mode:
 * what a test key creates receives only test-mode events. The signing
 * secret is in the answer of create and rotate-secret, never again.
 * Which URLs are allowed: hooks_worker.h (pv_hooks_url_allowed).
 */
#include "server/h_hooks.h"

#include "domain/events.h"
#include "domain/ledger.h"
#include "server/app.h"
#include "server/hooks_worker.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *events_array(const char *events)
{
    json_t *a = json_array();
    const char *p = events;

    if (!a)
        return NULL;
    if (strcmp(events, "*") == 0) {
        json_array_append_new(a, json_string("*"));
        return a;
    }
    while (*p) {
        const char *e;
        if (*p == ',') {
            p++;
            continue;
        }
        e = strchr(p, ',');
        if (!e)
            e = p + strlen(p);
        if (json_array_append_new(a, json_stringn(p, (size_t) (e - p))) != 0) {
            json_decref(a);
            return NULL;
        }
        p = e;
    }
    return a;
}

/* The public view; with_secret only in the answers of create and rotate-secret. */
static json_t *endpoint_json(const struct pv_hook_endpoint_rec *ep, int with_secret)
{
    char created[32], updated[32];
    json_t *j;

    pv_time_format(ep->created, created, sizeof created);
    pv_time_format(ep->updated, updated, sizeof updated);
    j = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:b, s:s, s:s}", "id", ep->id, "object",
                  "webhook_endpoint", "url", ep->url, "description", ep->description,
                  "enabled_events", events_array(ep->events), "status",
                  ep->enabled ? "enabled" : "disabled", "livemode", !ep->test, "created", created,
                  "updated", updated);
    if (j && with_secret && json_object_set_new(j, "secret", json_string(ep->secret)) != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* "enabled_events": a non-empty array of known types, or ["*"], into out (",a,b," or "*"). */
static int parse_events(json_t *arr, char out[PV_HOOK_EVENTS_MAX], struct pv_reply *rp)
{
    size_t i, len = 1;
    json_t *v;

    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        pv_reply_error(rp, arr ? PV_ETYPE : PV_EMISSING, "enabled_events",
                       "enabled_events is a non-empty array of event types, or [\"*\"]");
        return PV_EINVAL;
    }
    out[0] = ',';
    out[1] = '\0';
    json_array_foreach(arr, i, v)
    {
        const char *t = json_string_value(v);
        char item[PV_HOOK_TYPE_MAX + 2];

        if (t && strcmp(t, "*") == 0 && json_array_size(arr) == 1) {
            snprintf(out, PV_HOOK_EVENTS_MAX, "*");
            return PV_OK;
        }
        if (!t || !pv_event_type_known(t)) {
            char msg[256];
            snprintf(msg, sizeof msg,
                     "enabled_events[%zu] is not an event type (indicium.created, refund.decided, "
                     "funds.added, auto_refill.failed, balance.low, batch.completed, or \"*\" "
                     "alone)",
                     i);
            pv_reply_error(rp, PV_EINVAL, "enabled_events", msg);
            return PV_EINVAL;
        }
        snprintf(item, sizeof item, ",%s,", t);
        if (strstr(out, item))
            continue; /* named twice: once is enough */
        if (len + strlen(t) + 1 >= PV_HOOK_EVENTS_MAX) {
            pv_reply_error(rp, PV_EINVAL, "enabled_events", "too many event types");
            return PV_EINVAL;
        }
        memcpy(out + len, t, strlen(t));
        len += strlen(t);
        out[len++] = ',';
        out[len] = '\0';
    }
    return PV_OK;
}

static int parse_url(struct pv_app *app, json_t *root, int required,
                     struct pv_hook_endpoint_rec *ep, struct pv_reply *rp)
{
    const char *url;
    char why[160];

    if (pv_body_string(root, "url", required, PV_HOOK_URL_MAX - 1, PV_EWEBHOOKURL, &url, rp) !=
        PV_OK)
        return PV_EINVAL;
    if (!url)
        return PV_OK;
    if (pv_hooks_url_allowed(app, url, why, sizeof why) != PV_OK) {
        pv_reply_error(rp, PV_EWEBHOOKURL, "url", why);
        return PV_EINVAL;
    }
    pv_str_copy(ep->url, sizeof ep->url, url);
    return PV_OK;
}

static int parse_desc(json_t *root, struct pv_hook_endpoint_rec *ep, struct pv_reply *rp)
{
    const char *d;

    if (pv_body_string(root, "description", 0, PV_HOOK_DESC_MAX - 1, PV_EINVAL, &d, rp) != PV_OK)
        return PV_EINVAL;
    if (d)
        pv_str_copy(ep->description, sizeof ep->description, d);
    return PV_OK;
}

static const char *const create_fields[] = {"url", "enabled_events", "description", NULL};
static const char *const update_fields[] = {"url", "enabled_events", "description", "disabled",
                                            NULL};

static void create(struct pv_call *c)
{
    const struct pv_principal *who = c->who;
    struct pv_reply *rp = c->rp;
    struct pv_hook_endpoint_rec ep, *all = NULL;
    size_t n = 0;
    json_t *root;
    int rc;

    if (!(root = pv_body_object(c->rq, create_fields, rp)))
        return;
    memset(&ep, 0, sizeof ep);
    if (parse_url(c->app, root, 1, &ep, rp) != PV_OK ||
        parse_events(json_object_get(root, "enabled_events"), ep.events, rp) != PV_OK ||
        parse_desc(root, &ep, rp) != PV_OK)
        goto out;
    if ((rc = pv_store_hook_endpoint_list(c->st, who->owner_id, who->test, &all, &n)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    free(all);
    if (n >= PV_HOOK_FANOUT) {
        pv_reply_error(rp, PV_ELIMIT, NULL, "an account has at most 16 webhook endpoints per mode");
        goto out;
    }
    pv_str_copy(ep.owner_id, sizeof ep.owner_id, who->owner_id);
    ep.test = who->test;
    ep.enabled = 1;
    ep.created = ep.updated = pv_now();
    if ((rc = pv_new_id("we", ep.id)) != PV_OK || (rc = pv_hook_secret_new(ep.secret)) != PV_OK ||
        (rc = pv_store_hook_endpoint_insert(c->st, &ep)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    pv_reply_json(rp, 201, endpoint_json(&ep, 1));
out:
    memset(ep.secret, 0, sizeof ep.secret);
    json_decref(root);
}

void pv_h_webhooks(struct pv_call *c)
{
    struct pv_hook_endpoint_rec *eps = NULL;
    size_t n = 0, i;
    json_t *arr;
    int rc;

    if (strcmp(c->rq->method, "POST") == 0) {
        create(c);
        return;
    }
    if ((rc = pv_store_hook_endpoint_list(c->st, c->who->owner_id, c->who->test, &eps, &n)) !=
        PV_OK) {
        pv_reply_error(c->rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n; i++)
        pv_list_push(&arr, endpoint_json(&eps[i], 0));
    pv_reply_list(c->rp, arr, NULL);
    free(eps);
}

/* The caller's endpoint c->id into ep; else rp is set. */
static int own_endpoint(struct pv_call *c, struct pv_hook_endpoint_rec *ep)
{
    int rc = pv_store_hook_endpoint_get(c->st, c->who->owner_id, c->who->test, c->id, ep);

    if (rc != PV_OK)
        pv_reply_error(c->rp, rc, NULL, rc == PV_ENOTFOUND ? "no such webhook endpoint" : NULL);
    return rc;
}

static void update(struct pv_call *c, struct pv_hook_endpoint_rec *ep)
{
    struct pv_reply *rp = c->rp;
    json_t *root, *dis, *ev;
    int rc;

    if (!(root = pv_body_object(c->rq, update_fields, rp)))
        return;
    if (parse_url(c->app, root, 0, ep, rp) != PV_OK || parse_desc(root, ep, rp) != PV_OK)
        goto out;
    if ((ev = json_object_get(root, "enabled_events")) && parse_events(ev, ep->events, rp) != PV_OK)
        goto out;
    if ((dis = json_object_get(root, "disabled"))) {
        if (!json_is_boolean(dis)) {
            pv_reply_error(rp, PV_ETYPE, "disabled", "disabled must be true or false");
            goto out;
        }
        ep->enabled = !json_is_true(dis);
    }
    ep->updated = pv_now();
    if ((rc = pv_store_hook_endpoint_update(c->st, ep)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    pv_reply_json(rp, 200, endpoint_json(ep, 0));
out:
    json_decref(root);
}

void pv_h_webhook(struct pv_call *c)
{
    struct pv_hook_endpoint_rec ep;
    int rc;

    if (own_endpoint(c, &ep) != PV_OK)
        return;
    if (strcmp(c->rq->method, "GET") == 0) {
        pv_reply_json(c->rp, 200, endpoint_json(&ep, 0));
    } else if (strcmp(c->rq->method, "DELETE") == 0) {
        rc = pv_store_hook_endpoint_delete(c->st, c->who->owner_id, c->who->test, ep.id,
                                           pv_now_ms());
        if (rc != PV_OK)
            pv_reply_error(c->rp, rc, NULL, NULL);
        else
            pv_reply_json(c->rp, 200,
                          json_pack("{s:s, s:s, s:b}", "id", ep.id, "object", "webhook_endpoint",
                                    "deleted", 1));
    } else {
        update(c, &ep);
    }
    memset(ep.secret, 0, sizeof ep.secret);
}

void pv_h_webhook_rotate(struct pv_call *c)
{
    struct pv_hook_endpoint_rec ep;
    int rc;

    if (own_endpoint(c, &ep) != PV_OK)
        return;
    ep.updated = pv_now();
    if ((rc = pv_hook_secret_new(ep.secret)) != PV_OK ||
        (rc = pv_store_hook_endpoint_update(c->st, &ep)) != PV_OK)
        pv_reply_error(c->rp, rc, NULL, NULL);
    else
        pv_reply_json(c->rp, 200, endpoint_json(&ep, 1));
    memset(ep.secret, 0, sizeof ep.secret);
}

void pv_h_webhook_test(struct pv_call *c)
{
    struct pv_hook_endpoint_rec ep;
    struct pv_hook_event_rec ev;
    char id[PV_ID_MAX];
    json_t *data;
    int rc;

    if (own_endpoint(c, &ep) != PV_OK)
        return;
    memset(&ev, 0, sizeof ev);
    data = json_pack("{s:s, s:s, s:s}", "object", "webhook_test", "endpoint", ep.id, "message",
                     "a test event sent from stampd: your endpoint receives and verifies events");
    rc = data ? pv_event_emit_to(c->st, &ep, PV_EVENT_WEBHOOK_TEST, data, pv_now(), id) : PV_ENOMEM;
    json_decref(data);
    if (rc == PV_OK)
        rc = pv_store_hook_event_get(c->st, c->who->owner_id, c->who->test, id, &ev);
    if (rc != PV_OK)
        pv_reply_error(c->rp, rc, NULL, NULL);
    else
        pv_reply_json(c->rp, 201, pv_event_json(&ev));
    free(ev.data);
    memset(ep.secret, 0, sizeof ep.secret);
}

static const char *outcome_name(int s)
{
    return s == PV_HOOK_DELIVERED ? "delivered" : s == PV_HOOK_FAILED ? "failed" : "retrying";
}

static json_t *attempt_json(const struct pv_hook_attempt_rec *a)
{
    char id[40], at[32];

    snprintf(id, sizeof id, "wha_%lld", (long long) a->seq);
    pv_time_format(a->at, at, sizeof at);
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:o, s:I, s:s, s:o, s:s}", "id", id, "object",
                     "webhook_attempt", "event_id", a->event_id, "event_type", a->event_type,
                     "attempt", a->attempt, "created", at, "status_code",
                     a->status_code ? json_integer(a->status_code) : json_null(), "latency_ms",
                     (json_int_t) a->latency_ms, "outcome", outcome_name(a->outcome), "error",
                     a->error[0] ? json_string(a->error) : json_null(), "response", a->response);
}

void pv_h_webhook_deliveries(struct pv_call *c)
{
    struct pv_hook_endpoint_rec ep;
    struct pv_hook_attempt_rec *recs = NULL;
    struct pv_list_page pg;
    uint64_t before;
    char next[40];
    size_t n = 0, i;
    json_t *arr;
    int rc;

    if (own_endpoint(c, &ep) != PV_OK)
        return;
    memset(ep.secret, 0, sizeof ep.secret);
    if (pv_list_args(c->rq, &pg, c->rp) != PV_OK ||
        pv_list_cursor_num(&pg, "wha_", INT64_MAX, &before, c->rp) != PV_OK)
        return;
    rc = pv_store_hook_attempt_list(c->st, ep.id, (int64_t) before, (size_t) pg.limit + 1, &recs,
                                    &n);
    if (rc != PV_OK) {
        pv_reply_error(c->rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n && i < pg.limit; i++)
        pv_list_push(&arr, attempt_json(&recs[i]));
    if (n > pg.limit)
        snprintf(next, sizeof next, "wha_%lld", (long long) recs[pg.limit - 1].seq);
    pv_reply_list(c->rp, arr, n > pg.limit ? next : NULL);
    free(recs);
}

void pv_h_events(struct pv_call *c)
{
    struct pv_hook_event_rec *recs = NULL;
    struct pv_list_page pg;
    const char *type = pv_query_arg(c->rq, "type");
    size_t n = 0, i;
    json_t *arr;
    int rc;

    if (pv_list_args(c->rq, &pg, c->rp) != PV_OK)
        return;
    if (type && *type && !pv_event_type_known(type) && strcmp(type, PV_EVENT_WEBHOOK_TEST) != 0) {
        pv_reply_error(c->rp, PV_EINVAL, "type", "type is an event type");
        return;
    }
    rc = pv_store_hook_event_list(c->st, c->who->owner_id, c->who->test, type, pg.cursor,
                                  (size_t) pg.limit + 1, &recs, &n);
    if (rc != PV_OK) {
        pv_reply_error(c->rp, rc, rc == PV_ECURSOR ? "cursor" : NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n && i < pg.limit; i++)
        pv_list_push(&arr, pv_event_json(&recs[i]));
    pv_reply_list(c->rp, arr, n > pg.limit ? recs[pg.limit - 1].id : NULL);
    pv_store_hook_events_free(recs, n);
}

void pv_h_event(struct pv_call *c)
{
    struct pv_hook_event_rec ev;
    int rc;

    memset(&ev, 0, sizeof ev);
    rc = pv_store_hook_event_get(c->st, c->who->owner_id, c->who->test, c->id, &ev);
    if (rc != PV_OK)
        pv_reply_error(c->rp, rc, NULL, rc == PV_ENOTFOUND ? "no such event" : NULL);
    else
        pv_reply_json(c->rp, 200, pv_event_json(&ev));
    free(ev.data);
}

static const char *const redeliver_fields[] = {"all", NULL};

void pv_h_event_redeliver(struct pv_call *c)
{
    struct pv_hook_event_rec ev;
    int64_t changed = 0;
    json_t *root = NULL, *all = NULL;
    int rc;

    if (c->rq->body_len && !(root = pv_body_object(c->rq, redeliver_fields, c->rp)))
        return;
    if (root && (all = json_object_get(root, "all")) && !json_is_boolean(all)) {
        pv_reply_error(c->rp, PV_ETYPE, "all", "all must be true or false");
        goto out;
    }
    memset(&ev, 0, sizeof ev);
    rc = pv_store_hook_event_get(c->st, c->who->owner_id, c->who->test, c->id, &ev);
    free(ev.data);
    if (rc == PV_OK)
        rc = pv_store_hook_delivery_redeliver(c->st, c->who->owner_id, c->who->test, c->id,
                                              json_is_true(all), pv_now_ms(), &changed);
    if (rc != PV_OK)
        pv_reply_error(c->rp, rc, NULL, rc == PV_ENOTFOUND ? "no such event" : NULL);
    else
        pv_reply_json(c->rp, 202,
                      json_pack("{s:s, s:s, s:I}", "object", "redelivery", "event_id", c->id,
                                "deliveries", (json_int_t) changed));
out:
    json_decref(root);
}
