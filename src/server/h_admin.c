/*
 * h_admin.c - the operator views (docs/operations.md): servers and their
 * status, traffic statistics, PSD registers and leases, the ledger check.
 */
#include "server/h_admin.h"

#include "server/app.h"
#include "server/processor.h"
#include "server/views.h"
#include "domain/deposit_low.h"
#include "domain/ledger.h"
#include "domain/lifecycle.h"
#include "domain/report.h"
#include "server/h_reports.h"

#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Unix milliseconds as RFC 3339 UTC with milliseconds ("...T01:02:03.456Z"),
 * or null for 0 (never): answers carry no Unix times. */
static json_t *time_ms_json(int64_t ms)
{
    char s[32], t[40];

    if (ms <= 0)
        return json_null();
    pv_time_format(ms / 1000, s, sizeof s);
    s[strlen(s) - 1] = '\0'; /* the 'Z' */
    snprintf(t, sizeof t, "%s.%03dZ", s, (int) (ms % 1000));
    return json_string(t);
}

#define STATS_DAYS_DEFAULT 30
#define STATS_DAYS_MAX     366

void pv_h_psds(struct pv_call *c)
{
    struct pv_store *st = c->st;
    struct pv_reply *rp = c->rp;
    struct pv_psd_rec *psds = NULL;
    size_t n = 0, i;
    struct pv_deposit_status ds;
    int64_t days, now = pv_report_clock();
    json_t *arr;
    int rc;

    if ((rc = pv_deposit_status(st, &ds)) != PV_OK ||
        (rc = pv_contact_deadline_days(st, &days)) != PV_OK ||
        (rc = pv_store_psd_list(st, &psds, &n)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n; i++) {
        const struct pv_psd_rec *p = &psds[i];
        char at[32];
        json_t *j;
        json_array_append_new(
            arr,
            j = json_pack(
                "{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:b}", "id", (json_int_t) p->id, "status",
                pv_psd_status_name(p->status), "key_id", (json_int_t) p->key_id, "descending_mills",
                (json_int_t) p->descending, "ascending_mills", (json_int_t) p->ascending,
                "control_total_mills", (json_int_t) p->control_total, "piece_count",
                (json_int_t) p->piece_count, "last_refill_at",
                p->last_refill_at ? json_string(pv_time_format(p->last_refill_at, at, sizeof at))
                                  : json_null(),
                "balanced", p->ascending + p->descending == p->control_total));
        /* Which processor may move its registers now (docs/operations.md). */
        if (j) {
            json_object_set_new(j, "lease_holder",
                                p->lease_holder[0] ? json_string(p->lease_holder) : json_null());
            json_object_set_new(j, "lease_expires_at", time_ms_json(p->lease_expires_ms));
            json_object_set_new(j, "test", json_boolean(p->test));
            /* The lifecycle (domain/lifecycle.h): who suspended it, and why. */
            json_object_set_new(j, "suspended_by",
                                p->status == PV_PSD_SUSPENDED && p->suspended_by[0]
                                    ? json_string(p->suspended_by)
                                    : json_null());
            json_object_set_new(j, "reason",
                                p->status_reason[0] ? json_string(p->status_reason) : json_null());
            pv_contact_fields(st, j, p->id, days, now); /* the watchdog (report.h) */
        }
    }
    free(psds);
    pv_reply_json(rp, 200,
                  arr ? json_pack("{s:I, s:I, s:b, s:o}", "deposit_mills", (json_int_t) ds.balance,
                                  "deposit_low_threshold_mills", (json_int_t) ds.threshold,
                                  "deposit_low", ds.low, "psds", arr)
                      : NULL);
}

static int64_t traffic_of(const struct pv_server_count *c, size_t n, const char *id)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(c[i].server_id, id) == 0)
            return c[i].count;
    return 0;
}

/* GET /v1/admin/servers: health, leases and share of traffic of each server - the last hour's
 * by whole minutes (the current one and the 59 before it), and every indicium's. */
void pv_h_admin_servers(struct pv_call *c)
{
    struct pv_store *st = c->st;
    struct pv_reply *rp = c->rp;
    struct pv_server_rec *sv = NULL;
    struct pv_server_count *hour = NULL, *all = NULL;
    struct pv_psd_rec *psds = NULL;
    size_t nsv = 0, nhour = 0, nall = 0, npsds = 0, i, k;
    int64_t now_ms = pv_now_ms(), hour_total = 0, all_total = 0;
    json_t *arr = NULL, *leases;
    char at[32];
    int rc;

    if ((rc = pv_store_server_list(st, &sv, &nsv)) != PV_OK ||
        (rc = pv_store_server_traffic(st, pv_now() - 59 * 60, &hour, &nhour)) != PV_OK ||
        (rc = pv_store_server_traffic(st, 0, &all, &nall)) != PV_OK ||
        (rc = pv_store_psd_list(st, &psds, &npsds)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    for (i = 0; i < nhour; i++)
        hour_total += hour[i].count;
    for (i = 0; i < nall; i++)
        all_total += all[i].count;
    arr = json_array();
    for (i = 0; arr && i < nsv; i++) {
        const struct pv_server_rec *v = &sv[i];
        int64_t h = traffic_of(hour, nhour, v->id), a = traffic_of(all, nall, v->id);
        leases = json_array();
        for (k = 0; leases && k < npsds; k++)
            if (strcmp(psds[k].lease_holder, v->id) == 0 && psds[k].lease_expires_ms > now_ms)
                json_array_append_new(leases, json_integer(psds[k].id));
        json_t *o;
        json_array_append_new(
            arr,
            o = json_pack(
                "{s:s, s:s, s:s, s:b, s:I, s:s, s:s, s:o, s:I, s:I, s:f, s:f}", "id", v->id,
                "address", v->address, "status",
                v->status >= 0 && v->status <= 2 ? pv_view_server_status[v->status] : "unknown",
                "healthy",
                v->status == PV_SERVER_ACTIVE && v->heartbeat_ms >= now_ms - PV_LIVE_MS_DEFAULT,
                "heartbeat_age_ms", (json_int_t) (now_ms - v->heartbeat_ms), "started",
                pv_time_format(v->started_ms / 1000, at, sizeof at), "key_ids", v->key_ids,
                "psd_leases", leases ? leases : json_array(), "indicia_last_hour", (json_int_t) h,
                "indicia_total", (json_int_t) a, "share_last_hour",
                hour_total ? (double) h / (double) hour_total : 0.0, "share_total",
                all_total ? (double) a / (double) all_total : 0.0));
        if (o) {
            json_object_set_new(o, "live",
                                json_boolean(v->heartbeat_ms >= now_ms - PV_LIVE_MS_DEFAULT));
            /* Which crypto module it signs with: it leases only PSDs bound to that one. */
            json_object_set_new(o, "crypto_module", json_string(v->crypto_module));
            json_object_set_new(o, "module_id", json_string(v->module_id));
        }
    }
    pv_reply_json(rp, 200, arr ? json_pack("{s:o}", "servers", arr) : NULL);
out:
    free(sv);
    free(hour);
    free(all);
    free(psds);
}

/*
 * GET /v1/admin/stats?days=N: the history operators' charts draw - live
 * postage sold per UTC day, and for every PSD what it dispensed and was
 * refilled each day and its descending register at each day's end (worked
 * back from today's register: dispensing lowers it, refills raise it).
 */
void pv_h_admin_stats(struct pv_call *c)
{
    struct pv_store *st = c->st;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    struct pv_sales_day *sales = NULL;
    struct pv_psd_rec *psds = NULL;
    struct pv_refill_rec *refills = NULL;
    size_t nsales = 0, npsds = 0, nrefills = 0, i, k;
    uint64_t days = STATS_DAYS_DEFAULT;
    int64_t today = pv_now() / 86400, first, *count = NULL;
    pv_mills *disp = NULL, *fill = NULL;
    json_t *sold = NULL, *series = NULL, *out = NULL;
    char day[16];
    int rc;

    if (pv_query_arg(rq, "days") &&
        pv_parse_u64(pv_query_arg(rq, "days"), 1, STATS_DAYS_MAX, &days) != PV_OK) {
        pv_reply_error(rp, PV_ELIMIT, "days", "days must be an integer from 1 to 366");
        return;
    }
    first = today - (int64_t) days + 1;
    if ((rc = pv_store_sales_daily(st, first, &sales, &nsales)) != PV_OK ||
        (rc = pv_store_psd_list(st, &psds, &npsds)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    /* Per PSD and day: [p * days + d]; plus live sales per day after them. */
    disp = calloc((npsds + 1) * days, sizeof *disp);
    fill = calloc((npsds + 1) * days, sizeof *fill);
    count = calloc(days, sizeof *count);
    if (!disp || !fill || !count) {
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        goto out;
    }
    for (i = 0; i < nsales; i++) {
        int64_t d = sales[i].day - first;
        if (d < 0 || d >= (int64_t) days)
            continue;
        for (k = 0; k < npsds && psds[k].id != sales[i].psd_id; k++)
            ;
        if (k == npsds)
            continue;
        rc = pv_money_add(disp[k * days + (size_t) d], sales[i].postage,
                          &disp[k * days + (size_t) d]);
        if (rc == PV_OK && !psds[k].test) {
            rc = pv_money_add(disp[npsds * days + (size_t) d], sales[i].postage,
                              &disp[npsds * days + (size_t) d]);
            count[d] += sales[i].count;
        }
        if (rc != PV_OK) {
            pv_reply_error(rp, rc, NULL, NULL);
            goto out;
        }
    }
    for (k = 0; k < npsds; k++) {
        if ((rc = pv_store_refill_list(st, psds[k].id, first * 86400, &refills, &nrefills)) !=
            PV_OK) {
            pv_reply_error(rp, rc, NULL, NULL);
            goto out;
        }
        for (i = 0; i < nrefills; i++) {
            int64_t d = refills[i].at / 86400 - first;
            if (d >= 0 && d < (int64_t) days &&
                (rc = pv_money_add(fill[k * days + (size_t) d], refills[i].amount,
                                   &fill[k * days + (size_t) d])) != PV_OK) {
                pv_reply_error(rp, rc, NULL, NULL);
                goto out;
            }
        }
        free(refills);
        refills = NULL;
    }
    sold = json_array();
    series = json_array();
    for (i = 0; sold && i < days; i++)
        json_array_append_new(
            sold, json_pack("{s:s, s:I, s:I}", "date",
                            pv_date_format(pv_date_from_unix((first + (int64_t) i) * 86400), day,
                                           sizeof day),
                            "count", (json_int_t) count[i], "postage_mills",
                            (json_int_t) disp[npsds * days + i]));
    for (k = 0; series && k < npsds; k++) {
        json_t *pts = json_array();
        pv_mills desc = psds[k].descending;
        /* Backwards from today: the register at a day's end, then its start. */
        for (i = days; pts && i-- > 0;) {
            json_array_insert_new(
                pts, 0,
                json_pack("{s:s, s:I, s:I, s:I}", "date",
                          pv_date_format(pv_date_from_unix((first + (int64_t) i) * 86400), day,
                                         sizeof day),
                          "dispensed_mills", (json_int_t) disp[k * days + i], "refilled_mills",
                          (json_int_t) fill[k * days + i], "descending_mills", (json_int_t) desc));
            if ((rc = pv_money_add(desc, disp[k * days + i], &desc)) != PV_OK ||
                (rc = pv_money_sub(desc, fill[k * days + i], &desc)) != PV_OK) {
                json_decref(pts);
                json_decref(sold);
                json_decref(series);
                pv_reply_error(rp, rc, NULL, NULL);
                goto out;
            }
        }
        json_array_append_new(series,
                              pts ? json_pack("{s:I, s:b, s:o}", "psd_id", (json_int_t) psds[k].id,
                                              "test", psds[k].test, "days", pts)
                                  : NULL);
    }
    if (sold && series)
        out = json_pack("{s:I, s:s, s:o, s:o}", "days", (json_int_t) days, "from",
                        pv_date_format(pv_date_from_unix(first * 86400), day, sizeof day), "sales",
                        sold, "psds", series);
    else {
        json_decref(sold);
        json_decref(series);
    }
    pv_reply_json(rp, 200, out);
out:
    free(sales);
    free(psds);
    free(refills);
    free(disp);
    free(fill);
    free(count);
}

/* GET /v1/admin/psds/{id}/leases: who held the PSD's lease, when (an audit trail). */
void pv_h_admin_leases(struct pv_call *c)
{
    struct pv_store *st = c->st;
    const char *idtext = c->id;
    struct pv_reply *rp = c->rp;
    struct pv_lease_rec *h = NULL;
    size_t n = 0, i;
    uint64_t id;
    json_t *arr;
    int rc;

    if (pv_parse_u64(idtext, 1, UINT32_MAX, &id) != PV_OK) {
        pv_reply_error(rp, PV_ENOTFOUND, NULL, "no such PSD");
        return;
    }
    if ((rc = pv_store_lease_history(st, (uint32_t) id, &h, &n)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:o, s:o}", "holder", h[i].holder,
                                             "acquired_at", time_ms_json(h[i].acquired_ms),
                                             "expires_at", time_ms_json(h[i].expires_ms)));
    free(h);
    pv_reply_json(rp, 200,
                  arr ? json_pack("{s:I, s:o}", "psd_id", (json_int_t) id, "leases", arr) : NULL);
}

/* GET /v1/admin/ledger: the double-entry books, proved. */
void pv_h_admin_ledger(struct pv_call *c)
{
    struct pv_store *st = c->st;
    struct pv_reply *rp = c->rp;
    struct pv_ledger_report rep;
    int rc = pv_ledger_check(st, &rep);

    if (rc != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    pv_reply_json(rp, 200, pv_view_ledger(&rep));
    pv_ledger_report_clear(&rep);
}

static const char *const status_fields[] = {"status", NULL};

/* POST /v1/admin/servers/{id} {"status": "active"|"draining"|"disabled"}. */
void pv_h_admin_server_status(struct pv_call *c)
{
    struct pv_store *st = c->st;
    const char *id = c->id;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    const char *want;
    json_t *root;
    int status, rc;

    rp->collect = 1; /* every bad field listed */
    if (!(root = pv_body_object(rq, status_fields, rp)))
        return;
    if (pv_body_string(root, "status", 1, 16, PV_EINVAL, &want, rp) != PV_OK || pv_reply_failed(rp))
        goto out;
    for (status = 0; status < 3 && strcmp(want, pv_view_server_status[status]) != 0; status++)
        ;
    if (status == 3) {
        pv_reply_error(rp, PV_EINVAL, "status", "status must be active, draining or disabled");
        goto out;
    }
    if (strlen(id) >= PV_ID_MAX || (rc = pv_store_server_set_status(st, id, status)) != PV_OK) {
        pv_reply_error(rp, strlen(id) >= PV_ID_MAX ? PV_ENOTFOUND : rc, NULL, "no such server");
        goto out;
    }
    pv_reply_json(rp, 200, json_pack("{s:s, s:s}", "id", id, "status", want));
out:
    json_decref(root);
}
