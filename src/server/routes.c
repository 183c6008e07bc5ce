/*
 * routes.c - the API as one table (docs/api.md, docs/internals/http.md).
 *
 * Every endpoint is a row: method, path pattern, who may call it, handler.
 * The dispatcher below is the only place that answers 404 for an unknown
 * path, 405 for a known path with another method, and 403 for a caller of
 * the wrong role; handlers only do their own work. The order of the checks
 * is the API's contract and is kept exactly: routes that need no store are
 * answered before a store handle is taken, public routes before the caller
 * is authenticated, and everything else after.
 */
#include "server/routes.h"

#include "server/h_admin.h"
#include "server/h_auth.h"
#include "server/h_authority.h"
#include "server/h_batches.h"
#include "server/h_reports.h"
#include "server/h_claims.h"
#include "server/h_hooks.h"
#include "server/h_indicia.h"
#include "server/h_rates.h"
#include "server/h_internal.h"
#include "server/h_lifecycle.h"
#include "server/h_media.h"
#include "server/h_metrics.h"
#include "server/h_payments.h"
#include "server/h_print.h"
#include "server/h_verify.h"
#include "server/internal.h"
#include "server/pool.h"
#include "server/web.h"
#include "stampd/codec.h"
#include "stampd/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Who may call a route. */
enum access {
    OPEN,     /* anyone, and no store handle: answered even when the database is down */
    PUBLIC,   /* anyone, with a store handle (sign-up, login, published keys) */
    ANY,      /* any authenticated key or session */
    CUSTOMER, /* a customer's key or session; others get 403 with the route's why */
    OPERATOR, /* an operator's key or session; others get 403 with the route's why */
    VENDOR,   /* a customer's or operator's key or session: not the postal authority's */
    POSTAL,   /* the postal authority's key; others get 403 with the route's why */
};

/* When the role is checked: after the method (405 first), or - for whole
 * areas of the API - as soon as the path matches (403 first). */
enum order { METHOD_FIRST, ROLE_FIRST };

struct route {
    const char *method;  /* NULL: any method */
    const char *pattern; /* literal segments, "{id}" (1..PV_ID_MAX-1 characters),
                            "{any}" (any length: the handler checks it), or a final "*" */
    enum access access;
    enum order order;
    const char *why;                    /* the 403 message for CUSTOMER, OPERATOR and POSTAL */
    void (*handler)(struct pv_call *c); /* NULL: "no such endpoint" once the role passed */
};

#define ADMIN_WHY    "administration needs an operator key"
#define CUSTOMER_WHY "this needs a customer key or session"
#define PRINT_WHY    "labels are printed with the buyer's customer key"
#define HOOKS_WHY    "webhooks and events belong to customer accounts"
#define PRINTER_WHY  "printers belong to customer accounts"
#define POSTAL_WHY   "this needs the postal authority's key (sk_postal_...)"
/* What a postal key hears on the vendor's routes, whatever the route's own why. */
#define NOT_POSTAL_WHY                                                                             \
    "the postal authority's key is for /v1/authority/... and /v1/verify, not for customers' "      \
    "or the vendor's routes"

/* First match wins; rows with the same pattern are one path with several methods. */
static const struct route api_routes[] = {
    {"GET", "/healthz", OPEN, METHOD_FIRST, NULL, pv_h_health},
    {"GET", "/readyz", OPEN, METHOD_FIRST, NULL, pv_h_ready},
    {"GET", "/v1/rates/quote", PUBLIC, METHOD_FIRST, NULL, pv_h_quote},
    {"GET", "/v1/rates", PUBLIC, METHOD_FIRST, NULL, pv_h_rates},
    {"GET", "/v1/keys", PUBLIC, METHOD_FIRST, NULL, pv_h_keys},
    {"GET", "/v1/keys/crl", PUBLIC, METHOD_FIRST, NULL, pv_h_keys_crl},
    {"GET", "/v1/layouts", PUBLIC, METHOD_FIRST, NULL, pv_h_layouts},
    {"POST", "/v1/signup", PUBLIC, METHOD_FIRST, NULL, pv_h_signup},
    {"POST", "/v1/login", PUBLIC, METHOD_FIRST, NULL, pv_h_login},

    {"POST", "/v1/logout", ANY, METHOD_FIRST, NULL, pv_h_logout},
    {"GET", "/v1/session", ANY, METHOD_FIRST, NULL, pv_h_session},
    {"GET", "/v1/account", ANY, METHOD_FIRST, NULL, pv_h_account},
    {"GET", "/v1/account/api-keys", ANY, METHOD_FIRST, NULL, pv_h_api_keys},
    {"POST", "/v1/account/api-keys", ANY, METHOD_FIRST, NULL, pv_h_api_keys},
    {"DELETE", "/v1/account/api-keys/{id}", ANY, METHOD_FIRST, NULL, pv_h_api_keys},
    {"GET", "/v1/account/sessions", ANY, METHOD_FIRST, NULL, pv_h_sessions},
    {"DELETE", "/v1/account/sessions/{id}", ANY, METHOD_FIRST, NULL, pv_h_sessions},

    {"GET", "/v1/payment-methods", CUSTOMER, ROLE_FIRST, CUSTOMER_WHY, pv_h_payment_methods},
    {"POST", "/v1/payment-methods", CUSTOMER, ROLE_FIRST, CUSTOMER_WHY, pv_h_payment_methods},
    {"DELETE", "/v1/payment-methods/{id}", CUSTOMER, ROLE_FIRST, CUSTOMER_WHY,
     pv_h_payment_methods},
    {"POST", "/v1/account/funds", CUSTOMER, METHOD_FIRST, CUSTOMER_WHY, pv_h_funds},
    {"GET", "/v1/account/auto-refill", CUSTOMER, ROLE_FIRST, CUSTOMER_WHY, pv_h_auto_refill},
    {"PUT", "/v1/account/auto-refill", CUSTOMER, ROLE_FIRST, CUSTOMER_WHY, pv_h_auto_refill},
    {"POST", "/v1/account/auto-refill", CUSTOMER, ROLE_FIRST, CUSTOMER_WHY, pv_h_auto_refill},
    {"GET", "/v1/account/transactions", CUSTOMER, METHOD_FIRST, CUSTOMER_WHY, pv_h_transactions},

    {"POST", "/v1/indicia", CUSTOMER, METHOD_FIRST, "only customer keys buy postage",
     pv_h_indicia_post},
    {"GET", "/v1/indicia", CUSTOMER, METHOD_FIRST, "list indicia with a customer key",
     pv_h_indicia_list},
    {"GET", "/v1/indicia/{any}", VENDOR, METHOD_FIRST, NULL, pv_h_indicium_get},
    {"GET", "/v1/indicia/{id}/label", CUSTOMER, METHOD_FIRST, PRINT_WHY, pv_h_label},
    {"GET", "/v1/indicia/{id}/refund", CUSTOMER, METHOD_FIRST, CUSTOMER_WHY, pv_h_refund},
    {"POST", "/v1/indicia/{id}/refund", CUSTOMER, METHOD_FIRST, CUSTOMER_WHY, pv_h_refund},
    {"POST", "/v1/sheets", CUSTOMER, METHOD_FIRST, PRINT_WHY, pv_h_sheets},
    {"POST", "/v1/batches", CUSTOMER, METHOD_FIRST, "only customer keys buy postage",
     pv_h_batches_post},
    {"GET", "/v1/batches", CUSTOMER, METHOD_FIRST, CUSTOMER_WHY, pv_h_batches_list},
    {"GET", "/v1/batches/{id}", CUSTOMER, METHOD_FIRST, CUSTOMER_WHY, pv_h_batch_get},
    {"GET", "/v1/batches/{id}/labels", CUSTOMER, METHOD_FIRST, PRINT_WHY, pv_h_batch_labels},
    {"GET", "/v1/account/printers", CUSTOMER, ROLE_FIRST, PRINTER_WHY, pv_h_printers},
    {"GET", "/v1/account/printers/{any}", CUSTOMER, ROLE_FIRST, PRINTER_WHY, pv_h_printers},
    {"PUT", "/v1/account/printers/{any}", CUSTOMER, ROLE_FIRST, PRINTER_WHY, pv_h_printers},
    {"DELETE", "/v1/account/printers/{any}", CUSTOMER, ROLE_FIRST, PRINTER_WHY, pv_h_printers},
    {"POST", "/v1/media/{any}/purchase", CUSTOMER, METHOD_FIRST, "only customer keys buy media",
     pv_h_medium_purchase},
    {"GET", "/v1/webhooks", CUSTOMER, ROLE_FIRST, HOOKS_WHY, pv_h_webhooks},
    {"POST", "/v1/webhooks", CUSTOMER, ROLE_FIRST, HOOKS_WHY, pv_h_webhooks},
    {"GET", "/v1/webhooks/{id}", CUSTOMER, ROLE_FIRST, HOOKS_WHY, pv_h_webhook},
    {"POST", "/v1/webhooks/{id}", CUSTOMER, ROLE_FIRST, HOOKS_WHY, pv_h_webhook},
    {"DELETE", "/v1/webhooks/{id}", CUSTOMER, ROLE_FIRST, HOOKS_WHY, pv_h_webhook},
    {"POST", "/v1/webhooks/{id}/rotate-secret", CUSTOMER, ROLE_FIRST, HOOKS_WHY,
     pv_h_webhook_rotate},
    {"POST", "/v1/webhooks/{id}/test", CUSTOMER, ROLE_FIRST, HOOKS_WHY, pv_h_webhook_test},
    {"GET", "/v1/webhooks/{id}/deliveries", CUSTOMER, ROLE_FIRST, HOOKS_WHY,
     pv_h_webhook_deliveries},
    {"GET", "/v1/events", CUSTOMER, ROLE_FIRST, HOOKS_WHY, pv_h_events},
    {"GET", "/v1/events/{id}", CUSTOMER, ROLE_FIRST, HOOKS_WHY, pv_h_event},
    {"POST", "/v1/events/{id}/redeliver", CUSTOMER, ROLE_FIRST, HOOKS_WHY, pv_h_event_redeliver},
    {"GET", "/v1/psds", OPERATOR, METHOD_FIRST, "PSD registers need an operator key", pv_h_psds},
    {"POST", "/v1/verify", ANY, METHOD_FIRST, NULL, pv_h_verify},

    {"GET", "/v1/authority/key", PUBLIC, METHOD_FIRST, NULL, pv_h_authority_key},
    {"GET", "/v1/authority/resets", POSTAL, ROLE_FIRST, POSTAL_WHY, pv_h_authority_resets},
    {"GET", "/v1/authority/reports", POSTAL, ROLE_FIRST, POSTAL_WHY, pv_h_authority_reports},
    {"GET", "/v1/authority/reports/{any}", POSTAL, ROLE_FIRST, POSTAL_WHY,
     pv_h_authority_report_day},
    {"GET", "/v1/authority/reports/{any}/signatures", POSTAL, ROLE_FIRST, POSTAL_WHY,
     pv_h_authority_report_signatures},
    {"GET", "/v1/authority/deposits", POSTAL, ROLE_FIRST, POSTAL_WHY, pv_h_authority_deposits},
    {"POST", "/v1/authority/deposits", POSTAL, ROLE_FIRST, POSTAL_WHY, pv_h_authority_deposits},
    {"GET", "/v1/authority/devices", POSTAL, ROLE_FIRST, POSTAL_WHY, pv_h_authority_devices},
    {"GET", "/v1/authority/devices/{id}", POSTAL, ROLE_FIRST, POSTAL_WHY, pv_h_authority_device},
    {"GET", "/v1/authority/devices/{id}/history", POSTAL, ROLE_FIRST, POSTAL_WHY,
     pv_h_authority_device_history},
    {"POST", "/v1/authority/devices/{id}/suspend", POSTAL, ROLE_FIRST, POSTAL_WHY,
     pv_h_authority_device_suspend},
    {"POST", "/v1/authority/devices/{id}/resume", POSTAL, ROLE_FIRST, POSTAL_WHY,
     pv_h_authority_device_resume},
    {"POST", "/v1/authority/resets/lock", POSTAL, ROLE_FIRST, POSTAL_WHY,
     pv_h_authority_resets_lock},
    {"POST", "/v1/authority/resets/unlock", POSTAL, ROLE_FIRST, POSTAL_WHY,
     pv_h_authority_resets_unlock},
    {"GET", "/v1/authority/refund-claims", POSTAL, ROLE_FIRST, POSTAL_WHY, pv_h_authority_claims},
    {"GET", "/v1/authority/refund-claims/{id}", POSTAL, ROLE_FIRST, POSTAL_WHY,
     pv_h_authority_claim},
    {"POST", "/v1/authority/refund-claims/{id}", POSTAL, ROLE_FIRST, POSTAL_WHY,
     pv_h_authority_claim},
    {"GET", "/v1/authority/holds", POSTAL, ROLE_FIRST, POSTAL_WHY, pv_h_authority_holds},
    {"POST", "/v1/authority/holds", POSTAL, ROLE_FIRST, POSTAL_WHY, pv_h_authority_holds},
    {"POST", "/v1/authority/holds/{id}/lift", POSTAL, ROLE_FIRST, POSTAL_WHY,
     pv_h_authority_hold_lift},
    {"GET", "/v1/authority/presentations", POSTAL, ROLE_FIRST, POSTAL_WHY,
     pv_h_authority_presentations},
    /* Every other path of the authority: 403 for others, 404 for the authority. */
    {NULL, "/v1/authority/*", POSTAL, ROLE_FIRST, POSTAL_WHY, NULL},

    {"GET", "/metrics", OPERATOR, ROLE_FIRST, ADMIN_WHY, pv_h_metrics},
    {"POST", "/v1/admin/media/batches", OPERATOR, ROLE_FIRST, ADMIN_WHY, pv_h_media_batch_post},
    {"GET", "/v1/admin/media/{any}", OPERATOR, ROLE_FIRST, ADMIN_WHY, pv_h_medium_get},
    {"GET", "/v1/admin/affiliates", OPERATOR, ROLE_FIRST, ADMIN_WHY, pv_h_affiliates_list},
    {"POST", "/v1/admin/affiliates", OPERATOR, ROLE_FIRST, ADMIN_WHY, pv_h_affiliate_post},
    {"GET", "/v1/admin/resupply-orders", OPERATOR, ROLE_FIRST, ADMIN_WHY, pv_h_resupply_list},
    {"POST", "/v1/admin/resupply-orders/{id}/ship", OPERATOR, ROLE_FIRST, ADMIN_WHY,
     pv_h_resupply_ship},
    {"GET", "/v1/admin/ledger", OPERATOR, ROLE_FIRST, ADMIN_WHY, pv_h_admin_ledger},
    {"GET", "/v1/admin/stats", OPERATOR, ROLE_FIRST, ADMIN_WHY, pv_h_admin_stats},
    {"GET", "/v1/admin/servers", OPERATOR, ROLE_FIRST, ADMIN_WHY, pv_h_admin_servers},
    {"POST", "/v1/admin/servers/{any}", OPERATOR, ROLE_FIRST, ADMIN_WHY, pv_h_admin_server_status},
    {"GET", "/v1/admin/psds/{id}/leases", OPERATOR, ROLE_FIRST, ADMIN_WHY, pv_h_admin_leases},
    {"GET", "/v1/admin/psds/{id}/history", OPERATOR, ROLE_FIRST, ADMIN_WHY, pv_h_admin_psd_history},
    {"POST", "/v1/admin/psds/{id}/suspend", OPERATOR, ROLE_FIRST, ADMIN_WHY,
     pv_h_admin_psd_suspend},
    {"POST", "/v1/admin/psds/{id}/resume", OPERATOR, ROLE_FIRST, ADMIN_WHY, pv_h_admin_psd_resume},
    {"POST", "/v1/admin/psds/{id}/withdraw", OPERATOR, ROLE_FIRST, ADMIN_WHY,
     pv_h_admin_psd_withdraw},
    {"GET", "/v1/admin/deposit", OPERATOR, ROLE_FIRST, ADMIN_WHY, pv_h_admin_deposit},
    {"GET", "/v1/admin/deposit/threshold", OPERATOR, ROLE_FIRST, ADMIN_WHY,
     pv_h_admin_deposit_threshold},
    {"PUT", "/v1/admin/deposit/threshold", OPERATOR, ROLE_FIRST, ADMIN_WHY,
     pv_h_admin_deposit_threshold},
    {"GET", "/v1/admin/watchdog", OPERATOR, ROLE_FIRST, ADMIN_WHY, pv_h_admin_watchdog},
    {"PUT", "/v1/admin/watchdog", OPERATOR, ROLE_FIRST, ADMIN_WHY, pv_h_admin_watchdog},
    {"GET", "/v1/admin/refund-claims", OPERATOR, ROLE_FIRST, ADMIN_WHY, pv_h_admin_claims},
    /* Every other administration path: 403 for non-operators, 404 for operators. */
    {NULL, "/v1/admin/*", OPERATOR, ROLE_FIRST, ADMIN_WHY, NULL},
    {NULL, NULL, OPEN, METHOD_FIRST, NULL, NULL},
};

/* stampd processor answers only its health, signed purchases from a front and
 * (with the metrics token) its own counters. */
static const struct route internal_routes[] = {
    {NULL, "/healthz", OPEN, METHOD_FIRST, NULL, pv_h_health},
    {"POST", PV_INTERNAL_PATH, OPEN, METHOD_FIRST, NULL, pv_h_internal_purchase},
    {"GET", "/metrics", OPEN, METHOD_FIRST, NULL, pv_h_metrics_process},
    {NULL, NULL, OPEN, METHOD_FIRST, NULL, NULL},
};

/*
 * Does path match pattern? On a match with a "{id}" or "{any}" segment, *id
 * is where that segment starts in path and *id_len its length.
 */
static int match(const char *pattern, const char *path, const char **id, size_t *id_len)
{
    const char *p = pattern, *s = path;

    *id = NULL;
    *id_len = 0;
    while (*p) {
        if (strcmp(p, "*") == 0)
            return 1;
        if (strncmp(p, "{id}", 4) == 0 || strncmp(p, "{any}", 5) == 0) {
            size_t n = strcspn(s, "/");
            if (n == 0 || (p[1] == 'i' && n >= PV_ID_MAX))
                return 0;
            *id = s;
            *id_len = n;
            s += n;
            p += p[1] == 'i' ? 4 : 5;
            continue;
        }
        if (*p != *s)
            return 0;
        p++;
        s++;
    }
    return *s == '\0';
}

/* The one answer for a known path asked with a method it does not have. */
static void method_not_allowed(struct pv_reply *rp)
{
    pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
}

/* The one role check: PV_OK, or 403 with the route's message. The postal
 * authority and the vendor's side are kept apart both ways. */
static int role_ok(const struct route *r, const struct pv_principal *who, struct pv_reply *rp)
{
    int postal = who->role == PV_ROLE_POSTAL;

    if ((r->access == CUSTOMER && who->role != PV_ROLE_CUSTOMER) ||
        (r->access == OPERATOR && who->role != PV_ROLE_OPERATOR) ||
        (r->access == VENDOR && postal) || (r->access == POSTAL && !postal)) {
        pv_reply_error(rp, PV_EFORBIDDEN, NULL,
                       postal   ? NOT_POSTAL_WHY
                       : r->why ? r->why
                                : "this key may not do that");
        return PV_EFORBIDDEN;
    }
    return PV_OK;
}

/* The web UI's files: everything that is not the API. */
static void web(const struct pv_request *rq, struct pv_reply *rp)
{
    const struct pv_web_file *f = pv_web_find(rq->path);

    if (!f)
        pv_reply_error(rp, PV_ENOTFOUND, NULL, "no such endpoint");
    else if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0)
        method_not_allowed(rp);
    else
        pv_web_answer(f, rq, rp);
}

/* Who called, for the access line: an API key's public prefix (its head
 * "sk_live_" and four characters, as the key list shows it) or "session",
 * and the account. Never more of the key. */
static void caller(const struct pv_request *rq, const struct pv_principal *who, struct pv_reply *rp)
{
    const char *k = rq->authorization, *u;

    pv_str_copy(rp->owner, sizeof rp->owner, who->owner_id);
    if (who->session || !k || strncmp(k, "Bearer ", 7) != 0) {
        snprintf(rp->auth, sizeof rp->auth, "session");
        return;
    }
    k += 7;
    u = strrchr(k, '_');
    if (u && (size_t) (u - k) < 12 && strlen(u + 1) > 8)
        snprintf(rp->auth, sizeof rp->auth, "%.*s", (int) (u - k) + 5, k);
}

void pv_routes_handle(struct pv_app *app, const struct pv_request *rq, struct pv_reply *rp)
{
    const struct route *table = app->internal ? internal_routes : api_routes;
    const struct route *path = NULL, *r = NULL, *t;
    struct pv_principal who;
    struct pv_call c;
    const char *seg;
    size_t seg_len;
    char *id = NULL;
    int rc;

    memset(&c, 0, sizeof c);
    c.app = app;
    c.rq = rq;
    c.rp = rp;
    /* The path: the first pattern that matches; the route: its row for this method. */
    for (t = table; t->pattern && !path; t++)
        if (match(t->pattern, rq->path, &seg, &seg_len))
            path = t;
    for (t = path; t && t->pattern && !r; t++)
        if (strcmp(t->pattern, path->pattern) == 0 &&
            (!t->method || strcmp(t->method, rq->method) == 0))
            r = t;
    if (path)
        rp->route = path->pattern;
    if (path && seg) {
        if (!(id = malloc(seg_len + 1))) {
            pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
            return;
        }
        memcpy(id, seg, seg_len);
        id[seg_len] = '\0';
        c.id = id;
    }
    if (!path && (app->internal ||
                  (strncmp(rq->path, "/v1/", 4) != 0 && strcmp(rq->path, "/metrics") != 0))) {
        if (app->internal)
            pv_reply_error(rp, PV_ENOTFOUND, NULL, "no such endpoint");
        else
            web(rq, rp);
        goto out;
    }
    if (path && path->access == OPEN) {
        if (!r)
            method_not_allowed(rp);
        else
            r->handler(&c);
        goto out;
    }
    if ((rc = pv_pool_get(app->pool, &c.st)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    if (path && path->access == PUBLIC) {
        if (!r)
            method_not_allowed(rp);
        else
            r->handler(&c);
        goto out;
    }
    /* Prometheus's own credential reaches /metrics and nothing else. */
    if (r && r->handler == pv_h_metrics && pv_h_metrics_token_ok(app, rq)) {
        snprintf(rp->auth, sizeof rp->auth, "metrics-token");
        r->handler(&c);
        goto out;
    }
    if (pv_auth_authenticate(app, c.st, rq, &who, rp) != PV_OK)
        goto out;
    c.who = &who;
    caller(rq, &who, rp);
    if (!path) {
        pv_reply_error(rp, PV_ENOTFOUND, NULL, "no such endpoint");
        goto out;
    }
    if (path->order == ROLE_FIRST && role_ok(path, &who, rp) != PV_OK)
        goto out;
    if (!r) {
        if (path->handler)
            method_not_allowed(rp);
        else
            pv_reply_error(rp, PV_ENOTFOUND, NULL, "no such endpoint");
        goto out;
    }
    if (r->order == METHOD_FIRST && role_ok(r, &who, rp) != PV_OK)
        goto out;
    if (r->handler)
        r->handler(&c);
    else
        pv_reply_error(rp, PV_ENOTFOUND, NULL, "no such endpoint");
out:
    pv_pool_put(app->pool, c.st);
    free(id);
}
