/*
 * psd_refill.c - a batch's PSD refilled (reset) from the postal deposit
 * (psd_refill.h): the reset sized to the processor's share of the deposit,
 * signed by the postal authority before anything is written, then its
 * record, the registers in the batch's copy, the journal and the PSD's
 * event. Moved out of purchase.c unchanged (issue 15, session 9: its size).
 */
#include "domain/psd_refill.h"

#include "domain/ledger.h"
#include "domain/lifecycle.h"
#include "domain/reset_auth.h"
#include "stampd/error.h"

#include <string.h>

/*
 * How much a reset of a PSD with registers r takes from a deposit holding
 * deposit so that it can dispense v (reset sizing, docs/internals/leases.md):
 * the refill policy, raised to the shortfall when the policy would not cover
 * the piece, but never more than the processor's share of the deposit
 * (deposit / sharing, the live processors drawing on it) unless the piece
 * needs more, and never more than the deposit holds. PV_EDEPOSIT when the
 * deposit cannot cover the shortfall.
 */
static int reset_size(const struct pv_psd_regs *r, pv_mills v, pv_mills policy, pv_mills deposit,
                      size_t sharing, pv_mills *amount)
{
    pv_mills want, shortfall, fair;
    int rc;

    if ((rc = pv_psd_refill_needed(r, v, policy, &want)) != PV_OK)
        return rc;
    if ((rc = pv_money_sub(v, r->descending, &shortfall)) != PV_OK)
        return rc;
    if (deposit <= 0 || deposit < shortfall)
        return PV_EDEPOSIT;
    fair = deposit / (pv_mills) (sharing ? sharing : 1);
    if (want > fair)
        want = fair > shortfall ? fair : shortfall;
    *amount = want;
    return PV_OK;
}

int pv_psd_batch_refill(struct pv_store *st, struct pv_processor_ctx *ctx, struct pv_psd_rec *p,
                        pv_mills v, int64_t now)
{
    struct pv_psd_regs r;
    struct pv_refill_rec rf;
    struct pv_ledger_line lines[2];
    pv_mills amount, deposit;
    int rc;

    pv_psd_regs_from(p, &r);
    if (p->test) {
        /* Play money: the test authority always pays the whole policy. */
        if ((rc = pv_psd_refill_needed(&r, v, ctx->refill_policy, &amount)) != PV_OK)
            return rc;
    } else if ((rc = pv_resets_locked(st)) != 0) {
        /* The authority's reset lock (lifecycle.h), read inside the batch. */
        return rc > 0 ? PV_ERESETLOCK : rc;
    } else if ((rc = pv_balance(st, PV_ACCT_DEPOSIT, &deposit)) == PV_EBUSY && ctx->late) {
        /* Locking late, the deposit only when free: else locked after the customers. */
        ctx->late_moved = 1;
        return rc;
    } else if (rc != PV_OK || (rc = reset_size(&r, v, ctx->refill_policy, deposit, ctx->sharing,
                                               &amount)) != PV_OK) {
        return rc;
    }

    memset(&rf, 0, sizeof rf);
    rf.psd_id = p->id;
    rf.amount = amount;
    rf.desc_before = r.descending;
    rf.asc_before = r.ascending;
    rf.ctl_before = r.control_total;
    if ((rc = pv_psd_refill(&r, amount)) != PV_OK)
        return rc;
    rf.desc_after = r.descending;
    rf.asc_after = r.ascending;
    rf.ctl_after = r.control_total;
    rf.at = now;
    if ((rc = pv_new_id("rfl", rf.authorization)) != PV_OK)
        return rc;
    /* The authority signs the reset (its nonce is the rfl_ id) before anything is written. */
    if ((rc = pv_reset_authorise(ctx->signer, ctx->license, &rf)) != PV_OK)
        return rc;

    pv_psd_regs_to(&r, p);
    p->last_refill_at = now;
    if ((rc = pv_store_refill_insert(st, &rf)) != PV_OK)
        return rc;
    if ((rc = pv_psd_batch_put(st, &ctx->psdb, p)) != PV_OK)
        return rc;

    memset(lines, 0, sizeof lines);
    pv_account_mode(p->test ? PV_ACCT_AUTHORITY : PV_ACCT_DEPOSIT, p->test, lines[0].account);
    lines[0].amount = -amount;
    pv_account_psd(p->id, lines[1].account);
    lines[1].amount = amount;
    if ((rc = pv_ledger_post(st, "psd_refill", rf.authorization, lines, 2, now)) != PV_OK)
        return rc;
    /* The device's history (lifecycle.h): the reset with the registers after it. */
    return pv_psd_event_write(st, p, "reset", PV_ACTOR_SYSTEM, ctx->server_id, "", p->status,
                              rf.authorization, now);
}
