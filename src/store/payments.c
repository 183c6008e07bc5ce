/*
 * payments.c - money in and out by card (schema v4): saved payment
 * methods, approved charges, auto-refill rules and refunds (store.h); and
 * the payment intents of schema v7, whose state moves only by the guarded
 * intent_move (the same `guarded` pattern: PV_EPAYSTATE when refused).
 *
 * Each is one statement, atomic on its own, except charge_add_refund and
 * indicium_mark_refunded: a guarded UPDATE, then - only when it matched
 * nothing - a read that tells "no such row" from "the guard refused". That
 * read decides nothing that is written, so it needs no lock. The guard does
 * the concurrency: a second refund of one charge waits on the first one's
 * row lock and then re-checks refunded + amount <= the charge against the
 * committed sum, so refunds never exceed the charge; mark_refunded and the
 * partial unique index on approved refunds likewise let one refund win, the
 * other getting PV_EEXIST.
 */
#include "stampd/error.h"
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

/*
 * Run q, a guarded UPDATE of the row keyed by id (borrowed). When it matched
 * nothing: PV_ENOTFOUND if there is no such row (the statement exists reads
 * it), else refused - the row is there but the guard said no.
 */
static int guarded(struct pv_q *q, int exists, const char *id, int refused)
{
    struct pv_store *st = q->st;
    struct pv_q e;
    int rc, own;

    if (q->rc != PV_OK)
        return q->rc;
    if ((rc = pv_write_enter(st, 0, &own)) != PV_OK)
        return rc;
    if ((rc = pv_q_found(q)) == PV_ENOTFOUND) {
        pv_q_start(&e, st, exists);
        pv_q_text(&e, id);
        rc = pv_q_row(&e);
        pv_q_done(&e);
        rc = rc == PV_OK ? refused : rc;
    }
    /* The refusal broke no statement: an own transaction just rolls back. */
    return pv_write_leave(st, own, rc);
}

static int read_pm(struct pv_row *r, void *p)
{
    struct pv_payment_method_rec *rec = p;

    pv_r_text(r, rec->id, sizeof rec->id);
    pv_r_text(r, rec->customer_id, sizeof rec->customer_id);
    rec->test = (int) pv_r_int(r);
    pv_r_text(r, rec->gateway_ref, sizeof rec->gateway_ref);
    pv_r_text(r, rec->brand, sizeof rec->brand);
    pv_r_text(r, rec->last4, sizeof rec->last4);
    rec->exp_month = (int) pv_r_int(r);
    rec->exp_year = (int) pv_r_int(r);
    rec->created = pv_r_int(r);
    return r->rc;
}

int pv_store_pm_insert(struct pv_store *st, const struct pv_payment_method_rec *rec)
{
    struct pv_q q;

    if (!PV_FITS(rec->id) || !rec->id[0] || !PV_FITS(rec->customer_id) || !rec->customer_id[0] ||
        !PV_FITS(rec->gateway_ref) || !PV_FITS(rec->brand) || !PV_FITS(rec->last4))
        return PV_EINVAL;
    pv_q_start(&q, st, S_PM_INSERT);
    pv_q_text(&q, rec->id);
    pv_q_text(&q, rec->customer_id);
    pv_q_int(&q, rec->test != 0);
    pv_q_text(&q, rec->gateway_ref);
    pv_q_text(&q, rec->brand);
    pv_q_text(&q, rec->last4);
    pv_q_int(&q, rec->exp_month);
    pv_q_int(&q, rec->exp_year);
    pv_q_int(&q, rec->created);
    return pv_q_write(&q);
}

int pv_store_pm_get(struct pv_store *st, const char *customer_id, const char *id,
                    struct pv_payment_method_rec *out)
{
    struct pv_q q;

    memset(out, 0, sizeof *out);
    if (!customer_id || !id)
        return PV_EINVAL;
    pv_q_start(&q, st, S_PM_GET);
    pv_q_text(&q, customer_id);
    pv_q_text(&q, id);
    return pv_q_get(&q, read_pm, out, sizeof *out);
}

int pv_store_pm_list(struct pv_store *st, const char *customer_id, int test,
                     struct pv_payment_method_rec **out, size_t *n)
{
    struct pv_q q;

    *out = NULL;
    *n = 0;
    if (!customer_id)
        return PV_EINVAL;
    pv_q_start(&q, st, S_PM_LIST);
    pv_q_text(&q, customer_id);
    pv_q_int(&q, test != 0);
    return pv_q_list(&q, sizeof **out, read_pm, (void **) out, n);
}

int pv_store_pm_delete(struct pv_store *st, const char *customer_id, const char *id, int64_t at)
{
    struct pv_q q;

    if (!customer_id || !id)
        return PV_EINVAL;
    pv_q_start(&q, st, S_PM_DELETE);
    pv_q_int(&q, at);
    pv_q_text(&q, customer_id);
    pv_q_text(&q, id);
    return pv_q_write_found(&q);
}

static int read_charge(struct pv_row *r, void *p)
{
    struct pv_charge_rec *rec = p;

    pv_r_text(r, rec->id, sizeof rec->id);
    pv_r_text(r, rec->customer_id, sizeof rec->customer_id);
    rec->test = (int) pv_r_int(r);
    pv_r_text(r, rec->purpose, sizeof rec->purpose);
    pv_r_text(r, rec->ref, sizeof rec->ref);
    pv_r_text(r, rec->payment_method_id, sizeof rec->payment_method_id);
    pv_r_text(r, rec->brand, sizeof rec->brand);
    pv_r_text(r, rec->last4, sizeof rec->last4);
    rec->amount = pv_r_int(r);
    rec->refunded = pv_r_int(r);
    rec->created = pv_r_int(r);
    return r->rc;
}

int pv_store_charge_valid(const struct pv_charge_rec *rec)
{
    int rc;

    if (!PV_FITS(rec->id) || !rec->id[0] || !PV_FITS(rec->customer_id) || !rec->customer_id[0] ||
        !PV_FITS(rec->purpose) || !PV_FITS(rec->ref) || !PV_FITS(rec->payment_method_id) ||
        !PV_FITS(rec->brand) || !PV_FITS(rec->last4))
        return PV_EINVAL;
    if ((rc = pv_check_mills(rec->amount, 1)) != PV_OK)
        return rc;
    if (rec->refunded < 0 || rec->refunded > rec->amount)
        return PV_EINVAL;
    return PV_OK;
}

int pv_store_charge_insert(struct pv_store *st, const struct pv_charge_rec *rec)
{
    struct pv_q q;
    int rc;

    if ((rc = pv_store_charge_valid(rec)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_CHARGE_INSERT);
    pv_q_text(&q, rec->id);
    pv_q_text(&q, rec->customer_id);
    pv_q_int(&q, rec->test != 0);
    pv_q_text(&q, rec->purpose);
    pv_q_text(&q, rec->ref);
    pv_q_text(&q, rec->payment_method_id);
    pv_q_text(&q, rec->brand);
    pv_q_text(&q, rec->last4);
    pv_q_int(&q, rec->amount);
    pv_q_int(&q, rec->refunded);
    pv_q_int(&q, rec->created);
    /* Queued inside a batch with pv_store_defer on (an unclaimed card job's, in its head). */
    return pv_q_send(&q, 0);
}

int pv_store_charges_insert(struct pv_store *st, const struct pv_charge_rec *recs, size_t n)
{
    const size_t z = sizeof *recs;
    int64_t *tests;
    struct pv_q q;
    size_t i;
    int rc;

    if (!st || (n && !recs))
        return PV_EINVAL;
    for (i = 0; i < n; i++) /* refused before anything is written */
        if ((rc = pv_store_charge_valid(&recs[i])) != PV_OK)
            return rc;
    if (n == 0)
        return PV_OK;
    if (!pv_sql_has(st, S_CHARGES_INSERT) || n == 1) { /* SQLite: one statement each */
        for (i = 0; i < n; i++)
            if ((rc = pv_store_charge_insert(st, &recs[i])) != PV_OK)
                return rc;
        return PV_OK;
    }
    if (!(tests = calloc(n, sizeof *tests)))
        return PV_ENOMEM;
    for (i = 0; i < n; i++)
        tests[i] = recs[i].test != 0;
    pv_q_start(&q, st, S_CHARGES_INSERT);
    pv_q_array(&q, PV_P_TEXT_ARRAY, recs[0].id, n, z);
    pv_q_array(&q, PV_P_TEXT_ARRAY, recs[0].customer_id, n, z);
    pv_q_array(&q, PV_P_INT_ARRAY, tests, n, sizeof *tests);
    pv_q_array(&q, PV_P_TEXT_ARRAY, recs[0].purpose, n, z);
    pv_q_array(&q, PV_P_TEXT_ARRAY, recs[0].ref, n, z);
    pv_q_array(&q, PV_P_TEXT_ARRAY, recs[0].payment_method_id, n, z);
    pv_q_array(&q, PV_P_TEXT_ARRAY, recs[0].brand, n, z);
    pv_q_array(&q, PV_P_TEXT_ARRAY, recs[0].last4, n, z);
    pv_q_array(&q, PV_P_INT_ARRAY, &recs[0].amount, n, z);
    pv_q_array(&q, PV_P_INT_ARRAY, &recs[0].refunded, n, z);
    pv_q_array(&q, PV_P_INT_ARRAY, &recs[0].created, n, z);
    rc = pv_q_send(&q, 0); /* queued in a purchase batch (pv_store_defer) */
    free(tests);
    return rc;
}

int pv_store_charge_find(struct pv_store *st, const char *purpose, const char *ref,
                         struct pv_charge_rec *out)
{
    struct pv_q q;

    memset(out, 0, sizeof *out);
    if (!purpose || !ref)
        return PV_EINVAL;
    pv_q_start(&q, st, S_CHARGE_FIND);
    pv_q_text(&q, purpose);
    pv_q_text(&q, ref);
    return pv_q_get(&q, read_charge, out, sizeof *out);
}

/* One guarded UPDATE: two refunds racing on one charge can never both fit. */
int pv_store_charge_add_refund(struct pv_store *st, const char *id, pv_mills amount)
{
    struct pv_q q;
    int rc;

    if (!id)
        return PV_EINVAL;
    if ((rc = pv_check_mills(amount, 0)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_CHARGE_ADD_REFUND);
    pv_q_int(&q, amount);
    pv_q_text(&q, id);
    return guarded(&q, S_CHARGE_EXISTS, id, PV_EOVERFLOW);
}

int pv_store_charge_count(struct pv_store *st, const char *customer_id, const char *purpose,
                          int64_t *n)
{
    struct pv_q q;

    *n = 0;
    if (!customer_id)
        return PV_EINVAL;
    pv_q_start(&q, st, S_CHARGE_COUNT);
    pv_q_text(&q, customer_id);
    pv_q_text(&q, purpose ? purpose : "");
    return pv_q_int64(&q, n);
}

static int read_autorefill(struct pv_row *r, void *p)
{
    struct pv_autorefill_rec *rec = p;

    pv_r_text(r, rec->customer_id, sizeof rec->customer_id);
    rec->test = (int) pv_r_int(r);
    rec->enabled = (int) pv_r_int(r);
    rec->trigger = pv_r_int(r);
    rec->amount = pv_r_int(r);
    pv_r_text(r, rec->payment_method_id, sizeof rec->payment_method_id);
    rec->updated = pv_r_int(r);
    return r->rc;
}

int pv_store_autorefill_put(struct pv_store *st, const struct pv_autorefill_rec *rec)
{
    struct pv_q q;
    int rc;

    if (!PV_FITS(rec->customer_id) || !rec->customer_id[0] || !PV_FITS(rec->payment_method_id))
        return PV_EINVAL;
    if ((rc = pv_check_mills(rec->trigger, 0)) != PV_OK ||
        (rc = pv_check_mills(rec->amount, 0)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_AUTOREFILL_PUT);
    pv_q_text(&q, rec->customer_id);
    pv_q_int(&q, rec->test != 0);
    pv_q_int(&q, rec->enabled != 0);
    pv_q_int(&q, rec->trigger);
    pv_q_int(&q, rec->amount);
    pv_q_text(&q, rec->payment_method_id);
    pv_q_int(&q, rec->updated);
    return pv_q_write(&q);
}

/* A plain read even inside a transaction: the rule decides whether to charge, and the
 * balance it compares against is what account_balance() locks. */
int pv_store_autorefill_get(struct pv_store *st, const char *customer_id, int test,
                            struct pv_autorefill_rec *out)
{
    struct pv_q q;

    memset(out, 0, sizeof *out);
    if (!customer_id)
        return PV_EINVAL;
    pv_q_start(&q, st, S_AUTOREFILL_GET);
    pv_q_text(&q, customer_id);
    pv_q_int(&q, test != 0);
    return pv_q_get(&q, read_autorefill, out, sizeof *out);
}

static int read_refund(struct pv_row *r, void *p)
{
    struct pv_refund_rec *rec = p;

    pv_r_text(r, rec->id, sizeof rec->id);
    pv_r_text(r, rec->indicium_id, sizeof rec->indicium_id);
    pv_r_text(r, rec->customer_id, sizeof rec->customer_id);
    rec->status = (int) pv_r_int(r);
    pv_r_text(r, rec->reason, sizeof rec->reason);
    rec->amount = pv_r_int(r);
    pv_r_text(r, rec->destination, sizeof rec->destination);
    rec->requested_at = pv_r_int(r);
    rec->decided_at = pv_r_int(r);
    return r->rc;
}

int pv_store_refund_insert(struct pv_store *st, const struct pv_refund_rec *rec)
{
    struct pv_q q;
    int rc;

    if (!PV_FITS(rec->id) || !rec->id[0] || !PV_FITS(rec->indicium_id) || !rec->indicium_id[0] ||
        !PV_FITS(rec->customer_id) || !PV_FITS(rec->reason) || !PV_FITS(rec->destination) ||
        rec->status < PV_REFUND_REQUESTED || rec->status > PV_REFUND_DENIED)
        return PV_EINVAL;
    if ((rc = pv_check_mills(rec->amount, 0)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_REFUND_INSERT);
    pv_q_text(&q, rec->id);
    pv_q_text(&q, rec->indicium_id);
    pv_q_text(&q, rec->customer_id);
    pv_q_int(&q, rec->status);
    pv_q_text(&q, rec->reason);
    pv_q_int(&q, rec->amount);
    pv_q_text(&q, rec->destination);
    pv_q_int(&q, rec->requested_at);
    pv_q_int(&q, rec->decided_at);
    return pv_q_write(&q);
}

int pv_store_refund_latest(struct pv_store *st, const char *indicium_id, struct pv_refund_rec *out)
{
    struct pv_q q;

    memset(out, 0, sizeof *out);
    if (!indicium_id)
        return PV_EINVAL;
    pv_q_start(&q, st, S_REFUND_LATEST);
    pv_q_text(&q, indicium_id);
    return pv_q_get(&q, read_refund, out, sizeof *out);
}

int pv_store_indicium_mark_refunded(struct pv_store *st, const char *id, int64_t at)
{
    struct pv_q q;

    /* 0 means "not refunded": it cannot be the time of a refund. */
    if (!id || at <= 0)
        return PV_EINVAL;
    pv_q_start(&q, st, S_IND_MARK_REFUNDED);
    pv_q_int(&q, at);
    pv_q_text(&q, id);
    return guarded(&q, S_IND_EXISTS, id, PV_EEXIST);
}

static int read_intent(struct pv_row *r, void *p)
{
    struct pv_intent_rec *rec = p;

    pv_r_text(r, rec->id, sizeof rec->id);
    pv_r_text(r, rec->kind, sizeof rec->kind);
    pv_r_text(r, rec->owner, sizeof rec->owner);
    pv_r_text(r, rec->customer_id, sizeof rec->customer_id);
    rec->test = (int) pv_r_int(r);
    pv_r_text(r, rec->client_key, sizeof rec->client_key);
    rec->attempt = (int) pv_r_int(r);
    pv_r_text(r, rec->req_hash, sizeof rec->req_hash);
    pv_r_text(r, rec->gateway_key, sizeof rec->gateway_key);
    pv_r_text(r, rec->source, sizeof rec->source);
    pv_r_text(r, rec->payment_method_id, sizeof rec->payment_method_id);
    pv_r_text(r, rec->brand, sizeof rec->brand);
    pv_r_text(r, rec->last4, sizeof rec->last4);
    rec->amount = pv_r_int(r);
    pv_r_text(r, rec->state, sizeof rec->state);
    pv_r_text(r, rec->charge_id, sizeof rec->charge_id);
    pv_r_text(r, rec->ref, sizeof rec->ref);
    pv_r_text(r, rec->server_id, sizeof rec->server_id);
    rec->created = pv_r_int(r);
    rec->updated = pv_r_int(r);
    return r->rc;
}

/* What intent_insert and intents_insert refuse before anything is written. */
static int intent_valid(const struct pv_intent_rec *rec)
{
    if (!PV_FITS(rec->id) || !rec->id[0] || !PV_FITS(rec->kind) || !PV_FITS(rec->owner) ||
        !rec->owner[0] || !PV_FITS(rec->customer_id) || !PV_FITS(rec->client_key) ||
        !rec->client_key[0] || rec->attempt < 1 || !PV_FITS(rec->req_hash) ||
        !PV_FITS(rec->gateway_key) || !rec->gateway_key[0] || !PV_FITS(rec->source) ||
        !PV_FITS(rec->payment_method_id) || !PV_FITS(rec->brand) || !PV_FITS(rec->last4) ||
        !PV_FITS(rec->state) || !PV_FITS(rec->charge_id) || !PV_FITS(rec->ref) ||
        !PV_FITS(rec->server_id))
        return PV_EINVAL;
    return pv_check_mills(rec->amount, 1);
}

int pv_store_intent_insert(struct pv_store *st, const struct pv_intent_rec *rec)
{
    struct pv_q q;
    int rc;

    if ((rc = intent_valid(rec)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_INTENT_INSERT);
    pv_q_text(&q, rec->id);
    pv_q_text(&q, rec->kind);
    pv_q_text(&q, rec->owner);
    pv_q_text(&q, rec->customer_id);
    pv_q_int(&q, rec->test != 0);
    pv_q_text(&q, rec->client_key);
    pv_q_int(&q, rec->attempt);
    pv_q_text(&q, rec->req_hash);
    pv_q_text(&q, rec->gateway_key);
    pv_q_text(&q, rec->source);
    pv_q_text(&q, rec->payment_method_id);
    pv_q_text(&q, rec->brand);
    pv_q_text(&q, rec->last4);
    pv_q_int(&q, rec->amount);
    pv_q_text(&q, rec->state);
    pv_q_text(&q, rec->charge_id);
    pv_q_text(&q, rec->ref);
    pv_q_text(&q, rec->server_id);
    pv_q_int(&q, rec->created);
    pv_q_int(&q, rec->updated);
    return pv_q_write(&q);
}

/* The ids q's RETURNING id gave back, marked 1 in done[n] (the others 0); ids as pv_q_array
 * takes text: stride 0 an array of n pointers, else n fields stride bytes apart from ids. The
 * ids are distinct: one match each. Ends q. PV_OK or the statement's error. */
static int returned_ids(struct pv_q *q, const void *ids, size_t stride, size_t n, uint8_t *done)
{
    struct pv_row r;
    char id[PV_ID_MAX];
    size_t i;
    int rc;

    memset(done, 0, n);
    while ((rc = pv_q_row(q)) == PV_OK) {
        r = pv_row_of(q);
        pv_r_text(&r, id, sizeof id);
        if ((rc = r.rc) != PV_OK)
            break;
        for (i = 0; i < n; i++) {
            const char *x =
                stride ? (const char *) ids + i * stride : ((const char *const *) ids)[i];

            if (!done[i] && strcmp(x, id) == 0) {
                done[i] = 1;
                break;
            }
        }
    }
    pv_q_done(q);
    return rc == PV_ENOTFOUND ? PV_OK : rc;
}

int pv_store_intents_insert(struct pv_store *st, const struct pv_intent_rec *its, size_t n,
                            uint8_t *done)
{
    const size_t z = sizeof *its;
    int64_t *ints = NULL;
    struct pv_q q;
    size_t i;
    int rc;

    if (!st || (n && (!its || !done)))
        return PV_EINVAL;
    for (i = 0; i < n; i++) /* what intent_insert refuses, refused before anything is written */
        if ((rc = intent_valid(&its[i])) != PV_OK)
            return rc;
    if (!pv_sql_has(st, S_INTENTS_INSERT)) { /* SQLite: one statement a card, failing alone */
        for (i = 0; i < n; i++) {
            rc = pv_store_intent_insert(st, &its[i]);
            if (rc != PV_OK && rc != PV_EEXIST)
                return rc;
            done[i] = rc == PV_OK;
        }
        return PV_OK;
    }
    if (n == 0)
        return PV_OK;
    if (!(ints = calloc(2 * n, sizeof *ints)))
        return PV_ENOMEM;
    for (i = 0; i < n; i++) {
        ints[i] = its[i].test != 0;
        ints[n + i] = its[i].attempt;
    }
    pv_q_start(&q, st, S_INTENTS_INSERT);
    pv_q_array(&q, PV_P_TEXT_ARRAY, its[0].id, n, z);
    pv_q_array(&q, PV_P_TEXT_ARRAY, its[0].kind, n, z);
    pv_q_array(&q, PV_P_TEXT_ARRAY, its[0].owner, n, z);
    pv_q_array(&q, PV_P_TEXT_ARRAY, its[0].customer_id, n, z);
    pv_q_array(&q, PV_P_INT_ARRAY, ints, n, sizeof *ints);
    pv_q_array(&q, PV_P_TEXT_ARRAY, its[0].client_key, n, z);
    pv_q_array(&q, PV_P_INT_ARRAY, ints + n, n, sizeof *ints);
    pv_q_array(&q, PV_P_TEXT_ARRAY, its[0].req_hash, n, z);
    pv_q_array(&q, PV_P_TEXT_ARRAY, its[0].gateway_key, n, z);
    pv_q_array(&q, PV_P_TEXT_ARRAY, its[0].source, n, z);
    pv_q_array(&q, PV_P_TEXT_ARRAY, its[0].payment_method_id, n, z);
    pv_q_array(&q, PV_P_TEXT_ARRAY, its[0].brand, n, z);
    pv_q_array(&q, PV_P_TEXT_ARRAY, its[0].last4, n, z);
    pv_q_array(&q, PV_P_INT_ARRAY, &its[0].amount, n, z);
    pv_q_array(&q, PV_P_TEXT_ARRAY, its[0].state, n, z);
    pv_q_array(&q, PV_P_TEXT_ARRAY, its[0].charge_id, n, z);
    pv_q_array(&q, PV_P_TEXT_ARRAY, its[0].ref, n, z);
    pv_q_array(&q, PV_P_TEXT_ARRAY, its[0].server_id, n, z);
    pv_q_array(&q, PV_P_INT_ARRAY, &its[0].created, n, z);
    pv_q_array(&q, PV_P_INT_ARRAY, &its[0].updated, n, z);
    rc = returned_ids(&q, its[0].id, z, n, done); /* the ids are new and distinct */
    free(ints);
    return rc;
}

int pv_store_intent_get(struct pv_store *st, const char *id, struct pv_intent_rec *out)
{
    memset(out, 0, sizeof *out);
    return pv_get_by_text(st, S_INTENT_GET, id, read_intent, out, sizeof *out);
}

int pv_store_intent_latest(struct pv_store *st, const char *kind, const char *owner,
                           const char *client_key, struct pv_intent_rec *out)
{
    struct pv_q q;

    memset(out, 0, sizeof *out);
    if (!kind || !owner || !client_key)
        return PV_EINVAL;
    pv_q_start(&q, st, S_INTENT_LATEST);
    pv_q_text(&q, kind);
    pv_q_text(&q, owner);
    pv_q_text(&q, client_key);
    return pv_q_get(&q, read_intent, out, sizeof *out);
}

int pv_store_intent_move(struct pv_store *st, const char *id, const char *from, const char *to,
                         const char *charge_id, const char *ref, const char *server_id,
                         int64_t before, int64_t now)
{
    struct pv_q q;

    if (!id || !from || !to || (charge_id && strlen(charge_id) >= PV_REF_MAX) ||
        (ref && strlen(ref) >= PV_ID_MAX) || (server_id && strlen(server_id) >= PV_ID_MAX))
        return PV_EINVAL;
    pv_q_start(&q, st, S_INTENT_MOVE);
    pv_q_text(&q, to);
    pv_q_text(&q, charge_id);
    pv_q_text(&q, ref);
    pv_q_text(&q, server_id);
    pv_q_int(&q, now);
    pv_q_text(&q, id);
    pv_q_text(&q, from);
    pv_q_int(&q, before);
    return guarded(&q, S_INTENT_EXISTS, id, PV_EPAYSTATE);
}

int pv_store_intent_try_lock(struct pv_store *st, const char *id)
{
    struct pv_q q;
    int64_t one;

    if (!st || !id)
        return PV_EINVAL;
    if (!pv_sql_has(st, S_INTENT_LOCK_NOWAIT))
        return PV_OK;
    pv_q_start(&q, st, S_INTENT_LOCK_NOWAIT);
    pv_q_text(&q, id);
    return pv_q_int64(&q, &one);
}

int pv_store_intents_end(struct pv_store *st, const char *const *ids, size_t n, const char *from,
                         const char *to, int64_t now)
{
    struct pv_q q;
    size_t i, k;
    int rc;

    if (!st || (n && !ids) || !from || !to)
        return PV_EINVAL;
    for (i = 0; i < n; i += 8) {
        pv_q_start(&q, st, S_INTENTS_END8);
        pv_q_text(&q, to);
        pv_q_int(&q, now);
        pv_q_text(&q, from);
        for (k = i; k < i + 8; k++)
            pv_q_text(&q, k < n ? ids[k] : NULL);
        if ((rc = pv_q_exec(&q)) != PV_OK)
            return rc;
    }
    return PV_OK;
}

int pv_store_intents_claim(struct pv_store *st, const char *const *ids, const char *const *froms,
                           const char *const *charge_ids, const char *const *refs, size_t n,
                           const char *to, const char *server_id, int64_t now, uint8_t *done)
{
    struct pv_q q;
    size_t i;
    int rc;

    if (!st || !to || !server_id || (n && (!ids || !froms || !charge_ids || !refs || !done)))
        return PV_EINVAL;
    for (i = 0; i < n; i++)
        if (!ids[i] || !froms[i] || !charge_ids[i] || !refs[i] || strlen(ids[i]) >= PV_ID_MAX ||
            strlen(refs[i]) >= PV_ID_MAX || strlen(charge_ids[i]) >= PV_REF_MAX)
            return PV_EINVAL;
    if (!pv_sql_has(st, S_INTENTS_CLAIM)) { /* SQLite: one statement each, failing alone */
        for (i = 0; i < n; i++) {
            rc = pv_store_intent_move(st, ids[i], froms[i], to,
                                      charge_ids[i][0] ? charge_ids[i] : NULL, refs[i], server_id,
                                      0, now);
            /* Refused or failed: the job moves it itself, and answers what that gives. */
            if (rc != PV_OK && rc != PV_EPAYSTATE && pv_store_alive(st) != PV_OK)
                return rc;
            done[i] = rc == PV_OK;
        }
        return PV_OK;
    }
    if (n == 0)
        return PV_OK;
    pv_q_start(&q, st, S_INTENTS_CLAIM);
    pv_q_array(&q, PV_P_TEXT_ARRAY, ids, n, 0);
    pv_q_array(&q, PV_P_TEXT_ARRAY, froms, n, 0);
    pv_q_array(&q, PV_P_TEXT_ARRAY, charge_ids, n, 0);
    pv_q_array(&q, PV_P_TEXT_ARRAY, refs, n, 0);
    pv_q_text(&q, to);
    pv_q_text(&q, server_id);
    pv_q_int(&q, now);
    return returned_ids(&q, ids, 0, n, done); /* the caller's ids are distinct */
}

int pv_store_intent_due(struct pv_store *st, const char *state, int64_t before, size_t limit,
                        struct pv_intent_rec **out, size_t *n)
{
    struct pv_q q;

    *out = NULL;
    *n = 0;
    if (!state || limit == 0 || limit > 10000)
        return PV_EINVAL;
    pv_q_start(&q, st, S_INTENT_DUE);
    pv_q_text(&q, state);
    pv_q_int(&q, before);
    pv_q_int(&q, (int64_t) limit);
    return pv_q_list(&q, sizeof **out, read_intent, (void **) out, n);
}

int pv_store_intent_settling(struct pv_store *st, const char *charge_id, struct pv_intent_rec *out)
{
    struct pv_q q;

    memset(out, 0, sizeof *out);
    if (!charge_id)
        return PV_EINVAL;
    if (!charge_id[0])
        return PV_ENOTFOUND; /* nothing held is nothing to capture */
    pv_q_start(&q, st, S_INTENT_SETTLING);
    pv_q_text(&q, charge_id);
    return pv_q_get(&q, read_intent, out, sizeof *out);
}

int pv_store_intent_active(struct pv_store *st, const char *kind, const char *owner,
                           struct pv_intent_rec *out)
{
    struct pv_q q;

    memset(out, 0, sizeof *out);
    if (!kind || !owner)
        return PV_EINVAL;
    pv_q_start(&q, st, S_INTENT_ACTIVE);
    pv_q_text(&q, kind);
    pv_q_text(&q, owner);
    return pv_q_get(&q, read_intent, out, sizeof *out);
}

/* The row of S_CARD_HEAD: two counts, then the latest intent's columns (NULL: none). */
static int read_card_head(struct pv_row *r, void *p)
{
    struct pv_card_head *h = p;

    h->replay = pv_r_int(r) > 0;
    h->on_hold = pv_r_int(r) > 0;
    read_intent(r, &h->latest);
    h->found = h->latest.id[0] != '\0';
    return r->rc;
}

int pv_store_card_head(struct pv_store *st, const char *kind, const char *owner,
                       const char *client_key, const char *customer_id, struct pv_card_head *out)
{
    struct pv_q q;

    memset(out, 0, sizeof *out);
    if (!kind || !owner || !client_key || !customer_id)
        return PV_EINVAL;
    pv_q_start(&q, st, S_CARD_HEAD);
    pv_q_text(&q, owner);
    pv_q_text(&q, client_key);
    pv_q_text(&q, kind);
    pv_q_text(&q, customer_id);
    return pv_q_get(&q, read_card_head, out, sizeof *out);
}

int pv_store_card_heads(struct pv_store *st, const char *kind, const char *const *owners,
                        const char *const *client_keys, const char *const *customer_ids, size_t n,
                        struct pv_card_head *out)
{
    struct pv_q q;
    struct pv_row r;
    size_t i = 0;
    int rc;

    if (!st || !kind || (n && (!owners || !client_keys || !customer_ids || !out)))
        return PV_EINVAL;
    for (i = 0; i < n; i++)
        if (!owners[i] || !client_keys[i] || !customer_ids[i])
            return PV_EINVAL;
    if (!pv_sql_has(st, S_CARD_HEADS)) { /* SQLite: a statement a card costs no round trip */
        for (i = 0; i < n; i++)
            if ((rc = pv_store_card_head(st, kind, owners[i], client_keys[i], customer_ids[i],
                                         &out[i])) != PV_OK)
                return rc;
        return PV_OK;
    }
    if (n == 0)
        return PV_OK;
    memset(out, 0, n * sizeof *out);
    pv_q_start(&q, st, S_CARD_HEADS);
    pv_q_array(&q, PV_P_TEXT_ARRAY, owners, n, 0);
    pv_q_array(&q, PV_P_TEXT_ARRAY, client_keys, n, 0);
    pv_q_array(&q, PV_P_TEXT_ARRAY, customer_ids, n, 0);
    pv_q_text(&q, kind);
    i = 0;
    while ((rc = pv_q_row(&q)) == PV_OK) {
        if (i >= n) {
            rc = PV_ESTORE;
            break;
        }
        r = pv_row_of(&q);
        if ((rc = read_card_head(&r, &out[i++])) != PV_OK)
            break;
    }
    pv_q_done(&q);
    return rc == PV_ENOTFOUND ? (i == n ? PV_OK : PV_ESTORE) : rc;
}
