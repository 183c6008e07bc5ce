/*
 * store_payments.h - the part of the store interface (store.h, which
 * includes it; include store.h, never this) for a new card's reads in one
 * statement (issue 15, session 9; store/payments.c, domain/purchase_pay.c):
 * whether its Idempotency-Key was used, whether the postal authority holds
 * its customer, and its latest payment intent - three round trips a card
 * on the writer made one; and a round's end states, several intents to a
 * statement.
 */
#ifndef STAMPD_STORE_PAYMENTS_H
#define STAMPD_STORE_PAYMENTS_H

/* What card_head read, all in one statement (one snapshot). */
struct pv_card_head {
    int replay;                  /* idempotency has (owner, client_key): idem_get would find it */
    int on_hold;                 /* a standing authority hold on customer_id (hold_standing) */
    int found;                   /* latest is the newest intent of (kind, owner, client_key) */
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

#endif
