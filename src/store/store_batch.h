/*
 * store_batch.h - the part of the store interface (store.h, which includes
 * it; include store.h, never this) for a purchase batch's reads and writes a
 * batch at a time instead of a job at a time (issue 15, session 9;
 * src/domain/purchase.c, docs/internals/purchase-path.md): the customer's
 * reads queued with a job's next statement, the batch's facts in one read,
 * its journals kept for one statement.
 */
#ifndef STAMPD_STORE_BATCH_H
#define STAMPD_STORE_BATCH_H

/* prefetch_customer - with defer on: queue the reads a purchase makes of its customer
 * (hold_standing, account_balance of account, autorefill_get) to travel with its next
 * statement; those calls with the same arguments then answer from them, once each,
 * unless st wrote or ended the savepoint in between. SQLite: nothing. PV_EINVAL. */
int pv_store_prefetch_customer(struct pv_store *st, const char *customer_id, int test,
                               const char *account, unsigned facts);
/* batch_facts - PV_FACT_* bits of what job i's reads may find (its key owners[i]/keys[i], a
 * hold on customers[i], its rule in mode tests[i], a webhook endpoint of customers[i] enabled in
 * that mode), one statement for n (PostgreSQL); a clear bit is a sure "none" (SQLite: all set);
 * prefetch_customer reads only those set, a batch asks hook_owners only of jobs with HOOK set.
 * Borrows.
 * journal_batch - on: journal_post keeps its journal for one statement at off (or commit);
 * its savepoint's rollback_to forgets it. PostgreSQL: one statement; SQLite (since session 12):
 * the accounts netted, journals and lines sixteen rows to a statement (ledger_rows.c). */
int pv_store_journal_batch(struct pv_store *st, int on);
enum { PV_FACT_IDEM = 1, PV_FACT_HOLD = 2, PV_FACT_RULE = 4, PV_FACT_HOOK = 8, PV_FACT_ALL = 15 };
int pv_store_batch_facts(struct pv_store *st, const char *const *customers, const int64_t *tests,
                         const char *const *owners, const char *const *keys, size_t n,
                         uint8_t *facts);

/*
 * A batch that locks its customers' balance rows at its end (PostgreSQL; issue 15, session 10;
 * purchase-path.md). batch_late - after journal_batch(1) and before any job: a savepoint "b",
 * the late lock (batch_gate ROW EXCLUSIVE, since session 11) and the balances of accounts[n] read
 * without a lock, kept as lock_batch keeps them; *late 1 - and from then on idem_put keeps its rows
 * (session 11). SQLite: nothing, *late 0. batch_settle - once its jobs decided: the kept
 * idempotency rows written in one statement in key order (a key stored meanwhile: none written,
 * *moved 1, nothing locked); then the rows of accounts[n] locked in name order (ACCOUNTS_LOCK);
 * was[i] the balance batch_late read (0 without a row), now[i] the one locked, which is kept from
 * then on; *moved 1 when a journal written at once moved a kept account meanwhile. batch_undo -
 * back to "b": every job's writes, kept journals and balances gone (then lock_batch, which takes
 * batch_gate SHARE). Borrows. PV_EINVAL out of order; store errors.
 */
int pv_store_batch_late(struct pv_store *st, const char (*accounts)[PV_ACCOUNT_MAX], size_t n,
                        int *late);
int pv_store_batch_settle(struct pv_store *st, const char (*accounts)[PV_ACCOUNT_MAX], size_t n,
                          pv_mills *was, pv_mills *now, int *moved);
int pv_store_batch_undo(struct pv_store *st);

/* plan_by_key - inside begin(): this transaction's statements plan every lookup by key, never
 * a read of a whole table, whatever plans the connection keeps (PostgreSQL: enable_seqscan off
 * until the transaction ends, queued with the next statement; SQLite: nothing). A purchase
 * batch's first call (store-driver.md, "Plans kept from when the tables were small"). */
int pv_store_plan_by_key(struct pv_store *st);
/* prefetch_psd - inside begin(): queue psd_get(id)'s read, which locks the row, to travel with
 * the next statement that waits (a batch's facts); psd_get(id) then answers from it, once,
 * unless st wrote or ended a savepoint in between. SQLite: nothing. PV_EINVAL, or the
 * queueing's failure. */
int pv_store_prefetch_psd(struct pv_store *st, uint32_t id);

/* push - inside begin(), with defer on: send what is queued now, so that the server
 * works on it while the caller does something else (a purchase batch signs its
 * indicia); defer(st, 0) or commit still waits for it and answers its failures. PostgreSQL:
 * libpq's output flushed; SQLite, which ran everything at once: nothing. PV_OK, or
 * PV_ESTORE when the connection failed; PV_EINVAL outside begin(). */
int pv_store_push(struct pv_store *st);
/* barrier - inside begin(): wait for everything queued, locks and savepoints too, so that
 * what they take is held when it returns (PostgreSQL; SQLite queues nothing: PV_OK). The
 * first failure's own code; PV_EINVAL outside begin(). */
int pv_store_barrier(struct pv_store *st);
/* psd_update_held: psd_update of a row this transaction read with psd_get (which locks it
 * inside begin()), so it is there by construction: queued, with defer on, as a write whose
 * "no row" cannot happen, which a COMMIT may follow unread (a purchase batch's PSDs). */
int pv_store_psd_update_held(struct pv_store *st, const struct pv_psd_rec *rec);

#endif
