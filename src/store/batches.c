/*
 * batches.c - bulk buying (store_batches.h, schema v18): a batch of
 * purchases and one row per item with its outcome.
 *
 * A batch and all its items are written in one transaction, so a batch
 * exists whole or not at all. An item is decided once (pending -> bought or
 * failed, guarded by its status), so a resumed batch never reports an item
 * twice; its purchase is idempotent on its own (domain/batch.c), so the
 * item's row is a report, never the record of the money.
 */
#include "stampd/error.h"
#include "store/store_int.h"

#include <string.h>

static int read_batch(struct pv_row *r, void *p)
{
    struct pv_batch_rec *b = p;

    b->seq = pv_r_int(r);
    pv_r_text(r, b->id, sizeof b->id);
    pv_r_text(r, b->customer_id, sizeof b->customer_id);
    b->test = (int) pv_r_int(r);
    pv_r_text(r, b->idem_key, sizeof b->idem_key);
    pv_r_text(r, b->req_hash, sizeof b->req_hash);
    b->items = (uint32_t) pv_r_int(r);
    b->created = pv_r_int(r);
    b->updated = pv_r_int(r);
    b->completed = pv_r_int(r);
    b->pending = (uint32_t) pv_r_int(r);
    b->bought = (uint32_t) pv_r_int(r);
    b->failed = (uint32_t) pv_r_int(r);
    b->postage = pv_r_int(r);
    return r->rc;
}

static int read_item(struct pv_row *r, void *p)
{
    struct pv_batch_item_rec *it = p;

    it->n = (uint32_t) pv_r_int(r);
    pv_r_text(r, it->reference, sizeof it->reference);
    it->status = (int) pv_r_int(r);
    pv_r_text(r, it->indicium_id, sizeof it->indicium_id);
    it->postage = pv_r_int(r);
    pv_r_text(r, it->error_code, sizeof it->error_code);
    pv_r_text(r, it->error_field, sizeof it->error_field);
    pv_r_text(r, it->error_message, sizeof it->error_message);
    it->updated = pv_r_int(r);
    return r->rc;
}

/* An item's outcome fits its columns (the reference is not written by decide). */
static int outcome_ok(const struct pv_batch_item_rec *it)
{
    return PV_FITS(it->indicium_id) && PV_FITS(it->error_code) && PV_FITS(it->error_field) &&
           PV_FITS(it->error_message) && it->status >= PV_ITEM_PENDING &&
           it->status <= PV_ITEM_FAILED && pv_check_mills(it->postage, 0) == PV_OK;
}

static int item_ok(const struct pv_batch_item_rec *it)
{
    return it->reference[0] && PV_FITS(it->reference) && outcome_ok(it);
}

static void bind_item(struct pv_q *q, const struct pv_batch_item_rec *it)
{
    pv_q_int(q, it->n);
    pv_q_text(q, it->reference);
    pv_q_int(q, it->status);
    pv_q_text(q, it->indicium_id);
    pv_q_int(q, it->postage);
    pv_q_text(q, it->error_code);
    pv_q_text(q, it->error_field);
    pv_q_text(q, it->error_message);
    pv_q_int(q, it->updated);
}

int pv_store_batch_insert(struct pv_store *st, const struct pv_batch_rec *rec,
                          const struct pv_batch_item_rec *items)
{
    struct pv_q q;
    uint32_t i;
    int rc, own;

    if (!st || !rec || !items || !rec->id[0] || !PV_FITS(rec->id) || !PV_FITS(rec->customer_id) ||
        !rec->idem_key[0] || !PV_FITS(rec->idem_key) || !PV_FITS(rec->req_hash) ||
        rec->items == 0 || rec->items > PV_BATCH_ITEMS_MAX)
        return PV_EINVAL;
    for (i = 0; i < rec->items; i++)
        if (!item_ok(&items[i]))
            return PV_EINVAL;
    if ((rc = pv_write_enter(st, 1, &own)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_BUY_INSERT);
    pv_q_text(&q, rec->id);
    pv_q_text(&q, rec->customer_id);
    pv_q_int(&q, rec->test ? 1 : 0);
    pv_q_text(&q, rec->idem_key);
    pv_q_text(&q, rec->req_hash);
    pv_q_int(&q, rec->items);
    pv_q_int(&q, rec->created);
    pv_q_int(&q, rec->updated);
    rc = pv_q_exec(&q);
    for (i = 0; rc == PV_OK && i < rec->items; i++) {
        pv_q_start(&q, st, S_BUY_ITEM_INSERT);
        pv_q_text(&q, rec->id);
        bind_item(&q, &items[i]);
        rc = pv_q_exec(&q);
    }
    return pv_write_leave(st, own, rc);
}

int pv_store_batch_find(struct pv_store *st, const char *customer_id, int test, const char *key,
                        struct pv_batch_rec *out)
{
    struct pv_q q;

    if (!customer_id || !key)
        return PV_EINVAL;
    pv_q_start(&q, st, S_BUY_FIND);
    pv_q_text(&q, customer_id);
    pv_q_int(&q, test ? 1 : 0);
    pv_q_text(&q, key);
    return pv_q_get(&q, read_batch, out, sizeof *out);
}

int pv_store_batch_get(struct pv_store *st, const char *id, struct pv_batch_rec *out)
{
    return pv_get_by_text(st, S_BUY_GET, id, read_batch, out, sizeof *out);
}

int pv_store_batch_list(struct pv_store *st, const char *customer_id, int test, int64_t before,
                        size_t limit, struct pv_batch_rec **out, size_t *n)
{
    struct pv_q q;

    if (!customer_id || before < 0 || limit == 0)
        return PV_EINVAL;
    pv_q_start(&q, st, S_BUY_LIST);
    pv_q_text(&q, customer_id);
    pv_q_int(&q, test ? 1 : 0);
    pv_q_int(&q, before ? before : INT64_MAX);
    pv_q_int(&q, PV_LIMIT(limit));
    return pv_q_list(&q, sizeof **out, read_batch, (void **) out, n);
}

int pv_store_batch_items(struct pv_store *st, const char *id, uint32_t from, int status,
                         size_t limit, struct pv_batch_item_rec **out, size_t *n)
{
    struct pv_q q;

    if (!id || limit == 0 || status < -1 || status > PV_ITEM_FAILED)
        return PV_EINVAL;
    pv_q_start(&q, st, S_BUY_ITEMS);
    pv_q_text(&q, id);
    pv_q_int(&q, from);
    pv_q_int(&q, status);
    pv_q_int(&q, PV_LIMIT(limit));
    return pv_q_list(&q, sizeof **out, read_item, (void **) out, n);
}

int pv_store_batch_item_decide(struct pv_store *st, const char *id,
                               const struct pv_batch_item_rec *item)
{
    struct pv_q q;

    if (!id || !item || item->status == PV_ITEM_PENDING || !outcome_ok(item))
        return PV_EINVAL;
    pv_q_start(&q, st, S_BUY_ITEM_DECIDE);
    pv_q_text(&q, id);
    pv_q_int(&q, item->n);
    pv_q_int(&q, item->status);
    pv_q_text(&q, item->indicium_id);
    pv_q_int(&q, item->postage);
    pv_q_text(&q, item->error_code);
    pv_q_text(&q, item->error_field);
    pv_q_text(&q, item->error_message);
    pv_q_int(&q, item->updated);
    return pv_q_write_found(&q);
}

int pv_store_batch_touch(struct pv_store *st, const char *id, int64_t at)
{
    struct pv_q q;

    if (!id)
        return PV_EINVAL;
    pv_q_start(&q, st, S_BUY_TOUCH);
    pv_q_text(&q, id);
    pv_q_int(&q, at);
    return pv_q_write_found(&q);
}

int pv_store_batch_complete(struct pv_store *st, const char *id, int64_t at)
{
    struct pv_q q;

    if (!id || at <= 0)
        return PV_EINVAL;
    pv_q_start(&q, st, S_BUY_COMPLETE);
    pv_q_text(&q, id);
    pv_q_int(&q, at);
    return pv_q_write_found(&q);
}
