/*
 * indicia.c - the pieces of postage sold: indicia, their presentations and
 * renders, the customers' printers, the web UI's history search and the
 * operators' daily sales (store.h).
 *
 * indicium_present is one UPDATE ... RETURNING: its row lock orders racing
 * verifications, so two of them get 0 and 1, never 0 and 0. render_record
 * counts the print and notes the render in one data-modifying statement
 * where the dialect has one (PostgreSQL), else in two under one write.
 * indicium_list is indicium_search without a filter: one query, one set of
 * cursor rules.
 */
#include "stampd/error.h"
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

void pv_indicium_rec_clear(struct pv_indicium_rec *rec)
{
    if (!rec)
        return;
    free(rec->from_address);
    free(rec->to_address);
    free(rec->metadata);
    rec->from_address = rec->to_address = rec->metadata = NULL;
}

void pv_indicium_recs_free(struct pv_indicium_rec *recs, size_t n)
{
    for (size_t i = 0; recs && i < n; i++)
        pv_indicium_rec_clear(&recs[i]);
    free(recs);
}

int pv_text_set(char **dst, const char *s)
{
    char *copy = NULL;

    if (s && *s && !(copy = strdup(s)))
        return PV_ENOMEM;
    free(*dst);
    *dst = copy;
    return PV_OK;
}

static void release_indicium(void *p)
{
    pv_indicium_rec_clear(p);
}

static int read_indicium(struct pv_row *r, void *p)
{
    struct pv_indicium_rec *rec = p;
    struct pv_indicium *ind = &rec->ind;
    size_t len;

    pv_r_text(r, rec->id, sizeof rec->id);
    pv_r_text(r, rec->customer_id, sizeof rec->customer_id);
    pv_r_text(r, rec->server_id, sizeof rec->server_id);
    rec->created = pv_r_int(r);
    rec->presentations = pv_r_int(r);
    rec->prints = pv_r_int(r);
    rec->refunded_at = pv_r_int(r);
    ind->device_id = (uint32_t) pv_r_int(r);
    ind->key_id = (uint32_t) pv_r_int(r);
    ind->serial = (uint32_t) pv_r_int(r);
    ind->version = (uint8_t) pv_r_int(r);
    ind->sig_alg = (uint8_t) pv_r_int(r);
    ind->flags = (uint8_t) pv_r_int(r);
    pv_r_text(r, ind->license, sizeof ind->license);
    ind->ascending_mills = pv_r_int(r);
    ind->postage_mills = pv_r_int(r);
    ind->mail_date = (uint32_t) pv_r_int(r);
    ind->mail_class = (uint8_t) pv_r_int(r);
    ind->weight_tenth_oz = (uint16_t) pv_r_int(r);
    pv_r_text(r, ind->from_zip, sizeof ind->from_zip);
    pv_r_text(r, ind->to_zip, sizeof ind->to_zip);
    pv_r_text(r, ind->software_id, sizeof ind->software_id);
    pv_r_text(r, ind->medium_serial, sizeof ind->medium_serial);
    pv_r_blob(r, rec->data, PV_SIG_LEN, sizeof rec->data, &len);
    rec->data_len = len;
    rec->from_address = pv_r_text_opt(r, PV_ADDRESS_MAX);
    rec->to_address = pv_r_text_opt(r, PV_ADDRESS_MAX);
    pv_r_text(r, rec->medium_sheet, sizeof rec->medium_sheet);
    rec->medium_label = (uint32_t) pv_r_int(r);
    rec->services = (uint8_t) pv_r_int(r);
    rec->zone = (int) pv_r_int(r);
    pv_r_text(r, rec->rate_version, sizeof rec->rate_version);
    rec->surcharge_mills = pv_r_int(r);
    rec->certified_mills = pv_r_int(r);
    rec->return_receipt_mills = pv_r_int(r);
    rec->metadata = pv_r_text_opt(r, PV_METADATA_MAX);
    if (r->rc != PV_OK) {
        pv_indicium_rec_clear(rec);
        return r->rc;
    }
    /* The signature is not a column: it is the tail of the signed bytes. */
    memcpy(ind->signature, rec->data + len - PV_SIG_LEN, PV_SIG_LEN);
    /* Nor are the fields only version 2 has (descending register, vendor,
     * model, services, piece id): the signed bytes are their record. */
    if (ind->version == PV_INDICIUM_V2) {
        struct pv_indicium dec;

        if (pv_indicium_decode(rec->data, len, &dec, NULL) != PV_OK) {
            pv_indicium_rec_clear(rec);
            return PV_ESTORE;
        }
        *ind = dec;
    }
    return PV_OK;
}

/* One indicium_metadata row per "key=value" line of rec->metadata. */
static int insert_metadata(struct pv_store *st, const struct pv_indicium_rec *rec)
{
    char key[64], *value = NULL;
    const char *p = rec->metadata ? rec->metadata : "", *eq, *nl;
    struct pv_q q;
    int rc = PV_OK;

    while (rc == PV_OK && *p) {
        nl = strchr(p, '\n');
        if (!nl)
            nl = p + strlen(p);
        eq = memchr(p, '=', (size_t) (nl - p));
        if (!eq || eq == p || (size_t) (eq - p) >= sizeof key)
            return PV_EINVAL;
        memcpy(key, p, (size_t) (eq - p));
        key[eq - p] = '\0';
        if (!(value = strndup(eq + 1, (size_t) (nl - eq - 1))))
            return PV_ENOMEM;
        pv_q_start(&q, st, S_IND_META_INSERT);
        pv_q_text(&q, rec->customer_id);
        pv_q_text(&q, key);
        pv_q_text(&q, value);
        pv_q_text(&q, rec->id);
        rc = pv_q_write_found(&q);
        free(value);
        p = *nl ? nl + 1 : nl;
    }
    return rc;
}

#define HAS(s) ((s) && *(s))

/* An optional text within its bound: NULL (none), or shorter than cap. */
static int text_fits(const char *s, size_t cap)
{
    return !s || memchr(s, '\0', cap) != NULL;
}

/* A record the indicia table takes: fields NUL-terminated, the signed bytes in range. */
static int insertable(const struct pv_indicium_rec *rec)
{
    const struct pv_indicium *ind = &rec->ind;

    return PV_FITS(rec->id) && PV_FITS(rec->customer_id) && PV_FITS(rec->server_id) && rec->id[0] &&
           PV_FITS(ind->license) && PV_FITS(ind->from_zip) && PV_FITS(ind->to_zip) &&
           PV_FITS(ind->software_id) && PV_FITS(ind->medium_serial) &&
           text_fits(rec->from_address, PV_ADDRESS_MAX) &&
           text_fits(rec->to_address, PV_ADDRESS_MAX) && PV_FITS(rec->medium_sheet) &&
           PV_FITS(rec->rate_version) && text_fits(rec->metadata, PV_METADATA_MAX) &&
           rec->data_len >= PV_INDICIUM_SHORTEST && rec->data_len <= sizeof rec->data;
}

/* What indicia add to a count the store keeps beside them on SQLite (PostgreSQL's trigger on
 * indicia keeps the same from a statement's new rows): a server's count (server_pieces, v38;
 * kept by the store since v40), a server's minute (server_minutes, v45: a = the minute) or a
 * PSD's UTC day (psd_days, v44: a = the day, b = the PSD, and its postage). */
enum tally_kind { TALLY_SERVER, TALLY_MINUTE, TALLY_DAY, TALLY_KINDS };
struct tally {
    enum tally_kind kind;
    const char *server; /* borrowed from the indicia; NULL for a day */
    int64_t a, b, pieces;
    pv_mills postage;
};

/* tallies t[n] added in one upsert each. PV_OK or the statement's code. */
static int tallies_write(struct pv_store *st, const struct tally *t, size_t n)
{
    struct pv_q q;
    size_t i;
    int rc = PV_OK;

    for (i = 0; i < n && rc == PV_OK; i++) {
        if (t[i].kind == TALLY_DAY) {
            pv_q_start(&q, st, S_PSD_DAYS_ADD);
            pv_q_int(&q, t[i].a);
            pv_q_int(&q, t[i].b);
            pv_q_int(&q, t[i].pieces);
            pv_q_int(&q, t[i].postage);
        } else {
            pv_q_start(&q, st,
                       t[i].kind == TALLY_MINUTE ? S_SERVER_MINUTES_ADD : S_SERVER_PIECES_ADD);
            pv_q_text(&q, t[i].server);
            if (t[i].kind == TALLY_MINUTE)
                pv_q_int(&q, t[i].a);
            pv_q_int(&q, t[i].pieces);
        }
        rc = pv_q_exec(&q);
    }
    return rc;
}

/* What r (borrowed) adds to a tally of kind: one piece of its key. */
static struct tally tally_of(enum tally_kind kind, const struct pv_indicium_rec *r)
{
    struct tally e = {kind, r->server_id, 0, 0, 0, 0};

    if (kind == TALLY_MINUTE)
        e.a = r->created / 60;
    else if (kind == TALLY_DAY) {
        e.server = NULL;
        e.a = r->created / 86400;
        e.b = r->ind.device_id;
    }
    return e;
}

/* recs[n] (borrowed) added to their servers' counts and minutes and their PSDs' days, when the
 * store keeps them (SQLite). One upsert a server, a server and minute, and a PSD and UTC day
 * (a batch's are one server's, of one or two minutes and a processor's few PSDs, in time
 * order: a set of rows over an hour, which no purchase batch is, leaves a server's slot to the
 * minute written last, where PostgreSQL's trigger leaves it to the latest). PV_OK,
 * PV_EOVERFLOW past the money range, or the statement's code. */
static int tallies_add(struct pv_store *st, const struct pv_indicium_rec *const *recs, size_t n)
{
    struct tally t[12];
    size_t i, k, nt = 0;
    int rc = PV_OK;
    enum tally_kind kind;

    if (!pv_sql_has(st, S_SERVER_PIECES_ADD))
        return PV_OK;
    for (i = 0; i < n && rc == PV_OK; i++)
        for (kind = 0; kind < TALLY_KINDS && rc == PV_OK; kind++) {
            const struct pv_indicium_rec *r = recs[i];
            const struct tally e = tally_of(kind, r);

            for (k = 0; k < nt && (t[k].kind != kind || t[k].a != e.a || t[k].b != e.b ||
                                   (e.server && strcmp(t[k].server, e.server) != 0));
                 k++)
                ;
            if (k == nt && nt == sizeof t / sizeof t[0]) {
                /* More than the table holds: these written, the rest after them. */
                rc = tallies_write(st, t, nt);
                k = nt = 0;
            }
            if (k == nt)
                t[nt++] = e;
            t[k].pieces++;
            if (rc == PV_OK && kind == TALLY_DAY)
                rc = pv_money_add(t[k].postage, r->ind.postage_mills, &t[k].postage);
        }
    return rc == PV_OK ? tallies_write(st, t, nt) : rc;
}

/* rec's row (and its metadata rows), uncounted: the callers count it (tallies_add). */
static int insert_row(struct pv_store *st, const struct pv_indicium_rec *rec)
{
    const struct pv_indicium *ind = &rec->ind;
    struct pv_q q;
    int rc, own;

    /* rec->presentations is ignored: a new indicium has not been presented. */
    pv_q_start(&q, st, S_IND_INSERT);
    pv_q_text(&q, rec->id);
    pv_q_text(&q, rec->customer_id);
    pv_q_text(&q, rec->server_id);
    pv_q_int(&q, rec->created);
    pv_q_int(&q, ind->device_id);
    pv_q_int(&q, ind->key_id);
    pv_q_int(&q, ind->serial);
    pv_q_int(&q, ind->version);
    pv_q_int(&q, ind->sig_alg);
    pv_q_int(&q, ind->flags);
    pv_q_text(&q, ind->license);
    pv_q_int(&q, ind->ascending_mills);
    pv_q_int(&q, ind->postage_mills);
    pv_q_int(&q, ind->mail_date);
    pv_q_int(&q, ind->mail_class);
    pv_q_int(&q, ind->weight_tenth_oz);
    pv_q_text(&q, ind->from_zip);
    pv_q_text(&q, ind->to_zip);
    pv_q_text(&q, ind->software_id);
    pv_q_text(&q, ind->medium_serial);
    pv_q_blob(&q, rec->data, rec->data_len);
    pv_q_text(&q, pv_text(rec->from_address));
    pv_q_text(&q, pv_text(rec->to_address));
    pv_q_text(&q, rec->medium_sheet);
    pv_q_int(&q, rec->medium_label);
    pv_q_int(&q, rec->services);
    pv_q_int(&q, rec->zone);
    pv_q_text(&q, rec->rate_version);
    pv_q_int(&q, rec->surcharge_mills);
    pv_q_int(&q, rec->certified_mills);
    pv_q_int(&q, rec->return_receipt_mills);
    pv_q_text(&q, pv_text(rec->metadata));
    if (!HAS(rec->metadata))
        return pv_q_send(&q, 0); /* queued in a purchase (pv_store_defer) */
    /* The piece and its metadata rows: one write (inside the purchase's transaction). */
    if ((rc = pv_write_enter(st, 1, &own)) != PV_OK)
        return rc;
    if ((rc = pv_q_send(&q, 0)) == PV_OK)
        rc = insert_metadata(st, rec);
    return pv_write_leave(st, own, rc);
}

int pv_store_indicium_insert(struct pv_store *st, const struct pv_indicium_rec *rec)
{
    int rc, own;

    if (!insertable(rec))
        return PV_EINVAL;
    if (!pv_sql_has(st, S_SERVER_PIECES_ADD))
        return insert_row(st, rec);
    /* The row, its server's count and minute and its PSD's day: one write. */
    if ((rc = pv_write_enter(st, 1, &own)) != PV_OK)
        return rc;
    if ((rc = insert_row(st, rec)) == PV_OK)
        rc = tallies_add(st, &rec, 1);
    return pv_write_leave(st, own, rc);
}

/* Without arrays (SQLite): recs[n] one row at a time, then their servers' counts and minutes
 * and their PSDs' days, each once, all in one write. */
static int insert_rows(struct pv_store *st, const struct pv_indicium_rec *const *recs, size_t n)
{
    size_t i;
    int rc, own;

    if (n == 0)
        return PV_OK;
    if ((rc = pv_write_enter(st, 1, &own)) != PV_OK)
        return rc;
    for (i = 0; i < n && rc == PV_OK; i++)
        rc = insert_row(st, recs[i]);
    if (rc == PV_OK)
        rc = tallies_add(st, recs, n);
    return pv_write_leave(st, own, rc);
}

/* The columns of IND_INSERT_MANY, in order: text (t), integer (i) or the signed bytes (b). */
static const char many_cols[] = "tttiiiiiiitiiiiittttbtttiiitiiit";
#define MANY_TEXT 13
#define MANY_INT  18

/* Column c of rec as IND_INSERT binds it: its text, or its integer into *v. */
static const char *many_col(const struct pv_indicium_rec *rec, int c, int64_t *v)
{
    const struct pv_indicium *ind = &rec->ind;
    const char *t[] = {rec->id,
                       rec->customer_id,
                       rec->server_id,
                       NULL,
                       NULL,
                       NULL,
                       NULL,
                       NULL,
                       NULL,
                       NULL,
                       ind->license,
                       NULL,
                       NULL,
                       NULL,
                       NULL,
                       NULL,
                       ind->from_zip,
                       ind->to_zip,
                       ind->software_id,
                       ind->medium_serial,
                       NULL,
                       pv_text(rec->from_address),
                       pv_text(rec->to_address),
                       rec->medium_sheet,
                       NULL,
                       NULL,
                       NULL,
                       rec->rate_version,
                       NULL,
                       NULL,
                       NULL,
                       pv_text(rec->metadata)};
    const int64_t i[] = {0,
                         0,
                         0,
                         rec->created,
                         ind->device_id,
                         ind->key_id,
                         ind->serial,
                         ind->version,
                         ind->sig_alg,
                         ind->flags,
                         0,
                         ind->ascending_mills,
                         ind->postage_mills,
                         ind->mail_date,
                         ind->mail_class,
                         ind->weight_tenth_oz,
                         0,
                         0,
                         0,
                         0,
                         0,
                         0,
                         0,
                         0,
                         rec->medium_label,
                         rec->services,
                         rec->zone,
                         0,
                         rec->surcharge_mills,
                         rec->certified_mills,
                         rec->return_receipt_mills,
                         0};

    *v = i[c];
    return t[c];
}

int pv_store_indicia_insert(struct pv_store *st, const struct pv_indicium_rec *const *recs,
                            size_t n)
{
    const char **text = NULL;
    int64_t *ints = NULL;
    struct pv_blob_ref *blobs = NULL;
    size_t i, m = 0, nt, ni;
    struct pv_q q;
    int c, rc = PV_OK;

    if (!st || (n && !recs))
        return PV_EINVAL;
    for (i = 0; i < n; i++)
        if (!recs[i] || !insertable(recs[i]))
            return PV_EINVAL;
    if (!pv_sql_has(st, S_IND_INSERT_MANY))
        return insert_rows(st, recs, n);
    /* A piece with metadata rows (PostgreSQL): one at a time. */
    for (i = 0; i < n && rc == PV_OK; i++)
        if (n == 1 || HAS(recs[i]->metadata))
            rc = pv_store_indicium_insert(st, recs[i]);
        else
            m++;
    if (rc != PV_OK || m == 0)
        return rc;
    text = calloc(m * MANY_TEXT, sizeof *text);
    ints = calloc(m * MANY_INT, sizeof *ints);
    blobs = calloc(m, sizeof *blobs);
    if (!text || !ints || !blobs) {
        rc = PV_ENOMEM;
        goto out;
    }
    pv_q_start(&q, st, S_IND_INSERT_MANY);
    for (c = 0, nt = 0, ni = 0; many_cols[c]; c++) {
        size_t k = 0;

        for (i = 0; i < n; i++) {
            int64_t v;
            const char *t = many_col(recs[i], c, &v);

            if (HAS(recs[i]->metadata))
                continue;
            if (many_cols[c] == 't')
                text[nt * m + k] = t;
            else if (many_cols[c] == 'i')
                ints[ni * m + k] = v;
            else
                blobs[k] = (struct pv_blob_ref){recs[i]->data, recs[i]->data_len};
            k++;
        }
        if (many_cols[c] == 't')
            pv_q_array(&q, PV_P_TEXT_ARRAY, &text[nt++ * m], m, 0);
        else if (many_cols[c] == 'i')
            pv_q_array(&q, PV_P_INT_ARRAY, &ints[ni++ * m], m, sizeof *ints);
        else
            pv_q_array(&q, PV_P_BLOB_ARRAY, blobs, m, sizeof *blobs);
    }
    rc = pv_q_send(&q, 0); /* queued in a purchase batch (pv_store_defer) */
out:
    free(text);
    free(ints);
    free(blobs);
    return rc;
}

int pv_store_indicium_get(struct pv_store *st, const char *id, struct pv_indicium_rec *rec)
{
    return pv_get_by_text(st, S_IND_GET, id, read_indicium, rec, sizeof *rec);
}

int pv_store_indicium_find(struct pv_store *st, uint32_t device_id, uint32_t serial,
                           struct pv_indicium_rec *rec)
{
    struct pv_q q;

    pv_q_start(&q, st, S_IND_FIND);
    pv_q_int(&q, device_id);
    pv_q_int(&q, serial);
    return pv_q_get(&q, read_indicium, rec, sizeof *rec);
}

/* The unfiltered list is the search without a filter: one query, one set of cursor rules. */
int pv_store_indicium_list(struct pv_store *st, const char *customer_id, const char *before_id,
                           size_t limit, struct pv_indicium_rec **out, size_t *n)
{
    return pv_store_indicium_search(st, customer_id, NULL, before_id, limit, out, n);
}

int pv_store_indicium_present(struct pv_store *st, const char *id, int64_t at,
                              int64_t *presented_before)
{
    int64_t before = 0;
    struct pv_q q;
    int rc, own;

    *presented_before = 0;
    if (!st || !id)
        return PV_EINVAL;
    if ((rc = pv_write_enter(st, 0, &own)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_IND_PRESENT);
    pv_q_int(&q, at);
    pv_q_text(&q, id);
    rc = pv_write_leave(st, own, pv_q_int64(&q, &before));
    if (rc == PV_OK)
        *presented_before = before;
    return rc;
}

int pv_store_render_record(struct pv_store *st, const char *indicium_id, const char *actor_id,
                           const char *format, const char *layout, int64_t at)
{
    struct pv_q q;
    int rc, own, one;

    if (!st || !pv_fits(indicium_id, PV_ID_MAX) || !pv_fits(actor_id, PV_ID_MAX) ||
        !pv_fits(format, 16) || !pv_fits(layout, 64))
        return PV_EINVAL;
    one = pv_sql_has(st, S_RENDER_RECORD);
    if ((rc = pv_write_enter(st, !one, &own)) != PV_OK)
        return rc;
    if (!one) {
        pv_q_start(&q, st, S_IND_PRINTED);
        pv_q_text(&q, indicium_id);
        if ((rc = pv_q_found(&q)) != PV_OK)
            return pv_write_leave(st, own, rc);
    }
    pv_q_start(&q, st, one ? S_RENDER_RECORD : S_RENDER_INSERT);
    pv_q_text(&q, indicium_id);
    pv_q_text(&q, actor_id);
    pv_q_text(&q, format);
    pv_q_text(&q, layout);
    pv_q_int(&q, at);
    return pv_write_leave(st, own, one ? pv_q_found(&q) : pv_q_exec(&q));
}

static int read_printer(struct pv_row *r, void *p)
{
    struct pv_printer_rec *rec = p;

    pv_r_text(r, rec->name, sizeof rec->name);
    rec->offset_x = (int32_t) pv_r_int(r);
    rec->offset_y = (int32_t) pv_r_int(r);
    rec->updated = pv_r_int(r);
    return r->rc;
}

int pv_store_printer_put(struct pv_store *st, const char *customer_id,
                         const struct pv_printer_rec *rec)
{
    struct pv_q q;

    if (!pv_fits(customer_id, PV_ID_MAX) || !PV_FITS(rec->name) || !rec->name[0])
        return PV_EINVAL;
    pv_q_start(&q, st, S_PRINTER_PUT);
    pv_q_text(&q, customer_id);
    pv_q_text(&q, rec->name);
    pv_q_int(&q, rec->offset_x);
    pv_q_int(&q, rec->offset_y);
    pv_q_int(&q, rec->updated);
    return pv_q_write(&q);
}

int pv_store_printer_get(struct pv_store *st, const char *customer_id, const char *name,
                         struct pv_printer_rec *rec)
{
    struct pv_q q;

    memset(rec, 0, sizeof *rec);
    if (!customer_id || !name)
        return PV_EINVAL;
    pv_q_start(&q, st, S_PRINTER_GET);
    pv_q_text(&q, customer_id);
    pv_q_text(&q, name);
    return pv_q_get(&q, read_printer, rec, sizeof *rec);
}

int pv_store_printer_list(struct pv_store *st, const char *customer_id, struct pv_printer_rec **out,
                          size_t *n)
{
    struct pv_q q;

    *out = NULL;
    *n = 0;
    if (!customer_id)
        return PV_EINVAL;
    pv_q_start(&q, st, S_PRINTER_LIST);
    pv_q_text(&q, customer_id);
    return pv_q_list(&q, sizeof **out, read_printer, (void **) out, n);
}

int pv_store_printer_delete(struct pv_store *st, const char *customer_id, const char *name)
{
    struct pv_q q;

    if (!customer_id || !name)
        return PV_EINVAL;
    pv_q_start(&q, st, S_PRINTER_DELETE);
    pv_q_text(&q, customer_id);
    pv_q_text(&q, name);
    return pv_q_write_found(&q);
}

/* The seq of the customer's indicium before_id into *before (INT64_MAX for
 * none); PV_ECURSOR when it is not theirs, or not of mode test (-1: any). */
static int cursor_seq(struct pv_store *st, const char *customer_id, int test, const char *before_id,
                      int64_t *before)
{
    struct pv_q q;
    int rc;

    *before = INT64_MAX;
    if (!before_id || !*before_id)
        return PV_OK;
    pv_q_start(&q, st, S_IND_CURSOR);
    pv_q_text(&q, before_id);
    pv_q_text(&q, customer_id);
    pv_q_int(&q, test < 0 ? -1 : test != 0);
    rc = pv_q_int64(&q, before);
    if (rc != PV_OK)
        *before = INT64_MAX;
    return rc == PV_ENOTFOUND ? PV_ECURSOR : rc;
}

int pv_store_indicium_search(struct pv_store *st, const char *customer_id,
                             const struct pv_indicium_filter *f, const char *before_id,
                             size_t limit, struct pv_indicium_rec **out, size_t *n)
{
    static const struct pv_indicium_filter any = {0, 0, 0, -1, -1, "", NULL};
    const char *eq = f && f->meta ? strchr(f->meta, '=') : NULL;
    char *key = NULL;
    int64_t before;
    struct pv_q q;
    int rc;

    *out = NULL;
    *n = 0;
    if (!f)
        f = &any;
    if (!customer_id || !memchr(f->q, '\0', sizeof f->q))
        return PV_EINVAL;
    if (f->meta && (!eq || eq == f->meta))
        return PV_EINVAL;
    if ((rc = cursor_seq(st, customer_id, f->test, before_id, &before)) != PV_OK || limit == 0)
        return rc;
    if (eq && !(key = strndup(f->meta, (size_t) (eq - f->meta))))
        return PV_ENOMEM;
    pv_q_start(&q, st, eq ? S_IND_SEARCH_META : S_IND_SEARCH);
    pv_q_text(&q, customer_id);
    pv_q_int(&q, before);
    pv_q_int(&q, f->created_from);
    pv_q_int(&q, f->created_to > 0 ? f->created_to : INT64_MAX);
    pv_q_int(&q, f->mail_class);
    pv_q_int(&q, f->test < 0 ? -1 : f->test != 0);
    pv_q_int(&q, f->refunded < 0 ? -1 : f->refunded != 0);
    pv_q_text(&q, f->q);
    pv_q_int(&q, PV_LIMIT(limit));
    if (eq) {
        pv_q_text(&q, key);
        pv_q_text(&q, eq + 1);
    }
    rc = pv_q_list_owned(&q, sizeof **out, read_indicium, release_indicium, (void **) out, n);
    free(key);
    return rc;
}

static int read_sales_day(struct pv_row *r, void *p)
{
    struct pv_sales_day *rec = p;

    rec->day = pv_r_int(r);
    rec->psd_id = (uint32_t) pv_r_int(r);
    rec->count = pv_r_int(r);
    rec->postage = pv_r_int(r);
    return r->rc;
}

int pv_store_sales_daily(struct pv_store *st, int64_t first_day, struct pv_sales_day **out,
                         size_t *n)
{
    struct pv_q q;

    pv_q_start(&q, st, S_SALES_DAILY);
    pv_q_int(&q, first_day);
    return pv_q_list(&q, sizeof **out, read_sales_day, (void **) out, n);
}
