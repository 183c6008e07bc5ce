/*
 * intent.h - payment intents: a card payment recorded, and committed,
 * before the gateway is called, so that no crash can leave money held or
 * taken without stampd knowing (issue 12, finding 2; docs/payments.md,
 * "Payment intents").
 *
 * The pattern, for every card payment (purchase, auto-refill, top-up,
 * refund): pv_intent_open writes the intent "pending" (or finds the one a
 * retry with the same client key made: it is adopted, and the gateway,
 * asked again under the same key, answers the same hold); then the gateway
 * is called; the caller's transaction books what the payment was for and
 * moves the intent to "settling" (or, when it fails, to "voiding"); after
 * commit the hold is captured (or voided) and the intent ends "captured"
 * ("voided"). Every move is a guarded update from one state to the next,
 * so a retry, the settle step and the recovery (pv_intent_recover, on the
 * processors' writer threads) never both act on one intent; every gateway
 * call is idempotent by a key derived from the intent's.
 */
#ifndef STAMPD_INTENT_H
#define STAMPD_INTENT_H

#include "domain/payment.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

#define PV_INTENT_PENDING    "pending"
#define PV_INTENT_AUTHORIZED "authorized"
#define PV_INTENT_SETTLING   "settling"
#define PV_INTENT_CAPTURED   "captured"
#define PV_INTENT_VOIDING    "voiding"
#define PV_INTENT_VOIDED     "voided"
#define PV_INTENT_DECLINED   "declined"
#define PV_INTENT_PAID       "paid" /* a refund the gateway paid */

/* Longest gateway key before it is hashed: room for ":capture" / ":void". */
#define PV_INTENT_KEY_MAX 200
/* Size of a capture's or void's key buffer (pv_intent_finish_key). */
#define PV_INTENT_SUBKEY_MAX (PV_IDEM_KEY_MAX + 16)

/* Default age (ms) after which a pending or authorized intent nobody
 * adopted is taken for abandoned and voided: well beyond any request's
 * deadline (stampd serve --payment-recovery-after). */
#define PV_INTENT_STALE_MS ((int64_t) 600000)

/*
 * pv_intent_key - the gateway key of attempt of (kind, owner, client_key),
 * all borrowed: "kind:owner:client_key:attempt", with client_key replaced
 * by "sha256:" and its hex digest when the whole would pass
 * PV_INTENT_KEY_MAX. Into out (PV_IDEM_KEY_MAX bytes).
 */
void pv_intent_key(const char *kind, const char *owner, const char *client_key, int attempt,
                   char out[PV_IDEM_KEY_MAX]);

/*
 * pv_intent_draft - clear *it (the caller's) and fill what every intent
 * needs: kind, owner (pv_idem_owner of customer_id and test), customer_id,
 * test, client_key,
 * req_hash (NULL: ""), amount, the card (source, saved card id, brand,
 * last4 of card; NULL: none) and server_id. Strings borrowed and copied.
 */
void pv_intent_draft(struct pv_intent_rec *it, const char *kind, const char *owner,
                     const char *customer_id, int test, const char *client_key,
                     const char *req_hash, pv_mills amount, const struct pv_payment *card,
                     const char *server_id);

/*
 * pv_intent_open - find or record, outside any transaction, the intent for
 * it->kind, it->owner and it->client_key (it is the caller's: kind, owner,
 * customer_id, test, client_key, req_hash, source, payment_method_id,
 * brand, last4, amount and server_id set). An intent of that key still
 * pending or authorized is adopted (read into *it; PV_EIDEMREUSED when it
 * was made for another request or amount; its source stands); when there is none, or the
 * latest was declined or voided, attempt + 1 is written "pending" and
 * committed, with its gateway key. Returns PV_OK, PV_EEXIST (the latest is
 * settling or captured: what it paid for committed; *it is that intent),
 * PV_EIDEMREUSED, or a store error.
 */
int pv_intent_open(struct pv_store *st, struct pv_intent_rec *it, int64_t now_ms);
/* pv_intent_plan - pv_intent_open's decision from the latest intent of the key (latest,
 * borrowed; NULL: none), writing nothing: 1 when *it is now a new attempt "pending" to be
 * written (its attempt, gateway key, id and times set: the caller inserts it - several in
 * one statement, pv_store_intents_insert), else what pv_intent_open answers without a write
 * (PV_OK adopted, PV_EEXIST, PV_EIDEMREUSED) or PV_ENOMEM-like errors of the id. */
int pv_intent_plan(struct pv_intent_rec *it, const struct pv_intent_rec *latest, int64_t now_ms);
/* pv_intent_done - 1 when it (borrowed) paid for what it was for: settling, captured or paid
 * (pv_intent_plan's PV_EEXIST). A purchase's such intent is its key's record (on SQLite its
 * only one: store_payments.h, card_key_put). */
int pv_intent_done(const struct pv_intent_rec *it);

/*
 * pv_intent_authorize - ask gw (borrowed; NULL: PV_ENOGATEWAY) for the hold
 * of a pending or authorized intent (it, the caller's) under its gateway
 * key and record the answer: "authorized" with it->charge_id, or
 * "declined". Returns PV_OK (held), PV_ECARDDECLINED (decline set, 24
 * bytes), PV_EGATEWAY (processing error: nothing held), PV_ECARDINVALID
 * (the gateway does not know the source), PV_ENOGATEWAY, PV_EEXIST (a twin
 * request holding the same intent committed meanwhile: replay it),
 * PV_EPAYSTATE (the recovery took the intent meanwhile), or a store or
 * gateway error (the
 * intent stays pending for the recovery).
 */
int pv_intent_authorize(struct pv_store *st, struct pv_gateway *gw, struct pv_intent_rec *it,
                        char decline[24], int64_t now_ms);

/*
 * pv_intent_authorized - the second half of pv_intent_authorize, for a
 * caller that made the gateway call itself (asynchronously,
 * pv_gateway_submit): record the answer call_rc / result / charge_id
 * (borrowed; NULL unless approved) of the hold of it (the caller's) as
 * pv_intent_authorize does, with the same returns. May run inside the
 * caller's transaction (many cards' answers in one commit).
 */
int pv_intent_authorized(struct pv_store *st, struct pv_intent_rec *it, int call_rc,
                         enum pv_pay_result result, const char *charge_id, char decline[24],
                         int64_t now_ms);

/*
 * pv_intent_finish_key - the gateway key of the capture (capture != 0) or
 * void of it's hold, into out. pv_intent_finish_failed - the line on stderr
 * for a capture or void the gateway refused with rc (the recovery retries).
 */
void pv_intent_finish_key(const struct pv_intent_rec *it, int capture,
                          char out[PV_INTENT_SUBKEY_MAX]);
void pv_intent_finish_failed(const struct pv_intent_rec *it, int capture, int rc);

/*
 * pv_intent_settle_prepare / pv_intent_settle_record - pv_intent_settle_batch
 * in two halves around gateway calls the caller makes itself (asynchronously):
 * prepare reads the n intents ids[i] (borrowed) into its[i] (the caller's
 * array of n), moves the "authorized" ones with capture[i] == 0 to
 * "voiding" in one transaction, and sets go[i] = 1 for each intent whose
 * capture (capture[i]) or void is to be made now (its[i].charge_id "" means
 * nothing is held: no call, but it is still recorded). record writes the
 * end state ("captured" / "voided") of every intent with ok[i] != 0 in one
 * transaction. in_tx: inside the caller's transaction instead (which it
 * commits, or rolls back on an error). Each returns PV_OK or a store error
 * (then the recovery finishes what is left).
 */
int pv_intent_settle_prepare(struct pv_store *st, const char *const *ids, const int *capture,
                             size_t n, struct pv_intent_rec *its, int *go, int in_tx,
                             int64_t now_ms);
int pv_intent_settle_record(struct pv_store *st, const struct pv_intent_rec *its,
                            const int *capture, const int *ok, size_t n, int in_tx, int64_t now_ms);

/*
 * pv_intent_settle - after the caller's transaction: capture a "settling"
 * intent (capture != 0) or void a "voiding" one, then record "captured" /
 * "voided". id borrowed. A gateway failure leaves the state for the
 * recovery and is logged. Returns PV_OK or the error.
 */
int pv_intent_settle(struct pv_store *st, const struct pv_gateways *gws, const char *id,
                     int capture, int64_t now_ms);

/*
 * pv_intent_settle_batch - pv_intent_settle and pv_intent_abandon for the n
 * intents ids[i] (borrowed) of a batch: capture[i] != 0 captures a
 * "settling" one, 0 voids a "voiding" one (an "authorized" one is moved to
 * "voiding" first). The gateway calls come first, then the end states in
 * one transaction. A gateway failure leaves its intent for the recovery.
 * Returns PV_OK or a store error.
 */
int pv_intent_settle_batch(struct pv_store *st, const struct pv_gateways *gws,
                           const char *const *ids, const int *capture, size_t n, int64_t now_ms);

/*
 * pv_intent_abandon - the caller's transaction did not commit: move an
 * authorized intent (id borrowed) to "voiding" and void it. A lost race
 * (someone settled or voided it already) is not an error.
 */
int pv_intent_abandon(struct pv_store *st, const struct pv_gateways *gws, const char *id,
                      int64_t now_ms);

/*
 * pv_intent_refund - after the refund decision committed with its intent
 * (id borrowed; kind "refund", state "pending"): refund the card at the
 * gateway under the intent's key and record "paid". When the purchase it
 * returns is still "settling" (answered, its capture on its way: issue 15,
 * session 17), that capture is made first, under the capture's own key, and
 * recorded - a second blocking gateway call. A gateway that cannot
 * answer now leaves it pending for the recovery; one that will never pay it
 * (unknown charge, nothing left) ends it "declined", logged for the
 * operator. Returns PV_OK or the error.
 */
int pv_intent_refund(struct pv_store *st, const struct pv_gateways *gws, const char *id,
                     int64_t now_ms);

/*
 * pv_intent_recover - finish what crashes and lost answers left: capture
 * "settling" intents, void "voiding" ones, void "pending" or "authorized"
 * ones last touched stale_ms or more before now_ms (asking the gateway
 * again under their key first, so a hold nobody saw is found), and pay
 * "pending" refunds (capturing first, as pv_intent_refund). server_id
 * (borrowed) is written on what it moves. At most limit intents per state
 * per call; *acted (may be NULL) gets how many it finished. Safe to run on
 * several processors at once. Outside any transaction. Returns PV_OK or the
 * first store error.
 */
int pv_intent_recover(struct pv_store *st, const struct pv_gateways *gws, const char *server_id,
                      int64_t stale_ms, int64_t now_ms, size_t limit, size_t *acted);

/*
 * pv_intent_recover_after - pv_intent_recover, but "settling" and "voiding"
 * intents only once grace_ms old: a running processor's own settle step is
 * capturing or voiding the young ones, its calls in flight (issue 15: with
 * thousands of cards in flight, the recovery would otherwise make their
 * calls again, synchronously, on the writer thread). 0: all of them, as at
 * start.
 */
int pv_intent_recover_after(struct pv_store *st, const struct pv_gateways *gws,
                            const char *server_id, int64_t stale_ms, int64_t grace_ms,
                            int64_t now_ms, size_t limit, size_t *acted);

/* The grace of the recovery between batches (pv_intent_recover_after), ms. */
#define PV_INTENT_SETTLE_GRACE_MS ((int64_t) 30000)

/*
 * pv_crash_point - a test hook (docs/internals/purchase-path.md): when the
 * environment variable STAMPD_CRASH_POINT, read once, names this point
 * (borrowed), the process ends at once with _exit(137), as SIGKILL would
 * leave it. Points: "after_authorize" (any hold, purchases' auto-refills
 * included), "after_commit" (a purchase batch or a top-up committed, not
 * captured), "refund_after_commit" (a refund decided, the card not paid).
 */
void pv_crash_point(const char *name);

#endif
