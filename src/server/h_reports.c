/*
 * h_reports.c - the daily per-device reports for the postal authority and
 * the watchdog's setting for the operator (domain/report.h).
 *
 * A device's report is served exactly as signed (?psd=N, JSON Lines or
 * CSV); a whole day is every device's report one after the other (the CSV
 * header once). GET .../signatures gives what `openssl dgst -verify` needs
 * for each: the DER signature (base64), the PSD key and its certificate from
 * the vendor CA. Nothing here reads a customer's data: a report holds only
 * what the indicia signed.
 */
#include "server/h_reports.h"

#include "crypto/primitives.h"
#include "domain/config.h"
#include "domain/report.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/indicium.h"
#include "stampd/money.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORTS_PATH "/v1/authority/reports"

static const char *money(pv_mills m, char buf[32])
{
    return pv_money_format(m, buf, 32);
}

/* The {date} of the path as YYYY-MM-DD; PV_OK or the reply set. */
static int day_arg(struct pv_call *c)
{
    uint32_t d;

    if (!c->id || pv_date_parse(c->id, &d) != PV_OK) {
        pv_reply_error(c->rp, PV_EINVAL, "date", "the date must be YYYY-MM-DD");
        return PV_EINVAL;
    }
    return PV_OK;
}

/* The answer for a failed read: no report that day, or the store's error. */
static void fail(struct pv_call *c, int rc)
{
    if (rc == PV_ENOTFOUND)
        pv_reply_error(c->rp, PV_ENOTFOUND, "date",
                       "no report for this day (a day is reported by the processors after it "
                       "ends, or with stampd authority report)");
    else
        pv_reply_error(c->rp, rc, NULL, NULL);
}

void pv_h_authority_reports(struct pv_call *c)
{
    struct pv_report_day *days = NULL;
    struct pv_report_rec *recs = NULL;
    struct pv_list_page pg;
    size_t n = 0, nr = 0, i, k;
    char a[32], url[64];
    const char *next = NULL;
    json_t *arr, *keys, *j;
    int rc;

    if (pv_list_args(c->rq, &pg, c->rp) != PV_OK)
        return;
    if (pg.cursor && pv_date_parse(pg.cursor, &(uint32_t){0}) != PV_OK) {
        pv_reply_error(c->rp, PV_ECURSOR, "cursor", NULL);
        return;
    }
    if ((rc = pv_store_report_days(c->st, pg.cursor ? pg.cursor : "", (size_t) pg.limit + 1, &days,
                                   &n)) != PV_OK) {
        pv_reply_error(c->rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n && i < pg.limit; i++) {
        if ((rc = pv_store_report_list(c->st, days[i].day, &recs, &nr)) != PV_OK) {
            json_decref(arr);
            free(days);
            pv_reply_error(c->rp, rc, NULL, NULL);
            return;
        }
        keys = json_array();
        for (k = 0; keys && k < nr; k++)
            if (k == 0 || recs[k].key_id != recs[k - 1].key_id)
                json_array_append_new(keys, json_integer((json_int_t) recs[k].key_id));
        free(recs);
        recs = NULL;
        snprintf(url, sizeof url, "%s/%s", REPORTS_PATH, days[i].day);
        j = keys ? json_pack("{s:s, s:s, s:I, s:I, s:s, s:I, s:o, s:s}", "object", "report", "date",
                             days[i].day, "devices", (json_int_t) days[i].devices, "pieces",
                             (json_int_t) days[i].pieces, "postage", money(days[i].postage, a),
                             "postage_mills", (json_int_t) days[i].postage, "signed_by_key_ids",
                             keys, "url", url)
                 : NULL;
        pv_list_push(&arr, j);
    }
    if (n > pg.limit)
        next = days[pg.limit - 1].day;
    pv_reply_list(c->rp, arr, next);
    free(days);
}

/* The day's reports (or PSD psd's only) in one form into rp. */
void pv_h_authority_report_day(struct pv_call *c)
{
    const char *format = pv_query_arg(c->rq, "format"), *psd_arg = pv_query_arg(c->rq, "psd");
    struct pv_report_rec *recs = NULL, one;
    int csv = format && strcmp(format, "csv") == 0;
    char *jl = NULL, *cv = NULL, *out = NULL;
    size_t n = 0, i, len = 0;
    uint64_t psd = 0;
    int rc = PV_OK;

    if (day_arg(c) != PV_OK)
        return;
    if (format && !csv && strcmp(format, "jsonl") != 0) {
        pv_reply_error(c->rp, PV_EINVAL, "format", "format is jsonl (the default) or csv");
        return;
    }
    if (psd_arg && pv_parse_u64(psd_arg, 1, UINT32_MAX, &psd) != PV_OK) {
        pv_reply_error(c->rp, PV_EINVAL, "psd", "psd is a device id");
        return;
    }
    if (psd) {
        rc = pv_store_report_get(c->st, (uint32_t) psd, c->id, &one, &jl, &cv);
        if (rc == PV_OK) {
            out = csv ? cv : jl;
            len = strlen(out);
            if (csv)
                cv = NULL;
            else
                jl = NULL;
        }
    } else if ((rc = pv_store_report_list(c->st, c->id, &recs, &n)) == PV_OK && n == 0) {
        rc = PV_ENOTFOUND;
    }
    for (i = 0; rc == PV_OK && !psd && i < n; i++) {
        const char *part;
        size_t plen;
        char *grown;
        if ((rc = pv_store_report_get(c->st, recs[i].psd_id, c->id, &one, &jl, &cv)) != PV_OK)
            break;
        part = csv ? cv : jl;
        if (csv && i > 0 && strchr(part, '\n'))
            part = strchr(part, '\n') + 1; /* the header once */
        plen = strlen(part);
        if (!(grown = realloc(out, len + plen + 1))) {
            rc = PV_ENOMEM;
            break;
        }
        out = grown;
        memcpy(out + len, part, plen + 1);
        len += plen;
        free(jl);
        free(cv);
        jl = cv = NULL;
    }
    free(jl);
    free(cv);
    free(recs);
    if (rc != PV_OK) {
        free(out);
        fail(c, rc);
        return;
    }
    c->rp->status = 200;
    c->rp->raw = (uint8_t *) out;
    c->rp->raw_len = len;
    c->rp->content_type = csv ? "text/csv; charset=utf-8" : "application/jsonl";
    if (psd)
        snprintf(c->rp->filename, sizeof c->rp->filename, "report-%s-psd-%u.%s", c->id,
                 (unsigned) psd, csv ? "csv" : "jsonl");
    else
        snprintf(c->rp->filename, sizeof c->rp->filename, "report-%s.%s", c->id,
                 csv ? "csv" : "jsonl");
}

/* The base64 of the DER form of a hex r||s signature; owned, NULL on failure. */
static char *der_b64(const char *hex)
{
    uint8_t raw[64], der[80];
    size_t dlen;

    if (strlen(hex) != 128 || pv_hex_decode(hex, raw, sizeof raw) != PV_OK ||
        pv_sig_raw_to_der(raw, der, sizeof der, &dlen) != PV_OK)
        return NULL;
    return pv_base64_encode(der, dlen);
}

static json_t *form_json(const char *day, uint32_t psd, const char *fmt, const char *body,
                         const char *sig_hex)
{
    char url[96], sha[65];
    uint8_t h[32];
    char *b64 = der_b64(sig_hex);
    json_t *j;

    pv_sha256(body, strlen(body), h);
    pv_hex_encode(h, sizeof h, sha);
    snprintf(url, sizeof url, "%s/%s?psd=%u&format=%s", REPORTS_PATH, day, (unsigned) psd, fmt);
    j = b64 ? json_pack("{s:s, s:s, s:I, s:s}", "url", url, "sha256", sha, "bytes",
                        (json_int_t) strlen(body), "signature", b64)
            : NULL;
    free(b64);
    return j;
}

void pv_h_authority_report_signatures(struct pv_call *c)
{
    struct pv_report_rec *recs = NULL, one;
    struct pv_key_rec *keys = NULL;
    size_t n = 0, nk = 0, i, k;
    char *jl = NULL, *cv = NULL, *ca = NULL, at[32];
    json_t *arr = NULL, *j;
    int rc;

    if (day_arg(c) != PV_OK)
        return;
    if ((rc = pv_store_report_list(c->st, c->id, &recs, &n)) != PV_OK ||
        (rc = pv_store_key_list(c->st, &keys, &nk)) != PV_OK ||
        ((rc = pv_store_config_get(c->st, PV_CFG_CA_CERT, &ca)) != PV_OK && rc != PV_ENOTFOUND))
        goto out;
    rc = n ? PV_OK : PV_ENOTFOUND;
    arr = json_array();
    for (i = 0; rc == PV_OK && arr && i < n; i++) {
        if ((rc = pv_store_report_get(c->st, recs[i].psd_id, c->id, &one, &jl, &cv)) != PV_OK)
            break;
        for (k = 0; k < nk && keys[k].key_id != one.key_id; k++)
            ;
        j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:s, s:s, s:o, s:o}", "object",
                      "report_signature", "psd_id", (json_int_t) one.psd_id, "key_id",
                      (json_int_t) one.key_id, "pieces", (json_int_t) one.pieces, "postage_mills",
                      (json_int_t) one.postage, "jsonl",
                      form_json(c->id, one.psd_id, "jsonl", jl, one.jsonl_sig), "csv",
                      form_json(c->id, one.psd_id, "csv", cv, one.csv_sig), "made_by", one.made_by,
                      "created", pv_time_format(one.created, at, sizeof at), "public_key_pem",
                      k < nk ? json_string(keys[k].public_pem) : json_null(), "certificate_pem",
                      k < nk && keys[k].cert_pem[0] ? json_string(keys[k].cert_pem) : json_null());
        pv_list_push(&arr, j);
        free(jl);
        free(cv);
        jl = cv = NULL;
    }
out:
    free(recs);
    free(keys);
    free(jl);
    free(cv);
    if (rc != PV_OK) {
        free(ca);
        json_decref(arr);
        fail(c, rc);
        return;
    }
    j = arr ? json_pack("{s:s, s:s, s:s, s:o, s:o}", "object", "report_signatures", "date", c->id,
                        "algorithm", "ecdsa-p256-sha256", "ca_certificate_pem",
                        ca ? json_string(ca) : json_null(), "data", arr)
            : NULL;
    free(ca);
    pv_reply_json(c->rp, 200, j);
}

int pv_contact_fields(struct pv_store *st, json_t *j, uint32_t psd_id, int64_t days, int64_t now)
{
    struct pv_contact_view v;
    char a[32], b[32];
    int rc = pv_contact_view(st, psd_id, days, now, &v);

    if (rc != PV_OK)
        return rc;
    json_object_set_new(j, "last_contact_at",
                        v.known ? json_string(pv_time_format(v.last_contact_at, a, sizeof a))
                                : json_null());
    json_object_set_new(j, "contact_deadline_at",
                        v.known ? json_string(pv_time_format(v.contact_deadline_at, b, sizeof b))
                                : json_null());
    json_object_set_new(j, "overdue", json_boolean(v.overdue));
    return PV_OK;
}

static const char *const watchdog_fields[] = {"deadline_days", NULL};

void pv_h_admin_watchdog(struct pv_call *c)
{
    struct pv_psd_rec *psds = NULL;
    int64_t days, now = pv_report_clock();
    size_t n = 0, i;
    json_t *root, *v, *arr, *j;
    int rc;

    if (strcmp(c->rq->method, "PUT") == 0) {
        c->rp->collect = 1; /* every bad field listed */
        if (!(root = pv_body_object(c->rq, watchdog_fields, c->rp)))
            return;
        v = json_object_get(root, "deadline_days");
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > PV_CONTACT_DAYS_MAX)
            pv_reply_error(c->rp, PV_EINVAL, "deadline_days",
                           "deadline_days is a whole number of days from 1 to 3650");
        if (pv_reply_failed(c->rp)) {
            json_decref(root);
            return;
        }
        rc = pv_contact_deadline_set(c->st, (int64_t) json_integer_value(v));
        json_decref(root);
        if (rc != PV_OK) {
            pv_reply_error(c->rp, rc, NULL, NULL);
            return;
        }
    }
    if ((rc = pv_contact_deadline_days(c->st, &days)) != PV_OK ||
        (rc = pv_store_psd_list(c->st, &psds, &n)) != PV_OK) {
        pv_reply_error(c->rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n; i++) {
        if (psds[i].test)
            continue;
        j = json_pack("{s:s, s:I}", "object", "device_contact", "psd_id", (json_int_t) psds[i].id);
        if (j && (rc = pv_contact_fields(c->st, j, psds[i].id, days, now)) != PV_OK) {
            json_decref(j);
            json_decref(arr);
            free(psds);
            pv_reply_error(c->rp, rc, NULL, NULL);
            return;
        }
        pv_list_push(&arr, j);
    }
    free(psds);
    pv_reply_json(c->rp, 200,
                  arr ? json_pack("{s:s, s:I, s:o}", "object", "watchdog", "deadline_days",
                                  (json_int_t) days, "devices", arr)
                      : NULL);
}
