/*
 * psd_events.c - a PSD's status and its status history (store.h, schema
 * v11): who suspended it and why, and one psd_events row per status change
 * or movement with the registers at that moment (39 CFR 501.14).
 *
 * Each write is one statement; the domain (domain/lifecycle.c) puts the
 * status change, its event and any journal entry in one transaction, under
 * the PSD's row lock (psd_get), so the history never disagrees with the row.
 */
#include "stampd/error.h"
#include "store/store_int.h"

#include <string.h>

static int valid_status(int s)
{
    return s == PV_PSD_ACTIVE || s == PV_PSD_SUSPENDED || s == PV_PSD_RETIRED;
}

static int valid_actor(const char *a)
{
    return strcmp(a, "operator") == 0 || strcmp(a, "authority") == 0 || strcmp(a, "system") == 0;
}

int pv_store_psd_set_status(struct pv_store *st, uint32_t id, int status, const char *suspended_by,
                            const char *reason)
{
    struct pv_q q;

    if (!st || !valid_status(status) || !suspended_by ||
        !pv_fits(suspended_by, sizeof((struct pv_psd_rec *) 0)->suspended_by) || !reason ||
        !pv_fits(reason, PV_REASON_MAX))
        return PV_EINVAL;
    pv_q_start(&q, st, S_PSD_SET_STATUS);
    pv_q_int(&q, status);
    pv_q_text(&q, suspended_by);
    pv_q_text(&q, reason);
    pv_q_int(&q, id);
    return pv_q_write_found(&q);
}

int pv_store_psd_event_insert(struct pv_store *st, const struct pv_psd_event_rec *rec)
{
    struct pv_q q;

    if (!st || !rec || !rec->event[0] || !PV_FITS(rec->event) || !PV_FITS(rec->actor) ||
        !valid_actor(rec->actor) || !PV_FITS(rec->actor_id) || !PV_FITS(rec->reason) ||
        !PV_FITS(rec->ref) || !valid_status(rec->status_before) || !valid_status(rec->status_after))
        return PV_EINVAL;
    pv_q_start(&q, st, S_PSD_EVENT_INSERT);
    pv_q_int(&q, rec->psd_id);
    pv_q_int(&q, rec->at);
    pv_q_text(&q, rec->event);
    pv_q_text(&q, rec->actor);
    pv_q_text(&q, rec->actor_id);
    pv_q_text(&q, rec->reason);
    pv_q_int(&q, rec->status_before);
    pv_q_int(&q, rec->status_after);
    pv_q_int(&q, rec->descending);
    pv_q_int(&q, rec->ascending);
    pv_q_int(&q, rec->control_total);
    pv_q_int(&q, rec->piece_count);
    pv_q_text(&q, rec->ref);
    return pv_q_write(&q);
}

static int read_event(struct pv_row *r, void *p)
{
    struct pv_psd_event_rec *rec = p;

    rec->id = pv_r_int(r);
    rec->psd_id = (uint32_t) pv_r_int(r);
    rec->at = pv_r_int(r);
    pv_r_text(r, rec->event, sizeof rec->event);
    pv_r_text(r, rec->actor, sizeof rec->actor);
    pv_r_text(r, rec->actor_id, sizeof rec->actor_id);
    pv_r_text(r, rec->reason, sizeof rec->reason);
    rec->status_before = (int) pv_r_int(r);
    rec->status_after = (int) pv_r_int(r);
    rec->descending = pv_r_int(r);
    rec->ascending = pv_r_int(r);
    rec->control_total = pv_r_int(r);
    rec->piece_count = (uint32_t) pv_r_int(r);
    pv_r_text(r, rec->ref, sizeof rec->ref);
    return r->rc;
}

int pv_store_psd_event_list(struct pv_store *st, uint32_t psd_id, int64_t after, size_t limit,
                            struct pv_psd_event_rec **out, size_t *n)
{
    struct pv_q q;

    if (!st || after < 0 || limit == 0 || limit > 10000)
        return PV_EINVAL;
    pv_q_start(&q, st, S_PSD_EVENT_LIST);
    pv_q_int(&q, psd_id);
    pv_q_int(&q, after);
    pv_q_int(&q, (int64_t) limit);
    return pv_q_list(&q, sizeof **out, read_event, (void **) out, n);
}
