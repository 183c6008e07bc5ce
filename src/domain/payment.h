/*
 * payment.h - money coming in from cards: the gateways a process uses, how
 * something is paid, and booking a card payment inside the caller's store
 * transaction (pv_pay_book). The gateway is never called inside a
 * transaction: the hold is taken before, under a payment intent committed
 * first, and captured or voided after the commit (intent.h).
 *
 * Also here: deleting a saved card, which stops the auto-refill that used it.
 */
#ifndef STAMPD_PAYMENT_H
#define STAMPD_PAYMENT_H

#include "payment/gateway.h"
#include "store/store.h"

/* The gateways a process uses; borrowed. live may be NULL (not configured). */
struct pv_gateways {
    struct pv_gateway *live;
    struct pv_gateway *test; /* always the sandbox */
};

/* How something is paid: the prepaid balance, or a card by gateway source. */
enum pv_pay_method { PV_PAY_BALANCE = 0, PV_PAY_CARD = 1 };

struct pv_payment {
    int method;                        /* enum pv_pay_method */
    char source[PV_REF_MAX];           /* card: a gateway token or a saved card's reference */
    char payment_method_id[PV_ID_MAX]; /* "pm_..." for a saved card, else "" */
    char brand[12];
    char last4[5];
};

/*
 * pv_pay_gateway - the gateway for test or live money; NULL when live card
 * payments are not configured.
 */
struct pv_gateway *pv_pay_gateway(const struct pv_gateways *g, int test);

/*
 * pv_pay_book - inside the caller's transaction: record the approved card
 * charge c (borrowed; every field set, c->id the gateway's charge id) and
 * its journal entry of kind (borrowed) from card_clearing to the customer's
 * balance. The gateway is not called: the caller holds the money already
 * (a payment intent, intent.h). Returns PV_OK or a store error.
 */
int pv_pay_book(struct pv_store *st, const struct pv_charge_rec *c, const char *kind, int64_t now);

/*
 * pv_pay_charge - pv_pay_book's charge row only: c (borrowed) recorded, and the two lines of
 * its journal entry (card_clearing to the customer's balance) into lines for the caller to
 * post (a card purchase posts them with its postage_sale: pv_ledger_post2). Returns PV_OK or
 * a store error. pv_pay_charge_lines - those two lines only, nothing written (a claimed card
 * purchase's charge row is written with its tail: purchase_pay.c).
 */
int pv_pay_charge(struct pv_store *st, const struct pv_charge_rec *c,
                  struct pv_ledger_line lines[2]);
void pv_pay_charge_lines(const struct pv_charge_rec *c, struct pv_ledger_line lines[2]);

/*
 * pv_pay_method_delete - delete customer_id's saved card id (both borrowed)
 * of test or live mode at now and, when the customer's enabled auto-refill
 * of that mode uses it, disable the auto-refill, in one transaction: both or
 * neither. PV_ENOTFOUND (no such card of that mode: a card of the other
 * mode does not exist for this key), or a store error.
 */
int pv_pay_method_delete(struct pv_store *st, const char *customer_id, int test, const char *id,
                         int64_t now);

#endif
