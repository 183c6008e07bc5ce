/*
 * h_print.c - printing endpoints: one label, a sheet of labels, the
 * layouts, and the customer's printers with their calibration offsets.
 *
 * Rendering is free and repeatable: a reprint never charges. Every render
 * is recorded (who, when, format, layout) and counted on the indicium.
 * Offsets are carried as 1/100 mm integers from parsing to rendering.
 *
 * A sheet's render runs on the request's HTTP worker thread and costs CPU
 * in proportion to its labels (a PDF label is a few milliseconds), so the
 * work is bounded twice: at most SHEET_MAX labels in one request, and at
 * most RENDER_SLOTS sheet renders at once in a process; a sheet that finds
 * every slot taken is answered 503 unavailable with Retry-After at once,
 * so the other workers stay free for everything else (docs/printing.md).
 */
#include "server/h_print.h"
#include "server/views.h"

#include "domain/media.h"
#include "domain/prints.h"
#include "render/render.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHEET_MAX    100 /* labels in one POST /v1/sheets (docs/api.md) */
#define RENDER_SLOTS 2   /* sheet renders running at once in one process */
#define RENDER_RETRY 1   /* Retry-After (s) when every slot is taken */

/* Sheet renders running now, in this process. */
static atomic_int renders_running;

/* Take a render slot: 1, or 0 when RENDER_SLOTS renders run already. */
static int render_slot_take(void)
{
    int n = atomic_load(&renders_running);

    while (n < RENDER_SLOTS)
        if (atomic_compare_exchange_weak(&renders_running, &n, n + 1))
            return 1;
    return 0;
}

static void render_slot_give(void)
{
    atomic_fetch_sub(&renders_running, 1);
}

/* ---- parsing ---- */

/* "-0.25" -> -25 (1/100 mm): optional sign, digits, at most 2 decimals, |v| <= 10 mm. */
static int parse_mm(const char *s, size_t n, int32_t *out)
{
    int32_t whole = 0, frac = 0, neg = 0;
    size_t i = 0, nd = 0, nf = 0;

    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, nd++)
        if ((whole = whole * 10 + (s[i] - '0')) > 10)
            return PV_EOFFSET;
    if (i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (++nf > 2)
                return PV_EOFFSET;
            else
                frac = frac * 10 + (s[i] - '0');
        if (nf == 0)
            return PV_EOFFSET;
    }
    if (i != n || nd + nf == 0)
        return PV_EOFFSET;
    if (nf == 1)
        frac *= 10;
    whole = whole * 100 + frac;
    if (whole > PV_RENDER_OFFSET_MAX)
        return PV_EOFFSET;
    *out = neg ? -whole : whole;
    return PV_OK;
}

/* "X,Y" in mm. */
static int parse_offset_arg(const char *s, int32_t *x, int32_t *y)
{
    const char *comma = strchr(s, ',');

    if (!comma || strchr(comma + 1, ','))
        return PV_EOFFSET;
    if (parse_mm(s, (size_t) (comma - s), x) != PV_OK ||
        parse_mm(comma + 1, strlen(comma + 1), y) != PV_OK)
        return PV_EOFFSET;
    return PV_OK;
}

/* "R,C", both 1..99. */
static int parse_start_arg(const char *s, unsigned *row, unsigned *col)
{
    char a[8], b[8];
    const char *comma = strchr(s, ',');
    uint64_t r, c;

    if (!comma || (size_t) (comma - s) >= sizeof a || strlen(comma + 1) >= sizeof b)
        return PV_EPOSITION;
    memcpy(a, s, (size_t) (comma - s));
    a[comma - s] = '\0';
    pv_str_copy(b, sizeof b, comma + 1);
    if (pv_parse_u64(a, 1, 99, &r) != PV_OK || pv_parse_u64(b, 1, 99, &c) != PV_OK)
        return PV_EPOSITION;
    *row = (unsigned) r;
    *col = (unsigned) c;
    return PV_OK;
}

/* A JSON number of millimetres (at most 2 decimals, within 10 mm) -> 1/100 mm. */
static int mm_from_json(json_t *v, int32_t *out)
{
    char buf[32];

    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < -10 || i > 10)
            return PV_EOFFSET;
        *out = (int32_t) (i * 100);
        return PV_OK;
    }
    if (!json_is_real(v))
        return PV_ETYPE;
    /* Re-read the shortest decimal form, so 0.1 is exactly 10, not 9.999... */
    snprintf(buf, sizeof buf, "%.15g", json_real_value(v));
    return parse_mm(buf, strlen(buf), out);
}

static int printer_name_ok(const char *n)
{
    size_t i, len = n ? strlen(n) : 0;

    if (len == 0 || len >= PV_PRINTER_MAX)
        return 0;
    for (i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* The options of one print job, before rendering. */
struct job_opts {
    const struct pv_layout *layout;
    struct pv_render_opts ro;
    const char *printer; /* borrowed, may be NULL */
    int have_offset;
};

static int job_defaults(struct job_opts *j, const char *layout, const char *format,
                        struct pv_reply *rp)
{
    int rc;

    memset(j, 0, sizeof *j);
    j->layout = pv_layout_find(layout ? layout : "label-4x6");
    if (!j->layout) {
        pv_reply_error(rp, PV_ELAYOUT, "layout", NULL);
        return PV_ELAYOUT;
    }
    j->ro.format = PV_FMT_PDF;
    if (format && (rc = pv_format_parse(format, &j->ro.format)) != PV_OK) {
        pv_reply_error(rp, rc, "format", NULL);
        return rc;
    }
    j->ro.start_row = j->ro.start_col = 1;
    return PV_OK;
}

/* Use the named printer's offsets unless the request gave its own. */
static int apply_printer(struct pv_store *st, const struct pv_principal *who, struct job_opts *j,
                         struct pv_reply *rp)
{
    struct pv_printer_rec p;
    int rc;

    if (!j->printer)
        return PV_OK;
    if (!printer_name_ok(j->printer)) {
        pv_reply_error(rp, PV_EINVAL, "printer", "printer names are 1-63 of A-Z a-z 0-9 . _ -");
        return PV_EINVAL;
    }
    rc = pv_store_printer_get(st, who->owner_id, j->printer, &p);
    if (rc != PV_OK) {
        pv_reply_error(rp, rc, "printer", rc == PV_ENOTFOUND ? "no such printer" : NULL);
        return rc;
    }
    /* An explicit offset wins over the saved one; the printer must exist either way. */
    if (!j->have_offset) {
        j->ro.offset_x = p.offset_x;
        j->ro.offset_y = p.offset_y;
    }
    return PV_OK;
}

static const char *field_of(int err)
{
    switch (err) {
    case PV_EPOSITION:
        return "start";
    case PV_EOFFSET:
        return "offset";
    case PV_EDPI:
        return "dpi";
    case PV_EFORMAT:
        return "format";
    case PV_ETOOSMALL:
        return "layout";
    default:
        return NULL;
    }
}

/* Render recs on the job's layout, record every render, answer the document. */
static void render_reply(struct pv_store *st, const struct pv_principal *who,
                         const struct job_opts *j, const struct pv_indicium_rec *recs, size_t n,
                         struct pv_reply *rp)
{
    struct pv_label_item *items = calloc(n, sizeof *items);
    struct pv_media_place pl;
    const char *ext = pv_format_extension(j->ro.format);
    uint8_t *doc = NULL;
    size_t len = 0, i;
    int64_t now = pv_now();
    int rc;

    if (!items) {
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        return;
    }
    for (i = 0; i < n; i++) {
        items[i].data = recs[i].data;
        items[i].len = recs[i].data_len;
        items[i].ind = &recs[i].ind;
        items[i].from_address = pv_text(recs[i].from_address)[0] ? recs[i].from_address : NULL;
        items[i].to_address = pv_text(recs[i].to_address)[0] ? recs[i].to_address : NULL;
        /* A piece bought on a medium goes on its own label of that medium's layout. */
        if (pv_media_place_of(&recs[i], &pl) == PV_OK &&
            strcmp(pl.product->name, j->layout->name) == 0)
            items[i].label = pl.label;
    }
    rc = pv_render(j->layout, items, n, &j->ro, &doc, &len);
    free(items);
    if (rc != PV_OK) {
        size_t first = (j->ro.start_row - 1) * j->layout->cols + (j->ro.start_col - 1);
        int one_page = j->ro.format == PV_FMT_PNG || j->ro.format == PV_FMT_SVG;
        pv_reply_error(rp, rc, field_of(rc),
                       rc != PV_EINVAL ? NULL
                       : one_page && first + n > (size_t) j->layout->rows * j->layout->cols
                           ? "PNG and SVG hold one page: too many labels for it"
                           : "this indicium's text cannot be printed");
        return;
    }
    /* A render that cannot be recorded is not handed out. */
    if ((rc = pv_prints_record(st, recs, n, who->owner_id, ext, j->layout->name, now)) != PV_OK) {
        free(doc);
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    rp->status = 200;
    rp->raw = doc;
    rp->raw_len = len;
    rp->content_type = pv_format_content_type(j->ro.format);
    if (n == 1)
        snprintf(rp->filename, sizeof rp->filename, "%s-%s.%s", recs[0].id, j->layout->name, ext);
    else
        snprintf(rp->filename, sizeof rp->filename, "sheet-%zu-%s.%s", n, j->layout->name, ext);
}

/* ---- endpoints ---- */

/* A label's options from the query (layout, format, dpi, start, offset,
 * printer: docs/api.md) into j; rp set on error. */
static int label_query(const struct pv_request *rq, struct job_opts *j, struct pv_reply *rp)
{
    const char *dpi = pv_query_arg(rq, "dpi"), *start = pv_query_arg(rq, "start");
    const char *offset = pv_query_arg(rq, "offset");
    uint64_t d;

    if (job_defaults(j, pv_query_arg(rq, "layout"), pv_query_arg(rq, "format"), rp) != PV_OK)
        return PV_EINVAL;
    if (dpi) {
        if (pv_parse_u64(dpi, 1, 2400, &d) != PV_OK) {
            pv_reply_error(rp, PV_EDPI, "dpi", NULL);
            return PV_EDPI;
        }
        j->ro.dpi = (unsigned) d;
    }
    if (start && parse_start_arg(start, &j->ro.start_row, &j->ro.start_col) != PV_OK) {
        pv_reply_error(rp, PV_EPOSITION, "start", "start must be ROW,COL, e.g. 2,3");
        return PV_EPOSITION;
    }
    if (offset) {
        if (parse_offset_arg(offset, &j->ro.offset_x, &j->ro.offset_y) != PV_OK) {
            pv_reply_error(rp, PV_EOFFSET, "offset",
                           "offset must be X,Y in mm, e.g. 0.5,-0.25, each within 10 mm");
            return PV_EOFFSET;
        }
        j->have_offset = 1;
    }
    j->printer = pv_query_arg(rq, "printer");
    return PV_OK;
}

void pv_h_label(struct pv_call *c)
{
    struct pv_store *st = c->st;
    const struct pv_principal *who = c->who;
    const char *id = c->id;
    struct pv_reply *rp = c->rp;
    struct pv_indicium_rec *rec = calloc(1, sizeof *rec);
    struct job_opts j;

    if (!rec) {
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        return;
    }
    if (label_query(c->rq, &j, rp) != PV_OK)
        goto out;
    if (pv_view_own_indicium(st, who, id, rec, rp) != PV_OK ||
        apply_printer(st, who, &j, rp) != PV_OK)
        goto out;
    render_reply(st, who, &j, rec, 1, rp);
out:
    pv_indicium_recs_free(rec, 1);
}

void pv_print_indicia(struct pv_call *c, const struct pv_indicium_rec *recs, size_t n,
                      const char *name)
{
    struct job_opts j;

    if (label_query(c->rq, &j, c->rp) != PV_OK || apply_printer(c->st, c->who, &j, c->rp) != PV_OK)
        return;
    /* Refused quickly rather than queued: a queued render would hold a worker. */
    if (!render_slot_take()) {
        pv_reply_error(c->rp, PV_EBUSY, NULL, "the server is rendering other sheets; try again");
        c->rp->retry_after = RENDER_RETRY;
        return;
    }
    render_reply(c->st, c->who, &j, recs, n, c->rp);
    render_slot_give();
    if (c->rp->raw && name)
        snprintf(c->rp->filename, sizeof c->rp->filename, "%s-%s.%s", name, j.layout->name,
                 pv_format_extension(j.ro.format));
}

static const char *const sheet_fields[] = {"indicia", "layout",    "format",  "dpi",
                                           "start",   "offset_mm", "printer", NULL};

void pv_h_sheets(struct pv_call *call)
{
    struct pv_store *st = call->st;
    const struct pv_principal *who = call->who;
    const struct pv_request *rq = call->rq;
    struct pv_reply *rp = call->rp;
    struct pv_indicium_rec *recs = NULL;
    const char *layout, *format, *printer;
    json_t *root, *ids, *v;
    struct job_opts j;
    size_t n, i;

    rp->collect = 1; /* every bad field listed */
    if (!(root = pv_body_object(rq, sheet_fields, rp)))
        return;
    pv_body_string(root, "layout", 0, 64, PV_ELAYOUT, &layout, rp);
    pv_body_string(root, "format", 0, 16, PV_EFORMAT, &format, rp);
    pv_body_string(root, "printer", 0, PV_PRINTER_MAX, PV_EINVAL, &printer, rp);
    job_defaults(&j, layout, format, rp);
    j.printer = printer;
    ids = json_object_get(root, "indicia");
    n = json_is_array(ids) ? json_array_size(ids) : 0;
    if (!ids)
        pv_reply_error(rp, PV_EMISSING, "indicia", NULL);
    else if (!json_is_array(ids) || n == 0 || n > SHEET_MAX)
        pv_reply_error(rp, json_is_array(ids) ? PV_EINVAL : PV_ETYPE, "indicia",
                       "indicia must be an array of 1 to 100 indicium ids; "
                       "print more in several sheets");
    if ((v = json_object_get(root, "dpi"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 2400)
            pv_reply_error(rp, PV_EDPI, "dpi", NULL);
        else
            j.ro.dpi = (unsigned) json_integer_value(v);
    }
    if ((v = json_object_get(root, "start"))) {
        json_t *r = json_object_get(v, "row"), *c = json_object_get(v, "col");
        if (!json_is_object(v) || json_object_size(v) != 2 || !json_is_integer(r) ||
            !json_is_integer(c) || json_integer_value(r) < 1 || json_integer_value(r) > 99 ||
            json_integer_value(c) < 1 || json_integer_value(c) > 99) {
            pv_reply_error(rp, PV_EPOSITION, "start", "start must be {\"row\": R, \"col\": C}");
        } else {
            j.ro.start_row = (unsigned) json_integer_value(r);
            j.ro.start_col = (unsigned) json_integer_value(c);
        }
    }
    if ((v = json_object_get(root, "offset_mm"))) {
        json_t *x = json_object_get(v, "x"), *y = json_object_get(v, "y");
        if (!json_is_object(v) || json_object_size(v) != 2 || !x || !y ||
            mm_from_json(x, &j.ro.offset_x) != PV_OK || mm_from_json(y, &j.ro.offset_y) != PV_OK)
            pv_reply_error(rp, PV_EOFFSET, "offset_mm",
                           "offset_mm must be {\"x\": mm, \"y\": mm}, each within 10 mm");
        else
            j.have_offset = 1;
    }
    if (pv_reply_failed(rp))
        goto out;
    recs = calloc(n, sizeof *recs);
    if (!recs) {
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        goto out;
    }
    for (i = 0; i < n; i++) {
        v = json_array_get(ids, i);
        if (!json_is_string(v) || json_string_length(v) >= PV_ID_MAX) {
            pv_reply_error(rp, PV_ETYPE, "indicia", "indicia must hold indicium id strings");
            goto out;
        }
        if (pv_view_own_indicium(st, who, json_string_value(v), &recs[i], rp) != PV_OK)
            goto out;
    }
    if (apply_printer(st, who, &j, rp) != PV_OK)
        goto out;
    /* Refused quickly rather than queued: a queued render would hold a worker. */
    if (!render_slot_take()) {
        pv_reply_error(rp, PV_EBUSY, NULL, "the server is rendering other sheets; try again");
        rp->retry_after = RENDER_RETRY;
        goto out;
    }
    render_reply(st, who, &j, recs, n, rp);
    render_slot_give();
out:
    pv_indicium_recs_free(recs, recs ? n : 0);
    json_decref(root);
}

void pv_h_layouts(struct pv_call *c)
{
    struct pv_reply *rp = c->rp;
    static const char *const kinds[] = {"", "label", "envelope", "sheet"};
    json_t *arr = json_array();
    size_t i;

    for (i = 0; arr && i < pv_layout_count(); i++) {
        const struct pv_layout *l = pv_layout_at(i);
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:f, s:f, s:i, s:i, s:i}", "name", l->name,
                           "description", l->description, "kind",
                           l->kind >= 1 && l->kind <= 3 ? kinds[l->kind] : "label", "page_width_pt",
                           l->page_w, "page_height_pt", l->page_h, "rows", (int) l->rows, "cols",
                           (int) l->cols, "labels_per_page", (int) (l->rows * l->cols)));
    }
    pv_reply_json(rp, 200, arr ? json_pack("{s:o}", "layouts", arr) : NULL);
}

static json_t *printer_json(const struct pv_printer_rec *p)
{
    char at[32];

    return json_pack("{s:s, s:f, s:f, s:s}", "name", p->name, "offset_x_mm", p->offset_x / 100.0,
                     "offset_y_mm", p->offset_y / 100.0, "updated",
                     pv_time_format(p->updated, at, sizeof at));
}

static const char *const printer_fields[] = {"offset_x_mm", "offset_y_mm", NULL};

void pv_h_printers(struct pv_call *c)
{
    struct pv_store *st = c->st;
    const struct pv_principal *who = c->who;
    const char *name = c->id;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    struct pv_printer_rec p, *list = NULL;
    size_t n = 0, i;
    json_t *root, *arr, *x, *y;
    int rc;

    if (!name) { /* GET of the list */
        if ((rc = pv_store_printer_list(st, who->owner_id, &list, &n)) != PV_OK) {
            pv_reply_error(rp, rc, NULL, NULL);
            return;
        }
        arr = json_array();
        for (i = 0; arr && i < n; i++)
            json_array_append_new(arr, printer_json(&list[i]));
        free(list);
        pv_reply_json(rp, 200, arr ? json_pack("{s:o}", "printers", arr) : NULL);
        return;
    }
    if (!printer_name_ok(name)) {
        pv_reply_error(rp, PV_EINVAL, "name", "printer names are 1-63 of A-Z a-z 0-9 . _ -");
        return;
    }
    if (strcmp(rq->method, "GET") == 0) {
        if ((rc = pv_store_printer_get(st, who->owner_id, name, &p)) != PV_OK)
            pv_reply_error(rp, rc, NULL, rc == PV_ENOTFOUND ? "no such printer" : NULL);
        else
            pv_reply_json(rp, 200, printer_json(&p));
    } else if (strcmp(rq->method, "DELETE") == 0) {
        if ((rc = pv_store_printer_delete(st, who->owner_id, name)) != PV_OK)
            pv_reply_error(rp, rc, NULL, rc == PV_ENOTFOUND ? "no such printer" : NULL);
        else
            pv_reply_json(rp, 200, json_pack("{s:b}", "deleted", 1));
    } else {             /* PUT: the route table lets no other method on */
        rp->collect = 1; /* every bad field listed */
        if (!(root = pv_body_object(rq, printer_fields, rp)))
            return;
        memset(&p, 0, sizeof p);
        pv_str_copy(p.name, sizeof p.name, name);
        x = json_object_get(root, "offset_x_mm");
        y = json_object_get(root, "offset_y_mm");
        if (!x)
            pv_reply_error(rp, PV_EMISSING, "offset_x_mm", NULL);
        else if (mm_from_json(x, &p.offset_x) != PV_OK)
            pv_reply_error(rp, PV_EOFFSET, "offset_x_mm", NULL);
        if (!y)
            pv_reply_error(rp, PV_EMISSING, "offset_y_mm", NULL);
        else if (mm_from_json(y, &p.offset_y) != PV_OK)
            pv_reply_error(rp, PV_EOFFSET, "offset_y_mm", NULL);
        if (!pv_reply_failed(rp)) {
            p.updated = pv_now();
            if ((rc = pv_store_printer_put(st, who->owner_id, &p)) != PV_OK)
                pv_reply_error(rp, rc, NULL, NULL);
            else
                pv_reply_json(rp, 200, printer_json(&p));
        }
        json_decref(root);
    }
}
