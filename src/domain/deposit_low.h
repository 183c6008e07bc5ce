/*
 * deposit_low.h - the operator's low-deposit threshold (issue 13): when the
 * postal deposit falls below it, /metrics, GET /v1/psds and the dashboard
 * say so, so that the authority can be asked for a credit before sales stop
 * (docs/operations.md, "The postal deposit's threshold").
 */
#ifndef STAMPD_DOMAIN_DEPOSIT_LOW_H
#define STAMPD_DOMAIN_DEPOSIT_LOW_H

#include "store/store.h"
#include "stampd/money.h"

#define PV_CFG_DEPOSIT_LOW "deposit_low_mills" /* the threshold; unset or 0: none */

struct pv_deposit_status {
    pv_mills balance;   /* the deposit now */
    pv_mills threshold; /* 0: no threshold */
    int low;            /* threshold > 0 and balance < threshold */
};

/*
 * pv_deposit_status - the deposit, its threshold and whether it is below,
 * into *out. PV_OK, PV_ECONFIG (a stored threshold that is not a number),
 * or a store error.
 */
int pv_deposit_status(struct pv_store *st, struct pv_deposit_status *out);

/*
 * pv_deposit_threshold_set - the threshold in mills (0 turns it off;
 * PV_EAMOUNT below 0 or past PV_MILLS_MAX). PV_OK or a store error.
 */
int pv_deposit_threshold_set(struct pv_store *st, pv_mills threshold);

#endif
