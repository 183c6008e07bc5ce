/*
 * h_lifecycle.c - PSD lifecycle routes (docs/api.md, "Device lifecycle";
 * domain/lifecycle.h): the postal authority's devices, their status
 * history, its suspension and reset lock, and the operator's suspend,
 * resume and withdraw.
 *
 * The authority sees live devices only (a test PSD signs play money: 404);
 * the operator sees every PSD. Nothing here shows a customer's data.
 */
#include "server/h_lifecycle.h"

#include "domain/lifecycle.h"
#include "domain/report.h"
#include "server/h_reports.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/money.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEVICE_CURSOR "psd_"
#define EVENT_CURSOR  "pe_"

static const char *money(pv_mills m, char buf[32])
{
    return pv_money_format(m, buf, 32);
}

static json_t *text_or_null(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

/* One device as the authority (and the operator) sees it, without its contact. */
static json_t *device_json(const struct pv_psd_rec *p, int resets_locked)
{
    char at[32], d[32], a[32], t[32];

    return json_pack(
        "{s:s, s:I, s:s, s:o, s:o, s:s, s:I, s:s, s:I, s:s, s:I, s:I, s:I, s:o, s:b, s:b}",
        "object", "device", "id", (json_int_t) p->id, "status", pv_psd_status_name(p->status),
        "suspended_by", text_or_null(p->status == PV_PSD_SUSPENDED ? p->suspended_by : ""),
        "reason", text_or_null(p->status_reason), "descending", money(p->descending, d),
        "descending_mills", (json_int_t) p->descending, "ascending", money(p->ascending, a),
        "ascending_mills", (json_int_t) p->ascending, "control_total", money(p->control_total, t),
        "control_total_mills", (json_int_t) p->control_total, "piece_count",
        (json_int_t) p->piece_count, "key_id", (json_int_t) p->key_id, "last_refill_at",
        p->last_refill_at ? json_string(pv_time_format(p->last_refill_at, at, sizeof at))
                          : json_null(),
        "resets_locked", resets_locked, "test", p->test);
}

/* The same with the watchdog's last contact, deadline and overdue (h_reports.h). */
static json_t *device_view(struct pv_store *st, const struct pv_psd_rec *p, int resets_locked)
{
    json_t *j = device_json(p, resets_locked);
    int64_t days, now = pv_report_clock();

    if (j && (pv_contact_deadline_days(st, &days) != PV_OK ||
              pv_contact_fields(st, j, p->id, days, now) != PV_OK)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static json_t *event_json(const struct pv_psd_event_rec *e)
{
    char id[32], at[32], d[32], a[32], t[32];

    snprintf(id, sizeof id, EVENT_CURSOR "%lld", (long long) e->id);
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:I, s:s, s:I, "
                     "s:s, s:I, s:I, s:o}",
                     "object", "device_event", "id", id, "device_id", (json_int_t) e->psd_id, "at",
                     pv_time_format(e->at, at, sizeof at), "event", e->event, "actor", e->actor,
                     "actor_id", text_or_null(e->actor_id), "reason", text_or_null(e->reason),
                     "status_before", pv_psd_status_name(e->status_before), "status_after",
                     pv_psd_status_name(e->status_after), "ascending", money(e->ascending, a),
                     "ascending_mills", (json_int_t) e->ascending, "descending",
                     money(e->descending, d), "descending_mills", (json_int_t) e->descending,
                     "control_total", money(e->control_total, t), "control_total_mills",
                     (json_int_t) e->control_total, "piece_count", (json_int_t) e->piece_count,
                     "ref", text_or_null(e->ref));
}

/* The PSD of the path into *p: 404 (and 0) for a bad id, an unknown PSD, or
 * - for the authority - a test PSD. */
static int path_psd(struct pv_call *c, int authority, struct pv_psd_rec *p)
{
    uint64_t id;
    int rc;

    if (!c->id || pv_parse_u64(c->id, 1, UINT32_MAX, &id) != PV_OK) {
        pv_reply_error(c->rp, PV_ENOTFOUND, NULL, authority ? "no such device" : "no such PSD");
        return 0;
    }
    rc = pv_store_psd_get(c->st, (uint32_t) id, p);
    if (rc == PV_OK && authority && p->test)
        rc = PV_ENOTFOUND;
    if (rc != PV_OK) {
        pv_reply_error(c->rp, rc, NULL,
                       rc != PV_ENOTFOUND ? NULL
                       : authority        ? "no such device"
                                          : "no such PSD");
        return 0;
    }
    return 1;
}

void pv_h_authority_devices(struct pv_call *c)
{
    struct pv_psd_rec *psds = NULL;
    struct pv_list_page pg;
    uint64_t after = 0;
    size_t n = 0, i, shown = 0;
    char next[32];
    json_t *arr;
    int rc, locked;

    if (pv_list_args(c->rq, &pg, c->rp) != PV_OK)
        return;
    if (pv_list_cursor_num(&pg, DEVICE_CURSOR, UINT32_MAX, &after, c->rp) != PV_OK)
        return;
    if ((locked = pv_resets_locked(c->st)) < 0 ||
        (rc = pv_store_psd_list(c->st, &psds, &n)) != PV_OK) {
        pv_reply_error(c->rp, locked < 0 ? locked : rc, NULL, NULL);
        return;
    }
    arr = json_array();
    next[0] = '\0';
    for (i = 0; arr && i < n; i++) {
        if (psds[i].test || psds[i].id <= after)
            continue;
        if (shown == pg.limit) {
            snprintf(next, sizeof next, DEVICE_CURSOR "%u", (unsigned) psds[i - 1].id);
            break;
        }
        pv_list_push(&arr, device_view(c->st, &psds[i], locked));
        shown++;
    }
    free(psds);
    pv_reply_list(c->rp, arr, next[0] ? next : NULL);
}

static void device_answer(struct pv_call *c, int authority)
{
    struct pv_psd_rec p;
    int locked;

    if (!path_psd(c, authority, &p))
        return;
    if ((locked = pv_resets_locked(c->st)) < 0) {
        pv_reply_error(c->rp, locked, NULL, NULL);
        return;
    }
    pv_reply_json(c->rp, 200, device_view(c->st, &p, locked));
}

void pv_h_authority_device(struct pv_call *c)
{
    device_answer(c, 1);
}

static void history_answer(struct pv_call *c, int authority)
{
    struct pv_psd_event_rec *ev = NULL;
    struct pv_list_page pg;
    struct pv_psd_rec p;
    uint64_t after = 0;
    size_t n = 0, i;
    char next[32];
    json_t *arr;
    int rc;

    if (pv_list_args(c->rq, &pg, c->rp) != PV_OK || !path_psd(c, authority, &p))
        return;
    if (pv_list_cursor_num(&pg, EVENT_CURSOR, (uint64_t) INT64_MAX, &after, c->rp) != PV_OK)
        return;
    if ((rc = pv_store_psd_event_list(c->st, p.id, (int64_t) after, (size_t) pg.limit + 1, &ev,
                                      &n)) != PV_OK) {
        pv_reply_error(c->rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n && i < pg.limit; i++)
        pv_list_push(&arr, event_json(&ev[i]));
    if (n > pg.limit)
        snprintf(next, sizeof next, EVENT_CURSOR "%lld", (long long) ev[pg.limit - 1].id);
    free(ev);
    pv_reply_list(c->rp, arr, n > pg.limit ? next : NULL);
}

void pv_h_authority_device_history(struct pv_call *c)
{
    history_answer(c, 1);
}

void pv_h_admin_psd_history(struct pv_call *c)
{
    history_answer(c, 0);
}

static const char *const reason_fields[] = {"reason", NULL};
static const char *const withdraw_fields[] = {"reason", "confirm", NULL};

/* The optional body {"reason": "...", ["confirm": bool]}: PV_OK or rp set. */
static int change_body(struct pv_call *c, int withdraw, char reason[PV_REASON_MAX], int *confirm)
{
    const char *text = NULL;
    json_t *root, *cf;
    int rc = PV_OK;

    reason[0] = '\0';
    *confirm = 0;
    if (!c->rq->body_len)
        return PV_OK;
    c->rp->collect = 1; /* every bad field listed */
    if (!(root = pv_body_object(c->rq, withdraw ? withdraw_fields : reason_fields, c->rp)))
        return PV_EINVAL;
    if (pv_body_string(root, "reason", 0, PV_REASON_MAX - 1, PV_EINVAL, &text, c->rp) == PV_OK)
        pv_str_copy(reason, PV_REASON_MAX, text ? text : "");
    cf = withdraw ? json_object_get(root, "confirm") : NULL;
    if (cf && !json_is_boolean(cf))
        pv_reply_error(c->rp, PV_ETYPE, "confirm", "confirm must be true or false");
    *confirm = cf && json_is_true(cf);
    if (pv_reply_failed(c->rp))
        rc = PV_EINVAL;
    json_decref(root);
    return rc;
}

enum change_kind { SUSPEND, RESUME, WITHDRAW };

static void change_answer(struct pv_call *c, int authority, enum change_kind kind)
{
    const char *actor = authority ? PV_ACTOR_AUTHORITY : PV_ACTOR_OPERATOR;
    char reason[PV_REASON_MAX], r[32];
    struct pv_psd_change ch;
    struct pv_psd_rec p;
    int rc, confirm, locked;
    json_t *o;

    if (!path_psd(c, authority, &p) || change_body(c, kind == WITHDRAW, reason, &confirm) != PV_OK)
        return;
    if (kind == SUSPEND)
        rc = pv_psd_suspend(c->st, p.id, actor, c->who->owner_id, reason, pv_now(), &ch);
    else if (kind == RESUME)
        rc = pv_psd_resume(c->st, p.id, actor, c->who->owner_id, reason, pv_now(), &ch);
    else
        rc = pv_psd_withdraw(c->st, p.id, c->who->owner_id, reason, confirm, pv_now(), &ch);
    if (rc != PV_OK) {
        pv_reply_error(c->rp, rc, rc == PV_ELASTPSD ? "confirm" : NULL,
                       rc == PV_EPSDSTATE && p.status == PV_PSD_RETIRED
                           ? "the PSD is withdrawn: it never changes status again"
                       : rc == PV_EPSDSTATE && kind == RESUME && p.status != PV_PSD_SUSPENDED
                           ? "the PSD is not suspended"
                       : rc == PV_EPSDSTATE && kind == RESUME &&
                               strcmp(p.suspended_by, PV_ACTOR_OPERATOR) == 0
                           ? "the operator suspended this PSD: the operator resumes it"
                       : rc == PV_EPSDSTATE && kind == RESUME
                           ? "the PSD's key is revoked: rotate it (stampd psd rotate-key)"
                           : NULL);
        return;
    }
    if ((locked = pv_resets_locked(c->st)) < 0) {
        pv_reply_error(c->rp, locked, NULL, NULL);
        return;
    }
    o = device_view(c->st, &ch.psd, locked);
    if (o) {
        json_object_set_new(o, "changed", json_boolean(ch.changed));
        if (kind == WITHDRAW) {
            json_object_set_new(o, "returned", json_string(money(ch.returned, r)));
            json_object_set_new(o, "returned_mills", json_integer((json_int_t) ch.returned));
        }
    }
    pv_reply_json(c->rp, 200, o);
}

void pv_h_authority_device_suspend(struct pv_call *c)
{
    change_answer(c, 1, SUSPEND);
}

void pv_h_authority_device_resume(struct pv_call *c)
{
    change_answer(c, 1, RESUME);
}

void pv_h_admin_psd_suspend(struct pv_call *c)
{
    change_answer(c, 0, SUSPEND);
}

void pv_h_admin_psd_resume(struct pv_call *c)
{
    change_answer(c, 0, RESUME);
}

void pv_h_admin_psd_withdraw(struct pv_call *c)
{
    change_answer(c, 0, WITHDRAW);
}

static json_t *lock_json(const struct pv_reset_lock *l, int changed)
{
    char at[32];

    return json_pack("{s:s, s:b, s:o, s:o, s:o, s:b}", "object", "reset_lock", "locked", l->locked,
                     "by", text_or_null(l->by), "at",
                     l->at ? json_string(pv_time_format(l->at, at, sizeof at)) : json_null(),
                     "reason", text_or_null(l->reason), "changed", changed);
}

static void lock_answer(struct pv_call *c, int lock)
{
    char reason[PV_REASON_MAX];
    struct pv_reset_lock l;
    int rc, confirm, changed = 0;

    if (change_body(c, 0, reason, &confirm) != PV_OK)
        return;
    if ((rc = pv_resets_lock_set(c->st, lock, c->who->owner_id, reason, pv_now(), &changed)) !=
            PV_OK ||
        (rc = pv_resets_lock_get(c->st, &l)) != PV_OK) {
        pv_reply_error(c->rp, rc, NULL, NULL);
        return;
    }
    pv_reply_json(c->rp, 200, lock_json(&l, changed));
}

void pv_h_authority_resets_lock(struct pv_call *c)
{
    lock_answer(c, 1);
}

void pv_h_authority_resets_unlock(struct pv_call *c)
{
    lock_answer(c, 0);
}
