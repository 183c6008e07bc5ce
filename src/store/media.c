/*
 * media.c - media with identifier codes (schema v5, docs/media.md): serial
 * secrets, affiliates, batches and their sheets, printed labels, usage and
 * resupply orders (store.h).
 *
 * media_batch_insert numbers batches highest + 1 up to PV_SERIAL_MAX_BATCH,
 * inside one transaction with the batch's sheet rows. media_sheet_get inside
 * a transaction locks the sheet's row until commit (FOR UPDATE where the
 * dialect has it, SQLite's single writer otherwise), which serialises every
 * use of the sheet's labels. resupply_open relies on a partial unique index
 * (one open order per affiliate) and ON CONFLICT DO NOTHING: a racing
 * transaction's open order makes this one wait for its commit and then
 * insert nothing, never fail.
 */
#include "stampd/error.h"
#include "stampd/serial.h"
#include "store/store_int.h"

#include <string.h>

static int read_mkey(struct pv_row *r, void *p)
{
    struct pv_media_key_rec *rec = p;
    size_t len;

    rec->key_id = (uint32_t) pv_r_int(r);
    pv_r_blob(r, rec->secret, sizeof rec->secret, sizeof rec->secret, &len);
    rec->created = pv_r_int(r);
    return r->rc;
}

int pv_store_media_key_insert(struct pv_store *st, const struct pv_media_key_rec *rec)
{
    struct pv_q q;

    if (!rec || rec->key_id > 15)
        return PV_EINVAL;
    pv_q_start(&q, st, S_MKEY_INSERT);
    pv_q_int(&q, rec->key_id);
    pv_q_blob(&q, rec->secret, sizeof rec->secret);
    pv_q_int(&q, rec->created);
    return pv_q_write(&q);
}

int pv_store_media_key_list(struct pv_store *st, struct pv_media_key_rec **out, size_t *n)
{
    return pv_list_all(st, S_MKEY_LIST, sizeof **out, read_mkey, (void **) out, n);
}

static int read_affiliate(struct pv_row *r, void *p)
{
    struct pv_affiliate_rec *rec = p;

    pv_r_text(r, rec->id, sizeof rec->id);
    pv_r_text(r, rec->name, sizeof rec->name);
    pv_r_text(r, rec->customer_id, sizeof rec->customer_id);
    rec->group_no = (uint32_t) pv_r_int(r);
    rec->threshold_labels = pv_r_int(r);
    rec->target_days = pv_r_int(r);
    rec->resupply_sheets = (uint32_t) pv_r_int(r);
    rec->created = pv_r_int(r);
    return r->rc;
}

int pv_store_affiliate_insert(struct pv_store *st, const struct pv_affiliate_rec *rec)
{
    struct pv_q q;

    if (!PV_FITS(rec->id) || !PV_FITS(rec->name) || !PV_FITS(rec->customer_id))
        return PV_EINVAL;
    pv_q_start(&q, st, S_AFF_INSERT);
    pv_q_text(&q, rec->id);
    pv_q_text(&q, rec->name);
    pv_q_text(&q, rec->customer_id[0] ? rec->customer_id : NULL);
    pv_q_int(&q, rec->group_no);
    pv_q_int(&q, rec->threshold_labels);
    pv_q_int(&q, rec->target_days);
    pv_q_int(&q, rec->resupply_sheets);
    pv_q_int(&q, rec->created);
    return pv_q_write(&q);
}

int pv_store_affiliate_get(struct pv_store *st, const char *id, struct pv_affiliate_rec *rec)
{
    return pv_get_by_text(st, S_AFF_GET, id, read_affiliate, rec, sizeof *rec);
}

int pv_store_affiliate_list(struct pv_store *st, struct pv_affiliate_rec **out, size_t *n)
{
    return pv_list_all(st, S_AFF_LIST, sizeof **out, read_affiliate, (void **) out, n);
}

static int read_batch(struct pv_row *r, void *p)
{
    struct pv_media_batch_rec *rec = p;

    rec->batch = (uint32_t) pv_r_int(r);
    rec->product = (uint32_t) pv_r_int(r);
    rec->group_no = (uint32_t) pv_r_int(r);
    rec->key_id = (uint32_t) pv_r_int(r);
    pv_r_text(r, rec->affiliate_id, sizeof rec->affiliate_id);
    rec->sheets = (uint32_t) pv_r_int(r);
    rec->labels_per_sheet = (uint32_t) pv_r_int(r);
    rec->payment = (int) pv_r_int(r);
    rec->price = pv_r_int(r);
    rec->distributed = pv_r_int(r);
    pv_r_text(r, rec->order_id, sizeof rec->order_id);
    return r->rc;
}

int pv_store_media_batch_insert(struct pv_store *st, struct pv_media_batch_rec *rec)
{
    int64_t next = 0;
    struct pv_q q;
    int rc, own;

    if (!st || !PV_FITS(rec->affiliate_id) || !PV_FITS(rec->order_id))
        return PV_EINVAL;
    if ((rc = pv_write_enter(st, 1, &own)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_BATCH_NEXT);
    rc = pv_q_int64(&q, &next);
    if (rc == PV_OK && next > (int64_t) PV_SERIAL_MAX_BATCH)
        rc = PV_EOVERFLOW;
    if (rc != PV_OK)
        return pv_write_leave(st, own, rc);
    rec->batch = (uint32_t) next;
    pv_q_start(&q, st, S_BATCH_INSERT);
    pv_q_int(&q, rec->batch);
    pv_q_int(&q, rec->product);
    pv_q_int(&q, rec->group_no);
    pv_q_int(&q, rec->key_id);
    pv_q_text(&q, rec->affiliate_id);
    pv_q_int(&q, rec->sheets);
    pv_q_int(&q, rec->labels_per_sheet);
    pv_q_int(&q, rec->payment);
    pv_q_int(&q, rec->price);
    pv_q_int(&q, rec->distributed);
    pv_q_text(&q, rec->order_id);
    rc = pv_q_exec(&q);
    if (rc == PV_OK) {
        pv_q_start(&q, st, S_SHEETS_INSERT);
        pv_q_int(&q, rec->batch);
        pv_q_int(&q, rec->payment);
        pv_q_int(&q, rec->sheets);
        rc = pv_q_exec(&q);
    }
    return pv_write_leave(st, own, rc);
}

int pv_store_media_batch_get(struct pv_store *st, uint32_t batch, struct pv_media_batch_rec *rec)
{
    struct pv_q q;

    pv_q_start(&q, st, S_BATCH_GET);
    pv_q_int(&q, batch);
    return pv_q_get(&q, read_batch, rec, sizeof *rec);
}

static int read_sheet(struct pv_row *r, void *p)
{
    struct pv_media_sheet_rec *rec = p;

    rec->batch = (uint32_t) pv_r_int(r);
    rec->sheet = (uint32_t) pv_r_int(r);
    rec->payment = (int) pv_r_int(r);
    pv_r_text(r, rec->paid_by, sizeof rec->paid_by);
    rec->paid_at = pv_r_int(r);
    rec->labels_used = (uint32_t) pv_r_int(r);
    rec->first_use = pv_r_int(r);
    rec->last_use = pv_r_int(r);
    return r->rc;
}

int pv_store_media_sheet_get(struct pv_store *st, uint32_t batch, uint32_t sheet,
                             struct pv_media_sheet_rec *rec)
{
    struct pv_q q;

    if (!st)
        return PV_EINVAL;
    pv_q_start(&q, st, pv_locking(st, S_SHEET_GET, S_SHEET_GET_LOCK));
    pv_q_int(&q, batch);
    pv_q_int(&q, sheet);
    return pv_q_get(&q, read_sheet, rec, sizeof *rec);
}

int pv_store_media_sheet_update(struct pv_store *st, const struct pv_media_sheet_rec *rec)
{
    struct pv_q q;

    if (!PV_FITS(rec->paid_by))
        return PV_EINVAL;
    pv_q_start(&q, st, S_SHEET_UPDATE);
    pv_q_int(&q, rec->payment);
    pv_q_text(&q, rec->paid_by);
    pv_q_int(&q, rec->paid_at);
    pv_q_int(&q, rec->labels_used);
    pv_q_int(&q, rec->first_use);
    pv_q_int(&q, rec->last_use);
    pv_q_int(&q, rec->batch);
    pv_q_int(&q, rec->sheet);
    return pv_q_write_found(&q);
}

static int read_label(struct pv_row *r, void *p)
{
    struct pv_media_label_rec *rec = p;

    rec->batch = (uint32_t) pv_r_int(r);
    rec->sheet = (uint32_t) pv_r_int(r);
    rec->position = (uint32_t) pv_r_int(r);
    pv_r_text(r, rec->indicium_id, sizeof rec->indicium_id);
    pv_r_text(r, rec->customer_id, sizeof rec->customer_id);
    rec->used_at = pv_r_int(r);
    return r->rc;
}

int pv_store_media_label_insert(struct pv_store *st, const struct pv_media_label_rec *rec)
{
    struct pv_q q;

    if (!PV_FITS(rec->indicium_id) || !PV_FITS(rec->customer_id))
        return PV_EINVAL;
    pv_q_start(&q, st, S_LABEL_INSERT);
    pv_q_int(&q, rec->batch);
    pv_q_int(&q, rec->sheet);
    pv_q_int(&q, rec->position);
    pv_q_text(&q, rec->indicium_id);
    pv_q_text(&q, rec->customer_id);
    pv_q_int(&q, rec->used_at);
    return pv_q_write(&q);
}

int pv_store_media_label_list(struct pv_store *st, uint32_t batch, uint32_t sheet,
                              struct pv_media_label_rec **out, size_t *n)
{
    struct pv_q q;

    pv_q_start(&q, st, S_LABEL_LIST);
    pv_q_int(&q, batch);
    pv_q_int(&q, sheet);
    return pv_q_list(&q, sizeof **out, read_label, (void **) out, n);
}

static int read_usage(struct pv_row *r, void *p)
{
    int64_t *v = p;

    v[0] = pv_r_int(r);
    v[1] = pv_r_int(r);
    v[2] = pv_r_int(r);
    return r->rc;
}

int pv_store_media_usage(struct pv_store *st, const char *affiliate_id, int64_t since,
                         int64_t *total, int64_t *used, int64_t *used_since)
{
    int64_t v[3];
    struct pv_q q;
    int rc;

    *total = *used = *used_since = 0;
    if (!affiliate_id)
        return PV_EINVAL;
    pv_q_start(&q, st, S_MEDIA_USAGE);
    pv_q_text(&q, affiliate_id);
    pv_q_int(&q, since);
    rc = pv_q_get(&q, read_usage, v, sizeof v);
    if (rc == PV_OK) {
        *total = v[0];
        *used = v[1];
        *used_since = v[2];
    }
    return rc;
}

static int read_resupply(struct pv_row *r, void *p)
{
    struct pv_resupply_rec *rec = p;

    pv_r_text(r, rec->id, sizeof rec->id);
    pv_r_text(r, rec->affiliate_id, sizeof rec->affiliate_id);
    rec->status = (int) pv_r_int(r);
    rec->product = (uint32_t) pv_r_int(r);
    rec->labels_remaining = pv_r_int(r);
    rec->created = pv_r_int(r);
    rec->shipped_at = pv_r_int(r);
    rec->batch = (uint32_t) pv_r_int(r);
    return r->rc;
}

int pv_store_resupply_open(struct pv_store *st, struct pv_resupply_rec *rec, int *opened)
{
    struct pv_resupply_rec tmp;
    struct pv_q q;
    int rc, own;

    *opened = 0;
    if (!st || !PV_FITS(rec->id) || !PV_FITS(rec->affiliate_id))
        return PV_EINVAL;
    if ((rc = pv_write_enter(st, 1, &own)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_RESUPPLY_INSERT);
    pv_q_text(&q, rec->id);
    pv_q_text(&q, rec->affiliate_id);
    pv_q_int(&q, rec->product);
    pv_q_int(&q, rec->labels_remaining);
    pv_q_int(&q, rec->created);
    rc = pv_q_found(&q);
    if (rc == PV_OK)
        *opened = 1;
    else if (rc == PV_ENOTFOUND)
        rc = PV_OK;
    if (rc == PV_OK)
        rc = pv_get_by_text(st, S_RESUPPLY_OPEN_GET, rec->affiliate_id, read_resupply, &tmp,
                            sizeof tmp);
    if (rc == PV_OK)
        *rec = tmp;
    return pv_write_leave(st, own, rc);
}

int pv_store_resupply_get(struct pv_store *st, const char *id, struct pv_resupply_rec *rec)
{
    return pv_get_by_text(st, S_RESUPPLY_GET, id, read_resupply, rec, sizeof *rec);
}

int pv_store_resupply_list(struct pv_store *st, struct pv_resupply_rec **out, size_t *n)
{
    return pv_list_all(st, S_RESUPPLY_LIST, sizeof **out, read_resupply, (void **) out, n);
}

int pv_store_resupply_ship(struct pv_store *st, const char *id, uint32_t batch, int64_t at)
{
    struct pv_q q;

    if (!id)
        return PV_EINVAL;
    pv_q_start(&q, st, S_RESUPPLY_SHIP);
    pv_q_int(&q, batch);
    pv_q_int(&q, at);
    pv_q_text(&q, id);
    return pv_q_write_found(&q);
}
