/*
 * payment.c - card charges booked inside a store transaction (payment.h).
 */
#include "domain/payment.h"

#include "domain/ledger.h"
#include "stampd/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pv_gateway *pv_pay_gateway(const struct pv_gateways *g, int test)
{
    return g ? (test ? g->test : g->live) : NULL;
}

void pv_pay_void(struct pv_gateway *gw, const char *charge_id, pv_mills amount)
{
    char key[PV_REF_MAX + 8];
    int rc;

    if (!gw || !charge_id || !charge_id[0] || amount <= 0)
        return;
    snprintf(key, sizeof key, "void:%s", charge_id);
    rc = pv_gateway_refund(gw, charge_id, amount, key, NULL);
    if (rc != PV_OK)
        fprintf(stderr, "stampd: could not void charge %s (%lld mills): %s; reconcile by hand\n",
                charge_id, (long long) amount, pv_strerror(rc));
}

int pv_pay_book(struct pv_store *st, const struct pv_charge_rec *c, const char *kind, int64_t now)
{
    struct pv_ledger_line lines[2];
    int rc;

    memset(lines, 0, sizeof lines);
    pv_account_mode(PV_ACCT_CLEARING, c->test, lines[0].account);
    lines[0].amount = -c->amount;
    pv_account_customer_mode(c->customer_id, c->test, lines[1].account);
    lines[1].amount = c->amount;
    if ((rc = pv_store_charge_insert(st, c)) != PV_OK)
        return rc;
    return pv_ledger_post(st, kind, c->ref, lines, 2, now);
}

int pv_pay_charge(struct pv_store *st, struct pv_gateway *gw, struct pv_charge_rec *c,
                  const char *source, const char *idem, const char *kind, char decline[24],
                  int64_t now)
{
    enum pv_pay_result result;
    char *charge_id = NULL;
    int rc;

    decline[0] = '\0';
    c->id[0] = '\0';
    if (!gw)
        return PV_ENOGATEWAY;
    rc = pv_gateway_charge(gw, source, c->amount, idem, &result, &charge_id);
    if (rc == PV_ENOTFOUND || rc == PV_EINVAL)
        return PV_ECARDINVALID; /* a token or saved card the gateway no longer knows */
    if (rc != PV_OK)
        return rc;
    if (result == PV_PAY_PROCESSING_ERROR)
        return PV_EGATEWAY;
    if (result != PV_PAY_APPROVED) {
        snprintf(decline, 24, "%s", pv_pay_result_code(result));
        return PV_ECARDDECLINED;
    }
    snprintf(c->id, sizeof c->id, "%s", charge_id);
    free(charge_id);
    c->refunded = 0;
    c->created = now;
    if ((rc = pv_pay_book(st, c, kind, now)) != PV_OK) {
        pv_pay_void(gw, c->id, c->amount);
        c->id[0] = '\0';
        return rc;
    }
    return PV_OK;
}

int pv_pay_method_delete(struct pv_store *st, const char *customer_id, int test, const char *id,
                         int64_t now)
{
    struct pv_payment_method_rec pm;
    struct pv_autorefill_rec ar;
    int rc;

    if ((rc = pv_store_begin(st)) != PV_OK)
        return rc;
    rc = pv_store_pm_get(st, customer_id, id, &pm);
    if (rc == PV_OK && pm.test != test)
        rc = PV_ENOTFOUND;
    if (rc == PV_OK)
        rc = pv_store_pm_delete(st, customer_id, id, now);
    if (rc == PV_OK && pv_store_autorefill_get(st, customer_id, test, &ar) == PV_OK &&
        strcmp(ar.payment_method_id, id) == 0 && ar.enabled) {
        /* Auto-refill cannot go on without its card. */
        ar.enabled = 0;
        ar.updated = now;
        rc = pv_store_autorefill_put(st, &ar);
    }
    return rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
}
