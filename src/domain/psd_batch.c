/*
 * psd_batch.c - a purchase batch's PSD rows, read once and written once
 * (psd_batch.h). The rows are few (the processor's PSDs), so lookups are a
 * scan and a job's snapshot is a copy.
 */
#include "domain/psd_batch.h"

#include "stampd/error.h"

#include <stdlib.h>
#include <string.h>

int pv_psd_batch_init(struct pv_psd_batch *b, size_t cap)
{
    memset(b, 0, sizeof *b);
    if (cap == 0)
        return PV_OK;
    b->rows = calloc(cap, sizeof *b->rows);
    b->saved = calloc(cap, sizeof *b->saved);
    if (!b->rows || !b->saved) {
        pv_psd_batch_clear(b);
        return PV_ENOMEM;
    }
    b->cap = cap;
    return PV_OK;
}

void pv_psd_batch_clear(struct pv_psd_batch *b)
{
    free(b->rows);
    free(b->saved);
    memset(b, 0, sizeof *b);
}

static struct pv_psd_batch_row *find(struct pv_psd_batch *b, uint32_t id)
{
    size_t i;

    for (i = 0; b && i < b->n; i++)
        if (b->rows[i].rec.id == id)
            return &b->rows[i];
    return NULL;
}

int pv_psd_batch_get(struct pv_store *st, struct pv_psd_batch *b, uint32_t id,
                     struct pv_psd_rec *out)
{
    struct pv_psd_batch_row *row = find(b, id);
    int rc;

    if (row) {
        *out = row->rec;
        return PV_OK;
    }
    if ((rc = pv_store_psd_get(st, id, out)) != PV_OK)
        return rc;
    if (b && b->n < b->cap) {
        b->rows[b->n].rec = *out;
        b->rows[b->n].dirty = 0;
        b->n++;
    }
    return PV_OK;
}

int pv_psd_batch_put(struct pv_store *st, struct pv_psd_batch *b, const struct pv_psd_rec *p)
{
    struct pv_psd_batch_row *row = find(b, p->id);

    if (!row)
        return pv_store_psd_update(st, p);
    row->rec = *p;
    row->dirty = 1;
    return PV_OK;
}

void pv_psd_batch_save(struct pv_psd_batch *b)
{
    if (!b)
        return;
    memcpy(b->saved, b->rows, b->n * sizeof *b->rows);
    b->n_saved = b->n;
}

void pv_psd_batch_restore(struct pv_psd_batch *b)
{
    if (!b)
        return;
    /* Rows the job read first are dropped: the store has them as they were. */
    memcpy(b->rows, b->saved, b->n_saved * sizeof *b->rows);
    b->n = b->n_saved;
}

int pv_psd_batch_flush(struct pv_store *st, struct pv_psd_batch *b)
{
    size_t i;
    int rc;

    for (i = 0; b && i < b->n; i++) {
        if (!b->rows[i].dirty)
            continue;
        /* Read in this transaction, locked (psd_batch_get): there by construction. */
        if ((rc = pv_store_psd_update_held(st, &b->rows[i].rec)) != PV_OK)
            return rc;
        b->rows[i].dirty = 0;
    }
    return PV_OK;
}

void pv_psd_regs_from(const struct pv_psd_rec *p, struct pv_psd_regs *r)
{
    r->descending = p->descending;
    r->ascending = p->ascending;
    r->control_total = p->control_total;
    r->piece_count = p->piece_count;
}

void pv_psd_regs_to(const struct pv_psd_regs *r, struct pv_psd_rec *p)
{
    p->descending = r->descending;
    p->ascending = r->ascending;
    p->control_total = r->control_total;
    p->piece_count = r->piece_count;
}
