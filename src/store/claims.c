/*
 * claims.c - the postal authority's orders (store_authority.h, schema
 * v13): refunds of unused postage claimed back from it and its decisions,
 * its holds on a customer, and the pieces it has seen with their first and
 * last presentation.
 *
 * Each write is one statement, atomic on its own; the domain
 * (domain/claims.c) puts them in the transactions they belong to.
 */
#include "stampd/error.h"
#include "store/store_int.h"

#include <string.h>

int pv_store_claim_insert(struct pv_store *st, const struct pv_claim_rec *rec)
{
    struct pv_q q;
    int rc;

    if (!PV_FITS(rec->id) || !rec->id[0] || !PV_FITS(rec->refund_id) || !rec->refund_id[0] ||
        !PV_FITS(rec->indicium_id) || !rec->indicium_id[0] || !PV_FITS(rec->reason) ||
        !PV_FITS(rec->decided_by) || rec->status < PV_CLAIM_PENDING ||
        rec->status > PV_CLAIM_REJECTED)
        return PV_EINVAL;
    if ((rc = pv_check_mills(rec->amount, 1)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_CLAIM_INSERT);
    pv_q_text(&q, rec->id);
    pv_q_text(&q, rec->refund_id);
    pv_q_text(&q, rec->indicium_id);
    pv_q_int(&q, rec->psd_id);
    pv_q_int(&q, rec->serial);
    pv_q_int(&q, rec->amount);
    pv_q_int(&q, rec->status);
    pv_q_text(&q, rec->reason);
    pv_q_text(&q, rec->decided_by);
    pv_q_int(&q, rec->created);
    pv_q_int(&q, rec->decided_at);
    return pv_q_write(&q);
}

static int read_claim(struct pv_row *r, void *p)
{
    struct pv_claim_rec *rec = p;

    pv_r_text(r, rec->id, sizeof rec->id);
    pv_r_text(r, rec->refund_id, sizeof rec->refund_id);
    pv_r_text(r, rec->indicium_id, sizeof rec->indicium_id);
    rec->psd_id = (uint32_t) pv_r_int(r);
    rec->serial = (uint32_t) pv_r_int(r);
    rec->amount = pv_r_int(r);
    rec->status = (int) pv_r_int(r);
    pv_r_text(r, rec->reason, sizeof rec->reason);
    pv_r_text(r, rec->decided_by, sizeof rec->decided_by);
    rec->created = pv_r_int(r);
    rec->decided_at = pv_r_int(r);
    rec->presentations = pv_r_int(r);
    return r->rc;
}

int pv_store_claim_get(struct pv_store *st, const char *id, struct pv_claim_rec *out)
{
    return pv_get_by_text(st, S_CLAIM_GET, id, read_claim, out, sizeof *out);
}

int pv_store_claim_decide(struct pv_store *st, const char *id, int status, const char *reason,
                          const char *by, int64_t at)
{
    struct pv_q q;

    if (!id || !reason || !by || !pv_fits(reason, PV_CLAIM_REASON_MAX) || !pv_fits(by, PV_ID_MAX) ||
        (status != PV_CLAIM_ACCEPTED && status != PV_CLAIM_REJECTED))
        return PV_EINVAL;
    pv_q_start(&q, st, S_CLAIM_DECIDE);
    pv_q_int(&q, status);
    pv_q_text(&q, reason);
    pv_q_text(&q, by);
    pv_q_int(&q, at);
    pv_q_text(&q, id);
    return pv_q_write_found(&q);
}

int pv_store_claim_list(struct pv_store *st, int status, const char *after_id, size_t limit,
                        struct pv_claim_rec **out, size_t *n)
{
    struct pv_q q;

    *out = NULL;
    *n = 0;
    if (!after_id)
        return PV_EINVAL;
    pv_q_start(&q, st, S_CLAIM_LIST);
    pv_q_int(&q, status < 0 ? -1 : status);
    pv_q_text(&q, after_id);
    pv_q_int(&q, PV_LIMIT(limit));
    return pv_q_list(&q, sizeof **out, read_claim, (void **) out, n);
}

int pv_store_claim_totals(struct pv_store *st, struct pv_claim_totals *out)
{
    struct pv_row r;
    struct pv_q q;
    int rc;

    memset(out, 0, sizeof *out);
    pv_q_start(&q, st, S_CLAIM_TOTALS);
    while ((rc = pv_q_row(&q)) == PV_OK) {
        int64_t status, count, amount;

        r = pv_row_of(&q);
        status = pv_r_int(&r);
        count = pv_r_int(&r);
        amount = pv_r_int(&r);
        if (r.rc != PV_OK) {
            rc = r.rc;
            break;
        }
        if (status >= PV_CLAIM_PENDING && status <= PV_CLAIM_REJECTED) {
            out->count[status] = count;
            out->amount[status] = amount;
        }
    }
    pv_q_done(&q);
    return rc == PV_ENOTFOUND ? PV_OK : rc;
}

int pv_store_hold_insert(struct pv_store *st, const struct pv_hold_rec *rec)
{
    struct pv_q q;

    if (!PV_FITS(rec->id) || !rec->id[0] || !PV_FITS(rec->customer_id) || !rec->customer_id[0] ||
        !PV_FITS(rec->reason) || !rec->reason[0] || !PV_FITS(rec->placed_by) ||
        !rec->placed_by[0] || !PV_FITS(rec->lifted_by) || !PV_FITS(rec->lift_reason))
        return PV_EINVAL;
    pv_q_start(&q, st, S_HOLD_INSERT);
    pv_q_text(&q, rec->id);
    pv_q_text(&q, rec->customer_id);
    pv_q_text(&q, rec->reason);
    pv_q_text(&q, rec->placed_by);
    pv_q_int(&q, rec->placed_at);
    pv_q_int(&q, rec->psd_id);
    pv_q_int(&q, rec->serial);
    pv_q_text(&q, rec->lifted_by);
    pv_q_int(&q, rec->lifted_at);
    pv_q_text(&q, rec->lift_reason);
    return pv_q_write(&q);
}

static int read_hold(struct pv_row *r, void *p)
{
    struct pv_hold_rec *rec = p;

    pv_r_text(r, rec->id, sizeof rec->id);
    pv_r_text(r, rec->customer_id, sizeof rec->customer_id);
    pv_r_text(r, rec->reason, sizeof rec->reason);
    pv_r_text(r, rec->placed_by, sizeof rec->placed_by);
    rec->placed_at = pv_r_int(r);
    rec->psd_id = (uint32_t) pv_r_int(r);
    rec->serial = pv_r_int(r);
    pv_r_text(r, rec->lifted_by, sizeof rec->lifted_by);
    rec->lifted_at = pv_r_int(r);
    pv_r_text(r, rec->lift_reason, sizeof rec->lift_reason);
    return r->rc;
}

int pv_store_hold_get(struct pv_store *st, const char *id, struct pv_hold_rec *out)
{
    return pv_get_by_text(st, S_HOLD_GET, id, read_hold, out, sizeof *out);
}

int pv_store_hold_lift(struct pv_store *st, const char *id, const char *by, const char *reason,
                       int64_t at)
{
    struct pv_q q;

    if (!id || !by || !by[0] || !reason || !pv_fits(by, PV_ID_MAX) ||
        !pv_fits(reason, PV_CLAIM_REASON_MAX) || at <= 0)
        return PV_EINVAL;
    pv_q_start(&q, st, S_HOLD_LIFT);
    pv_q_text(&q, by);
    pv_q_int(&q, at);
    pv_q_text(&q, reason);
    pv_q_text(&q, id);
    return pv_q_write_found(&q);
}

int pv_store_hold_standing(struct pv_store *st, const char *customer_id, struct pv_hold_rec *out)
{
    return pv_get_by_text(st, S_HOLD_STANDING, customer_id, read_hold, out, sizeof *out);
}

int pv_store_hold_list(struct pv_store *st, int standing, const char *after_id, size_t limit,
                       struct pv_hold_rec **out, size_t *n)
{
    struct pv_q q;

    *out = NULL;
    *n = 0;
    if (!after_id)
        return PV_EINVAL;
    pv_q_start(&q, st, S_HOLD_LIST);
    pv_q_int(&q, standing != 0);
    pv_q_text(&q, after_id);
    pv_q_int(&q, PV_LIMIT(limit));
    return pv_q_list(&q, sizeof **out, read_hold, (void **) out, n);
}

static int read_presented(struct pv_row *r, void *p)
{
    struct pv_presented_rec *rec = p;

    rec->seq = pv_r_int(r);
    rec->psd_id = (uint32_t) pv_r_int(r);
    rec->serial = (uint32_t) pv_r_int(r);
    rec->presentations = pv_r_int(r);
    rec->has_first = pv_r_int(r) != 0;
    rec->first_at = pv_r_int(r);
    pv_r_text(r, rec->first_location, sizeof rec->first_location);
    rec->has_last = pv_r_int(r) != 0;
    rec->last_at = pv_r_int(r);
    pv_r_text(r, rec->last_location, sizeof rec->last_location);
    return r->rc;
}

int pv_store_presented_list(struct pv_store *st, int64_t min_presentations, int64_t before,
                            size_t limit, struct pv_presented_rec **out, size_t *n)
{
    struct pv_q q;

    *out = NULL;
    *n = 0;
    pv_q_start(&q, st, S_PRESENTED_LIST);
    pv_q_int(&q, min_presentations < 1 ? 1 : min_presentations);
    pv_q_int(&q, before > 0 ? before : INT64_MAX);
    pv_q_int(&q, PV_LIMIT(limit));
    return pv_q_list(&q, sizeof **out, read_presented, (void **) out, n);
}
