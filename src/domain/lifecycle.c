/*
 * lifecycle.c - suspend, resume and withdraw PSDs, the authority's reset
 * lock, and the status history written beside each change (lifecycle.h).
 */
#include "domain/lifecycle.h"

#include "domain/ledger.h"
#include "stampd/codec.h"
#include "stampd/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *pv_psd_status_name(int status)
{
    switch (status) {
    case PV_PSD_ACTIVE:
        return "active";
    case PV_PSD_SUSPENDED:
        return "suspended";
    case PV_PSD_RETIRED:
        return "withdrawn";
    default:
        return "unknown";
    }
}

int pv_psd_event_write(struct pv_store *st, const struct pv_psd_rec *p, const char *event,
                       const char *actor, const char *actor_id, const char *reason,
                       int status_before, const char *ref, int64_t now)
{
    struct pv_psd_event_rec *e;
    int rc;

    if (!p || !event || !actor)
        return PV_EINVAL;
    if (!(e = calloc(1, sizeof *e)))
        return PV_ENOMEM;
    e->psd_id = p->id;
    e->at = now;
    e->status_before = status_before;
    e->status_after = p->status;
    e->descending = p->descending;
    e->ascending = p->ascending;
    e->control_total = p->control_total;
    e->piece_count = p->piece_count;
    rc = PV_EINVAL;
    if (snprintf(e->event, sizeof e->event, "%s", event) < (int) sizeof e->event &&
        snprintf(e->actor, sizeof e->actor, "%s", actor) < (int) sizeof e->actor &&
        snprintf(e->actor_id, sizeof e->actor_id, "%s", actor_id ? actor_id : "") <
            (int) sizeof e->actor_id &&
        snprintf(e->reason, sizeof e->reason, "%s", reason ? reason : "") <
            (int) sizeof e->reason &&
        snprintf(e->ref, sizeof e->ref, "%s", ref ? ref : "") < (int) sizeof e->ref)
        rc = pv_store_psd_event_insert(st, e);
    free(e);
    return rc;
}

static int actor_ok(const char *actor)
{
    return actor &&
           (strcmp(actor, PV_ACTOR_OPERATOR) == 0 || strcmp(actor, PV_ACTOR_AUTHORITY) == 0);
}

static int reason_ok(const char *reason)
{
    return reason && strlen(reason) < PV_REASON_MAX;
}

/* 1 when key key_id is revoked, 0 when not; < 0 on a store error. */
static int key_revoked(struct pv_store *st, uint32_t key_id)
{
    struct pv_key_rec *keys = NULL;
    size_t n = 0, i;
    int rc, revoked = 0;

    if ((rc = pv_store_key_list(st, &keys, &n)) != PV_OK)
        return rc;
    for (i = 0; i < n; i++)
        if (keys[i].key_id == key_id)
            revoked = keys[i].revoked_at != 0;
    free(keys);
    return revoked;
}

/* Begin, wait out the purchase batches, and read PSD psd_id under its row lock. */
static int open_psd(struct pv_store *st, uint32_t psd_id, struct pv_psd_rec *p)
{
    int rc;

    if ((rc = pv_store_begin(st)) != PV_OK)
        return rc;
    if ((rc = pv_store_lock_writer(st)) != PV_OK || (rc = pv_store_psd_get(st, psd_id, p)) != PV_OK)
        pv_store_rollback(st);
    return rc;
}

/* Write p's new status and its event, and commit; roll back on any error. */
static int change(struct pv_store *st, struct pv_psd_rec *p, int status, const char *by,
                  const char *event, const char *actor, const char *actor_id, const char *reason,
                  const char *ref, int64_t now)
{
    int before = p->status, rc;

    p->status = status;
    pv_str_copy(p->suspended_by, sizeof p->suspended_by, by);
    pv_str_copy(p->status_reason, sizeof p->status_reason, reason);
    if ((rc = pv_store_psd_set_status(st, p->id, status, by, reason)) == PV_OK &&
        (rc = pv_psd_event_write(st, p, event, actor, actor_id, reason, before, ref, now)) == PV_OK)
        return pv_store_commit(st);
    pv_store_rollback(st);
    return rc;
}

/* May actor suspend p? *changed 0: suspended already, by actor or by the
 * authority (which outranks). */
static int may_suspend(const struct pv_psd_rec *p, const char *actor, int *changed)
{
    if (p->status == PV_PSD_RETIRED)
        return PV_EPSDSTATE;
    *changed =
        !(p->status == PV_PSD_SUSPENDED && (strcmp(p->suspended_by, actor) == 0 ||
                                            strcmp(p->suspended_by, PV_ACTOR_AUTHORITY) == 0));
    return PV_OK;
}

/* May actor resume p (inside the transaction: its key is read)? */
static int may_resume(struct pv_store *st, const struct pv_psd_rec *p, const char *actor,
                      int *changed)
{
    int rc;

    if (p->status != PV_PSD_SUSPENDED)
        return PV_EPSDSTATE;
    if (strcmp(p->suspended_by, PV_ACTOR_AUTHORITY) == 0 && strcmp(actor, PV_ACTOR_AUTHORITY) != 0)
        return PV_EAUTHSUSPENDED;
    if (strcmp(p->suspended_by, PV_ACTOR_OPERATOR) == 0 && strcmp(actor, PV_ACTOR_OPERATOR) != 0)
        return PV_EPSDSTATE; /* the vendor's own suspension is the vendor's to lift */
    if ((rc = key_revoked(st, p->key_id)) != 0)
        return rc > 0 ? PV_EPSDSTATE : rc; /* a revoked key never signs again: rotate it */
    *changed = 1;
    return PV_OK;
}

/* Suspend (suspend 1) or resume PSD psd_id in one transaction (lifecycle.h). */
static int suspend_or_resume(struct pv_store *st, int suspend, uint32_t psd_id, const char *actor,
                             const char *actor_id, const char *reason, int64_t now,
                             struct pv_psd_change *out)
{
    struct pv_psd_change ch;
    int rc;

    memset(&ch, 0, sizeof ch);
    if (out)
        memset(out, 0, sizeof *out);
    if (!st || !actor_ok(actor) || !reason_ok(reason))
        return PV_EINVAL;
    if ((rc = open_psd(st, psd_id, &ch.psd)) != PV_OK)
        return rc;
    rc = suspend ? may_suspend(&ch.psd, actor, &ch.changed)
                 : may_resume(st, &ch.psd, actor, &ch.changed);
    if (rc != PV_OK || !ch.changed) {
        pv_store_rollback(st);
    } else if (suspend) {
        rc = change(st, &ch.psd, PV_PSD_SUSPENDED, actor, "suspended", actor, actor_id, reason,
                    NULL, now);
    } else {
        rc = change(st, &ch.psd, PV_PSD_ACTIVE, "", "resumed", actor, actor_id, reason, NULL, now);
    }
    if (rc == PV_OK && out)
        *out = ch;
    return rc;
}

int pv_psd_suspend(struct pv_store *st, uint32_t psd_id, const char *actor, const char *actor_id,
                   const char *reason, int64_t now, struct pv_psd_change *out)
{
    return suspend_or_resume(st, 1, psd_id, actor, actor_id, reason, now, out);
}

int pv_psd_resume(struct pv_store *st, uint32_t psd_id, const char *actor, const char *actor_id,
                  const char *reason, int64_t now, struct pv_psd_change *out)
{
    return suspend_or_resume(st, 0, psd_id, actor, actor_id, reason, now, out);
}

/* How many PSDs of kind test other than psd_id are usable: active, key not revoked. */
static int usable_others(struct pv_store *st, uint32_t psd_id, int test, size_t *count)
{
    struct pv_psd_rec *psds = NULL;
    struct pv_key_rec *keys = NULL;
    size_t np = 0, nk = 0, i, j;
    int rc;

    *count = 0;
    if ((rc = pv_store_psd_list(st, &psds, &np)) == PV_OK &&
        (rc = pv_store_key_list(st, &keys, &nk)) == PV_OK) {
        for (i = 0; i < np; i++) {
            if (psds[i].id == psd_id || psds[i].test != test || psds[i].status != PV_PSD_ACTIVE)
                continue;
            for (j = 0; j < nk && keys[j].key_id != psds[i].key_id; j++)
                ;
            if (j < nk && !keys[j].revoked_at)
                (*count)++;
        }
    }
    free(psds);
    free(keys);
    return rc;
}

int pv_psd_withdraw(struct pv_store *st, uint32_t psd_id, const char *actor_id, const char *reason,
                    int confirm, int64_t now, struct pv_psd_change *out)
{
    struct pv_ledger_line lines[2];
    struct pv_psd_change ch;
    char ref[PV_ID_MAX];
    size_t others = 0;
    int rc;

    memset(&ch, 0, sizeof ch);
    if (out)
        memset(out, 0, sizeof *out);
    if (!st || !reason_ok(reason))
        return PV_EINVAL;
    if ((rc = open_psd(st, psd_id, &ch.psd)) != PV_OK)
        return rc;
    if (ch.psd.status == PV_PSD_RETIRED)
        rc = PV_EPSDSTATE;
    else if ((rc = usable_others(st, psd_id, ch.psd.test, &others)) == PV_OK && others == 0 &&
             !confirm)
        rc = PV_ELASTPSD;
    if (rc != PV_OK)
        goto fail;
    /* What the descending register still holds goes back where resets took it from. */
    ch.returned = ch.psd.descending;
    snprintf(ref, sizeof ref, "psd:%u", (unsigned) psd_id);
    if (ch.returned > 0) {
        memset(lines, 0, sizeof lines);
        pv_account_psd(psd_id, lines[0].account);
        lines[0].amount = -ch.returned;
        pv_account_mode(ch.psd.test ? PV_ACCT_AUTHORITY : PV_ACCT_DEPOSIT, ch.psd.test,
                        lines[1].account);
        lines[1].amount = ch.returned;
        if ((rc = pv_ledger_post(st, "psd_withdrawal", ref, lines, 2, now)) != PV_OK)
            goto fail;
    }
    /* Its key signs nothing more but stays published: old pieces still verify. */
    rc = pv_store_key_retire(st, ch.psd.key_id, now);
    if (rc != PV_OK && rc != PV_ENOTFOUND)
        goto fail;
    ch.changed = 1;
    rc = change(st, &ch.psd, PV_PSD_RETIRED, "", "withdrawn", PV_ACTOR_OPERATOR, actor_id, reason,
                NULL, now);
    if (rc == PV_OK && out)
        *out = ch;
    return rc;
fail:
    pv_store_rollback(st);
    return rc;
}

int pv_resets_lock_get(struct pv_store *st, struct pv_reset_lock *out)
{
    static const char *const keys[] = {PV_CFG_RESETS_LOCK, PV_CFG_RESETS_LOCK_BY,
                                       PV_CFG_RESETS_LOCK_AT, PV_CFG_RESETS_LOCK_REASON};
    char *v[4] = {NULL, NULL, NULL, NULL};
    uint64_t at = 0;
    size_t i;
    int rc = PV_OK;

    memset(out, 0, sizeof *out);
    for (i = 0; i < 4 && rc == PV_OK; i++) {
        rc = pv_store_config_get(st, keys[i], &v[i]);
        if (rc == PV_ENOTFOUND)
            rc = PV_OK;
    }
    if (rc == PV_OK) {
        out->locked = v[0] && strcmp(v[0], "1") == 0;
        pv_str_copy(out->by, sizeof out->by, v[1] ? v[1] : "");
        if (v[2] && pv_parse_u64(v[2], 0, (uint64_t) INT64_MAX, &at) == PV_OK)
            out->at = (int64_t) at;
        pv_str_copy(out->reason, sizeof out->reason, v[3] ? v[3] : "");
    }
    for (i = 0; i < 4; i++)
        free(v[i]);
    return rc;
}

int pv_resets_locked(struct pv_store *st)
{
    char *v = NULL;
    int rc = pv_store_config_get(st, PV_CFG_RESETS_LOCK, &v);

    if (rc == PV_ENOTFOUND)
        return 0;
    if (rc != PV_OK)
        return rc;
    rc = strcmp(v, "1") == 0;
    free(v);
    return rc;
}

int pv_resets_lock_set(struct pv_store *st, int lock, const char *actor_id, const char *reason,
                       int64_t now, int *changed)
{
    struct pv_psd_rec *psds = NULL, p;
    char at[24];
    size_t n = 0, i;
    int rc, was;

    if (changed)
        *changed = 0;
    if (!st || !actor_id || strlen(actor_id) >= PV_ID_MAX || !reason_ok(reason))
        return PV_EINVAL;
    if ((rc = pv_store_begin(st)) != PV_OK)
        return rc;
    if ((rc = pv_store_lock_writer(st)) != PV_OK || (was = rc = pv_resets_locked(st)) < 0)
        goto out;
    rc = PV_OK;
    if (was == (lock != 0))
        goto out; /* nothing to change */
    snprintf(at, sizeof at, "%lld", (long long) now);
    if ((rc = pv_store_config_set(st, PV_CFG_RESETS_LOCK, lock ? "1" : "0")) != PV_OK ||
        (rc = pv_store_config_set(st, PV_CFG_RESETS_LOCK_BY, actor_id)) != PV_OK ||
        (rc = pv_store_config_set(st, PV_CFG_RESETS_LOCK_AT, at)) != PV_OK ||
        (rc = pv_store_config_set(st, PV_CFG_RESETS_LOCK_REASON, reason)) != PV_OK ||
        (rc = pv_store_psd_list(st, &psds, &n)) != PV_OK)
        goto out;
    for (i = 0; i < n && rc == PV_OK; i++) {
        if (psds[i].test || psds[i].status == PV_PSD_RETIRED)
            continue;
        /* Under the row lock: the registers as they stand when the lock takes hold. */
        if ((rc = pv_store_psd_get(st, psds[i].id, &p)) == PV_OK)
            rc = pv_psd_event_write(st, &p, lock ? "resets_locked" : "resets_unlocked",
                                    PV_ACTOR_AUTHORITY, actor_id, reason, p.status, NULL, now);
    }
    if (rc == PV_OK && changed)
        *changed = 1;
out:
    free(psds);
    if (rc == PV_OK)
        rc = pv_store_commit(st);
    else
        pv_store_rollback(st);
    if (rc != PV_OK && changed)
        *changed = 0;
    return rc;
}
