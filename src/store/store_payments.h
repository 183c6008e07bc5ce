/*
 * store_payments.h - the part of the store interface (store.h, which
 * includes it; include store.h, never this) for a new card's reads in one
 * statement (issue 15, session 9; store/payments.c, domain/purchase_pay.c):
 * whether its Idempotency-Key was used, whether the postal authority holds
 * its customer, and its latest payment intent - three round trips a card
 * on the writer made one; a round's end states, several intents to a
 * statement; and a purchase's key, whose record a card's intent is on SQLite.
 */
#ifndef STAMPD_STORE_PAYMENTS_H
#define STAMPD_STORE_PAYMENTS_H

/* What card_head read, all in one statement (one snapshot). */
struct pv_card_head {
    int replay;  /* idempotency has (owner, client_key): idem_get would find it (a card's
                  * committed intent, its only record on SQLite, is latest: pv_intent_done) */
    int on_hold; /* a standing authority hold on customer_id (hold_standing) */
    int found;   /* latest is the newest intent of (kind, owner, client_key) */
    struct pv_intent_rec latest; /* as intent_latest reads it; zeroed when !found */
};

/* card_head - borrows every string; *out filled in place. PV_EINVAL for a NULL string. */
int pv_store_card_head(struct pv_store *st, const char *kind, const char *owner,
                       const char *client_key, const char *customer_id, struct pv_card_head *out);

/* card_heads - card_head of n cards of one kind (owners[i], client_keys[i], customer_ids[i],
 * borrowed) into out[n]: one statement for all on PostgreSQL (a card round's new cards, issue
 * 15, session 14), one a card on SQLite. PV_EINVAL for a NULL; a store error. */
int pv_store_card_heads(struct pv_store *st, const char *kind, const char *const *owners,
                        const char *const *client_keys, const char *const *customer_ids, size_t n,
                        struct pv_card_head *out);

/* intents_insert - intent_insert of its[0..n) (borrowed): on PostgreSQL one statement, where
 * one whose key and attempt (or gateway key) another wrote meanwhile is skipped (a card
 * round's new intents, issue 15, session 14); on SQLite one statement each. done[i] 1 for
 * each written, 0 for each skipped (PV_EEXIST of intent_insert). PV_OK, PV_EINVAL (nothing
 * written), PV_ENOMEM, or a store error. */
int pv_store_intents_insert(struct pv_store *st, const struct pv_intent_rec *its, size_t n,
                            uint8_t *done);

/* intents_claim - the intents of ids[0..n) still in state froms[i] moved to `to` at now, with
 * charge_ids[i] ("" keeps the intent's), refs[i] and server_id, as intent_move would move each
 * (a batch's card jobs' holds claimed before its jobs, issue 15, session 15): one statement
 * on PostgreSQL, which locks the rows in id order and skips, never waits for, one another
 * transaction holds; one each on SQLite. The ids must be distinct. done[i] 1 for each moved,
 * 0 for each the guard refused or skipped - on SQLite also for each whose statement failed
 * alone (the caller moves those itself and hears why). All borrowed. PV_OK, PV_EINVAL (nothing
 * moved), or a store error (PostgreSQL: the statement's, which aborts the transaction - the caller
 * holds a savepoint). */
int pv_store_intents_claim(struct pv_store *st, const char *const *ids, const char *const *froms,
                           const char *const *charge_ids, const char *const *refs, size_t n,
                           const char *to, const char *server_id, int64_t now, uint8_t *done);

/* intent_try_lock - the row of intent id (borrowed) locked to the transaction's end only when no
 * other transaction holds it (PostgreSQL, FOR UPDATE NOWAIT; SQLite, whose write lock is the
 * whole database's: nothing to do, PV_OK). PV_OK, PV_ENOTFOUND (PostgreSQL: no such intent),
 * PV_EBUSY when another holds it (the statement failed: the transaction goes on only after a
 * rollback to a savepoint before it), PV_EINVAL, or a store error. */
int pv_store_intent_try_lock(struct pv_store *st, const char *id);

/* charges_insert - charge_insert of recs[0..n) (borrowed): one statement on PostgreSQL (a
 * batch's card purchases, issue 15, session 15; queued in a batch with pv_store_defer on), one
 * each on SQLite. PV_EINVAL (or charge_insert's PV_EOVERFLOW) before anything is written when
 * one is not insertable; PV_ENOMEM; a store error (PV_EEXIST for a taken id: on PostgreSQL
 * none of them is written). */
int pv_store_charges_insert(struct pv_store *st, const struct pv_charge_rec *recs, size_t n);
/* charge_valid - PV_OK when charge_insert would not refuse rec (borrowed) before writing it;
 * else its PV_EINVAL / PV_EOVERFLOW. */
int pv_store_charge_valid(const struct pv_charge_rec *rec);

/* intents_end - the intents of ids (n of them, borrowed) that are still in state `from`
 * moved to `to` at now, eight to a statement (a round's end states, issue 15, session 10);
 * the others - moved by someone else meanwhile, or not there - are left as they are, as
 * intent_move's guard would. PV_OK, PV_EINVAL, or a store error (on SQLite that statement's
 * eight undone alone). */
int pv_store_intents_end(struct pv_store *st, const char *const *ids, size_t n, const char *from,
                         const char *to, int64_t now);

/* intent_settling - the intent (*out, filled in place) still "settling" whose hold is charge_id
 * (borrowed): a purchase committed whose capture is on its way (issue 15, session 17: a refund
 * of it captures first). Read through pay_intents_live. PV_ENOTFOUND when none, PV_EINVAL. */
int pv_store_intent_settling(struct pv_store *st, const char *charge_id, struct pv_intent_rec *out);

/* purchase_key - the purchase under the idempotency key (owner_id, key), all borrowed: its
 * idempotency row, else a card purchase's intent (kind "purchase") that committed with its
 * indicium ("settling" or "captured", ref the indicium: the record where card_key_put writes no
 * row). Where one transaction writes at a time (SQLite, pv_store_writers_parallel 0) also one
 * on its way ("pending", "authorized", or "settling" in the batch that claimed it), for which
 * indicium_id reads "": the key is in use by req_hash's request (issue 15, session 26: there a
 * claimed card job reads no key, so a purchase of another request must find the card and be
 * refused). A declined, voiding or voided attempt holds no key. req_hash (PV_HASH_HEX) and
 * indicium_id (PV_ID_MAX) filled as idem_get fills them. PV_OK, PV_ENOTFOUND, PV_EINVAL, a
 * store error. */
int pv_store_purchase_key(struct pv_store *st, const char *owner_id, const char *key,
                          char req_hash[PV_HASH_HEX], char indicium_id[PV_ID_MAX]);
/* card_key_put - a card purchase's idempotency record, in the transaction that moved its
 * intent to "settling" with indicium_id as its ref (issue 15, session 25: the card's key is in
 * the intents' unique key already; a second random page a card cost it a fifth of its rate).
 * Where one transaction writes at a time (SQLite, pv_store_writers_parallel 0) that intent is
 * the record and nothing is written: every purchase reads its key (purchase_key) inside its
 * transaction, and none can store it beside. Where writers go side by side (PostgreSQL) only
 * the idempotency row's unique key keeps two transactions from selling under one key: the
 * row is written (idem_put, PV_EEXIST as there). Outside a transaction PV_EINVAL.
 * All borrowed. */
int pv_store_card_key_put(struct pv_store *st, const char *owner_id, const char *key,
                          const char *req_hash, const char *indicium_id, int64_t at);

#endif
