/*
 * h_media.c - the API of media with identifier codes (docs/media.md):
 * authenticating a purchase's medium serial before any database work,
 * batches and their serials (JSON, CSV, printable PDF), the CRM record of a
 * serial, affiliates, resupply orders, and customers buying a medium.
 */
#include "server/h_media.h"
#include "server/views.h"

#include "domain/ledger.h"
#include "domain/media.h"
#include "render/render.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/rates.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_SHEETS_MAX 1000    /* sheets per batch made through the API */
#define MEDIA_PRICE_MAX  1000000 /* mills: $1,000.00 per sheet */

_Static_assert(PV_MEDIA_SERIAL_SIZE == PV_SERIAL_TEXT_SIZE, "render.h and serial.h disagree");

int pv_medium_check(struct pv_app *app, struct pv_store *st, json_t *root, struct pv_reply *rp)
{
    json_t *v = json_object_get(root, "medium_serial");
    char text[PV_MEDIUM_MAX + 1];
    int rc;

    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
        pv_medium_parse(json_string_value(v), text) != PV_OK)
        return PV_OK;
    if ((rc = pv_media_authenticate(&app->media, st, text, NULL)) != PV_OK)
        pv_reply_error(rp, rc, "medium_serial", NULL);
    return rc;
}

/* Unix seconds as RFC 3339 UTC, or null for 0 (never). */
static json_t *time_json(int64_t t)
{
    char buf[32];

    return t ? json_string(pv_time_format(t, buf, sizeof buf)) : json_null();
}

static json_t *money_json(pv_mills m)
{
    char buf[32];

    return json_string(pv_money_format(m, buf, sizeof buf));
}

static json_t *medium_use_json(const struct pv_media_use *u)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:o, s:I}", "serial", u->serial, "batch",
                     (json_int_t) u->batch, "sheet", (json_int_t) u->sheet, "position",
                     (json_int_t) u->position, "price", money_json(u->price), "price_mills",
                     (json_int_t) u->price);
}

static json_t *resupply_json(const struct pv_media_use *u)
{
    return json_pack("{s:s, s:I}", "order_id", u->order_id, "labels_remaining",
                     (json_int_t) u->labels_remaining);
}

/* 402 medium_payment_required: the standard error, plus what the sheet costs. */
static void payment_error(const struct pv_media_use *u, struct pv_reply *rp)
{
    pv_reply_json(rp, pv_error_http(PV_EMEDIUMPAYMENT),
                  json_pack("{s:{s:s, s:s, s:s, s:o, s:I}}", "error", "code",
                            pv_error_code(PV_EMEDIUMPAYMENT), "message",
                            pv_strerror(PV_EMEDIUMPAYMENT), "field", "medium_serial", "price",
                            money_json(u->price_due), "price_mills", (json_int_t) u->price_due));
}

void pv_medium_result(const struct pv_purchase_res *res, json_t *j, struct pv_reply *rp)
{
    const struct pv_media_use *u = &res->medium;
    json_t *m;

    switch (res->err) {
    case PV_EMEDIUMPAYMENT:
        payment_error(u, rp);
        return;
    case PV_EMEDIUMINVALID:
    case PV_EMEDIUMUNKNOWN:
    case PV_EMEDIUMUSED:
    case PV_EMEDIUMGROUP:
        pv_reply_error(rp, res->err, "medium_serial", NULL);
        return;
    default:
        break;
    }
    if (res->err != PV_OK || !j || !u->serial[0])
        return;
    /* The stored piece's medium position (indicium_view.c), plus what this purchase did. */
    m = medium_use_json(u);
    if (m && json_is_object(json_object_get(j, "medium"))) {
        json_object_update(json_object_get(j, "medium"), m);
        json_decref(m);
    } else {
        json_object_set_new(j, "medium", m);
    }
    if (u->order_id[0])
        json_object_set_new(j, "resupply", resupply_json(u));
}

/* ---- JSON views ------------------------------------------------------------------------- */

static json_t *affiliate_json(const void *rec)
{
    const struct pv_affiliate_rec *a = rec;

    return json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:o}", "id", a->id, "name", a->name,
                     "customer_id", a->customer_id[0] ? json_string(a->customer_id) : json_null(),
                     "group", (json_int_t) a->group_no, "threshold_labels",
                     (json_int_t) a->threshold_labels, "target_days", (json_int_t) a->target_days,
                     "resupply_sheets", (json_int_t) a->resupply_sheets, "created",
                     time_json(a->created));
}

static json_t *batch_json(const struct pv_media_batch_rec *b)
{
    const struct pv_media_product *p = pv_media_product_find(b->product);

    return json_pack("{s:I, s:I, s:s, s:I, s:I, s:s, s:I, s:I, s:s, s:o, s:I, s:o, s:o}", "batch",
                     (json_int_t) b->batch, "product", (json_int_t) b->product, "layout",
                     p ? p->name : "", "group", (json_int_t) b->group_no, "key_id",
                     (json_int_t) b->key_id, "affiliate_id", b->affiliate_id, "sheets",
                     (json_int_t) b->sheets, "labels_per_sheet", (json_int_t) b->labels_per_sheet,
                     "payment", pv_media_payment_name(b->payment), "price", money_json(b->price),
                     "price_mills", (json_int_t) b->price, "distributed", time_json(b->distributed),
                     "order_id", b->order_id[0] ? json_string(b->order_id) : json_null());
}

static json_t *order_json(const void *rec)
{
    const struct pv_resupply_rec *o = rec;

    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:o}", "id", o->id, "affiliate_id",
                     o->affiliate_id, "status", o->status == PV_RESUPPLY_OPEN ? "open" : "shipped",
                     "product", (json_int_t) o->product, "labels_remaining",
                     (json_int_t) o->labels_remaining, "created", time_json(o->created),
                     "shipped_at", time_json(o->shipped_at), "batch",
                     o->batch ? json_integer(o->batch) : json_null());
}

/* ---- batches ------------------------------------------------------------------------------ */

static const char *const batch_fields[] = {"product", "sheets", "affiliate_id",
                                           "payment", "price",  NULL};

/* Parse a batch request body into b; rp set on error. */
static int parse_batch(json_t *root, struct pv_media_batch_rec *b, struct pv_reply *rp)
{
    const struct pv_media_product *p = NULL;
    const char *product, *aff, *payment, *price;
    json_t *sheets = json_object_get(root, "sheets");

    /* Each field checked, so that every bad one is listed (rp->collect). */
    pv_body_string(root, "product", 1, 32, PV_EINVAL, &product, rp);
    pv_body_string(root, "affiliate_id", 1, PV_ID_MAX - 1, PV_EINVAL, &aff, rp);
    pv_body_string(root, "payment", 0, 16, PV_EINVAL, &payment, rp);
    pv_body_string(root, "price", 0, 32, PV_EINVAL, &price, rp);
    if (product && !(p = pv_media_product_by_name(product)))
        pv_reply_error(rp, PV_EINVAL, "product",
                       "product must be avery-5160, netstamps-sheet, stamp-1x2 or envelope-10");
    if (!sheets)
        pv_reply_error(rp, PV_EMISSING, "sheets", NULL);
    else if (!json_is_integer(sheets) || json_integer_value(sheets) < 1 ||
             json_integer_value(sheets) > BATCH_SHEETS_MAX)
        pv_reply_error(rp, PV_EINVAL, "sheets", "sheets must be an integer 1..1000");
    if (pv_reply_failed(rp) || !p)
        return PV_EINVAL;
    memset(b, 0, sizeof *b);
    b->product = p->code;
    b->sheets = (uint32_t) json_integer_value(sheets);
    pv_str_copy(b->affiliate_id, sizeof b->affiliate_id, aff);
    b->payment = PV_MEDIA_UNPAID;
    if (payment && strcmp(payment, "paid") == 0)
        b->payment = PV_MEDIA_PAID;
    else if (payment && strcmp(payment, "free") == 0)
        b->payment = PV_MEDIA_FREE;
    else if (payment && strcmp(payment, "unpaid") != 0) {
        pv_reply_error(rp, PV_EINVAL, "payment", "payment must be paid, free or unpaid");
        return PV_EINVAL;
    }
    b->price = p->price;
    /* Charged to customers: whole cents, and a sane ceiling for a sheet. */
    if (price && (pv_money_parse(price, &b->price) != PV_OK || b->price % 10 != 0 ||
                  b->price > MEDIA_PRICE_MAX)) {
        pv_reply_error(rp, PV_EINVAL, "price",
                       "price must be a dollar amount in whole cents, at most 1000.00");
        return PV_EINVAL;
    }
    b->distributed = pv_now();
    return PV_OK;
}

/* Answer a batch's serials as JSON, CSV or a PDF of the blank media, with
 * HTTP status (201 when just made, 200 when read again). */
static void batch_answer(struct pv_store *st, const struct pv_media_batch_rec *b,
                         const char *format, int status, struct pv_reply *rp)
{
    char(*serials)[PV_SERIAL_TEXT_SIZE] = NULL;
    size_t n = 0, i, per = (size_t) b->labels_per_sheet + 1;
    const struct pv_layout *l;
    json_t *arr = NULL, *j;
    char *csv = NULL;
    int rc;

    if ((rc = pv_media_batch_serials(st, b, &serials, &n)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    if (format && strcmp(format, "pdf") == 0) {
        const struct pv_media_product *p = pv_media_product_find(b->product);
        l = p ? pv_layout_find(p->name) : NULL;
        rc = l ? pv_render_media(l, (const char(*)[PV_MEDIA_SERIAL_SIZE]) serials, b->sheets,
                                 b->labels_per_sheet, &rp->raw, &rp->raw_len)
               : PV_ELAYOUT;
        if (rc != PV_OK) {
            pv_reply_error(rp, rc, NULL, NULL);
        } else {
            rp->status = status;
            rp->content_type = "application/pdf";
            snprintf(rp->filename, sizeof rp->filename, "media-batch-%u.pdf", (unsigned) b->batch);
        }
    } else if (format && strcmp(format, "csv") == 0) {
        size_t line = PV_SERIAL_TEXT_SIZE + 40, len = 0;
        csv = malloc(32 + n * line);
        if (!csv) {
            pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
            goto out;
        }
        len = (size_t) snprintf(csv, 32, "serial,batch,sheet,position\n");
        for (i = 0; i < n; i++)
            len +=
                (size_t) snprintf(csv + len, line, "%s,%u,%u,%u\n", serials[i], (unsigned) b->batch,
                                  (unsigned) (i / per + 1), (unsigned) (i % per));
        rp->status = status;
        rp->raw = (uint8_t *) csv;
        rp->raw_len = len;
        rp->content_type = "text/csv";
        snprintf(rp->filename, sizeof rp->filename, "media-batch-%u.csv", (unsigned) b->batch);
        csv = NULL;
    } else {
        arr = json_array();
        for (i = 0; arr && i < n; i++) {
            j = json_pack("{s:s, s:I, s:I}", "serial", serials[i], "sheet",
                          (json_int_t) (i / per + 1), "position", (json_int_t) (i % per));
            if (!j || json_array_append_new(arr, j) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
        j = arr ? batch_json(b) : NULL;
        /* json_object_set_new takes arr even when it fails: then it is
         * already freed, and a batch without its serials is no answer. */
        if (j) {
            if (json_object_set_new(j, "serials", arr) != 0) {
                json_decref(j);
                j = NULL;
            }
            arr = NULL;
        }
        pv_reply_json(rp, status, j);
        json_decref(arr);
    }
out:
    free(csv);
    free(serials);
}

void pv_h_media_batch_post(struct pv_call *c)
{
    struct pv_app *app = c->app;
    struct pv_store *st = c->st;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    const char *format = pv_query_arg(rq, "format");
    struct pv_media_batch_rec b;
    json_t *root;
    int rc;

    if (format && strcmp(format, "json") != 0 && strcmp(format, "csv") != 0 &&
        strcmp(format, "pdf") != 0) {
        pv_reply_error(rp, PV_EINVAL, "format", "format must be json, csv or pdf");
        return;
    }
    rp->collect = 1; /* every bad field listed */
    if (!(root = pv_body_object(rq, batch_fields, rp)))
        return;
    if (parse_batch(root, &b, rp) == PV_OK) {
        rc = pv_media_batch_create(st, &b);
        if (rc == PV_ENOTFOUND)
            pv_reply_error(rp, rc, "affiliate_id", "no such affiliate");
        else if (rc != PV_OK)
            pv_reply_error(rp, rc, NULL, NULL);
        else
            batch_answer(st, &b, format, 201, rp);
        /* A rotation may have made a key this server has not seen. */
        pv_media_keyring_stale(&app->media);
    }
    json_decref(root);
}

/* ---- the CRM record of one serial ---------------------------------------------------------- */

/* GET /v1/admin/media/{serial}: the CRM record; with ?format=csv or pdf, the
 * serials or the blank media of the serial's whole batch, so a batch made
 * earlier (in the web UI, or a print that jammed) can be downloaded again. */
void pv_h_medium_get(struct pv_call *c)
{
    struct pv_app *app = c->app;
    struct pv_store *st = c->st;
    const char *text = c->id;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    const char *format = pv_query_arg(rq, "format");
    struct pv_media_label_rec *labels = NULL;
    struct pv_media_batch_rec b;
    struct pv_media_sheet_rec sh;
    struct pv_affiliate_rec aff;
    struct pv_serial f;
    char canon[PV_SERIAL_TEXT_SIZE];
    json_t *j = NULL, *customers = NULL, *used = NULL, *label = json_null();
    size_t n = 0, i, k;
    int rc;

    if (format && strcmp(format, "json") != 0 && strcmp(format, "csv") != 0 &&
        strcmp(format, "pdf") != 0) {
        pv_reply_error(rp, PV_EINVAL, "format", "format must be json, csv or pdf");
        return;
    }
    if ((rc = pv_media_authenticate(&app->media, st, text, &f)) != PV_OK) {
        pv_reply_error(rp, rc, "serial", NULL);
        return;
    }
    rc = pv_store_media_batch_get(st, f.batch, &b);
    if (rc == PV_OK && (b.product != f.product || b.group_no != f.group || b.key_id != f.key_id ||
                        f.sheet > b.sheets || f.position > b.labels_per_sheet))
        rc = PV_ENOTFOUND;
    if (rc == PV_OK && format && strcmp(format, "json") != 0) {
        batch_answer(st, &b, format, 200, rp);
        return;
    }
    if (rc == PV_OK)
        rc = pv_store_media_sheet_get(st, f.batch, f.sheet, &sh);
    if (rc == PV_OK)
        rc = pv_store_affiliate_get(st, b.affiliate_id, &aff);
    if (rc == PV_OK)
        rc = pv_store_media_label_list(st, f.batch, f.sheet, &labels, &n);
    if (rc != PV_OK) {
        pv_reply_error(rp, rc == PV_ENOTFOUND ? PV_EMEDIUMUNKNOWN : rc, "serial", NULL);
        goto out;
    }
    pv_serial_normalize(text, canon, sizeof canon);
    customers = json_array();
    used = json_array();
    for (i = 0; customers && used && i < n; i++) {
        for (k = 0; k < i && strcmp(labels[k].customer_id, labels[i].customer_id) != 0; k++)
            ;
        if (k == i)
            json_array_append_new(customers, json_string(labels[i].customer_id));
        json_array_append_new(used, json_integer(labels[i].position));
        if (labels[i].position == f.position)
            label =
                json_pack("{s:s, s:s, s:o}", "indicium_id", labels[i].indicium_id, "customer_id",
                          labels[i].customer_id, "used_at", time_json(labels[i].used_at));
    }
    j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:s, s:o, s:o, s:I, s:o, s:o, s:o, s:o, "
                  "s:o, s:o}",
                  "serial", canon, "kind", f.position ? "label" : "sheet", "sheet",
                  (json_int_t) f.sheet, "position", (json_int_t) f.position, "labels_used",
                  (json_int_t) sh.labels_used, "batch", batch_json(&b), "affiliate",
                  affiliate_json(&aff), "payment", pv_media_payment_name(sh.payment), "paid_by",
                  sh.paid_by[0] ? json_string(sh.paid_by) : json_null(), "paid_at",
                  time_json(sh.paid_at), "labels_per_sheet", (json_int_t) b.labels_per_sheet,
                  "distributed", time_json(b.distributed), "first_use", time_json(sh.first_use),
                  "last_use", time_json(sh.last_use), "customers", customers, "positions_used",
                  used, "label", f.position ? label : json_null());
    customers = used = NULL;
    if (!f.position)
        json_decref(label);
    label = NULL;
    pv_reply_json(rp, 200, j);
out:
    json_decref(customers);
    json_decref(used);
    json_decref(label);
    free(labels);
}

/* ---- affiliates -------------------------------------------------------------------------- */

static const char *const affiliate_fields[] = {"name",        "customer_id",     "threshold_labels",
                                               "target_days", "resupply_sheets", NULL};

/* An optional integer field in min..max into *out (default kept); rp set on error. */
static int int_field(json_t *root, const char *name, int64_t min, int64_t max, int64_t *out,
                     struct pv_reply *rp)
{
    json_t *v = json_object_get(root, name);
    char msg[96];

    if (!v)
        return PV_OK;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        snprintf(msg, sizeof msg, "%s must be an integer %lld..%lld", name, (long long) min,
                 (long long) max);
        pv_reply_error(rp, PV_EINVAL, name, msg);
        return PV_EINVAL;
    }
    *out = json_integer_value(v);
    return PV_OK;
}

void pv_h_affiliate_post(struct pv_call *c)
{
    struct pv_store *st = c->st;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    struct pv_affiliate_rec a;
    const char *name, *cus;
    int64_t sheets = 10;
    json_t *root;
    int rc;

    rp->collect = 1; /* every bad field listed */
    if (!(root = pv_body_object(rq, affiliate_fields, rp)))
        return;
    memset(&a, 0, sizeof a);
    if (pv_body_string(root, "name", 1, PV_NAME_MAX - 1, PV_EINVAL, &name, rp) == PV_OK && !name[0])
        pv_reply_error(rp, PV_EINVAL, "name", "name must not be empty");
    pv_body_string(root, "customer_id", 0, PV_ID_MAX - 1, PV_EINVAL, &cus, rp);
    int_field(root, "threshold_labels", 0, 1000000000, &a.threshold_labels, rp);
    int_field(root, "target_days", 0, 3650, &a.target_days, rp);
    int_field(root, "resupply_sheets", 1, BATCH_SHEETS_MAX, &sheets, rp);
    if (pv_reply_failed(rp))
        goto out;
    pv_str_copy(a.name, sizeof a.name, name);
    pv_str_copy(a.customer_id, sizeof a.customer_id, cus ? cus : "");
    a.resupply_sheets = (uint32_t) sheets;
    a.created = pv_now();
    rc = pv_affiliate_create(st, &a);
    if (rc == PV_ENOTFOUND)
        pv_reply_error(rp, rc, "customer_id", "no such customer");
    else if (rc != PV_OK)
        pv_reply_error(rp, rc, NULL, NULL);
    else
        pv_reply_json(rp, 201, affiliate_json(&a));
out:
    json_decref(root);
}

/* Answer {"<name>": [fn(rec) for each of n records of size bytes]}; takes recs (free()). */
static void answer_list(struct pv_reply *rp, int rc, const char *name, void *recs, size_t n,
                        size_t size, json_t *(*fn)(const void *) )
{
    json_t *arr = NULL;
    size_t i;

    if (rc != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        free(recs);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, fn((const char *) recs + i * size)) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    free(recs);
    pv_reply_json(rp, 200, arr ? json_pack("{s:o}", name, arr) : NULL);
}

/* GET /v1/admin/affiliates: each affiliate with its supply as the resupply
 * rule sees it (media_usage: labels in all its batches, those used), so
 * the web UI can chart the labels remaining without a call per affiliate. */
void pv_h_affiliates_list(struct pv_call *c)
{
    struct pv_store *st = c->st;
    struct pv_reply *rp = c->rp;
    struct pv_affiliate_rec *all = NULL;
    json_t *arr = NULL, *j;
    int64_t total, used, recent, now = pv_now();
    size_t n = 0, i;
    int rc;

    if ((rc = pv_store_affiliate_list(st, &all, &n)) != PV_OK)
        goto out;
    if (!(arr = json_array())) {
        rc = PV_ENOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        if ((rc = pv_store_media_usage(st, all[i].id, now, &total, &used, &recent)) != PV_OK)
            goto out;
        j = affiliate_json(&all[i]);
        if (!j || json_object_set_new(j, "labels_total", json_integer(total)) != 0 ||
            json_object_set_new(j, "labels_used", json_integer(used)) != 0 ||
            json_object_set_new(j, "labels_remaining",
                                json_integer(total > used ? total - used : 0)) != 0) {
            json_decref(j);
            rc = PV_ENOMEM;
            goto out;
        }
        /* json_array_append_new takes j, on failure too. */
        if (json_array_append_new(arr, j) != 0) {
            rc = PV_ENOMEM;
            goto out;
        }
    }
    pv_reply_json(rp, 200, json_pack("{s:o}", "affiliates", arr));
    arr = NULL;
out:
    if (rc != PV_OK)
        pv_reply_error(rp, rc, NULL, NULL);
    json_decref(arr);
    free(all);
}

/* ---- resupply orders --------------------------------------------------------------------- */

void pv_h_resupply_list(struct pv_call *c)
{
    struct pv_store *st = c->st;
    struct pv_reply *rp = c->rp;
    struct pv_resupply_rec *all = NULL;
    size_t n = 0;
    int rc = pv_store_resupply_list(st, &all, &n);

    answer_list(rp, rc, "orders", all, n, sizeof *all, order_json);
}

static const char *const ship_fields[] = {"sheets", NULL};

void pv_h_resupply_ship(struct pv_call *c)
{
    struct pv_store *st = c->st;
    const char *id = c->id;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    struct pv_resupply_rec order;
    struct pv_media_batch_rec batch;
    int64_t sheets = 0;
    json_t *root = NULL;
    int rc;

    if (rq->body_len) {
        rp->collect = 1; /* every bad field listed */
        if (!(root = pv_body_object(rq, ship_fields, rp)) ||
            int_field(root, "sheets", 1, BATCH_SHEETS_MAX, &sheets, rp) != PV_OK ||
            pv_reply_failed(rp))
            goto out;
    }
    rc = pv_resupply_ship(st, id, (uint32_t) sheets, pv_now(), &order, &batch);
    if (rc == PV_EEXIST)
        pv_reply_error(rp, rc, NULL, "this order was shipped already");
    else if (rc != PV_OK)
        pv_reply_error(rp, rc, NULL, rc == PV_ENOTFOUND ? "no such resupply order" : NULL);
    else
        pv_reply_json(
            rp, 200,
            json_pack("{s:o, s:o}", "order", order_json(&order), "batch", batch_json(&batch)));
out:
    json_decref(root);
}

/* POST /v1/media/{serial}/purchase: a customer buys the sheet from its balance. */
void pv_h_medium_purchase(struct pv_call *c)
{
    struct pv_app *app = c->app;
    struct pv_store *st = c->st;
    const struct pv_principal *who = c->who;
    const char *serial = c->id;
    size_t len = strlen(c->id);
    struct pv_reply *rp = c->rp;
    char text[PV_SERIAL_INPUT_MAX + 1], canon[PV_SERIAL_TEXT_SIZE];
    struct pv_serial f;
    pv_mills price, balance;
    int rc;

    /* Real sheets are paid with real money: a test key tries the flow with
     * commit_to_purchase_medium, which leaves the sheet alone (media.c). */
    if (who->test) {
        pv_reply_error(rp, PV_EFORBIDDEN, NULL,
                       "test keys cannot buy real media; send a test purchase with "
                       "commit_to_purchase_medium instead");
        return;
    }
    if (len > PV_SERIAL_INPUT_MAX) {
        pv_reply_error(rp, PV_EMEDIUMINVALID, "serial", NULL);
        return;
    }
    memcpy(text, serial, len);
    text[len] = '\0';
    if ((rc = pv_media_authenticate(&app->media, st, text, &f)) != PV_OK) {
        pv_reply_error(rp, rc, "serial", NULL);
        return;
    }
    rc = pv_media_pay(st, who->owner_id, &f, text, pv_now(), &price, &balance);
    if (rc == PV_EEXIST) {
        pv_reply_error(rp, rc, "serial", "this medium is paid for (or free) already");
    } else if (rc != PV_OK) {
        pv_reply_error(rp, rc, "serial", NULL);
    } else {
        pv_serial_normalize(text, canon, sizeof canon);
        pv_reply_json(rp, 201,
                      json_pack("{s:s, s:o, s:I, s:I}", "serial", canon, "price", money_json(price),
                                "price_mills", (json_int_t) price, "balance_mills",
                                (json_int_t) balance));
    }
}

int pv_medium_parse(const char *s, char out[PV_MEDIUM_MAX + 1])
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
