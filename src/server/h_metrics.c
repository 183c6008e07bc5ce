/*
 * h_metrics.c - the health check (liveness), the readiness check and the
 * Prometheus metrics.
 */
#include "server/h_metrics.h"
#include "server/views.h"

#include "server/app.h"
#include "server/metrics.h"
#include "server/pool.h"
#include "server/ratelimit.h"
#include "server/processor.h"
#include "server/pubtls.h"
#include "domain/claims.h"
#include "domain/deposit_low.h"
#include "domain/lifecycle.h"
#include "domain/report.h"
#include "domain/ledger.h"
#include "payment/gateway.h"

#include "stampd/error.h"
#include "stampd/rates.h"
#include "stampd/timeutil.h"
#include "stampd/version.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct text {
    char *buf;
    size_t len, cap;
    int oom;
};

static void vput(struct text *t, const char *fmt, va_list ap0)
{
    va_list ap;
    int n;

    for (;;) {
        size_t room = t->cap - t->len;
        va_copy(ap, ap0);
        n = t->buf ? vsnprintf(t->buf + t->len, room, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && (size_t) n < room) {
            t->len += (size_t) n;
            return;
        }
        if (t->oom || t->cap > (64u << 20)) {
            t->oom = 1;
            return;
        }
        {
            size_t cap = t->cap ? t->cap * 2 : 4096;
            char *b = realloc(t->buf, cap);
            if (!b) {
                t->oom = 1;
                return;
            }
            t->buf = b;
            t->cap = cap;
        }
    }
}

static void put(struct text *t, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vput(t, fmt, ap);
    va_end(ap);
}

/* put for pv_metrics_write. */
static void put_any(void *ctx, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vput(ctx, fmt, ap);
    va_end(ap);
}

/* This process's own counters (metrics.c) and its processors' purchases. */
static void process_counters(const struct pv_app *app, struct text *t)
{
    size_t i;

    pv_metrics_write(put_any, t);
    put(t, "# HELP stampd_process_purchases_total Purchases this process's processors signed "
           "since it started.\n# TYPE stampd_process_purchases_total counter\n");
    for (i = 0; i < app->nprocs; i++)
        put(t, "stampd_process_purchases_total{processor=\"%s\"} %llu\n",
            pv_processor_id(app->procs, i),
            (unsigned long long) pv_processor_served(app->procs, i));
}

/* The SQLite checkpointer of st's database file (borrowed; NULL or another backend: nothing):
 * its runs, the commits that checkpointed inline, and its holds on the writers. */
static void store_checkpoints(struct pv_store *st, struct text *t)
{
    static const int64_t le[] = {PV_CKPT_LE_US};
    struct pv_store_ckpt ck;

    if (!st || pv_store_checkpoints(st, &ck) != PV_OK)
        return;
    put(t,
        "# HELP stampd_store_checkpoints_total Checkpoints of the SQLite log that this "
        "process's checkpointer ran.\n# TYPE stampd_store_checkpoints_total counter\n"
        "stampd_store_checkpoints_total %llu\n"
        "# HELP stampd_store_checkpoints_inline_total Commits that checkpointed the SQLite log "
        "themselves (the log too long, or no checkpointer).\n"
        "# TYPE stampd_store_checkpoints_inline_total counter\n"
        "stampd_store_checkpoints_inline_total %llu\n"
        "# HELP stampd_store_checkpoint_hold_seconds Checkpoints that finished the SQLite log "
        "with this process's writers held, by how long they held them.\n"
        "# TYPE stampd_store_checkpoint_hold_seconds histogram\n",
        (unsigned long long) ck.runs, (unsigned long long) ck.inline_runs);
    /* The last bucket (longer than every bound) counts in +Inf only. */
    pv_metrics_put_hist(put_any, t, "stampd_store_checkpoint_hold_seconds", "", le, ck.hold_bucket,
                        sizeof le / sizeof le[0], ck.holds, ck.hold_us);
}

int pv_h_metrics_token_ok(const struct pv_app *app, const struct pv_request *rq)
{
    const char *a = rq->authorization;
    size_t n = strlen(app->metrics_token), i;
    unsigned char d = 0;

    if (!n || !a || strncmp(a, "Bearer ", 7) != 0 || strlen(a + 7) != n)
        return 0;
    for (i = 0; i < n; i++)
        d |= (unsigned char) (a[7 + i] ^ app->metrics_token[i]);
    return d == 0;
}

/* GET /metrics (operator key): registers, deposit, servers, traffic. */
void pv_h_metrics(struct pv_call *c)
{
    struct pv_app *app = c->app;
    struct pv_store *st = c->st;
    struct pv_reply *rp = c->rp;
    struct pv_psd_rec *psds = NULL;
    struct pv_server_rec *sv = NULL;
    struct pv_server_count *all = NULL;
    size_t npsds = 0, nsv = 0, nall = 0, i;
    struct text t = {NULL, 0, 0, 0};
    int64_t now_ms = pv_now_ms();
    struct pv_deposit_status ds;
    struct pv_claim_totals claims;
    int64_t days;
    int rc;

    if ((rc = pv_deposit_status(st, &ds)) != PV_OK ||
        (rc = pv_contact_deadline_days(st, &days)) != PV_OK ||
        (rc = pv_store_claim_totals(st, &claims)) != PV_OK ||
        (rc = pv_store_psd_list(st, &psds, &npsds)) != PV_OK ||
        (rc = pv_store_server_list(st, &sv, &nsv)) != PV_OK ||
        (rc = pv_store_server_traffic(st, 0, &all, &nall)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    put(&t,
        "# HELP stampd_postal_deposit_mills The vendor's postal deposit left for refills.\n"
        "# TYPE stampd_postal_deposit_mills gauge\nstampd_postal_deposit_mills %lld\n",
        (long long) ds.balance);
    put(&t,
        "# HELP stampd_postal_deposit_low_threshold_mills The operator's low-deposit threshold "
        "(0: none).\n"
        "# TYPE stampd_postal_deposit_low_threshold_mills gauge\n"
        "stampd_postal_deposit_low_threshold_mills %lld\n"
        "# HELP stampd_postal_deposit_low 1 when the deposit is below the threshold.\n"
        "# TYPE stampd_postal_deposit_low gauge\nstampd_postal_deposit_low %d\n",
        (long long) ds.threshold, ds.low);
    put(&t,
        "# HELP stampd_refund_claims_owed_mills What the postal authority owes back for "
        "refunded unused postage (its pending refund claims).\n"
        "# TYPE stampd_refund_claims_owed_mills gauge\nstampd_refund_claims_owed_mills %lld\n"
        "# HELP stampd_refund_claims_pending Refund claims the authority has not decided.\n"
        "# TYPE stampd_refund_claims_pending gauge\nstampd_refund_claims_pending %lld\n",
        (long long) claims.amount[PV_CLAIM_PENDING], (long long) claims.count[PV_CLAIM_PENDING]);
    put(&t, "# HELP stampd_psd_register_mills PSD registers.\n"
            "# TYPE stampd_psd_register_mills gauge\n");
    for (i = 0; i < npsds; i++)
        put(&t,
            "stampd_psd_register_mills{psd=\"%u\",register=\"descending\"} %lld\n"
            "stampd_psd_register_mills{psd=\"%u\",register=\"ascending\"} %lld\n"
            "stampd_psd_register_mills{psd=\"%u\",register=\"control_total\"} %lld\n",
            (unsigned) psds[i].id, (long long) psds[i].descending, (unsigned) psds[i].id,
            (long long) psds[i].ascending, (unsigned) psds[i].id,
            (long long) psds[i].control_total);
    put(&t, "# HELP stampd_psd_pieces_total Indicia a PSD signed.\n"
            "# TYPE stampd_psd_pieces_total counter\n");
    for (i = 0; i < npsds; i++)
        put(&t, "stampd_psd_pieces_total{psd=\"%u\"} %u\n", (unsigned) psds[i].id,
            (unsigned) psds[i].piece_count);
    put(&t, "# HELP stampd_psd_balanced 1 when ascending + descending == control total.\n"
            "# TYPE stampd_psd_balanced gauge\n");
    for (i = 0; i < npsds; i++)
        put(&t, "stampd_psd_balanced{psd=\"%u\"} %d\n", (unsigned) psds[i].id,
            psds[i].ascending + psds[i].descending == psds[i].control_total);
    put(&t, "# HELP stampd_psd_leased 1 when a live lease allows a processor to use the PSD.\n"
            "# TYPE stampd_psd_leased gauge\n");
    for (i = 0; i < npsds; i++)
        put(&t, "stampd_psd_leased{psd=\"%u\"} %d\n", (unsigned) psds[i].id,
            psds[i].lease_holder[0] && psds[i].lease_expires_ms > now_ms);
    /* The watchdog (domain/report.h): alert on an overdue device before it stops a sale. */
    put(&t, "# HELP stampd_psd_overdue 1 when the PSD is past its reporting deadline "
            "(locked for sales).\n# TYPE stampd_psd_overdue gauge\n");
    for (i = 0; i < npsds; i++) {
        struct pv_contact_view v;
        if (!psds[i].test && pv_contact_view(st, psds[i].id, days, pv_report_clock(), &v) == PV_OK)
            put(&t, "stampd_psd_overdue{psd=\"%u\"} %d\n", (unsigned) psds[i].id, v.overdue);
    }
    put(&t, "# HELP stampd_server_live 1 when the server heartbeat in the last 3 s.\n"
            "# TYPE stampd_server_live gauge\n");
    for (i = 0; i < nsv; i++)
        put(&t, "stampd_server_live{server=\"%s\",status=\"%s\"} %d\n", sv[i].id,
            sv[i].status >= 0 && sv[i].status <= 2 ? pv_view_server_status[sv[i].status]
                                                   : "unknown",
            sv[i].heartbeat_ms >= now_ms - PV_LIVE_MS_DEFAULT);
    put(&t, "# HELP stampd_indicia_total Indicia signed, by server.\n"
            "# TYPE stampd_indicia_total counter\n");
    for (i = 0; i < nall; i++)
        put(&t, "stampd_indicia_total{server=\"%s\"} %lld\n", all[i].server_id,
            (long long) all[i].count);
    put(&t,
        "# HELP stampd_live_gateway_sandbox 1 when live card payments go to the sandbox "
        "gateway (no real money).\n# TYPE stampd_live_gateway_sandbox gauge\n"
        "stampd_live_gateway_sandbox %d\n",
        app->gws.live && strcmp(app->gws.live->ops->name, "sandbox") == 0);
    put(&t,
        "# HELP stampd_build_info The running stampd's version.\n"
        "# TYPE stampd_build_info gauge\nstampd_build_info{version=\"%s\"} 1\n",
        pv_version);
    put(&t,
        "# HELP stampd_ratelimit_lockouts_total Sources locked out after too many failed "
        "logins or key attempts (this process, since it started).\n"
        "# TYPE stampd_ratelimit_lockouts_total counter\n"
        "stampd_ratelimit_lockouts_total %llu\n",
        (unsigned long long) pv_ratelimit_lockouts(app->limits));
    if (pv_pubtls_not_after() > 0)
        put(&t,
            "# HELP stampd_tls_cert_not_after_seconds When the HTTPS certificate in use "
            "expires (Unix time).\n# TYPE stampd_tls_cert_not_after_seconds gauge\n"
            "stampd_tls_cert_not_after_seconds %lld\n",
            (long long) pv_pubtls_not_after());
    process_counters(app, &t);
    store_checkpoints(st, &t);
    if (t.oom) {
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        goto out;
    }
    rp->status = 200;
    rp->raw = (uint8_t *) t.buf;
    rp->raw_len = t.len;
    rp->content_type = "text/plain; version=0.0.4";
    t.buf = NULL;
out:
    free(t.buf);
    free(psds);
    free(sv);
    free(all);
}

/* GET /metrics on a processor's internal port (the metrics token only): this
 * process's own counters - requests, batch sizes, errors, purchases signed. */
void pv_h_metrics_process(struct pv_call *c)
{
    struct pv_app *app = c->app;
    struct pv_reply *rp = c->rp;
    struct pv_store *st = NULL;
    struct text t = {NULL, 0, 0, 0};

    if (!app->metrics_token[0]) {
        pv_reply_error(rp, PV_ENOTFOUND, NULL, "no such endpoint");
        return;
    }
    if (!pv_h_metrics_token_ok(app, c->rq)) {
        pv_reply_error(rp, PV_EUNAUTH, NULL, "GET /metrics takes the metrics token");
        return;
    }
    snprintf(rp->auth, sizeof rp->auth, "metrics-token");
    put(&t,
        "# HELP stampd_build_info The running stampd's version.\n"
        "# TYPE stampd_build_info gauge\nstampd_build_info{version=\"%s\"} 1\n",
        pv_version);
    process_counters(app, &t);
    /* An OPEN route runs with no handle (routes.c): one borrowed for the file's checkpointer,
     * whose writers (this processor's) it holds. */
    if (!c->st && app->pool && pv_pool_get(app->pool, &st) == PV_OK) {
        store_checkpoints(st, &t);
        pv_pool_put(app->pool, st);
    } else {
        store_checkpoints(c->st, &t);
    }
    if (t.oom) {
        free(t.buf);
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        return;
    }
    rp->status = 200;
    rp->raw = (uint8_t *) t.buf;
    rp->raw_len = t.len;
    rp->content_type = "text/plain; version=0.0.4";
}

void pv_h_health(struct pv_call *c)
{
    pv_reply_json(c->rp, 200, json_pack("{s:s}", "status", "ok"));
}

/* The postage of the cheapest piece one can buy today (1/10 oz of the
 * cheapest class), or 1 when no table prices any. */
static pv_mills cheapest_piece(void)
{
    static const int classes[] = {PV_MC_FIRST_CLASS_LETTER, PV_MC_POSTCARD, PV_MC_LARGE_ENVELOPE};
    uint32_t today = pv_date_from_unix(pv_now());
    pv_mills best = 0, p;
    size_t i;

    for (i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (pv_rate_quote(classes[i], 10, today, &p, NULL) == PV_OK && p > 0 &&
            (best == 0 || p < best))
            best = p;
    return best > 0 ? best : 1;
}

/* PV_OK, or PV_ENOMEM: a reason lost must not read as ready. */
static int add_reason(json_t *reasons, const char *code, const char *message)
{
    /* json_array_append_new takes the value even when it fails (or is NULL). */
    return json_array_append_new(reasons,
                                 json_pack("{s:s, s:s}", "code", code, "message", message)) == 0
               ? PV_OK
               : PV_ENOMEM;
}

/* Is the lease holder of a PSD a live processor that takes purchases? */
static int holder_serves(const struct pv_psd_rec *p, const struct pv_server_rec *sv, size_t nsv,
                         int64_t now_ms)
{
    size_t i;

    if (!p->lease_holder[0] || p->lease_expires_ms <= now_ms)
        return 0;
    for (i = 0; i < nsv; i++)
        if (strcmp(sv[i].id, p->lease_holder) == 0)
            return sv[i].status == PV_SERVER_ACTIVE &&
                   sv[i].heartbeat_ms >= now_ms - PV_LIVE_MS_DEFAULT;
    return 0;
}

/* The reasons a purchase cannot be sold now into reasons (see h_metrics.h). */
static int ready_reasons(struct pv_app *app, json_t *reasons)
{
    struct pv_store *st = NULL;
    struct pv_psd_rec *psds = NULL;
    struct pv_server_rec *sv = NULL;
    struct pv_deposit_status ds;
    struct pv_contact_view cv;
    size_t npsds = 0, nsv = 0, i, usable = 0, overdue = 0;
    int64_t now_ms = pv_now_ms(), days;
    pv_mills cheapest = cheapest_piece(), shortfall = -1;
    int rc, can_sell = 0, locked = 0;

    if ((rc = pv_pool_get(app->pool, &st)) != PV_OK || (rc = pv_deposit_status(st, &ds)) != PV_OK ||
        (rc = pv_contact_deadline_days(st, &days)) != PV_OK ||
        (locked = pv_resets_locked(st)) < 0 ||
        (rc = pv_store_psd_list(st, &psds, &npsds)) != PV_OK ||
        (rc = pv_store_server_list(st, &sv, &nsv)) != PV_OK) {
        pv_pool_put(app->pool, st);
        free(psds);
        free(sv);
        if (rc == PV_ENOMEM)
            return rc;
        return add_reason(reasons, "store_unreachable", "the database does not answer");
    }
    for (i = 0; i < npsds; i++) {
        const struct pv_psd_rec *p = &psds[i];
        if (p->test || p->status != PV_PSD_ACTIVE || !holder_serves(p, sv, nsv, now_ms))
            continue;
        /* The watchdog's lock (domain/report.h): it sells nothing until it reports. */
        if (pv_contact_view(st, p->id, days, pv_report_clock(), &cv) == PV_OK && cv.overdue) {
            overdue++;
            continue;
        }
        usable++;
        if (p->descending >= cheapest)
            can_sell = 1;
        else if (shortfall < 0 || cheapest - p->descending < shortfall)
            shortfall = cheapest - p->descending;
    }
    pv_pool_put(app->pool, st);
    free(psds);
    free(sv);
    if (usable == 0 && overdue)
        return add_reason(reasons, "psd_contact_overdue",
                          "every PSD a live processor holds is locked by the watchdog: it has "
                          "not reported to the postal authority within its deadline");
    if (usable == 0)
        return add_reason(
            reasons, "no_usable_psd",
            "no live processor that takes purchases holds an active PSD (every processor "
            "down, draining or disabled, or every PSD suspended or withdrawn)");
    if (!can_sell && locked)
        return add_reason(reasons, "resets_locked",
                          "no PSD can sell the cheapest piece and the postal authority has locked "
                          "resets");
    if (!can_sell && ds.balance < shortfall)
        return add_reason(
            reasons, "postal_deposit_insufficient",
            "no PSD can sell the cheapest piece and the postal deposit cannot refill one");
    return PV_OK;
}

/* 503 not_ready with reasons (taken) in the error. */
static void set_reasons(struct pv_reply *rp, json_t *reasons)
{
    json_t *e;

    pv_reply_error(rp, PV_ENOTREADY, NULL, NULL);
    e = rp->body ? json_object_get(rp->body, "error") : NULL;
    if (!e || json_object_set_new(e, "reasons", reasons) != 0) {
        if (!e)
            json_decref(reasons);
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
    }
}

void pv_h_ready(struct pv_call *c)
{
    json_t *reasons = json_array();

    if (!reasons || ready_reasons(c->app, reasons) != PV_OK) {
        json_decref(reasons);
        pv_reply_error(c->rp, PV_ENOMEM, NULL, NULL);
    } else if (json_array_size(reasons) > 0)
        set_reasons(c->rp, reasons);
    else {
        json_decref(reasons);
        pv_reply_json(c->rp, 200, json_pack("{s:s}", "status", "ready"));
    }
}
