/*
 * gateway.c - choosing a payment gateway by name, and the thin wrappers the
 * rest of stampd calls instead of reaching into gw->ops.
 *
 * This file knows the backends only by their open functions, so adding a
 * real gateway is one more line in pv_gateway_open and one more file.
 */
#include "payment/gateway.h"

#include "stampd/error.h"

#include <stddef.h>
#include <string.h>

/*
 * Backend constructors: *out gets an owned gateway released through
 * ops->close. Defined in the backend's own file (sandbox.c).
 */
int pv_gateway_sandbox_open(struct pv_gateway **out);

int pv_gateway_open(const char *name, struct pv_gateway **out)
{
    if (!out)
        return PV_EINVAL;
    *out = NULL;
    if (name && strcmp(name, "sandbox") == 0)
        return pv_gateway_sandbox_open(out);
    return PV_ECONFIG;
}

void pv_gateway_close(struct pv_gateway *gw)
{
    if (gw && gw->ops && gw->ops->close)
        gw->ops->close(gw);
}

int pv_gateway_tokenize(struct pv_gateway *gw, const struct pv_card_input *card, int today_yyyymm,
                        char **token, struct pv_card_info *info, const char **field)
{
    if (token)
        *token = NULL;
    if (info)
        memset(info, 0, sizeof *info);
    if (field)
        *field = NULL;
    if (!gw || !gw->ops || !gw->ops->tokenize || !card || !token)
        return PV_EINVAL;
    return gw->ops->tokenize(gw, card, today_yyyymm, token, info, field);
}

int pv_gateway_charge(struct pv_gateway *gw, const char *source, pv_mills amount,
                      const char *idempotency_key, enum pv_pay_result *result, char **charge_id)
{
    if (charge_id)
        *charge_id = NULL;
    if (result)
        *result = PV_PAY_PROCESSING_ERROR;
    if (!gw || !gw->ops || !gw->ops->charge || !source || !result)
        return PV_EINVAL;
    return gw->ops->charge(gw, source, amount, idempotency_key, result, charge_id);
}

int pv_gateway_refund(struct pv_gateway *gw, const char *charge_id, pv_mills amount,
                      const char *idempotency_key, pv_mills *refunded_total)
{
    if (refunded_total)
        *refunded_total = 0;
    if (!gw || !gw->ops || !gw->ops->refund || !charge_id)
        return PV_EINVAL;
    return gw->ops->refund(gw, charge_id, amount, idempotency_key, refunded_total);
}

const char *pv_pay_result_code(enum pv_pay_result r)
{
    switch (r) {
    case PV_PAY_APPROVED:
        return "approved";
    case PV_PAY_DECLINED:
        return "card_declined";
    case PV_PAY_INSUFFICIENT_FUNDS:
        return "insufficient_funds";
    case PV_PAY_INCORRECT_CVC:
        return "incorrect_cvc";
    case PV_PAY_PROCESSING_ERROR:
        return "processing_error";
    }
    return "unknown";
}
