/*
 * ledger.c - journal entries that always balance, account names, ids.
 */
#include "domain/ledger.h"

#include "crypto/crypto.h"
#include "stampd/error.h"

#include <stdio.h>

int pv_ledger_post(struct pv_store *st, const char *kind, const char *ref,
                   const struct pv_ledger_line *lines, size_t n, int64_t at)
{
    pv_mills sum = 0;
    size_t i;
    int rc;

    if (n < 2)
        return PV_EINVAL;
    for (i = 0; i < n; i++)
        if ((rc = pv_money_add(sum, lines[i].amount, &sum)) != PV_OK)
            return rc;
    if (sum != 0)
        return PV_EINVAL;
    return st->ops->journal_post(st, kind, ref, lines, n, at);
}

void pv_account_customer(const char *customer_id, char buf[PV_ACCOUNT_MAX])
{
    snprintf(buf, PV_ACCOUNT_MAX, "customer:%s", customer_id);
}

void pv_account_psd(uint32_t psd_id, char buf[PV_ACCOUNT_MAX])
{
    snprintf(buf, PV_ACCOUNT_MAX, "psd:%u", (unsigned) psd_id);
}

int pv_balance(struct pv_store *st, const char *account, pv_mills *out)
{
    int rc = st->ops->account_balance(st, account, out);

    if (rc == PV_ENOTFOUND) {
        *out = 0;
        return PV_OK;
    }
    return rc;
}

int pv_new_id(const char *prefix, char out[PV_ID_MAX])
{
    static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz"; /* Crockford */
    uint8_t rnd[20];
    char tail[21];
    size_t i;

    if (pv_random(rnd, sizeof rnd) != PV_OK)
        return PV_ECRYPTO;
    for (i = 0; i < sizeof rnd; i++)
        tail[i] = alphabet[rnd[i] & 31];
    tail[20] = '\0';
    snprintf(out, PV_ID_MAX, "%s_%s", prefix, tail);
    return PV_OK;
}
