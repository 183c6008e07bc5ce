/*
 * payment.c - card payments booked inside a store transaction (payment.h).
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

void pv_pay_charge_lines(const struct pv_charge_rec *c, struct pv_ledger_line lines[2])
{
    memset(lines, 0, 2 * sizeof lines[0]);
    pv_account_mode(PV_ACCT_CLEARING, c->test, lines[0].account);
    lines[0].amount = -c->amount;
    lines[0].shared = 1; /* every card payment's: the writer's part (pv_store_set_part) */
    pv_account_customer_mode(c->customer_id, c->test, lines[1].account);
    lines[1].amount = c->amount;
}

int pv_pay_charge(struct pv_store *st, const struct pv_charge_rec *c,
                  struct pv_ledger_line lines[2])
{
    pv_pay_charge_lines(c, lines);
    return pv_store_charge_insert(st, c);
}

int pv_pay_book(struct pv_store *st, const struct pv_charge_rec *c, const char *kind, int64_t now)
{
    struct pv_ledger_line lines[2];
    int rc;

    if ((rc = pv_pay_charge(st, c, lines)) != PV_OK)
        return rc;
    return pv_ledger_post(st, kind, c->ref, lines, 2, now);
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
