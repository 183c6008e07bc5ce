/*
 * views.h - a ledger report's JSON and the server status names shared by
 * several handlers, the one check of whether a caller may see an
 * indicium, and the answer of a purchase (views.c). The indicium's own views are the domain's
 * (domain/indicium_view.h).
 */
#ifndef STAMPD_VIEWS_H
#define STAMPD_VIEWS_H

#include "server/reply.h"
#include "store/store.h"

struct pv_jtext;
struct pv_ledger_report;
struct pv_purchase_req;
struct pv_purchase_res;

/* The names of enum pv_server_status, by value. */
extern const char *const pv_view_server_status[3];

/*
 * pv_view_own_indicium - load indicium id into *rec if the caller may see it
 * (its customer in the piece's mode, or an operator). Otherwise PV_ENOTFOUND
 * - another customer's indicium, or one of the other mode, does not exist
 * for this key - with rp set ("no such indicium").
 */
int pv_view_own_indicium(struct pv_store *st, const struct pv_principal *who, const char *id,
                         struct pv_indicium_rec *rec, struct pv_reply *rp);

/*
 * pv_view_payment - how a purchase was paid (q, r borrowed), the value of its
 * answer's "payment", written into t (json_text.h).
 */
void pv_view_payment(struct pv_jtext *t, const struct pv_purchase_req *q,
                     const struct pv_purchase_res *r);

/*
 * pv_view_purchase - rp set to the 201 answer of a purchase or its replay:
 * the stored piece rec (borrowed; pv_indicium_json's object) with
 * "balance_mills" balance, then "payment" (pv_view_payment of q and r, both
 * borrowed) when q is not NULL, and "address_corrections" when fixes is not
 * NULL (TAKEN). rp's body is the text (rp->raw). When the text cannot be
 * written (out of memory, or a string that is not UTF-8, such as a
 * gateway's brand) rp is set to 500 internal_error, payment and all: the
 * purchase is made, and a retry replays it.
 */
void pv_view_purchase(const struct pv_indicium_rec *rec, pv_mills balance,
                      const struct pv_purchase_req *q, const struct pv_purchase_res *r,
                      json_t *fixes, struct pv_reply *rp);

/*
 * pv_view_replay - the early replay of a purchase (docs/internals/
 * purchase-path.md): when customer (borrowed; in test mode or not) already
 * used Idempotency-Key key, rp is set to the stored piece's answer
 * (pv_view_purchase, Idempotent-Replayed) if req_hash is the same, else to
 * idempotency_key_reused; PV_OK. PV_ENOTFOUND (rp untouched) for a new key,
 * and with before_ms > 0 for a key whose piece was made at or after
 * before_ms (ms: what a read then would not have found); store errors (rp
 * untouched).
 */
int pv_view_replay(struct pv_store *st, const char *customer, int test, const char *key,
                   int64_t before_ms, const char *req_hash, struct pv_reply *rp);

/*
 * pv_view_replay_late - the early replay done late, for a purchase whose key
 * was not read before it was queued, once it failed (its validation or its
 * job): if the key was used, rp's error is replaced by what pv_view_replay
 * answers (or by its store error), as if it had been read first (at
 * before_ms, 0 = now), and 1 is returned; else 0 and rp is untouched.
 */
int pv_view_replay_late(struct pv_store *st, const char *customer, int test, const char *key,
                        int64_t before_ms, const char *req_hash, struct pv_reply *rp);

/* pv_view_ledger - a ledger report (borrowed) as JSON (owned; NULL on OOM). */
json_t *pv_view_ledger(const struct pv_ledger_report *rep);

#endif
