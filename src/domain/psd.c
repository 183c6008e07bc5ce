/*
 * psd.c - PSD register arithmetic. Every function checks the invariant
 * before and after and leaves the registers unchanged on any error.
 */
#include "stampd/psd.h"

#include "stampd/error.h"

int pv_psd_check(const struct pv_psd_regs *r)
{
    pv_mills sum;

    if (r->descending < 0 || r->ascending < 0 || r->control_total < 0)
        return PV_EINTERNAL;
    if (pv_money_add(r->descending, r->ascending, &sum) != PV_OK || sum != r->control_total)
        return PV_EINTERNAL;
    return PV_OK;
}

int pv_psd_refill_needed(const struct pv_psd_regs *r, pv_mills v, pv_mills policy, pv_mills *amount)
{
    pv_mills shortfall;
    int rc;

    if (v < 0 || policy < 0)
        return PV_EINVAL;
    if ((rc = pv_psd_check(r)) != PV_OK)
        return rc;
    if (r->descending >= v) {
        *amount = 0;
        return PV_OK;
    }
    if ((rc = pv_money_sub(v, r->descending, &shortfall)) != PV_OK)
        return rc;
    *amount = policy >= shortfall ? policy : shortfall;
    return PV_OK;
}

int pv_psd_refill(struct pv_psd_regs *r, pv_mills amount)
{
    struct pv_psd_regs n = *r;
    int rc;

    if (amount <= 0)
        return PV_EINVAL;
    if ((rc = pv_psd_check(r)) != PV_OK)
        return rc;
    if ((rc = pv_money_add(n.descending, amount, &n.descending)) != PV_OK ||
        (rc = pv_money_add(n.control_total, amount, &n.control_total)) != PV_OK)
        return rc;
    if ((rc = pv_psd_check(&n)) != PV_OK)
        return rc;
    *r = n;
    return PV_OK;
}

int pv_psd_debit(struct pv_psd_regs *r, pv_mills v)
{
    struct pv_psd_regs n = *r;
    int rc;

    if (v < 0)
        return PV_EINVAL;
    if ((rc = pv_psd_check(r)) != PV_OK)
        return rc;
    if (r->descending < v)
        return PV_EFUNDS;
    if (r->piece_count == UINT32_MAX)
        return PV_EOVERFLOW;
    if ((rc = pv_money_sub(n.descending, v, &n.descending)) != PV_OK ||
        (rc = pv_money_add(n.ascending, v, &n.ascending)) != PV_OK)
        return rc;
    n.piece_count++;
    if ((rc = pv_psd_check(&n)) != PV_OK)
        return rc;
    *r = n;
    return PV_OK;
}
