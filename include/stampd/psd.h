/*
 * psd.h - postal security device register arithmetic.
 *
 * Invariant, checked by every operation: ascending + descending ==
 * control_total, all three >= 0. Refills raise descending and control
 * total; a debit moves value from descending to ascending and counts the
 * piece. Nothing ever moves a register back.
 */
#ifndef STAMPD_PSD_H
#define STAMPD_PSD_H

#include "stampd/money.h"

#include <stdint.h>

struct pv_psd_regs {
    pv_mills descending;
    pv_mills ascending;
    pv_mills control_total;
    uint32_t piece_count;
};

/* pv_psd_check - PV_OK when the invariant holds, else PV_EINTERNAL. */
int pv_psd_check(const struct pv_psd_regs *r);

/*
 * pv_psd_refill_needed - how much to refill before a piece of value v:
 * 0 when descending >= v; otherwise the policy amount, raised to the
 * shortfall when the policy amount would not be enough. Returns PV_OK or
 * PV_EOVERFLOW / PV_EINVAL (negative v or policy).
 */
int pv_psd_refill_needed(const struct pv_psd_regs *r, pv_mills v, pv_mills policy,
                         pv_mills *amount);

/*
 * pv_psd_refill - descending += amount, control_total += amount (amount > 0).
 * On error (PV_EINVAL, PV_EOVERFLOW, PV_EINTERNAL) *r is unchanged.
 */
int pv_psd_refill(struct pv_psd_regs *r, pv_mills amount);

/*
 * pv_psd_debit - dispense a piece of value v (v >= 0): descending -= v,
 * ascending += v, piece_count += 1. PV_EFUNDS when descending < v (the
 * caller refills first), PV_EOVERFLOW when the piece count would wrap.
 * On error *r is unchanged.
 */
int pv_psd_debit(struct pv_psd_regs *r, pv_mills v);

#endif
