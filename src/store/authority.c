/*
 * authority.c - the postal authority's records (store.h, schema v8): its
 * accounts, the presentations of pieces it counted (when and where it says
 * each was), the credits it made to the postal deposit, and the deposit's
 * history read back from the journals with a running balance.
 *
 * Each write is one statement, atomic on its own; the domain puts them in
 * the transactions they belong to (a presentation beside the count it
 * raises, a credit beside its journal entry).
 */
#include "stampd/error.h"
#include "store/store_int.h"

#include <string.h>

int pv_store_postal_insert(struct pv_store *st, const char *id, const char *name, int64_t at)
{
    struct pv_q q;

    if (!pv_fits(id, PV_ID_MAX) || !pv_fits(name, PV_POSTAL_NAME_MAX) || !id[0] || !name[0])
        return PV_EINVAL;
    pv_q_start(&q, st, S_POSTAL_INSERT);
    pv_q_text(&q, id);
    pv_q_text(&q, name);
    pv_q_int(&q, at);
    return pv_q_write(&q);
}

static int read_name(struct pv_row *r, void *p)
{
    pv_r_text(r, p, PV_POSTAL_NAME_MAX);
    return r->rc;
}

int pv_store_postal_get(struct pv_store *st, const char *id, char name[PV_POSTAL_NAME_MAX])
{
    return pv_get_by_text(st, S_POSTAL_GET, id, read_name, name, PV_POSTAL_NAME_MAX);
}

int pv_store_presentation_insert(struct pv_store *st, const struct pv_presentation_rec *rec)
{
    struct pv_q q;

    if (!PV_FITS(rec->indicium_id) || !rec->indicium_id[0] || rec->seq < 1 ||
        !PV_FITS(rec->postal_id) || !rec->postal_id[0] || !PV_FITS(rec->location))
        return PV_EINVAL;
    pv_q_start(&q, st, S_PRESENTATION_INSERT);
    pv_q_text(&q, rec->indicium_id);
    pv_q_int(&q, rec->seq);
    pv_q_text(&q, rec->postal_id);
    pv_q_int(&q, rec->presented_at);
    pv_q_text(&q, rec->location);
    pv_q_int(&q, rec->recorded_at);
    return pv_q_write(&q);
}

static int read_presentation(struct pv_row *r, void *p)
{
    struct pv_presentation_rec *rec = p;

    pv_r_text(r, rec->indicium_id, sizeof rec->indicium_id);
    rec->seq = pv_r_int(r);
    pv_r_text(r, rec->postal_id, sizeof rec->postal_id);
    rec->presented_at = pv_r_int(r);
    pv_r_text(r, rec->location, sizeof rec->location);
    rec->recorded_at = pv_r_int(r);
    return r->rc;
}

int pv_store_presentation_first(struct pv_store *st, const char *indicium_id,
                                struct pv_presentation_rec *out)
{
    return pv_get_by_text(st, S_PRESENTATION_FIRST, indicium_id, read_presentation, out,
                          sizeof *out);
}

int pv_store_deposit_credit_insert(struct pv_store *st, const struct pv_deposit_credit_rec *rec)
{
    struct pv_q q;
    int rc;

    if (!PV_FITS(rec->id) || !rec->id[0] || !PV_FITS(rec->reference) || !rec->reference[0] ||
        !PV_FITS(rec->credited_by) || !rec->credited_by[0])
        return PV_EINVAL;
    if ((rc = pv_check_mills(rec->amount, 1)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_DEPOSIT_CREDIT_INSERT);
    pv_q_text(&q, rec->id);
    pv_q_int(&q, rec->amount);
    pv_q_text(&q, rec->reference);
    pv_q_text(&q, rec->credited_by);
    pv_q_int(&q, rec->at);
    return pv_q_write(&q);
}

static int read_credit(struct pv_row *r, void *p)
{
    struct pv_deposit_credit_rec *rec = p;

    pv_r_text(r, rec->id, sizeof rec->id);
    rec->amount = pv_r_int(r);
    pv_r_text(r, rec->reference, sizeof rec->reference);
    pv_r_text(r, rec->credited_by, sizeof rec->credited_by);
    rec->at = pv_r_int(r);
    return r->rc;
}

int pv_store_deposit_credit_get(struct pv_store *st, const char *id,
                                struct pv_deposit_credit_rec *out)
{
    return pv_get_by_text(st, S_DEPOSIT_CREDIT_GET, id, read_credit, out, sizeof *out);
}

static int read_entry(struct pv_row *r, void *p)
{
    struct pv_deposit_entry *rec = p;

    rec->journal_id = pv_r_int(r);
    pv_r_text(r, rec->kind, sizeof rec->kind);
    pv_r_text(r, rec->ref, sizeof rec->ref);
    rec->amount = pv_r_int(r);
    rec->balance = pv_r_int(r);
    rec->at = pv_r_int(r);
    pv_r_text(r, rec->reference, sizeof rec->reference);
    rec->psd_id = pv_r_int(r);
    return r->rc;
}

int pv_store_deposit_history(struct pv_store *st, const char *account, int64_t before, size_t limit,
                             struct pv_deposit_entry **out, size_t *n)
{
    if (out && n) {
        *out = NULL;
        *n = 0;
    }
    /* An account journal_lines_account holds (v41, v42): the deposit's. */
    if (!pv_fits(account, PV_ACCOUNT_MAX) || !pv_jlines_listed(account))
        return PV_EINVAL;
    return pv_account_page(st, S_DEPOSIT_HISTORY, account, before, limit, sizeof **out, read_entry,
                           (void **) out, n);
}
