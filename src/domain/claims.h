/*
 * claims.h - the postal authority's orders to the vendor (issue 13, 39 CFR
 * 501.16; docs/authority.md): refunds of unused postage claimed back from
 * it, and holds that stop a customer's purchases.
 *
 * Refund claims. Every approved refund of a live piece becomes a claim in
 * the refund's own transaction (test pieces are never refunded, so never
 * claimed). The vendor paid the customer back; the postage had left a PSD
 * and the deposit, so the authority owes it back. The books, one journal
 * entry per step, each in the transaction of the state change:
 *
 *   refund_claim           refund_claims -> authority_receivable   (claim opened)
 *   refund_claim_accepted  authority_receivable -> postal_deposit  (the authority
 *                          pays it back into the deposit)
 *   refund_claim_rejected  authority_receivable -> refund_claims_rejected
 *                          (written off: the vendor's loss)
 *
 * so authority_receivable is what the authority owes now (the sum of the
 * pending claims), refund_claims_rejected what the vendor lost, and
 * -refund_claims every claim ever made; pv_ledger_check proves all three
 * against the claims, and counts accepted claims in the deposit.
 * A claim is decided once: deciding it again answers the first decision.
 *
 * Holds. While a hold stands on a customer every purchase of postage by
 * that customer - live or test, by balance or card, API or web - is refused
 * PV_EONHOLD before a card is held (pv_purchase_authorize) and again inside
 * the batch's transaction under the writer lock (a hold placed while a
 * purchase was in flight wins); nothing moves. Placing and lifting are
 * written under the writer lock and logged (a row with who, when and why,
 * and a line on stderr).
 */
#ifndef STAMPD_CLAIMS_H
#define STAMPD_CLAIMS_H

#include "store/store.h"

/* The claim accounts are ledger.h's (PV_ACCT_RECEIVABLE, _CLAIMED, _CLAIM_LOSS). */

/* pv_claim_status_name - "pending", "accepted", "rejected" (static), or "unknown". */
const char *pv_claim_status_name(int status);

/* pv_claim_status_parse - a status name (borrowed) into *status; PV_EINVAL for others. */
int pv_claim_status_parse(const char *name, int *status);

/* pv_reason_valid - 1 when text (borrowed, may be NULL) is 1..PV_CLAIM_REASON_MAX-1
 * bytes with no control character and no space at either end. */
int pv_reason_valid(const char *text);

/*
 * pv_claim_open_in - inside the refund's transaction: the claim of the
 * approved refund r for the piece rec (both borrowed), with its journal
 * entry, at now. Nothing for a test piece or a refund of nothing. PV_OK,
 * PV_EEXIST (the refund has its claim), store errors.
 */
int pv_claim_open_in(struct pv_store *st, const struct pv_refund_rec *r,
                     const struct pv_indicium_rec *rec, int64_t now);

/*
 * pv_claim_decide - the postal account postal_id (borrowed) accepts
 * (accept 1) or rejects claim id (borrowed) with reason (borrowed; "" when
 * accepting without one), at now, in one transaction under the writer lock
 * with its journal entry. *out gets the claim as decided; *replayed is 1
 * when it was decided already (nothing written: the first decision
 * stands). PV_OK, PV_ENOTFOUND, PV_EINVAL (reason), store errors.
 */
int pv_claim_decide(struct pv_store *st, const char *postal_id, const char *id, int accept,
                    const char *reason, int64_t now, struct pv_claim_rec *out, int *replayed);

/* pv_claims_owed - what the authority owes back now (authority_receivable). */
int pv_claims_owed(struct pv_store *st, pv_mills *owed);

/*
 * pv_piece_customer - the customer (into customer_id) who bought the live
 * piece serial of PSD psd_id (0: of whichever live PSD has one). PV_OK,
 * PV_ENOTFOUND (no such live piece), PV_EINVAL (psd_id 0 and several PSDs
 * have that serial: name the PSD), store errors.
 */
int pv_piece_customer(struct pv_store *st, uint32_t psd_id, uint32_t serial,
                      char customer_id[PV_ID_MAX], uint32_t *psd_out);

/*
 * pv_hold_place - the postal account postal_id places a hold on
 * customer_id for reason (all borrowed), with the piece it came from
 * (psd_id and serial; serial -1: placed by customer id), at now; *out the
 * hold. PV_OK, PV_ENOTFOUND (no such customer), PV_EINVAL (reason), store
 * errors.
 */
int pv_hold_place(struct pv_store *st, const char *postal_id, const char *customer_id,
                  uint32_t psd_id, int64_t serial, const char *reason, int64_t now,
                  struct pv_hold_rec *out);

/*
 * pv_hold_lift - the postal account postal_id lifts hold id with reason
 * ("" for none; all borrowed) at now; *out the hold; *replayed 1 when it
 * was lifted already (the first lift stands). PV_OK, PV_ENOTFOUND,
 * PV_EINVAL, store errors.
 */
int pv_hold_lift(struct pv_store *st, const char *postal_id, const char *id, const char *reason,
                 int64_t now, struct pv_hold_rec *out, int *replayed);

/*
 * pv_hold_check - PV_OK when no hold stands on customer_id (borrowed),
 * PV_EONHOLD when one does, store errors. Inside a purchase's transaction
 * it reads what the writer lock lets it see.
 */
int pv_hold_check(struct pv_store *st, const char *customer_id);

#endif
