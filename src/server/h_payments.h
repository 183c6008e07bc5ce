/*
 * h_payments.h - how customers pay: payment parsing, saved cards, funds,
 * auto-refill, transactions and refunds (h_payments.c).
 */
#ifndef STAMPD_H_PAYMENTS_H
#define STAMPD_H_PAYMENTS_H

#include "server/app.h"
#include "server/reply.h"
#include "store/store.h"

struct pv_payment;

/*
 * pv_payments_parse - the "payment" object pay (borrowed; NULL = absent,
 * which means the balance when allow_balance) into *out: a card is
 * validated and tokenized here, a saved card looked up. Returns PV_OK or the
 * error with rp set (card_invalid with the field, not_found, ...).
 */
int pv_payments_parse(struct pv_app *app, struct pv_store *st, const struct pv_principal *who,
                      json_t *pay, int allow_balance, struct pv_payment *out, struct pv_reply *rp);

/* pv_payments_request_hash - SHA-256 hex of prefix + the canonical body (card
 * scrubbed), into out: the idempotency fingerprint. All borrowed; root is read
 * only and must be an object (PV_EINVAL otherwise); PV_ENOMEM out of memory. */
int pv_payments_request_hash(const char *prefix, const json_t *root, char out[PV_HASH_HEX]);

/* Route handlers (routes.c); each answers c->rp. */
void pv_h_payment_methods(struct pv_call *c);
void pv_h_funds(struct pv_call *c);
void pv_h_auto_refill(struct pv_call *c);
void pv_h_transactions(struct pv_call *c);
void pv_h_refund(struct pv_call *c);

#endif
