/*
 * rates.c - loaded rate tables (store.h, schema v16): one row per table,
 * its document as it was loaded. The domain (domain/rates_store.c) parses
 * and checks a document before it is stored, and every process builds its
 * set of tables in use from these rows.
 */
#include "stampd/error.h"
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

int pv_store_rate_insert(struct pv_store *st, const struct pv_rate_rec *rec)
{
    struct pv_q q;

    if (!st || !rec || !rec->version[0] || !PV_FITS(rec->version) || !PV_FITS(rec->source) ||
        !PV_FITS(rec->loaded_by) || !rec->body)
        return PV_EINVAL;
    pv_q_start(&q, st, S_RATE_INSERT);
    pv_q_text(&q, rec->version);
    pv_q_int(&q, rec->effective);
    pv_q_text(&q, rec->source);
    pv_q_text(&q, rec->body);
    pv_q_int(&q, rec->loaded_at);
    pv_q_text(&q, rec->loaded_by);
    return pv_q_write(&q);
}

static int read_rate(struct pv_row *r, void *p)
{
    struct pv_rate_rec *rec = p;

    pv_r_text(r, rec->version, sizeof rec->version);
    rec->effective = (uint32_t) pv_r_int(r);
    pv_r_text(r, rec->source, sizeof rec->source);
    rec->body = pv_r_dup(r);
    rec->loaded_at = pv_r_int(r);
    pv_r_text(r, rec->loaded_by, sizeof rec->loaded_by);
    return r->rc;
}

void pv_rate_recs_free(struct pv_rate_rec *recs, size_t n)
{
    size_t i;

    for (i = 0; recs && i < n; i++)
        free(recs[i].body);
    free(recs);
}

int pv_store_rate_list(struct pv_store *st, struct pv_rate_rec **out, size_t *n)
{
    size_t i;
    int rc;

    *out = NULL;
    *n = 0;
    rc = pv_list_all(st, S_RATE_LIST, sizeof **out, read_rate, (void **) out, n);
    for (i = 0; rc == PV_OK && i < *n; i++)
        if (!(*out)[i].body)
            rc = PV_ENOMEM;
    if (rc != PV_OK) {
        pv_rate_recs_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int pv_store_rate_stamp(struct pv_store *st, int64_t *count, int64_t *latest)
{
    struct pv_row r;
    struct pv_q q;
    int rc;

    pv_q_start(&q, st, S_RATE_STAMP);
    if ((rc = pv_q_row(&q)) != PV_OK) {
        pv_q_done(&q);
        return rc == PV_ENOTFOUND ? PV_EIO : rc;
    }
    r = pv_row_of(&q);
    *count = pv_r_int(&r);
    *latest = pv_r_int(&r);
    pv_q_done(&q);
    return r.rc;
}
