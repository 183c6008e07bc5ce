/*
 * h_metrics.c - the health check and the Prometheus metrics.
 */
#include "server/h_metrics.h"
#include "server/views.h"

#include "server/app.h"
#include "server/processor.h"
#include "domain/claims.h"
#include "domain/deposit_low.h"
#include "domain/report.h"
#include "domain/ledger.h"
#include "payment/gateway.h"

#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct text {
    char *buf;
    size_t len, cap;
    int oom;
};

static void put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        size_t room = t->cap - t->len;
        va_start(ap, fmt);
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
    put(&t, "# HELP stampd_process_purchases_total Purchases this process's processors signed "
            "since it started.\n# TYPE stampd_process_purchases_total counter\n");
    for (i = 0; i < app->nprocs; i++)
        put(&t, "stampd_process_purchases_total{processor=\"%s\"} %llu\n",
            pv_processor_id(app->procs, i),
            (unsigned long long) pv_processor_served(app->procs, i));
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

void pv_h_health(struct pv_call *c)
{
    pv_reply_json(c->rp, 200, json_pack("{s:s}", "status", "ok"));
}
