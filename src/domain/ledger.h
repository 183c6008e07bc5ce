/*
 * ledger.h - double-entry bookkeeping rules on top of the store, ids, and
 * the names of the ledger accounts.
 *
 * Accounts (balance = sum of their lines):
 *   customer:<id>      prepaid balance the vendor owes the customer (+)
 *   psd:<device id>    postage a PSD may still dispense (== its descending register)
 *   postal_deposit     the vendor's deposit at the postal authority (+)
 *   postal_authority   counter-account of deposits paid in (-)
 *   funding:manual     counter-account of balances granted by an operator (-)
 *   revenue:postage    postage sold to customers (+)
 *   revenue:media      label media sold to customers (+), journal "medium_sale"
 *                      (PV_ACCT_MEDIA in media.h)
 *   postage_dispensed  value that left the PSDs as indicia (+, == sum of ascending)
 *   card_clearing      what card gateways owe the vendor for approved charges
 *                      less refunds (-: the counter-account of card money)
 *   authority_receivable  refunds of unused postage the postal authority owes
 *                      back (+, the pending claims; claims.h)
 *   refund_claims      counter-account of every refund claim (-)
 *   refund_claims_rejected  claims the authority rejected: the vendor's loss (+)
 *
 * Test mode (sk_test_ keys) keeps its play money apart: the same names with
 * the prefix "test:" ("test:customer:<id>", "test:revenue:postage", ...).
 * Test PSDs (pv_psd_rec.test) are refilled straight from
 * "test:postal_authority", and pv_ledger_check proves each side on its own.
 */
#ifndef STAMPD_LEDGER_H
#define STAMPD_LEDGER_H

#include "store/store.h"

#define PV_ACCT_DEPOSIT     "postal_deposit"
#define PV_ACCT_AUTHORITY   "postal_authority"
#define PV_ACCT_FUNDING     "funding:manual"
#define PV_ACCT_REVENUE     "revenue:postage"
#define PV_ACCT_DISPENSED   "postage_dispensed"
#define PV_ACCT_CLEARING    "card_clearing"
#define PV_ACCT_TEST_PREFIX "test:"
#define PV_ACCT_RECEIVABLE  "authority_receivable" /* refund claims (claims.h) */
#define PV_ACCT_CLAIMED     "refund_claims"
#define PV_ACCT_CLAIM_LOSS  "refund_claims_rejected"

/*
 * pv_ledger_post - post one journal entry after checking that its n
 * borrowed lines sum to zero (with overflow checks). Returns PV_OK,
 * PV_EINVAL (unbalanced or empty), PV_EOVERFLOW, or a store error.
 */
int pv_ledger_post(struct pv_store *st, const char *kind, const char *ref,
                   const struct pv_ledger_line *lines, size_t n, int64_t at);

/*
 * pv_ledger_post2 - post two entries of one ref (all borrowed), kind1's first, each checked
 * as pv_ledger_post checks it, in one store call (pv_store_journal_post2: on SQLite three
 * statements, the accounts netted); n1 == 0 posts kind2's alone. A card purchase's
 * card_charge and postage_sale (issue 15, session 11). Returns as pv_ledger_post.
 */
int pv_ledger_post2(struct pv_store *st, const char *kind1, const struct pv_ledger_line *l1,
                    size_t n1, const char *kind2, const struct pv_ledger_line *l2, size_t n2,
                    const char *ref, int64_t at);

/* pv_account_customer / pv_account_psd - account names into buf (PV_ACCOUNT_MAX). */
void pv_account_customer(const char *customer_id, char buf[PV_ACCOUNT_MAX]);
void pv_account_psd(uint32_t psd_id, char buf[PV_ACCOUNT_MAX]);

/* pv_account_mode - base (borrowed) as is, or with "test:" in front when test. */
void pv_account_mode(const char *base, int test, char buf[PV_ACCOUNT_MAX]);
/* pv_account_customer_mode - "customer:<id>" or "test:customer:<id>". */
void pv_account_customer_mode(const char *customer_id, int test, char buf[PV_ACCOUNT_MAX]);

/*
 * pv_balance - account balance, 0 for an account never posted to.
 */
int pv_balance(struct pv_store *st, const char *account, pv_mills *out);

/* What pv_ledger_check found; issues owned (pv_ledger_report_clear). */
struct pv_ledger_report {
    int64_t journals;
    int64_t accounts;
    struct pv_ledger_issue *issues;
    size_t n;
};

/*
 * pv_ledger_check - prove the books: every journal sums to zero, every
 * account balance is the sum of its lines, every PSD's account equals its
 * descending register, postage_dispensed equals the sum of ascending
 * registers, and postal_deposit + the sum of control totals equals what the
 * postal authority paid in and paid back on accepted refund claims (and the
 * claim accounts match the claims, claims.h) - for live PSDs and, with "test:" accounts, for
 * test PSDs. Every read is of one snapshot (pv_store_begin_read): on a store that
 * sells, the check sees the books as they were at one moment, between two purchases.
 * Borrows st, which must be outside a transaction and a read snapshot (else PV_EINVAL). Returns
 * PV_OK (check rep->n) or a store error.
 */
int pv_ledger_check(struct pv_store *st, struct pv_ledger_report *rep);
void pv_ledger_report_clear(struct pv_ledger_report *rep);

#define PV_ID_CHARS      20 /* the characters after "<prefix>_" */
#define PV_ID_TIME_CHARS 9  /* of them the time: 45 bits of ms, to the year 3084 */

/*
 * pv_new_id - a fresh id "<prefix>_<20 Crockford base32 chars>" into out
 * (borrowed, PV_ID_MAX): the first 9 the milliseconds since the Unix epoch,
 * the other 11 random (55 bits). Ids made later sort later, so the indexes on
 * them (indicia.id, webhook_events.id, pay_intents.id, ...) append instead of
 * landing on a random page of a big store (issue 15). Not for secrets:
 * pv_new_token.
 * Returns PV_OK or PV_ECRYPTO.
 */
int pv_new_id(const char *prefix, char out[PV_ID_MAX]);

/*
 * pv_id_tail - the 20 characters pv_new_id puts after "<prefix>_", from ms and
 * 11 borrowed random bytes (5 bits of each used), into tail (borrowed, 21
 * bytes, NUL-terminated). For ids made by another generator (request ids).
 */
void pv_id_tail(int64_t ms, const uint8_t rnd[PV_ID_CHARS - PV_ID_TIME_CHARS],
                char tail[PV_ID_CHARS + 1]);

/*
 * pv_new_token - like pv_new_id, but all 20 characters random (100 bits),
 * for ids that are bearer secrets (session tokens). Returns PV_OK or
 * PV_ECRYPTO.
 */
int pv_new_token(const char *prefix, char out[PV_ID_MAX]);

#endif
