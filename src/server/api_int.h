/*
 * api_int.h - what the API's handler files share: replies, body parsing,
 * views and the ownership check. Internal to src/server.
 */
#ifndef STAMPD_API_INT_H
#define STAMPD_API_INT_H

#include "server/app.h"
#include "server/job.h"
#include "server/reply.h"
#include "store/store.h"

/*
 * pv_api_handle - route and answer one request (all borrowed). A valid
 * purchase is not answered here: rp->job is set instead, and the caller
 * hands it to pv_api_purchase_submit() and, once its on_done ran, to
 * pv_api_purchase_finish() - so no thread waits for the durable commit.
 */
void pv_api_handle(struct pv_app *app, const struct pv_request *rq, struct pv_reply *rp);

/* pv_api_purchase_submit - queue job on the next processor (round-robin).
 * PV_OK, or PV_EBUSY when the server is stopping (on_done will not run). */
int pv_api_purchase_submit(struct pv_app *app, struct pv_job *job);

/* pv_api_purchase_retry - from on_done: when the job failed for a reason
 * another processor may not have (no PSD lease, busy), queue it on the next
 * one and answer PV_OK (on_done will run again); otherwise PV_EBUSY. */
int pv_api_purchase_retry(struct pv_job *job);

/* pv_api_purchase_finish - the answer for a finished job (or for err when
 * it could not be submitted); takes the job and frees it. */
void pv_api_purchase_finish(struct pv_job *job, int err, struct pv_reply *rp);

/* pv_api_indicium_json - the public view of an indicium; owned, NULL on OOM. */
json_t *pv_api_indicium_json(const struct pv_indicium_rec *r);

/*
 * pv_api_own_indicium - load indicium id into *rec if the caller may see it
 * (its customer, or an operator). Otherwise PV_ENOTFOUND - another
 * customer's indicium does not exist for this key - with rp set.
 */
int pv_api_own_indicium(struct pv_store *st, const struct pv_principal *who, const char *id,
                        struct pv_indicium_rec *rec, struct pv_reply *rp);

/* pv_api_ledger_json - a ledger report as JSON (owned; NULL on OOM). */
struct pv_ledger_report;
json_t *pv_api_ledger_json(const struct pv_ledger_report *rep);

/* Printing endpoints (api_print.c). Each answers rp. */
void pv_api_get_label(struct pv_store *st, const struct pv_principal *who, const char *id,
                      const struct pv_request *rq, struct pv_reply *rp);
void pv_api_post_sheets(struct pv_store *st, const struct pv_principal *who,
                        const struct pv_request *rq, struct pv_reply *rp);
void pv_api_get_layouts(struct pv_reply *rp);
void pv_api_printers(struct pv_store *st, const struct pv_principal *who, const char *name,
                     const struct pv_request *rq, struct pv_reply *rp);

/* ---- accounts and payments (api_account.c) ---- */

/*
 * pv_api_authenticate - who is calling: a Bearer API key, or the session
 * cookie (with X-CSRF-Token on every state change). Failed attempts count
 * against the source's rate limit. Returns PV_OK with *who filled, or the
 * error with rp set (401, 403 csrf_failed, 429 rate_limited).
 */
int pv_api_authenticate(struct pv_app *app, struct pv_store *st, const struct pv_request *rq,
                        struct pv_principal *who, struct pv_reply *rp);

/* pv_api_public - answer the routes that need no authentication (sign-up,
 * login): 1 when rq was one of them, else 0. */
int pv_api_public(struct pv_app *app, struct pv_store *st, const struct pv_request *rq,
                  struct pv_reply *rp);

/* pv_api_account_route - answer the account, payment and refund routes: 1
 * when rq was one of them, else 0. */
int pv_api_account_route(struct pv_app *app, struct pv_store *st, const struct pv_principal *who,
                         const struct pv_request *rq, struct pv_reply *rp);

/*
 * pv_api_parse_payment - the "payment" object pay (borrowed; NULL = absent,
 * which means the balance when allow_balance) into *out: a card is
 * validated and tokenized here, a saved card looked up. Returns PV_OK or the
 * error with rp set (card_invalid with the field, not_found, ...).
 */
struct pv_payment;
int pv_api_parse_payment(struct pv_app *app, struct pv_store *st, const struct pv_principal *who,
                         json_t *pay, int allow_balance, struct pv_payment *out,
                         struct pv_reply *rp);

/* pv_api_scrub_card - replace payment.card.number in root by its last four
 * digits and drop payment.card.cvc (for fingerprints). */
void pv_api_scrub_card(json_t *root);

/* pv_api_request_hash - SHA-256 hex of prefix + the canonical body (card
 * scrubbed), into out: the idempotency fingerprint. */
int pv_api_request_hash(const char *prefix, json_t *root, char out[PV_HASH_HEX]);

/* pv_api_new_key - mint an API key "sk_live_..." / "sk_test_..." into key
 * (shown once) and store its hash; *rec filled. PV_OK or a store error. */
struct pv_apikey_rec;
int pv_api_new_key(struct pv_store *st, int role, const char *owner, int test, const char *name,
                   char key[64], struct pv_apikey_rec *rec);

/* pv_api_customer_only - PV_OK for a customer's key or session; else
 * 403 forbidden with the borrowed message why. */
int pv_api_customer_only(const struct pv_principal *who, const char *why, struct pv_reply *rp);

/* pv_api_path_id - 1 when path (borrowed) is prefix, an id of 1..PV_ID_MAX-1
 * characters without '/', then exactly suffix (NULL: nothing); the id into id. */
int pv_api_path_id(const char *path, const char *prefix, const char *suffix, char id[PV_ID_MAX]);

/* pv_api_email_ok - 1 when e looks like a deliverable address. */
int pv_api_email_ok(const char *e);
/* pv_api_parse_medium - a medium_serial's syntax: 1-32 letters, digits or
 * hyphens, upper-cased into out. PV_OK or PV_EINVAL. */
int pv_api_parse_medium(const char *s, char out[PV_MEDIUM_MAX + 1]);

/* Media endpoints (api_media.c). */

/*
 * pv_api_medium_check - the purchase body's medium_serial (root borrowed),
 * when it is one, authenticated against the app's serial secrets before any
 * database work for the purchase: PV_OK, or PV_EMEDIUMINVALID with rp set.
 * A medium_serial of the wrong type or syntax is left to parse_purchase.
 */
int pv_api_medium_check(struct pv_app *app, struct pv_store *st, json_t *root, struct pv_reply *rp);

/* pv_api_medium_result - add what the purchase did with its medium to the
 * answer: j (borrowed) on success, or rp's error body (price due). */
void pv_api_medium_result(const struct pv_purchase_res *res, json_t *j, struct pv_reply *rp);

/* Media routes (operators: batches, a serial's record, affiliates, resupply
 * orders; customers: buying a medium). Each checks its method and answers rp.
 * serial (len bytes, not NUL-terminated) and id are borrowed from the path. */
void pv_api_media_batches(struct pv_app *app, struct pv_store *st, const struct pv_request *rq,
                          struct pv_reply *rp);
void pv_api_media_show(struct pv_app *app, struct pv_store *st, const char *serial,
                       const struct pv_request *rq, struct pv_reply *rp);
void pv_api_affiliates(struct pv_store *st, const struct pv_request *rq, struct pv_reply *rp);
void pv_api_resupply_orders(struct pv_store *st, const struct pv_request *rq, struct pv_reply *rp);
void pv_api_resupply_ship(struct pv_store *st, const char *id, const struct pv_request *rq,
                          struct pv_reply *rp);
void pv_api_media_purchase(struct pv_app *app, struct pv_store *st, const struct pv_principal *who,
                           const char *serial, size_t len, const struct pv_request *rq,
                           struct pv_reply *rp);

#endif
