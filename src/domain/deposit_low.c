/*
 * deposit_low.c - the operator's low-deposit threshold (deposit_low.h),
 * kept in the config table; the deposit's balance is the ledger's.
 */
#include "domain/deposit_low.h"

#include "domain/ledger.h"
#include "stampd/codec.h"
#include "stampd/error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int pv_deposit_status(struct pv_store *st, struct pv_deposit_status *out)
{
    char *val = NULL;
    uint64_t t = 0;
    int rc;

    out->threshold = 0;
    out->low = 0;
    if ((rc = pv_balance(st, PV_ACCT_DEPOSIT, &out->balance)) != PV_OK)
        return rc;
    rc = pv_store_config_get(st, PV_CFG_DEPOSIT_LOW, &val);
    if (rc == PV_ENOTFOUND)
        return PV_OK;
    if (rc != PV_OK)
        return rc;
    rc = pv_parse_u64(val, 0, (uint64_t) PV_MILLS_MAX, &t);
    free(val);
    if (rc != PV_OK)
        return PV_ECONFIG;
    out->threshold = (pv_mills) t;
    out->low = out->threshold > 0 && out->balance < out->threshold;
    return PV_OK;
}

int pv_deposit_threshold_set(struct pv_store *st, pv_mills threshold)
{
    char num[24];

    if (threshold < 0 || threshold > PV_MILLS_MAX)
        return PV_EAMOUNT;
    snprintf(num, sizeof num, "%" PRId64, (int64_t) threshold);
    return pv_store_config_set(st, PV_CFG_DEPOSIT_LOW, num);
}
