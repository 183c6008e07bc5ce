/*
 * h_indicia.c - buying postage and reading it back (docs/api.md): the
 * price quote, purchase validation into a job for the processors and the
 * answer once it is done, one indicium, and the filtered history.
 *
 * Every handler validates its input completely before anything is written,
 * and leaves money movements to the processors' write path.
 */
#include "server/h_indicia.h"

#include "server/app.h"
#include "server/h_media.h"
#include "server/h_payments.h"
#include "server/h_rates.h"
#include "server/internal.h"
#include "server/pool.h"
#include "server/views.h"
#include "domain/address.h"
#include "domain/metadata.h"
#include "domain/indicium_view.h"
#include "domain/json_text.h"
#include "domain/ledger.h"
#include "domain/mode.h"
#include "domain/pricing.h"
#include "stampd/rates.h"
#include "stampd/zip.h"

#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int digits(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* out holds 10 bytes when allow_plus4, else 6. */
static int parse_zip(const char *s, int allow_plus4, char *out)
{
    size_t n = strlen(s);

    if (n == 5 && digits(s, 5)) {
        memcpy(out, s, 6);
        return PV_OK;
    }
    if (allow_plus4 && n == 10 && s[5] == '-' && digits(s, 5) && digits(s + 6, 4)) {
        memcpy(out, s, 5);
        memcpy(out + 5, s + 6, 5);
        return PV_OK;
    }
    if (allow_plus4 && n == 9 && digits(s, 9)) {
        memcpy(out, s, 10);
        return PV_OK;
    }
    return PV_EZIP;
}

static int parse_weight(json_t *v, uint16_t *tenths)
{
    if (json_is_integer(v)) {
        json_int_t w = json_integer_value(v);
        if (w <= 0 || w > 1120)
            return PV_EWEIGHT;
        *tenths = (uint16_t) (w * 10);
        return PV_OK;
    }
    if (json_is_real(v)) {
        /* Weights are not money: a double is fine, but only tenths count. */
        double d = json_real_value(v), diff;
        long t;
        if (!(d > 0.0 && d <= 1120.0))
            return PV_EWEIGHT;
        t = (long) (d * 10.0 + 0.5);
        diff = d * 10.0 - (double) t;
        if (diff > 1e-6 || diff < -1e-6)
            return PV_ETYPE;
        if (t <= 0)
            return PV_EWEIGHT;
        *tenths = (uint16_t) t;
        return PV_OK;
    }
    return PV_ETYPE;
}

#define CLASS_MSG                                                                                  \
    "mail_class must be one of first_class_letter, postcard, large_envelope, ground_advantage, "   \
    "priority_mail"

static const char *const purchase_fields[] = {
    "mail_class",     "weight_oz",      "from_zip",      "to_zip",     "mail_date",
    "medium_serial",  "payment",        "from_address",  "to_address", "commit_to_purchase_medium",
    "extra_services", "non_machinable", "address_check", "metadata",   NULL};

/* An address block: 1-6 lines of 1-60 printable characters, joined by '\n'. */
static int parse_address(const char *s, char out[PV_ADDRESS_MAX])
{
    size_t i, n = strlen(s), lines = 1, col = 0;

    if (n == 0 || n >= PV_ADDRESS_MAX)
        return PV_EINVAL;
    /* jansson hands us valid UTF-8: count characters (lead bytes), not bytes. */
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c == '\n') {
            if (col == 0 || ++lines > 6)
                return PV_EINVAL;
            col = 0;
        } else if (c < 0x20 || c == 0x7f) {
            return PV_EINVAL;
        } else if ((c & 0xc0) != 0x80 && ++col > 60) {
            return PV_EINVAL;
        }
    }
    if (col == 0)
        return PV_EINVAL;
    memcpy(out, s, n + 1);
    return PV_OK;
}

/* The mail class name cls (NULL: already refused) and root's weight_oz
 * into q; rp set on error (both checked, so both may be listed). */
static int parse_class_weight(json_t *root, const char *cls, struct pv_purchase_req *q,
                              struct pv_reply *rp)
{
    json_t *w;
    int rc = PV_OK, wrc;

    if (cls && (rc = pv_mail_class_parse(cls, &q->mail_class)) != PV_OK)
        pv_reply_error(rp, rc, "mail_class", CLASS_MSG);
    if (!(w = json_object_get(root, "weight_oz"))) {
        pv_reply_error(rp, PV_EMISSING, "weight_oz", NULL);
        return rc != PV_OK ? rc : PV_EMISSING;
    }
    if ((wrc = parse_weight(w, &q->weight_tenth_oz)) != PV_OK) {
        pv_reply_error(rp, wrc, "weight_oz",
                       wrc == PV_ETYPE ? "weight_oz must be a number with at most one decimal"
                                       : NULL);
        return rc != PV_OK ? rc : wrc;
    }
    return cls ? rc : PV_EMISSING;
}

/* The mail date text (NULL = today) into q; rp set on error. */
static int parse_mail_date(const char *date, struct pv_purchase_req *q, struct pv_reply *rp)
{
    uint32_t today = pv_date_from_unix(pv_now());
    int rc;

    if (!date) {
        q->mail_date = today;
        return PV_OK;
    }
    if ((rc = pv_date_parse(date, &q->mail_date)) != PV_OK) {
        pv_reply_error(rp, rc, "mail_date", "mail_date must be a date YYYY-MM-DD");
        return rc;
    }
    if (q->mail_date < pv_date_add_days(today, -PV_MAIL_DATE_BEHIND) ||
        q->mail_date > pv_date_add_days(today, PV_MAIL_DATE_AHEAD)) {
        pv_reply_error(rp, PV_EMAILDATE, "mail_date",
                       "mail_date must be today or within the next 30 days");
        return PV_EMAILDATE;
    }
    return PV_OK;
}

/* Price q (class, weight, date, options and ZIPs parsed) into q->postage,
 * its breakdown into *pr (may be NULL) and its zone into *zone (may be
 * NULL); rp set on error. */
static int price(struct pv_purchase_req *q, const char *cls, struct pv_rate_price *pr, int *zone,
                 struct pv_reply *rp)
{
    struct pv_rate_price own;
    char msg[160];
    int z, rc;

    if (!pr)
        pr = &own;
    rc = pv_price_piece(q->mail_class, q->weight_tenth_oz, q->mail_date, q->services, q->from_zip,
                        q->to_zip, pr, &z);
    if (rc == PV_OK) {
        q->postage = pr->total;
        if (zone)
            *zone = z;
    } else if (rc == PV_EWEIGHT) {
        snprintf(msg, sizeof msg, "weight_oz must be more than 0 and at most %u.%u oz for %s",
                 pv_rate_max_weight(q->mail_class) / 10, pv_rate_max_weight(q->mail_class) % 10,
                 cls);
        pv_reply_error(rp, rc, "weight_oz", msg);
    } else if (rc == PV_EZONE || rc == PV_EZIP) {
        pv_reply_error(rp, rc, "to_zip", NULL);
    } else if (rc == PV_ESERVICE) {
        pv_reply_error(rp, rc,
                       (q->services & PV_SVC_NONMACHINABLE) &&
                               q->mail_class != PV_MC_FIRST_CLASS_LETTER
                           ? "non_machinable"
                           : "extra_services",
                       NULL);
    } else {
        pv_reply_error(rp, rc, rc == PV_ENORATE ? "mail_date" : NULL, NULL);
    }
    return rc;
}

/* An address field name of root into *out (owned; NULL when absent); rp set on error. */
static void parse_address_field(json_t *root, const char *name, char **out, struct pv_reply *rp)
{
    char block[PV_ADDRESS_MAX];
    const char *a;

    if (pv_body_string(root, name, 0, PV_ADDRESS_MAX - 1, PV_EINVAL, &a, rp) != PV_OK || !a)
        return;
    if (parse_address(a, block) != PV_OK)
        pv_reply_error(rp, PV_EINVAL, name,
                       "an address is 1-6 lines of 1-60 characters, joined by \\n");
    else if (pv_text_set(out, block) != PV_OK)
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
}

/* The metadata of root into *out (owned; NULL when none); rp set on error. */
static void parse_metadata_field(json_t *root, char **out, struct pv_reply *rp)
{
    json_t *m = json_object_get(root, "metadata");
    char msg[160], *text = m ? malloc(PV_METADATA_MAX) : NULL;
    int rc = m && !text ? PV_ENOMEM : PV_OK;

    if (rc == PV_OK && text && (rc = pv_metadata_parse(m, text, msg, sizeof msg)) != PV_OK)
        pv_reply_error(rp, rc, "metadata", msg);
    else if (rc != PV_OK || pv_text_set(out, text) != PV_OK)
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
    free(text);
}

/*
 * Validate and price the purchase body root (borrowed) into q; rp set on
 * error. Every field is checked, so with rp->collect every bad one is
 * listed; the price only when all of them are good. The address check
 * (pv_check_addresses) comes after it.
 */
static int parse_purchase(json_t *root, struct pv_purchase_req *q, struct pv_reply *rp)
{
    const char *cls, *from, *to, *date, *medium;
    json_t *w;
    int failed = pv_reply_failed(rp), drc, check;

    pv_body_string(root, "mail_class", 1, 64, PV_EMAILCLASS, &cls, rp);
    pv_body_string(root, "from_zip", 1, 16, PV_EZIP, &from, rp);
    pv_body_string(root, "to_zip", 1, 16, PV_EZIP, &to, rp);
    drc = pv_body_string(root, "mail_date", 0, 16, PV_EMAILDATE, &date, rp);
    pv_body_string(root, "medium_serial", 0, 64, PV_EINVAL, &medium, rp);
    parse_class_weight(root, cls, q, rp);
    if (from && parse_zip(from, 0, q->from_zip) != PV_OK)
        pv_reply_error(rp, PV_EZIP, "from_zip", "from_zip must be 5 digits");
    else if (from)
        pv_check_zip_issued(q->from_zip, "from_zip", rp);
    if (to && parse_zip(to, 1, q->to_zip) != PV_OK)
        pv_reply_error(rp, PV_EZIP, "to_zip", "to_zip must be 5 digits or ZIP+4 (12345-6789)");
    else if (to)
        pv_check_zip_issued(q->to_zip, "to_zip", rp);
    if (drc == PV_OK)
        parse_mail_date(date, q, rp);
    /* A structured address becomes the text block first (address.h). */
    if (pv_structured_address(root, "from_address", rp) == PV_OK)
        parse_address_field(root, "from_address", &q->from_address, rp);
    if (pv_structured_address(root, "to_address", rp) == PV_OK)
        parse_address_field(root, "to_address", &q->to_address, rp);
    if (medium && pv_medium_parse(medium, q->medium_serial) != PV_OK)
        pv_reply_error(rp, PV_EINVAL, "medium_serial",
                       "medium_serial must be 1-32 letters, digits or hyphens");
    parse_metadata_field(root, &q->metadata, rp);
    if ((w = json_object_get(root, "commit_to_purchase_medium")) != NULL) {
        if (!json_is_boolean(w))
            pv_reply_error(rp, PV_ETYPE, "commit_to_purchase_medium", NULL);
        q->commit_medium = json_is_true(w);
    }
    pv_parse_options(root, q, rp);
    pv_parse_address_check(root, &check, rp);
    if (failed || pv_reply_failed(rp))
        return PV_EINVAL;
    return price(q, cls, NULL, NULL, rp);
}

/* Query argument name = s into root as a JSON string (v, when not NULL, is
 * the value to set instead, taken). PV_OK; PV_EINVAL with rp set when s is
 * not UTF-8, which jansson refuses; PV_ENOMEM. */
static int query_field(json_t *root, const char *name, const char *s, json_t *v,
                       struct pv_reply *rp)
{
    unsigned failures = pv_json_failures();

    if (!v && !(v = json_string(s))) {
        if (pv_json_failures() != failures)
            return PV_ENOMEM;
        pv_reply_error(rp, PV_EINVAL, name, "not valid UTF-8");
        return PV_EINVAL;
    }
    return json_object_set_new(root, name, v) == 0 ? PV_OK : PV_ENOMEM;
}

/* One quote's answer: class, weight, date, options, zone and the price
 * broken down (the total also as postage/postage_mills, as before). */
static json_t *quote_json(const struct pv_purchase_req *q, const struct pv_rate_price *pr, int zone)
{
    char day[16], money[32];
    json_t *j = json_pack(
        "{s:s, s:s, s:f, s:s, s:I, s:s, s:o}", "object", "quote", "mail_class",
        pv_mail_class_name(q->mail_class), "weight_oz", q->weight_tenth_oz / 10.0, "mail_date",
        pv_date_format(q->mail_date, day, sizeof day), "postage_mills", (json_int_t) pr->total,
        "postage", pv_money_format(pr->total, money, sizeof money), "price", pv_price_json(pr));

    if (j && (json_object_set_new(j, "extra_services", pv_services_json(q->services)) ||
              json_object_set_new(j, "non_machinable",
                                  json_boolean((q->services & PV_SVC_NONMACHINABLE) != 0)) ||
              json_object_set_new(j, "zone", zone ? json_integer(zone) : json_null()))) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* The quote's ZIP query arguments, when given, into q (both needed for a
 * parcel; checked as a purchase checks them); rp set on error. */
static int quote_zips(json_t *root, struct pv_purchase_req *q, int *have, struct pv_reply *rp)
{
    const char *from, *to;
    int rc;

    *have = 0;
    if ((rc = pv_body_string(root, "from_zip", 0, 16, PV_EZIP, &from, rp)) != PV_OK ||
        (rc = pv_body_string(root, "to_zip", 0, 16, PV_EZIP, &to, rp)) != PV_OK)
        return rc;
    if (from && (rc = parse_zip(from, 0, q->from_zip)) != PV_OK) {
        pv_reply_error(rp, rc, "from_zip", "from_zip must be 5 digits");
        return rc;
    }
    if (to && (rc = parse_zip(to, 1, q->to_zip)) != PV_OK) {
        pv_reply_error(rp, rc, "to_zip", "to_zip must be 5 digits or ZIP+4 (12345-6789)");
        return rc;
    }
    if ((from && (rc = pv_check_zip_issued(q->from_zip, "from_zip", rp)) != PV_OK) ||
        (to && (rc = pv_check_zip_issued(q->to_zip, "to_zip", rp)) != PV_OK))
        return rc;
    *have = from && to;
    return PV_OK;
}

/*
 * GET /v1/rates/quote?mail_class=&weight_oz=&mail_date=&from_zip=&to_zip=
 * &extra_services=&non_machinable=: what a purchase would cost, validated
 * exactly like one (the same checks, codes and messages), so the web UI can
 * show the price before anyone pays. Without mail_class: one quote for
 * every class that takes the piece (parcels only with both ZIP codes).
 * Public: prices are no secret, and nothing is written.
 */
void pv_h_quote(struct pv_call *c)
{
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    const char *cls = pv_query_arg(rq, "mail_class"), *w = pv_query_arg(rq, "weight_oz");
    const char *date = pv_query_arg(rq, "mail_date"), *svc = pv_query_arg(rq, "extra_services");
    const char *nm = pv_query_arg(rq, "non_machinable");
    const char *from = pv_query_arg(rq, "from_zip"), *to = pv_query_arg(rq, "to_zip");
    struct pv_purchase_req q;
    struct pv_rate_price pr;
    char day[16];
    json_t *root = json_object(), *v = NULL, *list, *one;
    int rc = PV_OK, lost = 0, zone, zips, mc;

    memset(&q, 0, sizeof q);
    if (!root) {
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        return;
    }
    pv_pricing_refresh(c->st, 0);
    /* The query as the purchase body it stands for: weight_oz is a JSON
     * number there, so "1.5" is read as one and "abc" is the wrong type. A
     * field lost to the allocator must not read as one the client left out. */
    if (w && strlen(w) <= 16)
        v = pv_json_loadb(w, strlen(w), JSON_DECODE_ANY, NULL, &lost);
    if (lost || (w && (rc = query_field(root, "weight_oz", w, v, rp)) != PV_OK) || /* takes v */
        (cls && (rc = query_field(root, "mail_class", cls, NULL, rp)) != PV_OK) ||
        (date && (rc = query_field(root, "mail_date", date, NULL, rp)) != PV_OK) ||
        (svc &&
         (rc = query_field(root, "extra_services", svc, pv_services_arg(svc), rp)) != PV_OK) ||
        (nm && (rc = query_field(root, "non_machinable", nm,
                                 strcmp(nm, "true") == 0    ? json_true()
                                 : strcmp(nm, "false") == 0 ? json_false()
                                                            : NULL,
                                 rp)) != PV_OK)) {
        if (lost || rc == PV_ENOMEM)
            pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        goto out;
    }
    if ((from && query_field(root, "from_zip", from, NULL, rp) != PV_OK) ||
        (to && query_field(root, "to_zip", to, NULL, rp) != PV_OK))
        goto out;
    if (pv_body_string(root, "mail_class", 0, 64, PV_EMAILCLASS, &cls, rp) != PV_OK ||
        pv_body_string(root, "mail_date", 0, 16, PV_EMAILDATE, &date, rp) != PV_OK ||
        parse_class_weight(root, cls ? cls : "first_class_letter", &q, rp) != PV_OK ||
        parse_mail_date(date, &q, rp) != PV_OK || quote_zips(root, &q, &zips, rp) != PV_OK ||
        pv_parse_options(root, &q, rp) != PV_OK)
        goto out;
    if (cls) {
        if (pv_mail_class_is_parcel(q.mail_class) && !zips) {
            pv_reply_error(rp, PV_EMISSING, q.from_zip[0] ? "to_zip" : "from_zip",
                           "a parcel's quote needs from_zip and to_zip (its zone)");
            goto out;
        }
        if (price(&q, cls, &pr, &zone, rp) == PV_OK)
            pv_reply_json(rp, 200, quote_json(&q, &pr, zone));
        goto out;
    }
    /* Every class that takes the piece: those that do not are left out. */
    list = json_array();
    for (mc = 1; list && mc <= PV_MC_COUNT; mc++) {
        q.mail_class = mc;
        if (pv_mail_class_is_parcel(mc) && !zips)
            continue;
        if (pv_price_piece(mc, q.weight_tenth_oz, q.mail_date, q.services, q.from_zip, q.to_zip,
                           &pr, &zone) != PV_OK)
            continue;
        if (!(one = quote_json(&q, &pr, zone)) || json_array_append_new(list, one) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    pv_reply_json(rp, 200,
                  list ? json_pack("{s:s, s:f, s:s, s:o}", "object", "quote_list", "weight_oz",
                                   q.weight_tenth_oz / 10.0, "mail_date",
                                   pv_date_format(q.mail_date, day, sizeof day), "data", list)
                       : NULL);
out:
    json_decref(root);
}

void pv_h_indicia_post(struct pv_call *c)
{
    struct pv_app *app = c->app;
    struct pv_store *st = c->st;
    const struct pv_principal *who = c->who;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    struct pv_job *job;
    json_t *root;
    int rc;

    if (pv_idem_key_check(rq->idempotency_key, rp) != PV_OK)
        return;
    rp->collect = 1; /* every bad field listed, not only the first */
    if (!(root = pv_body_object(rq, purchase_fields, rp)))
        return;
    job = calloc(1, sizeof *job);
    if (!job) {
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        goto out;
    }
    /* A forged or mistyped medium serial costs no database work. */
    if (!pv_reply_failed(rp))
        pv_medium_check(app, st, root, rp);
    if (pv_reply_failed(rp)) {
        parse_purchase(root, &job->req, rp); /* lists the other bad fields too */
        goto out;
    }
    /* A purchase on no medium leaves its key to the writer, which reads it first in the
     * batch (a card's in its round, before any hold) and answers a replay alike; it is read
     * here only if the purchase fails (pv_view_replay_late). A card's retry is tokenized again
     * (issue 15, session 17: the read cost a card on PostgreSQL a round trip - a third of an
     * HTTP worker's CPU); a medium is read first. */
    job->app = app; /* for a late read, also when it is never dispatched */
    if (!json_object_get(root, "medium_serial"))
        job->replay_late_ms = pv_now_ms(); /* the read's time had it been made now */
    if ((rc = pv_payments_request_hash("POST /v1/indicia\n", root, job->req.req_hash)) != PV_OK ||
        (!job->replay_late_ms &&
         (rc = pv_view_replay(st, who->owner_id, who->test, rq->idempotency_key, 0,
                              job->req.req_hash, rp)) != PV_ENOTFOUND)) {
        if (rc != PV_OK)
            pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    pv_pricing_refresh(st, 0); /* a table loaded meanwhile (pricing.h) */
    /* The payment is read (a card tokenized) only for a body otherwise good. */
    if (parse_purchase(root, &job->req, rp) != PV_OK ||
        pv_check_addresses_json(root, &job->req, &job->fixes, rp) != PV_OK ||
        pv_payments_parse(app, st, who, json_object_get(root, "payment"), 1, &job->req.pay, rp) !=
            PV_OK) {
        if (job->replay_late_ms)
            pv_view_replay_late(st, who->owner_id, who->test, rq->idempotency_key, 0,
                                job->req.req_hash, rp);
        goto out;
    }
    job->req.test = who->test;
    job->req.flags = who->test ? PV_IND_FLAG_TEST : 0;
    pv_str_copy(job->req.customer_id, sizeof job->req.customer_id, who->owner_id);
    pv_str_copy(job->req.idem_key, sizeof job->req.idem_key, rq->idempotency_key);
    rp->job = job;
    job = NULL;
out:
    pv_job_free(job);
    json_decref(root);
}

/* How a purchase was paid (pv_view_payment) as a jansson object, for an answer built as one
 * (a purchase on a medium); NULL out of memory. */
static json_t *payment_json(const struct pv_job *job)
{
    struct pv_jtext t;
    json_t *j = NULL;
    size_t len;
    char *text;

    pv_jt_init(&t, 256);
    pv_view_payment(&t, &job->req, &job->res);
    if ((text = pv_jt_take(&t, &len)))
        j = json_loadb(text, len, 0, NULL);
    free(text);
    return j;
}

/* A failed job whose key was not read before it was queued: 1 when a
 * purchase with the key made before it was queued answers it instead (rp
 * set), as the early read would have; else 0 (its own piece, written by a
 * processor whose answer was lost or refused, is not answered here). */
static int finish_late(struct pv_job *job, struct pv_reply *rp)
{
    struct pv_store *st = NULL;
    int found;

    if (!job->app || pv_pool_get(job->app->pool, &st) != PV_OK)
        return 0;
    found = pv_view_replay_late(st, job->req.customer_id, job->req.test, job->req.idem_key,
                                job->replay_late_ms, job->req.req_hash, rp);
    pv_pool_put(job->app->pool, st);
    return found;
}

void pv_indicia_finish(struct pv_job *job, int err, struct pv_reply *rp)
{
    json_t *j;

    if (job->internal) {
        /* To a front: the outcome, signed for the request it answers
         * (internal.c); 503 for what another processor may not share. */
        char *text;
        int status;

        if (err != PV_OK) {
            pv_purchase_res_reset(&job->res);
            job->res.err = err;
        }
        err = job->res.err;
        status = err == PV_ENOPSD || err == PV_EBUSY ? 503 : 200;
        j = pv_res_to_json(&job->res);
        text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (text && pv_internal_sign_answer(job->app->secret, job->req_sig, status, text,
                                            strlen(text), rp->signature) == PV_OK) {
            rp->status = status;
            rp->raw = (uint8_t *) text;
            rp->raw_len = strlen(text);
            rp->content_type = "application/json";
        } else {
            free(text);
            rp->signature[0] = '\0';
            pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        }
        pv_job_free(job);
        return;
    }
    if (err == PV_OK)
        err = job->res.err;
    if (err == PV_EIDEMREUSED) {
        pv_reply_error(rp, err, "Idempotency-Key", NULL); /* as pv_view_replay answers */
    } else if (err != PV_OK && job->replay_late_ms && finish_late(job, rp)) {
        /* an earlier purchase with the key: answered instead (pv_view_replay_late) */
    } else if (err == PV_ECARDDECLINED) {
        pv_reply_declined(rp, job->res.decline);
    } else if (err != PV_OK) {
        pv_reply_error(
            rp, err,
            err == PV_ECARDINVALID || err == PV_EGATEWAY || err == PV_ENOGATEWAY ? "payment" : NULL,
            NULL);
        pv_medium_result(&job->res, NULL, rp);
    } else if (!job->res.medium.serial[0]) {
        /* No medium to report on: the answer written as text (the common case). */
        pv_view_purchase(&job->res.rec, job->res.balance_after,
                         job->res.replayed ? NULL : &job->req, &job->res,
                         job->res.replayed ? NULL : job->fixes, rp);
        if (!job->res.replayed)
            job->fixes = NULL; /* taken */
        rp->replayed = job->res.replayed;
    } else {
        j = pv_indicium_json(&job->res.rec);
        if (j) {
            json_object_set_new(j, "balance_mills", json_integer(job->res.balance_after));
            /* A replay's payment was the first request's: not this one's to tell. */
            if (!job->res.replayed)
                json_object_set_new(j, "payment", payment_json(job));
            /* What the address check changed: in this answer only, when anything. */
            if (!job->res.replayed && job->fixes)
                json_object_set(j, "address_corrections", job->fixes);
        }
        pv_medium_result(&job->res, j, rp);
        pv_reply_json(rp, 201, j);
        rp->replayed = job->res.replayed;
    }
    pv_job_free(job);
}

void pv_h_indicium_get(struct pv_call *c)
{
    struct pv_store *st = c->st;
    const struct pv_principal *who = c->who;
    const char *id = c->id;
    struct pv_reply *rp = c->rp;
    struct pv_indicium_rec rec;

    if (pv_view_own_indicium(st, who, id, &rec, rp) == PV_OK)
        pv_reply_json(rp, 200, pv_indicium_json(&rec));
    pv_indicium_rec_clear(&rec); /* zeroed when it failed */
}

/* A history filter's date: YYYY-MM-DD into *out; rp set (field name) on error. */
static int filter_date(const char *text, const char *name, uint32_t *out, struct pv_reply *rp)
{
    char msg[64];

    if (pv_date_parse(text, out) == PV_OK)
        return PV_OK;
    snprintf(msg, sizeof msg, "%s must be a date YYYY-MM-DD", name);
    pv_reply_error(rp, PV_EINVAL, name, msg);
    return PV_EINVAL;
}

/*
 * The history filter from the query arguments (each borrowed; NULL =
 * absent) into f; rp set on error. Dates are UTC purchase days, to
 * inclusive; q is an indicium id or a ZIP (ZIP+4 with or without hyphen).
 */
static int parse_filter(const char *from, const char *to, const char *cls, const char *mode,
                        const char *refunded, const char *q, struct pv_indicium_filter *f,
                        struct pv_reply *rp)
{
    uint32_t day;
    size_t i, n;

    memset(f, 0, sizeof *f);
    f->test = f->refunded = -1;
    if (from) {
        if (filter_date(from, "from", &day, rp) != PV_OK)
            return PV_EINVAL;
        f->created_from = pv_date_to_unix(day);
    }
    if (to) {
        if (filter_date(to, "to", &day, rp) != PV_OK)
            return PV_EINVAL;
        f->created_to = pv_date_to_unix(day) + 86400;
        if (f->created_to <= f->created_from) {
            pv_reply_error(rp, PV_EINVAL, "to", "to must not be before from");
            return PV_EINVAL;
        }
    }
    if (cls && pv_mail_class_parse(cls, &f->mail_class) != PV_OK) {
        pv_reply_error(rp, PV_EMAILCLASS, "mail_class", CLASS_MSG);
        return PV_EMAILCLASS;
    }
    if (mode) {
        if (strcmp(mode, "live") != 0 && strcmp(mode, "test") != 0) {
            pv_reply_error(rp, PV_EINVAL, "mode", "mode must be \"live\" or \"test\"");
            return PV_EINVAL;
        }
        f->test = strcmp(mode, "test") == 0;
    }
    if (refunded) {
        if (strcmp(refunded, "true") != 0 && strcmp(refunded, "false") != 0) {
            pv_reply_error(rp, PV_EINVAL, "refunded", "refunded must be true or false");
            return PV_EINVAL;
        }
        f->refunded = strcmp(refunded, "true") == 0;
    }
    if (q && *q) {
        n = strlen(q);
        if (n >= sizeof f->q) {
            pv_reply_error(rp, PV_EINVAL, "q", "q is an indicium id or a ZIP code");
            return PV_EINVAL;
        }
        for (i = 0; i < n; i++)
            if (!((q[i] >= 'a' && q[i] <= 'z') || (q[i] >= 'A' && q[i] <= 'Z') ||
                  (q[i] >= '0' && q[i] <= '9') || q[i] == '_' || q[i] == '-')) {
                pv_reply_error(rp, PV_EINVAL, "q", "q is an indicium id or a ZIP code");
                return PV_EINVAL;
            }
        /* ZIP+4 is stored as nine digits. */
        if (parse_zip(q, 1, f->q) != PV_OK)
            memcpy(f->q, q, n + 1);
    }
    return PV_OK;
}

/* The one metadata[key]=value argument of a list request. */
struct meta_arg {
    char pair[PV_METADATA_KEY_MAX + PV_METADATA_VALUE_MAX + 2]; /* "key=value", or "" */
    int count;
    int bad; /* a key or value out of bounds */
};

static int meta_arg_step(void *cls, const char *name, const char *value)
{
    struct meta_arg *m = cls;
    size_t n = strlen(name);
    char key[PV_METADATA_KEY_MAX + 1];

    if (n < 10 || strncmp(name, "metadata[", 9) != 0 || name[n - 1] != ']')
        return 0;
    m->count++;
    if (n - 10 > PV_METADATA_KEY_MAX || !pv_metadata_value_ok(value)) {
        m->bad = 1;
        return 0;
    }
    memcpy(key, name + 9, n - 10);
    key[n - 10] = '\0';
    if (!pv_metadata_key_ok(key))
        m->bad = 1;
    else
        snprintf(m->pair, sizeof m->pair, "%s=%s", key, value);
    return 0;
}

void pv_h_indicia_list(struct pv_call *c)
{
    struct pv_store *st = c->st;
    const struct pv_principal *who = c->who;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    struct pv_indicium_rec *recs = NULL;
    struct pv_indicium_filter f;
    struct meta_arg meta = {"", 0, 0};
    struct pv_list_page pg;
    size_t n = 0, got, i;
    json_t *arr;
    int rc, any;

    if (pv_list_args(rq, &pg, rp) != PV_OK)
        return;
    if (parse_filter(pv_query_arg(rq, "from"), pv_query_arg(rq, "to"),
                     pv_query_arg(rq, "mail_class"), pv_query_arg(rq, "mode"),
                     pv_query_arg(rq, "refunded"), pv_query_arg(rq, "q"), &f, rp) != PV_OK)
        return;
    /* ?metadata[key]=value: the pieces whose metadata has exactly that pair. */
    if (rq->arg_each)
        rq->arg_each(rq->arg_ctx, meta_arg_step, &meta);
    if (meta.bad || meta.count > 1) {
        pv_reply_error(rp, PV_EINVAL, "metadata",
                       meta.bad ? "metadata[key]=value: a key of 1-40 characters a-z, 0-9, _ "
                                  "and -, a value of at most 500 bytes"
                                : "one metadata[key]=value filter at a time");
        return;
    }
    f.meta = meta.pair[0] ? meta.pair : NULL;
    /* Only the caller's mode: asking for the other one is an empty list (but
     * the cursor is checked all the same, against the caller's mode). */
    any = pv_mode_filter(who->test, f.test, &f.test);
    /* One extra row tells whether there is a next page. */
    rc = pv_store_indicium_search(st, who->owner_id, &f, pg.cursor, (size_t) pg.limit + 1, &recs,
                                  &n);
    if (rc != PV_OK) {
        pv_reply_error(rp, rc, rc == PV_ECURSOR ? "cursor" : NULL, NULL);
        return;
    }
    got = n;
    if (!any)
        n = 0;
    arr = json_array();
    for (i = 0; arr && i < n && i < pg.limit; i++)
        pv_list_push(&arr, pv_indicium_json(&recs[i]));
    pv_reply_list(rp, arr, n > pg.limit ? recs[pg.limit - 1].id : NULL);
    pv_indicium_recs_free(recs, got);
}

/* For POST /v1/batches (h_batches.c): each item is checked by the same code. */
const char *const *pv_indicia_fields(void)
{
    return purchase_fields;
}

int pv_indicia_parse(json_t *root, struct pv_purchase_req *q, struct pv_reply *rp)
{
    return parse_purchase(root, q, rp);
}
