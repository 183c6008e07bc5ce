/*
 * refund.h - refunds of unused postage (docs/payments.md, "Refunds").
 *
 * A customer asks for the postage of one of their indicia back. The
 * decision, the money and the record are one transaction under the writer
 * lock (the lock order of the purchase batches, so no deadlock with them on
 * PostgreSQL, and a piece is scanned or refunded, never both at once):
 *
 *   denied  test_piece        bought with a test key: play money
 *           already_refunded  (no new record: the approval stays the latest word)
 *           already_scanned   the postal authority has seen it
 *           window_expired    older than the refund window
 *   approved                  the postage goes back to the balance; when a card
 *                             paid for the piece it goes on to that card through
 *                             the gateway (destination "card"), else it stays
 *                             on the balance (destination "balance")
 *
 * Registers never move back: a refund is a credit in the ledger. An approved
 * refund is also a claim on the postal authority, opened in the same
 * transaction (claims.h): it owes the unused postage back.
 */
#ifndef STAMPD_REFUND_H
#define STAMPD_REFUND_H

#include "domain/payment.h"
#include "store/store.h"

#include <jansson.h>

/*
 * pv_indicium_owned - the indicium id (borrowed) into *rec when owner_id
 * (borrowed; NULL for an operator, who sees every indicium of both modes)
 * owns it and it is of the caller's mode test (0 live key or session, 1
 * test key; ignored for an operator; mode.h). PV_ENOTFOUND for an id too
 * long, unknown, another customer's, or of the other mode (none of which
 * exists as far as the caller knows); store errors.
 */
int pv_indicium_owned(struct pv_store *st, const char *owner_id, int test, const char *id,
                      struct pv_indicium_rec *rec);

/*
 * pv_refund_request - decide the refund request of customer_id, calling
 * in mode test (mode.h), for indicium_id (both borrowed) at now, with refunds allowed window_s
 * seconds after the purchase, and carry it out (see the file comment). gws (borrowed) pays card
 * refunds; a gateway that does not know the charge leaves the money on the balance. *out gets the
 * request's record: status PV_REFUND_APPROVED or PV_REFUND_DENIED with its reason. Returns PV_OK;
 * PV_ENOTFOUND (not the customer's indicium, or of the other mode: a test key never refunds a live
 * piece, nor a live key a test one); PV_EGATEWAY (the card refund failed: nothing was
 * written, ask again); store errors. Every decision is final: a repeated
 * request (or one that lost a race) gets the indicium's first decision,
 * the same record with the same id, and writes nothing.
 */
int pv_refund_request(struct pv_store *st, const struct pv_gateways *gws, const char *customer_id,
                      int test, const char *indicium_id, int64_t window_s, int64_t now,
                      struct pv_refund_rec *out);

/* pv_refund_status_name - "requested", "approved", "denied" (static), or "unknown". */
const char *pv_refund_status_name(int status);

/*
 * pv_refund_json - the public view of a refund decision (borrowed), the
 * answer of POST /v1/indicia/{id}/refund and the data of refund.decided:
 * an owned object (json_decref), NULL when out of memory.
 */
json_t *pv_refund_json(const struct pv_refund_rec *r);

#endif
