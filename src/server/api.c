/*
 * api.c - the REST/JSON API under /v1 (docs/api.md).
 *
 * Every handler validates its input completely before anything is written,
 * answers errors as {"error":{"code","message","field"}} from the one error
 * table, and leaves money movements to the processors' write path.
 */
#include "server/api_int.h"
#include "server/pool.h"
#include "server/processor.h"
#include "server/router.h"
#include "server/ratelimit.h"
#include "server/web.h"
#include "server/internal.h"

#include "domain/ledger.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/rates.h"
#include "stampd/timeutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAIL_DATE_AHEAD 30 /* days a mail date may lie in the future */

/* ---- views ---- */

static void zip_display(const char *zip, char out[11])
{
    if (strlen(zip) == 9)
        snprintf(out, 11, "%.5s-%.4s", zip, zip + 5);
    else
        snprintf(out, 11, "%s", zip);
}

json_t *pv_api_indicium_json(const struct pv_indicium_rec *r)
{
    const struct pv_indicium *ind = &r->ind;
    char date[16], created[32], postage[32], to[11];
    char *b64 = pv_base64_encode(r->data, r->data_len);
    const char *cls = pv_mail_class_name(ind->mail_class);
    json_t *j;

    if (!b64)
        return NULL;
    zip_display(ind->to_zip, to);
    j = json_pack(
        "{s:s, s:s, s:I, s:I, s:s, s:s, s:I, s:I, s:s, s:s, s:f, s:s, s:s, s:s,"
        " s:o, s:I, s:b, s:s, s:I, s:s}",
        "id", r->id, "object", "indicium", "serial", (json_int_t) ind->serial, "psd_id",
        (json_int_t) ind->device_id, "server_id", r->server_id, "license", ind->license, "key_id",
        (json_int_t) ind->key_id, "postage_mills", (json_int_t) ind->postage_mills, "postage",
        pv_money_format(ind->postage_mills, postage, sizeof postage), "mail_class",
        cls ? cls : "unknown", "weight_oz", ind->weight_tenth_oz / 10.0, "mail_date",
        pv_date_format(ind->mail_date, date, sizeof date), "from_zip", ind->from_zip, "to_zip", to,
        "medium_serial", ind->medium_serial[0] ? json_string(ind->medium_serial) : json_null(),
        "ascending_mills", (json_int_t) ind->ascending_mills, "test",
        (ind->flags & PV_IND_FLAG_TEST) != 0, "created",
        pv_time_format(r->created, created, sizeof created), "presentations",
        (json_int_t) r->presentations, "data", b64);
    free(b64);
    if (j &&
        (json_object_set_new(j, "prints", json_integer(r->prints)) != 0 ||
         json_object_set_new(j, "from_address",
                             r->from_address[0] ? json_string(r->from_address) : json_null()) ||
         json_object_set_new(j, "to_address",
                             r->to_address[0] ? json_string(r->to_address) : json_null()) ||
         json_object_set_new(j, "refunded", json_boolean(r->refunded_at != 0)))) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static json_t *fields_json(const struct pv_indicium *ind)
{
    char date[16], to[11];
    const char *cls = pv_mail_class_name(ind->mail_class);

    zip_display(ind->to_zip, to);
    return json_pack("{s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:f, s:s, s:s, s:o, s:s, s:b}",
                     "version", ind->version, "license", ind->license, "psd_id",
                     (json_int_t) ind->device_id, "key_id", (json_int_t) ind->key_id, "serial",
                     (json_int_t) ind->serial, "ascending_mills", (json_int_t) ind->ascending_mills,
                     "postage_mills", (json_int_t) ind->postage_mills, "mail_date",
                     pv_date_format(ind->mail_date, date, sizeof date), "mail_class",
                     cls ? cls : "unknown", "weight_oz", ind->weight_tenth_oz / 10.0, "from_zip",
                     ind->from_zip, "to_zip", to, "medium_serial",
                     ind->medium_serial[0] ? json_string(ind->medium_serial) : json_null(),
                     "software_id", ind->software_id, "test", (ind->flags & PV_IND_FLAG_TEST) != 0);
}

/* ---- body parsing ---- */

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
        if (w <= 0 || w > 1000)
            return PV_EWEIGHT;
        *tenths = (uint16_t) (w * 10);
        return PV_OK;
    }
    if (json_is_real(v)) {
        /* Weights are not money: a double is fine, but only tenths count. */
        double d = json_real_value(v), diff;
        long t;
        if (!(d > 0.0 && d <= 1000.0))
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

int pv_api_parse_medium(const char *s, char out[PV_MEDIUM_MAX + 1])
{
    size_t i, n = strlen(s);

    if (n == 0 || n > PV_MEDIUM_MAX)
        return PV_EINVAL;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'a' && c <= 'z')
            c = (char) (c - 'a' + 'A');
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
            return PV_EINVAL;
        out[i] = c;
    }
    out[n] = '\0';
    return PV_OK;
}

static const char *const purchase_fields[] = {"mail_class", "weight_oz",
                                              "from_zip",   "to_zip",
                                              "mail_date",  "medium_serial",
                                              "payment",    "from_address",
                                              "to_address", "commit_to_purchase_medium",
                                              NULL};

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

/* The mail class name cls and root's weight_oz into q; rp set on error. */
static int parse_class_weight(json_t *root, const char *cls, struct pv_purchase_req *q,
                              struct pv_reply *rp)
{
    json_t *w;
    int rc;

    if ((rc = pv_mail_class_parse(cls, &q->mail_class)) != PV_OK) {
        pv_reply_error(rp, rc, "mail_class",
                       "mail_class must be one of first_class_letter, postcard, large_envelope");
        return rc;
    }
    if (!(w = json_object_get(root, "weight_oz"))) {
        pv_reply_error(rp, PV_EMISSING, "weight_oz", NULL);
        return PV_EMISSING;
    }
    if ((rc = parse_weight(w, &q->weight_tenth_oz)) != PV_OK) {
        pv_reply_error(rp, rc, "weight_oz",
                       rc == PV_ETYPE ? "weight_oz must be a number with at most one decimal"
                                      : NULL);
        return rc;
    }
    return PV_OK;
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
    /* Yesterday is allowed: it is still today somewhere in the US. */
    if (q->mail_date < pv_date_add_days(today, -1) ||
        q->mail_date > pv_date_add_days(today, MAIL_DATE_AHEAD)) {
        pv_reply_error(rp, PV_EMAILDATE, "mail_date",
                       "mail_date must be today or within the next 30 days");
        return PV_EMAILDATE;
    }
    return PV_OK;
}

/* Price q (class, weight and date parsed) into q->postage; rp set on error. */
static int price(struct pv_purchase_req *q, const char *cls, struct pv_reply *rp)
{
    char msg[160];
    int rc = pv_rate_quote(q->mail_class, q->weight_tenth_oz, q->mail_date, &q->postage, NULL);

    if (rc == PV_EWEIGHT) {
        snprintf(msg, sizeof msg, "weight_oz must be more than 0 and at most %u.%u oz for %s",
                 pv_rate_max_weight(q->mail_class) / 10, pv_rate_max_weight(q->mail_class) % 10,
                 cls);
        pv_reply_error(rp, rc, "weight_oz", msg);
    } else if (rc != PV_OK) {
        pv_reply_error(rp, rc, rc == PV_ENORATE ? "mail_date" : NULL, NULL);
    }
    return rc;
}

/* Validate and price the purchase body root (borrowed) into q; rp set on error. */
static int parse_purchase(json_t *root, struct pv_purchase_req *q, struct pv_reply *rp)
{
    const char *cls, *from, *to, *date, *medium, *faddr, *taddr;
    json_t *w;
    int rc;

    if ((rc = pv_body_string(root, "mail_class", 1, 64, PV_EMAILCLASS, &cls, rp)) != PV_OK ||
        (rc = pv_body_string(root, "from_zip", 1, 16, PV_EZIP, &from, rp)) != PV_OK ||
        (rc = pv_body_string(root, "to_zip", 1, 16, PV_EZIP, &to, rp)) != PV_OK ||
        (rc = pv_body_string(root, "mail_date", 0, 16, PV_EMAILDATE, &date, rp)) != PV_OK ||
        (rc = pv_body_string(root, "medium_serial", 0, 64, PV_EINVAL, &medium, rp)) != PV_OK)
        goto out;
    if ((rc = parse_class_weight(root, cls, q, rp)) != PV_OK)
        goto out;
    if ((rc = parse_zip(from, 0, q->from_zip)) != PV_OK) {
        pv_reply_error(rp, rc, "from_zip", "from_zip must be 5 digits");
        goto out;
    }
    if ((rc = parse_zip(to, 1, q->to_zip)) != PV_OK) {
        pv_reply_error(rp, rc, "to_zip", "to_zip must be 5 digits or ZIP+4 (12345-6789)");
        goto out;
    }
    if ((rc = parse_mail_date(date, q, rp)) != PV_OK)
        goto out;
    if ((rc = pv_body_string(root, "from_address", 0, PV_ADDRESS_MAX - 1, PV_EINVAL, &faddr, rp)) !=
            PV_OK ||
        (faddr && (rc = parse_address(faddr, q->from_address)) != PV_OK)) {
        if (faddr)
            pv_reply_error(rp, rc, "from_address",
                           "an address is 1-6 lines of 1-60 characters, joined by \\n");
        goto out;
    }
    if ((rc = pv_body_string(root, "to_address", 0, PV_ADDRESS_MAX - 1, PV_EINVAL, &taddr, rp)) !=
            PV_OK ||
        (taddr && (rc = parse_address(taddr, q->to_address)) != PV_OK)) {
        if (taddr)
            pv_reply_error(rp, rc, "to_address",
                           "an address is 1-6 lines of 1-60 characters, joined by \\n");
        goto out;
    }
    if (medium && (rc = pv_api_parse_medium(medium, q->medium_serial)) != PV_OK) {
        pv_reply_error(rp, rc, "medium_serial",
                       "medium_serial must be 1-32 letters, digits or hyphens");
        goto out;
    }
    if ((w = json_object_get(root, "commit_to_purchase_medium")) != NULL) {
        if (!json_is_boolean(w)) {
            pv_reply_error(rp, rc = PV_ETYPE, "commit_to_purchase_medium", NULL);
            goto out;
        }
        q->commit_medium = json_is_true(w);
    }
    rc = price(q, cls, rp);
out:
    return rc;
}

/*
 * GET /v1/rates/quote?mail_class=&weight_oz=&mail_date=: what a purchase
 * would cost, validated exactly like one (the same checks, codes and
 * messages), so the web UI can show the price before anyone pays. Public:
 * prices are no secret, and nothing is written.
 */
static void get_quote(const struct pv_request *rq, struct pv_reply *rp)
{
    const char *cls = pv_query_arg(rq, "mail_class"), *w = pv_query_arg(rq, "weight_oz");
    const char *date = pv_query_arg(rq, "mail_date");
    struct pv_purchase_req q;
    char day[16], money[32];
    json_t *root = json_object();

    memset(&q, 0, sizeof q);
    if (!root) {
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        return;
    }
    /* The query as the purchase body it stands for: weight_oz is a JSON
     * number there, so "1.5" is read as one and "abc" is the wrong type. */
    if (cls)
        json_object_set_new(root, "mail_class", json_string(cls));
    if (w) {
        json_t *v = strlen(w) <= 16 ? json_loads(w, JSON_DECODE_ANY, NULL) : NULL;
        json_object_set_new(root, "weight_oz", v ? v : json_string(w));
    }
    if (date)
        json_object_set_new(root, "mail_date", json_string(date));
    if (pv_body_string(root, "mail_class", 1, 64, PV_EMAILCLASS, &cls, rp) != PV_OK ||
        pv_body_string(root, "mail_date", 0, 16, PV_EMAILDATE, &date, rp) != PV_OK ||
        parse_class_weight(root, cls, &q, rp) != PV_OK || parse_mail_date(date, &q, rp) != PV_OK ||
        price(&q, cls, rp) != PV_OK)
        goto out;
    pv_reply_json(rp, 200,
                  json_pack("{s:s, s:s, s:f, s:s, s:I, s:s}", "object", "quote", "mail_class",
                            pv_mail_class_name(q.mail_class), "weight_oz", q.weight_tenth_oz / 10.0,
                            "mail_date", pv_date_format(q.mail_date, day, sizeof day),
                            "postage_mills", (json_int_t) q.postage, "postage",
                            pv_money_format(q.postage, money, sizeof money)));
out:
    json_decref(root);
}

/* ---- handlers ---- */

/* Validate a purchase into a job for the processors (rp->job); or refuse. */
/* An earlier purchase with this key: answer it again (same body) or refuse
 * (other body) before any validation that depends on the day, so a retry
 * days later still gets its stamp. PV_ENOTFOUND when the key is new. The
 * processor checks again inside its transaction, which settles races. */
static int replay_early(struct pv_store *st, const struct pv_principal *who, const char *key,
                        const char *req_hash, struct pv_reply *rp)
{
    char stored[PV_HASH_HEX], id[PV_ID_MAX], acct[PV_ACCOUNT_MAX], owner[PV_ID_MAX];
    struct pv_indicium_rec *rec;
    pv_mills bal;
    json_t *j;
    int rc;

    pv_idem_owner(who->owner_id, who->test, owner);
    rc = pv_store_idem_get(st, owner, key, stored, id);
    if (rc != PV_OK)
        return rc;
    if (strcmp(stored, req_hash) != 0) {
        pv_reply_error(rp, PV_EIDEMREUSED, "Idempotency-Key", NULL);
        return PV_OK;
    }
    rec = malloc(sizeof *rec);
    if (!rec)
        return PV_ENOMEM;
    pv_account_customer_mode(who->owner_id, who->test, acct);
    if ((rc = pv_store_indicium_get(st, id, rec)) == PV_OK &&
        (rc = pv_balance(st, acct, &bal)) == PV_OK) {
        j = pv_api_indicium_json(rec);
        if (j)
            json_object_set_new(j, "balance_mills", json_integer(bal));
        pv_reply_json(rp, 201, j);
        rp->replayed = 1;
    }
    free(rec);
    return rc;
}

static void post_indicia(struct pv_app *app, struct pv_store *st, const struct pv_principal *who,
                         const struct pv_request *rq, struct pv_reply *rp)
{
    struct pv_job *job;
    json_t *root;
    int rc;

    if (who->role != PV_ROLE_CUSTOMER) {
        pv_reply_error(rp, PV_EFORBIDDEN, NULL, "only customer keys buy postage");
        return;
    }
    if (pv_idem_key_check(rq->idempotency_key, rp) != PV_OK)
        return;
    if (!(root = pv_body_object(rq, purchase_fields, rp)))
        return;
    /* A forged or mistyped medium serial costs no database work. */
    if (pv_api_medium_check(app, st, root, rp) != PV_OK) {
        json_decref(root);
        return;
    }
    job = calloc(1, sizeof *job);
    if (!job) {
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        goto out;
    }
    if ((rc = pv_api_request_hash("POST /v1/indicia\n", root, job->req.req_hash)) != PV_OK ||
        (rc = replay_early(st, who, rq->idempotency_key, job->req.req_hash, rp)) != PV_ENOTFOUND) {
        if (rc != PV_OK)
            pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    if (parse_purchase(root, &job->req, rp) != PV_OK ||
        pv_api_parse_payment(app, st, who, json_object_get(root, "payment"), 1, &job->req.pay,
                             rp) != PV_OK)
        goto out;
    job->req.test = who->test;
    job->req.flags = who->test ? PV_IND_FLAG_TEST : 0;
    snprintf(job->req.customer_id, sizeof job->req.customer_id, "%s", who->owner_id);
    snprintf(job->req.idem_key, sizeof job->req.idem_key, "%s", rq->idempotency_key);
    rp->job = job;
    job = NULL;
out:
    free(job);
    json_decref(root);
}

int pv_api_purchase_submit(struct pv_app *app, struct pv_job *job)
{
    job->app = app;
    job->attempts = 1;
    if (app->router)
        return pv_router_submit(app->router, job);
    if (app->nprocs == 0)
        return PV_EBUSY;
    return pv_processor_enqueue(app->procs, atomic_fetch_add(&app->next_proc, 1) % app->nprocs,
                                job);
}

int pv_api_purchase_retry(struct pv_job *job)
{
    struct pv_app *app = job->app;
    int err = job->res.err;

    /* Nothing was written for these: the same request may go elsewhere. */
    if ((err != PV_ENOPSD && err != PV_EBUSY) || !app || job->attempts >= app->nprocs)
        return PV_EBUSY;
    job->attempts++;
    return pv_processor_enqueue(app->procs, atomic_fetch_add(&app->next_proc, 1) % app->nprocs,
                                job);
}

/* How a purchase was paid, for its answer. */
static json_t *payment_json(const struct pv_purchase_req *q, const struct pv_purchase_res *r)
{
    char a[32];
    json_t *j;

    if (q->pay.method == PV_PAY_CARD)
        j = json_pack("{s:s, s:s, s:s, s:s, s:o}", "method", "card", "charge_id", r->charge_id,
                      "brand", q->pay.brand, "last4", q->pay.last4, "payment_method_id",
                      q->pay.payment_method_id[0] ? json_string(q->pay.payment_method_id)
                                                  : json_null());
    else
        j = json_pack("{s:s}", "method", "balance");
    if (j && r->refill_id[0])
        json_object_set_new(j, "auto_refill",
                            json_pack("{s:s, s:s, s:I}", "charge_id", r->refill_id, "amount",
                                      pv_money_format(r->refilled, a, sizeof a), "amount_mills",
                                      (json_int_t) r->refilled));
    return j;
}

void pv_api_purchase_finish(struct pv_job *job, int err, struct pv_reply *rp)
{
    json_t *j;

    if (job->internal) {
        /* To a front: the outcome; 503 for what another processor may not share. */
        if (err != PV_OK) {
            memset(&job->res, 0, sizeof job->res);
            job->res.err = err;
        }
        err = job->res.err;
        pv_reply_json(rp, err == PV_ENOPSD || err == PV_EBUSY ? 503 : 200,
                      pv_res_to_json(&job->res));
        free(job);
        return;
    }
    if (err == PV_OK)
        err = job->res.err;
    if (err == PV_ECARDDECLINED) {
        pv_reply_declined(rp, job->res.decline);
    } else if (err != PV_OK) {
        pv_reply_error(
            rp, err,
            err == PV_ECARDINVALID || err == PV_EGATEWAY || err == PV_ENOGATEWAY ? "payment" : NULL,
            NULL);
        pv_api_medium_result(&job->res, NULL, rp);
    } else {
        j = pv_api_indicium_json(&job->res.rec);
        if (j) {
            json_object_set_new(j, "balance_mills", json_integer(job->res.balance_after));
            /* A replay's payment was the first request's: not this one's to tell. */
            if (!job->res.replayed)
                json_object_set_new(j, "payment", payment_json(&job->req, &job->res));
        }
        pv_api_medium_result(&job->res, j, rp);
        pv_reply_json(rp, 201, j);
        rp->replayed = job->res.replayed;
    }
    free(job);
}

int pv_api_own_indicium(struct pv_store *st, const struct pv_principal *who, const char *id,
                        struct pv_indicium_rec *rec, struct pv_reply *rp)
{
    int rc;

    if (strlen(id) >= PV_ID_MAX || (rc = pv_store_indicium_get(st, id, rec)) == PV_ENOTFOUND) {
        pv_reply_error(rp, PV_ENOTFOUND, NULL, "no such indicium");
        return PV_ENOTFOUND;
    }
    if (rc != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return rc;
    }
    /* Another customer's indicium does not exist, as far as this key knows. */
    if (who->role != PV_ROLE_OPERATOR && strcmp(rec->customer_id, who->owner_id) != 0) {
        pv_reply_error(rp, PV_ENOTFOUND, NULL, "no such indicium");
        return PV_ENOTFOUND;
    }
    return PV_OK;
}

static void get_indicium(struct pv_store *st, const struct pv_principal *who, const char *id,
                         struct pv_reply *rp)
{
    struct pv_indicium_rec rec;

    if (pv_api_own_indicium(st, who, id, &rec, rp) == PV_OK)
        pv_reply_json(rp, 200, pv_api_indicium_json(&rec));
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
        pv_reply_error(rp, PV_EMAILCLASS, "mail_class",
                       "mail_class must be one of first_class_letter, postcard, large_envelope");
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

static void list_indicia(struct pv_store *st, const struct pv_principal *who,
                         const struct pv_request *rq, struct pv_reply *rp)
{
    struct pv_indicium_rec *recs = NULL;
    struct pv_indicium_filter f;
    uint64_t limit = LIST_DEFAULT;
    size_t n = 0, i;
    json_t *arr, *j;
    int rc;

    if (who->role != PV_ROLE_CUSTOMER) {
        pv_reply_error(rp, PV_EFORBIDDEN, NULL, "list indicia with a customer key");
        return;
    }
    if (pv_query_arg(rq, "limit") &&
        pv_parse_u64(pv_query_arg(rq, "limit"), 1, LIST_MAX, &limit) != PV_OK) {
        pv_reply_error(rp, PV_ELIMIT, "limit", "limit must be an integer from 1 to 100");
        return;
    }
    if (pv_query_arg(rq, "cursor") && strlen(pv_query_arg(rq, "cursor")) >= PV_ID_MAX) {
        pv_reply_error(rp, PV_ECURSOR, "cursor", NULL);
        return;
    }
    if (parse_filter(pv_query_arg(rq, "from"), pv_query_arg(rq, "to"),
                     pv_query_arg(rq, "mail_class"), pv_query_arg(rq, "mode"),
                     pv_query_arg(rq, "refunded"), pv_query_arg(rq, "q"), &f, rp) != PV_OK)
        return;
    /* One extra row tells whether there is a next page. */
    rc = pv_store_indicium_search(st, who->owner_id, &f, pv_query_arg(rq, "cursor"),
                                  (size_t) limit + 1, &recs, &n);
    if (rc != PV_OK) {
        pv_reply_error(rp, rc, rc == PV_ECURSOR ? "cursor" : NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n && i < limit; i++) {
        if (!(j = pv_api_indicium_json(&recs[i])) || json_array_append_new(arr, j) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    pv_reply_json(rp, 200,
                  arr ? json_pack("{s:s, s:o, s:b, s:o}", "object", "list", "data", arr, "has_more",
                                  n > limit, "next_cursor",
                                  n > limit ? json_string(recs[limit - 1].id) : json_null())
                      : NULL);
    free(recs);
}

static void get_account(struct pv_store *st, const struct pv_principal *who, struct pv_reply *rp)
{
    struct pv_customer_rec c;
    char acct[PV_ACCOUNT_MAX], money[32];
    pv_mills bal;
    int rc;

    if (who->role == PV_ROLE_OPERATOR) {
        pv_reply_json(rp, 200, json_pack("{s:s, s:s}", "id", who->owner_id, "role", "operator"));
        return;
    }
    if ((rc = pv_store_customer_get(st, who->owner_id, &c)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    pv_account_customer_mode(c.id, who->test, acct);
    if ((rc = pv_balance(st, acct, &bal)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    pv_reply_json(rp, 200,
                  json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "id", c.id, "role", "customer",
                            "email", c.email, "balance_mills", (json_int_t) bal, "balance",
                            pv_money_format(bal, money, sizeof money), "mode",
                            who->test ? "test" : "live"));
}

static void get_keys(struct pv_app *app, struct pv_store *st, struct pv_reply *rp)
{
    struct pv_key_rec *keys = NULL;
    struct pv_psd_rec *psds = NULL;
    size_t n = 0, npsds = 0, i, k;
    json_t *arr;
    int rc;

    if ((rc = pv_store_key_list(st, &keys, &n)) != PV_OK ||
        (rc = pv_store_psd_list(st, &psds, &npsds)) != PV_OK) {
        free(keys);
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n; i++) {
        /* Verifiers offline learn which key signs only test pieces. */
        for (k = 0; k < npsds && psds[k].id != keys[i].psd_id; k++)
            ;
        json_array_append_new(
            arr,
            json_pack("{s:I, s:I, s:s, s:s, s:b}", "key_id", (json_int_t) keys[i].key_id, "psd_id",
                      (json_int_t) keys[i].psd_id, "algorithm", keys[i].algorithm, "public_key_pem",
                      keys[i].public_pem, "test", k < npsds && psds[k].test));
    }
    free(keys);
    free(psds);
    pv_reply_json(rp, 200,
                  arr ? json_pack("{s:s, s:o}", "license", app->license, "keys", arr) : NULL);
}

static void get_psds(struct pv_store *st, const struct pv_principal *who, struct pv_reply *rp)
{
    static const char *const status[] = {"active", "suspended", "retired"};
    struct pv_psd_rec *psds = NULL;
    size_t n = 0, i;
    pv_mills deposit;
    json_t *arr;
    int rc;

    if (who->role != PV_ROLE_OPERATOR) {
        pv_reply_error(rp, PV_EFORBIDDEN, NULL, "PSD registers need an operator key");
        return;
    }
    if ((rc = pv_balance(st, PV_ACCT_DEPOSIT, &deposit)) != PV_OK ||
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
                p->status >= 0 && p->status <= 2 ? status[p->status] : "unknown", "key_id",
                (json_int_t) p->key_id, "descending_mills", (json_int_t) p->descending,
                "ascending_mills", (json_int_t) p->ascending, "control_total_mills",
                (json_int_t) p->control_total, "piece_count", (json_int_t) p->piece_count,
                "last_refill_at",
                p->last_refill_at ? json_string(pv_time_format(p->last_refill_at, at, sizeof at))
                                  : json_null(),
                "balanced", p->ascending + p->descending == p->control_total));
        /* Which processor may move its registers now (docs/operations.md). */
        if (j) {
            json_object_set_new(j, "lease_holder",
                                p->lease_holder[0] ? json_string(p->lease_holder) : json_null());
            json_object_set_new(j, "lease_expires_ms", json_integer(p->lease_expires_ms));
            json_object_set_new(j, "test", json_boolean(p->test));
        }
    }
    free(psds);
    pv_reply_json(rp, 200,
                  arr ? json_pack("{s:I, s:o}", "deposit_mills", (json_int_t) deposit, "psds", arr)
                      : NULL);
}

static const char *const verify_fields[] = {"data", NULL};

static void post_verify(struct pv_app *app, struct pv_store *st, const struct pv_principal *who,
                        const struct pv_request *rq, struct pv_reply *rp)
{
    struct pv_key_rec *keys = NULL;
    struct pv_indicium_rec rec;
    struct pv_indicium ind;
    const char *text, *reason = NULL;
    uint8_t *data = NULL;
    size_t len = 0, nkeys = 0, i;
    int64_t before = 0;
    int sig_ok = 0, known = 0, test, refunded, rc;
    json_t *root;

    if (!(root = pv_body_object(rq, verify_fields, rp)))
        return;
    if (pv_body_string(root, "data", 1, 4 * PV_INDICIUM_MAX, PV_ETRAILING, &text, rp) != PV_OK)
        goto out;
    if ((rc = pv_base64_decode(text, strlen(text), &data, &len)) != PV_OK) {
        pv_reply_error(rp, rc, "data", NULL);
        goto out;
    }
    if ((rc = pv_indicium_decode(data, len, &ind, NULL)) != PV_OK) {
        pv_reply_error(rp, rc, "data", NULL);
        goto out;
    }
    if ((rc = pv_store_key_list(st, &keys, &nkeys)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    for (i = 0; i < nkeys; i++)
        if (keys[i].key_id == ind.key_id)
            break;
    if (i == nkeys) {
        reason = pv_error_code(PV_EUNKNOWNKEY);
    } else if ((rc = pv_indicium_verify(data, len, keys[i].public_pem, &ind)) != PV_OK) {
        reason = pv_error_code(rc);
    } else if (strcmp(ind.license, app->license) != 0) {
        sig_ok = 1;
        reason = "license_mismatch";
    } else {
        sig_ok = 1;
        rc = pv_store_indicium_find(st, ind.device_id, ind.serial, &rec);
        /* The same piece is the same signed body: the signature may come in
         * its other valid form (r, n - s), see docs/indicium.md. */
        if (rc == PV_OK && rec.data_len == len && memcmp(rec.data, data, len - PV_SIG_LEN) == 0) {
            known = 1;
            /* The postal authority's duplicate check counts presentations;
             * anyone else (a customer, a sorting room) only reads the count,
             * so nobody holding a copy can make a stamp look used. */
            before = rec.presentations;
            if (who->role != PV_ROLE_OPERATOR)
                rc = PV_OK;
            else if ((rc = pv_store_begin(st)) == PV_OK) {
                /* Under the writer lock, like refunds: a piece is scanned or
                 * refunded, never both at once. */
                rc = pv_store_lock_writer(st);
                if (rc == PV_OK)
                    rc = pv_store_indicium_present(st, rec.id, pv_now(), &before);
                rc = rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
            }
            if (rc != PV_OK) {
                pv_reply_error(rp, rc, NULL, NULL);
                goto out;
            }
        } else if (rc == PV_OK || rc == PV_ENOTFOUND) {
            reason = "not_issued";
        } else {
            pv_reply_error(rp, rc, NULL, NULL);
            goto out;
        }
    }
    /* A test piece or a refunded one is never valid postage, whatever its signature. */
    test = sig_ok && (ind.flags & PV_IND_FLAG_TEST);
    refunded = known && rec.refunded_at != 0;
    if (test)
        reason = "test_piece";
    else if (refunded)
        reason = "refunded";
    pv_reply_json(rp, 200,
                  json_pack("{s:b, s:b, s:b, s:b, s:I, s:s, s:o, s:b, s:b, s:o}", "valid",
                            sig_ok && known && !test && !refunded, "signature_valid", sig_ok,
                            "known", known, "duplicate", before > 0, "presented_before",
                            (json_int_t) before, "status",
                            !(sig_ok && known) ? "invalid"
                            : test             ? "test"
                            : refunded         ? "refunded"
                            : before > 0       ? "duplicate"
                                               : "valid",
                            "reason", reason ? json_string(reason) : json_null(), "test", test,
                            "refunded", refunded, "fields", fields_json(&ind)));
out:
    free(keys);
    free(data);
    json_decref(root);
}

/* ---- routing ---- */

/* ---- operators: the servers ---- */

static const char *const server_status[] = {"active", "draining", "disabled"};

static int64_t traffic_of(const struct pv_server_count *c, size_t n, const char *id)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(c[i].server_id, id) == 0)
            return c[i].count;
    return 0;
}

/* GET /v1/admin/servers: health, leases and share of traffic of each server. */
static void admin_servers(struct pv_store *st, struct pv_reply *rp)
{
    struct pv_server_rec *sv = NULL;
    struct pv_server_count *hour = NULL, *all = NULL;
    struct pv_psd_rec *psds = NULL;
    size_t nsv = 0, nhour = 0, nall = 0, npsds = 0, i, k;
    int64_t now_ms = pv_now_ms(), hour_total = 0, all_total = 0;
    json_t *arr = NULL, *leases;
    char at[32];
    int rc;

    if ((rc = pv_store_server_list(st, &sv, &nsv)) != PV_OK ||
        (rc = pv_store_server_traffic(st, pv_now() - 3600, &hour, &nhour)) != PV_OK ||
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
                v->status >= 0 && v->status <= 2 ? server_status[v->status] : "unknown", "healthy",
                v->status == PV_SERVER_ACTIVE && v->heartbeat_ms >= now_ms - PV_LIVE_MS_DEFAULT,
                "heartbeat_age_ms", (json_int_t) (now_ms - v->heartbeat_ms), "started",
                pv_time_format(v->started_ms / 1000, at, sizeof at), "key_ids", v->key_ids,
                "psd_leases", leases ? leases : json_array(), "indicia_last_hour", (json_int_t) h,
                "indicia_total", (json_int_t) a, "share_last_hour",
                hour_total ? (double) h / (double) hour_total : 0.0, "share_total",
                all_total ? (double) a / (double) all_total : 0.0));
        if (o)
            json_object_set_new(o, "live",
                                json_boolean(v->heartbeat_ms >= now_ms - PV_LIVE_MS_DEFAULT));
    }
    pv_reply_json(rp, 200, arr ? json_pack("{s:o}", "servers", arr) : NULL);
out:
    free(sv);
    free(hour);
    free(all);
    free(psds);
}

#define STATS_DAYS_DEFAULT 30
#define STATS_DAYS_MAX     366

/*
 * GET /v1/admin/stats?days=N: the history operators' charts draw - live
 * postage sold per UTC day, and for every PSD what it dispensed and was
 * refilled each day and its descending register at each day's end (worked
 * back from today's register: dispensing lowers it, refills raise it).
 */
static void admin_stats(struct pv_store *st, const struct pv_request *rq, struct pv_reply *rp)
{
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
    if ((rc = pv_store_sales_daily(st, first * 86400, &sales, &nsales)) != PV_OK ||
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
        if ((rc = pv_store_refill_list(st, psds[k].id, &refills, &nrefills)) != PV_OK) {
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
static void admin_leases(struct pv_store *st, const char *idtext, struct pv_reply *rp)
{
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
        json_array_append_new(arr, json_pack("{s:s, s:I, s:I}", "holder", h[i].holder,
                                             "acquired_ms", (json_int_t) h[i].acquired_ms,
                                             "expires_ms", (json_int_t) h[i].expires_ms));
    free(h);
    pv_reply_json(rp, 200,
                  arr ? json_pack("{s:I, s:o}", "psd_id", (json_int_t) id, "leases", arr) : NULL);
}

/* The report of pv_ledger_check as JSON; used by the API. */
json_t *pv_api_ledger_json(const struct pv_ledger_report *rep)
{
    static const char *const kinds[] = {"", "unbalanced_journal", "account_mismatch",
                                        "psd_mismatch", "totals_mismatch"};
    json_t *arr = json_array();
    size_t i;

    for (i = 0; arr && i < rep->n; i++) {
        const struct pv_ledger_issue *x = &rep->issues[i];
        json_array_append_new(arr,
                              json_pack("{s:s, s:s, s:I, s:I}", "kind",
                                        x->kind >= 1 && x->kind <= 4 ? kinds[x->kind] : "?", "name",
                                        x->name, "recorded_mills", (json_int_t) x->recorded,
                                        "computed_mills", (json_int_t) x->computed));
    }
    return arr ? json_pack("{s:b, s:I, s:I, s:o}", "ok", rep->n == 0, "journals",
                           (json_int_t) rep->journals, "accounts", (json_int_t) rep->accounts,
                           "issues", arr)
               : NULL;
}

/* GET /v1/admin/ledger: the double-entry books, proved. */
static void admin_ledger(struct pv_store *st, struct pv_reply *rp)
{
    struct pv_ledger_report rep;
    int rc = pv_ledger_check(st, &rep);

    if (rc != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    pv_reply_json(rp, 200, pv_api_ledger_json(&rep));
    pv_ledger_report_clear(&rep);
}

static const char *const status_fields[] = {"status", NULL};

/* POST /v1/admin/servers/{id} {"status": "active"|"draining"|"disabled"}. */
static void admin_server_status(struct pv_store *st, const char *id, const struct pv_request *rq,
                                struct pv_reply *rp)
{
    const char *want;
    json_t *root;
    int status, rc;

    if (!(root = pv_body_object(rq, status_fields, rp)))
        return;
    if (pv_body_string(root, "status", 1, 16, PV_EINVAL, &want, rp) != PV_OK)
        goto out;
    for (status = 0; status < 3 && strcmp(want, server_status[status]) != 0; status++)
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

/* ---- /metrics: Prometheus text format ---- */

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
static void get_metrics(struct pv_app *app, struct pv_store *st, struct pv_reply *rp)
{
    struct pv_psd_rec *psds = NULL;
    struct pv_server_rec *sv = NULL;
    struct pv_server_count *all = NULL;
    size_t npsds = 0, nsv = 0, nall = 0, i;
    struct text t = {NULL, 0, 0, 0};
    int64_t now_ms = pv_now_ms();
    pv_mills deposit;
    int rc;

    if ((rc = pv_balance(st, PV_ACCT_DEPOSIT, &deposit)) != PV_OK ||
        (rc = pv_store_psd_list(st, &psds, &npsds)) != PV_OK ||
        (rc = pv_store_server_list(st, &sv, &nsv)) != PV_OK ||
        (rc = pv_store_server_traffic(st, 0, &all, &nall)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    put(&t,
        "# HELP stampd_postal_deposit_mills The vendor's postal deposit left for refills.\n"
        "# TYPE stampd_postal_deposit_mills gauge\nstampd_postal_deposit_mills %lld\n",
        (long long) deposit);
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
    put(&t, "# HELP stampd_server_live 1 when the server heartbeat in the last 3 s.\n"
            "# TYPE stampd_server_live gauge\n");
    for (i = 0; i < nsv; i++)
        put(&t, "stampd_server_live{server=\"%s\",status=\"%s\"} %d\n", sv[i].id,
            sv[i].status >= 0 && sv[i].status <= 2 ? server_status[sv[i].status] : "unknown",
            sv[i].heartbeat_ms >= now_ms - PV_LIVE_MS_DEFAULT);
    put(&t, "# HELP stampd_indicia_total Indicia signed, by server.\n"
            "# TYPE stampd_indicia_total counter\n");
    for (i = 0; i < nall; i++)
        put(&t, "stampd_indicia_total{server=\"%s\"} %lld\n", all[i].server_id,
            (long long) all[i].count);
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

/* stampd processor: only signed purchases from a front (internal.c). */
static void internal_handle(struct pv_app *app, const struct pv_request *rq, struct pv_reply *rp)
{
    struct pv_job *job;
    json_t *root;
    int rc;

    if (strcmp(rq->path, "/healthz") == 0) {
        pv_reply_json(rp, 200, json_pack("{s:s}", "status", "ok"));
        return;
    }
    if (strcmp(rq->path, PV_INTERNAL_PATH) != 0) {
        pv_reply_error(rp, PV_ENOTFOUND, NULL, "no such endpoint");
        return;
    }
    if (strcmp(rq->method, "POST") != 0) {
        pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
        return;
    }
    rc = pv_internal_verify(app->secret, "POST", PV_INTERNAL_PATH,
                            rq->header ? rq->header(rq->arg_ctx, "X-Stampd-Time") : NULL,
                            rq->header ? rq->header(rq->arg_ctx, "X-Stampd-Signature") : NULL,
                            rq->body, rq->body_len, pv_now_ms());
    if (rc != PV_OK) {
        pv_reply_error(rp, PV_EUNAUTH, "X-Stampd-Signature", "not a signed internal request");
        return;
    }
    root = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, NULL);
    job = calloc(1, sizeof *job);
    if (!root || !job || pv_req_from_json(root, &job->req) != PV_OK) {
        pv_reply_error(rp, job ? PV_EINVAL : PV_ENOMEM, NULL, "bad internal purchase");
        free(job);
    } else {
        job->internal = 1;
        rp->job = job;
    }
    json_decref(root);
}

int pv_api_customer_only(const struct pv_principal *who, const char *why, struct pv_reply *rp)
{
    if (who->role == PV_ROLE_CUSTOMER)
        return PV_OK;
    pv_reply_error(rp, PV_EFORBIDDEN, NULL, why);
    return PV_EFORBIDDEN;
}

int pv_api_path_id(const char *path, const char *prefix, const char *suffix, char id[PV_ID_MAX])
{
    size_t n = strlen(prefix), len;
    const char *end;

    if (strncmp(path, prefix, n) != 0 || !path[n])
        return 0;
    end = suffix ? strchr(path + n, '/') : path + n + strlen(path + n);
    if (!end || (suffix && strcmp(end, suffix) != 0) || (!suffix && strchr(path + n, '/')))
        return 0;
    len = (size_t) (end - (path + n));
    if (len == 0 || len >= PV_ID_MAX)
        return 0;
    memcpy(id, path + n, len);
    id[len] = '\0';
    return 1;
}

void pv_api_handle(struct pv_app *app, const struct pv_request *rq, struct pv_reply *rp)
{
    const char *m = rq->method, *p = rq->path;
    struct pv_store *st = NULL;
    struct pv_principal who;
    char id[PV_ID_MAX];
    const char *slash;
    int get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;
    int rc;

    if (app->internal) {
        internal_handle(app, rq, rp);
        return;
    }
    if (strcmp(p, "/healthz") == 0) {
        if (get)
            pv_reply_json(rp, 200, json_pack("{s:s}", "status", "ok"));
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
        return;
    }
    if (strcmp(p, "/v1/rates/quote") == 0) {
        if (get)
            get_quote(rq, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
        return;
    }
    if (strncmp(p, "/v1/", 4) != 0 && strcmp(p, "/metrics") != 0) {
        /* Everything else is the web UI's files (web.c), or nothing. */
        pv_web_handle(rq, rp);
        return;
    }
    if ((rc = pv_pool_get(app->pool, &st)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    if (strcmp(p, "/v1/keys") == 0) {
        if (get)
            get_keys(app, st, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
        goto out;
    }
    if (strcmp(p, "/v1/layouts") == 0) {
        if (get)
            pv_api_get_layouts(rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
        goto out;
    }
    if (pv_api_public(app, st, rq, rp))
        goto out;
    if (pv_api_authenticate(app, st, rq, &who, rp) != PV_OK)
        goto out;
    if (pv_api_account_route(app, st, &who, rq, rp)) {
        /* answered */
    } else if (strcmp(p, "/v1/indicia") == 0) {
        if (post)
            post_indicia(app, st, &who, rq, rp);
        else if (get)
            list_indicia(st, &who, rq, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
    } else if (strncmp(p, "/v1/indicia/", 12) == 0 && p[12] && !strchr(p + 12, '/')) {
        if (get)
            get_indicium(st, &who, p + 12, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
    } else if (pv_api_path_id(p, "/v1/indicia/", "/label", id)) {
        if (get)
            pv_api_get_label(st, &who, id, rq, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
    } else if ((strncmp(p, "/v1/admin/", 10) == 0 || strcmp(p, "/metrics") == 0) &&
               who.role != PV_ROLE_OPERATOR) {
        pv_reply_error(rp, PV_EFORBIDDEN, NULL, "administration needs an operator key");
    } else if (strcmp(p, "/v1/admin/media/batches") == 0) {
        pv_api_media_batches(app, st, rq, rp);
    } else if (strncmp(p, "/v1/admin/media/", 16) == 0 && p[16] && !strchr(p + 16, '/')) {
        pv_api_media_show(app, st, p + 16, rq, rp);
    } else if (strcmp(p, "/v1/admin/affiliates") == 0) {
        pv_api_affiliates(st, rq, rp);
    } else if (strcmp(p, "/v1/admin/resupply-orders") == 0) {
        pv_api_resupply_orders(st, rq, rp);
    } else if (pv_api_path_id(p, "/v1/admin/resupply-orders/", "/ship", id)) {
        pv_api_resupply_ship(st, id, rq, rp);
    } else if (strncmp(p, "/v1/media/", 10) == 0 && (slash = strchr(p + 10, '/')) &&
               slash > p + 10 && strcmp(slash, "/purchase") == 0) {
        pv_api_media_purchase(app, st, &who, p + 10, (size_t) (slash - (p + 10)), rq, rp);
    } else if (strcmp(p, "/metrics") == 0) {
        if (get)
            get_metrics(app, st, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
    } else if (strcmp(p, "/v1/admin/ledger") == 0) {
        if (get)
            admin_ledger(st, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
    } else if (strcmp(p, "/v1/admin/stats") == 0) {
        if (get)
            admin_stats(st, rq, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
    } else if (strcmp(p, "/v1/admin/servers") == 0) {
        if (get)
            admin_servers(st, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
    } else if (pv_api_path_id(p, "/v1/admin/psds/", "/leases", id)) {
        if (get)
            admin_leases(st, id, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
    } else if (strncmp(p, "/v1/admin/servers/", 18) == 0 && p[18] && !strchr(p + 18, '/')) {
        if (post)
            admin_server_status(st, p + 18, rq, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
    } else if (strcmp(p, "/v1/sheets") == 0) {
        if (post)
            pv_api_post_sheets(st, &who, rq, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
    } else if (strcmp(p, "/v1/account/printers") == 0) {
        pv_api_printers(st, &who, NULL, rq, rp);
    } else if (strncmp(p, "/v1/account/printers/", 21) == 0 && p[21] && !strchr(p + 21, '/')) {
        pv_api_printers(st, &who, p + 21, rq, rp);
    } else if (strcmp(p, "/v1/account") == 0) {
        if (get)
            get_account(st, &who, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
    } else if (strcmp(p, "/v1/psds") == 0) {
        if (get)
            get_psds(st, &who, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
    } else if (strcmp(p, "/v1/verify") == 0) {
        if (post)
            post_verify(app, st, &who, rq, rp);
        else
            pv_reply_error(rp, PV_EMETHOD, NULL, NULL);
    } else {
        pv_reply_error(rp, PV_ENOTFOUND, NULL, "no such endpoint");
    }
out:
    pv_pool_put(app->pool, st);
}
