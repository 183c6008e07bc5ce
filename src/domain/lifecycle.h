/*
 * lifecycle.h - a PSD's life after it was added (issue 13, "Device
 * lifecycle"; docs/authority.md#device-lifecycle): suspend, resume and
 * withdraw, the postal authority's suspension and its vendor-wide reset
 * lock, and the status history that records the registers at each change
 * (39 CFR 501.14).
 *
 * Every change is one durable transaction: the PSD's row (read under its
 * row lock), its psd_events row with the registers at that moment, and for a
 * withdrawal the journal entry that returns what its descending register
 * still holds. The purchase path reads the status inside its batch
 * transaction (purchase.c), so a PSD suspended while a processor holds it
 * never signs another piece.
 *
 * Rules:
 *  - suspend: an active PSD stops selling and is never reset until resumed.
 *    Suspending a suspended PSD changes nothing, except that the authority
 *    takes over an operator's (or a revoked key's) suspension. A withdrawn
 *    PSD: PV_EPSDSTATE.
 *  - resume: only a suspended PSD whose key is not revoked (PV_EPSDSTATE).
 *    A suspension by the authority is lifted only by the authority
 *    (PV_EAUTHSUSPENDED for the operator), an operator's only by the operator
 *    (PV_EPSDSTATE for the authority).
 *  - withdraw (operator; final): the registers are frozen as read, the key
 *    retired (still published: old pieces verify), and what the descending
 *    register still holds goes back where resets took it from (the postal
 *    deposit; test PSDs: test:postal_authority) in one journal entry
 *    "psd_withdrawal". Withdrawing the last usable PSD of its kind (live or
 *    test) needs confirm (PV_ELASTPSD without).
 *  - reset lock (authority): while it holds no PSD is reset (PV_ERESETLOCK
 *    from the purchase path when no usable PSD can cover a piece); each live
 *    PSD that is not withdrawn gets an event.
 */
#ifndef STAMPD_LIFECYCLE_H
#define STAMPD_LIFECYCLE_H

#include "store/store.h"

#include <stdint.h>

#define PV_ACTOR_OPERATOR  "operator"
#define PV_ACTOR_AUTHORITY "authority"
#define PV_ACTOR_SYSTEM    "system"

/* Config rows of the reset lock (config.h's neighbours). */
#define PV_CFG_RESETS_LOCK        "resets_lock" /* "1" while locked */
#define PV_CFG_RESETS_LOCK_BY     "resets_lock_by"
#define PV_CFG_RESETS_LOCK_AT     "resets_lock_at"
#define PV_CFG_RESETS_LOCK_REASON "resets_lock_reason"

/* What a lifecycle change did. */
struct pv_psd_change {
    struct pv_psd_rec psd; /* the row after the change */
    int changed;           /* 0: nothing to do (suspending a suspended PSD) */
    pv_mills returned;     /* a withdrawal: what went back from the descending register */
};

/* The vendor-wide reset lock. */
struct pv_reset_lock {
    int locked;
    char by[PV_ID_MAX]; /* the postal account, or "cli" */
    int64_t at;
    char reason[PV_REASON_MAX];
};

/* pv_psd_status_name - "active", "suspended" or "withdrawn" (static). */
const char *pv_psd_status_name(int status);

/*
 * pv_psd_event_write - inside the caller's transaction: one history event
 * of p (borrowed; its registers and status now are recorded, status_before
 * what it was) with actor, actor_id, reason and ref (borrowed; NULL = "").
 * PV_EINVAL for a value too long, store errors.
 */
int pv_psd_event_write(struct pv_store *st, const struct pv_psd_rec *p, const char *event,
                       const char *actor, const char *actor_id, const char *reason,
                       int status_before, const char *ref, int64_t now);

/*
 * pv_psd_suspend, pv_psd_resume - the change by actor (PV_ACTOR_OPERATOR or
 * PV_ACTOR_AUTHORITY) whose account is actor_id, for reason (all borrowed;
 * reason may be ""), in one transaction (rules above). *out (may be NULL)
 * gets the result. PV_ENOTFOUND (no such PSD), PV_EPSDSTATE,
 * PV_EAUTHSUSPENDED, PV_EINVAL, store errors.
 */
int pv_psd_suspend(struct pv_store *st, uint32_t psd_id, const char *actor, const char *actor_id,
                   const char *reason, int64_t now, struct pv_psd_change *out);
int pv_psd_resume(struct pv_store *st, uint32_t psd_id, const char *actor, const char *actor_id,
                  const char *reason, int64_t now, struct pv_psd_change *out);

/*
 * pv_psd_withdraw - the operator actor_id (borrowed) withdraws PSD psd_id
 * for reason (borrowed) in one transaction (rules above); confirm allows
 * withdrawing the last usable PSD. *out (may be NULL) gets the result.
 * PV_ENOTFOUND, PV_EPSDSTATE (withdrawn already), PV_ELASTPSD, store errors.
 */
int pv_psd_withdraw(struct pv_store *st, uint32_t psd_id, const char *actor_id, const char *reason,
                    int confirm, int64_t now, struct pv_psd_change *out);

/*
 * pv_resets_lock_set - the authority (actor_id, borrowed) locks (lock 1) or
 * unlocks (0) resets for reason (borrowed), in one transaction with an
 * event on every live PSD that is not withdrawn. Locking a locked vendor
 * (or unlocking an unlocked one) changes nothing: *changed (may be NULL)
 * says which. PV_EINVAL, store errors.
 */
int pv_resets_lock_set(struct pv_store *st, int lock, const char *actor_id, const char *reason,
                       int64_t now, int *changed);

/* pv_resets_lock_get - the lock as it stands into *out. Store errors. */
int pv_resets_lock_get(struct pv_store *st, struct pv_reset_lock *out);

/* pv_resets_locked - 1 when resets are locked now, 0 when not, < 0 on a store error. */
int pv_resets_locked(struct pv_store *st);

#endif
