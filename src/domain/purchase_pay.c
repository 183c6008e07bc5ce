/*
 * purchase_pay.c - the card stages of a purchase around its batch
 * (purchase.h): the hold before, the capture or void after, and the
 * auto-refill of a deferred job between two batches.
 *
 * The batch runs on the processor's writer thread inside one transaction,
 * and no gateway call may happen in there: a crash between an approved
 * charge and the commit would leave the card charged with nothing to show
 * for it, and a retry would charge again (issue 12, finding 2). So the hold
 * is taken before, under an intent committed before the gateway is called
 * and a gateway key derived from the client's Idempotency-Key
 * ("purchase:<owner>:<key>:<attempt>"): a retry finds the intent and the
 * gateway answers the same hold; recovery finds what no one finished.
 */
#include "domain/events.h"
#include "domain/intent.h"
#include "domain/ledger.h"
#include "domain/purchase.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Clear what a batch fills in r, keeping what pv_purchase_authorize put
 * there: the hold, and unless the batch failed the card's answer too.
 */
void pv_purchase_res_rerun(struct pv_purchase_res *r, int failed)
{
    struct pv_purchase_res kept;

    pv_indicium_rec_clear(&r->rec); /* the texts of an earlier run's piece */
    kept = *r;
    memset(r, 0, sizeof *r);
    r->pre_err = kept.pre_err;
    r->held = kept.held;
    memcpy(r->intent_id, kept.intent_id, sizeof r->intent_id);
    r->refill = kept.refill;
    r->refill.deferred = r->refill.want = 0; /* the batch decides again */
    if (!failed) {
        memcpy(r->charge_id, kept.charge_id, sizeof r->charge_id);
        r->charged = kept.charged;
        r->held_pending = kept.held_pending; /* a deferred job's hold answered, not recorded */
        memcpy(r->decline, kept.decline, sizeof r->decline);
        memcpy(r->refill_id, kept.refill_id, sizeof r->refill_id);
        r->refilled = kept.refilled;
    }
}

void pv_purchase_res_again(struct pv_purchase_res *r)
{
    int claimed = r->claimed;
    char piece[sizeof r->piece_id];

    memcpy(piece, r->piece_id, sizeof piece);
    pv_purchase_res_rerun(r, 0); /* keeps held_pending */
    r->claimed = claimed;
    memcpy(r->piece_id, piece, sizeof piece);
}

/* The state a held job's intent is in until its batch moves it. */
static const char *held_state(const struct pv_purchase_res *r)
{
    return r->held_pending ? PV_INTENT_PENDING : PV_INTENT_AUTHORIZED;
}

/* One intent to claim: the first job that holds it (at), its state and what the move sets. */
struct claim_row {
    const char *id, *from, *charge;
    size_t at;
};

/* By intent id, then job: locked in one order by every batch; a twin after the first. */
static int claim_order(const void *a, const void *b)
{
    const struct claim_row *x = a, *y = b;
    int c = strcmp(x->id, y->id);

    return c ? c : (x->at > y->at) - (x->at < y->at);
}

int pv_purchase_claim(struct pv_store *st, struct pv_processor_ctx *ctx,
                      struct pv_purchase_res *res, size_t n)
{
    const char **ids = NULL, **from = NULL, **charge = NULL, **refs = NULL;
    struct claim_row *rows = NULL;
    size_t i, j, k = 0, m = 0;
    uint8_t *done = NULL;
    int rc = PV_OK, one, atomic = pv_store_stmt_atomic(st);

    for (i = 0; i < n; i++) {
        res[i].claimed = 0;
        res[i].piece_id[0] = '\0';
        k += res[i].pre_err == PV_OK && res[i].held;
    }
    if (k == 0)
        return PV_OK;
    rows = calloc(k, sizeof *rows);
    ids = calloc(k, sizeof *ids);
    from = calloc(k, sizeof *from);
    charge = calloc(k, sizeof *charge);
    refs = calloc(k, sizeof *refs);
    done = calloc(k, 1);
    if (!rows || !ids || !from || !charge || !refs || !done) {
        rc = PV_ENOMEM;
        goto out;
    }
    for (i = 0, k = 0; i < n; i++)
        if (res[i].pre_err == PV_OK && res[i].held)
            rows[k++] = (struct claim_row){res[i].intent_id, held_state(&res[i]),
                                           res[i].held_pending ? res[i].charge_id : "", i};
    qsort(rows, k, sizeof *rows, claim_order);
    for (j = 0; j < k; j++) {
        /* A twin of the same key holds the same intent: the first job claims it. */
        if (m > 0 && strcmp(ids[m - 1], rows[j].id) == 0)
            continue;
        if ((rc = pv_new_id("ind", res[rows[j].at].piece_id)) != PV_OK)
            goto out;
        ids[m] = rows[j].id;
        from[m] = rows[j].from;
        charge[m] = rows[j].charge; /* "" keeps the intent's; a pending one's with the move */
        refs[m] = res[rows[j].at].piece_id;
        rows[m++].at = rows[j].at;
    }
    /* A failed statement undoes only itself (its savepoint; SQLite: each move alone), and
     * every job moves its own intent, as before - unless it waited too long for a lock (it
     * waits for none of the intents' rows) or was a deadlock's victim: then the batch ends. */
    if (!atomic && (rc = pv_store_savepoint(st)) != PV_OK)
        goto out;
    one = pv_store_intents_claim(st, ids, from, charge, refs, m, PV_INTENT_SETTLING, ctx->server_id,
                                 pv_now_ms(), done);
    if (!atomic)
        rc = one != PV_OK ? pv_store_rollback_to(st) : pv_store_release(st);
    else
        rc = one;
    if (rc == PV_OK && one == PV_EBUSY)
        rc = one;
    if (one != PV_OK && rc == PV_OK)
        pv_log(PV_LOG_INFO, "%s: card holds claimed one by one: %s\n", ctx->server_id,
               pv_strerror(one));
    for (j = 0; j < m; j++) {
        struct pv_purchase_res *r = &res[rows[j].at];

        r->claimed = one == PV_OK && done[j];
        if (!r->claimed)
            r->piece_id[0] = '\0';
    }
out:
    free(rows);
    free(ids);
    free(from);
    free(charge);
    free(refs);
    free(done);
    return rc;
}

/* The charge row of a card purchase's hold (its indicium r->rec.id), into *c. */
static void card_charge(const struct pv_purchase_req *q, const struct pv_purchase_res *r,
                        pv_mills due, int64_t now, struct pv_charge_rec *c)
{
    memset(c, 0, sizeof *c);
    pv_str_copy(c->id, sizeof c->id, r->charge_id);
    pv_str_copy(c->customer_id, sizeof c->customer_id, q->customer_id);
    c->test = q->test;
    snprintf(c->purpose, sizeof c->purpose, "purchase");
    pv_str_copy(c->ref, sizeof c->ref, r->rec.id);
    pv_str_copy(c->payment_method_id, sizeof c->payment_method_id, q->pay.payment_method_id);
    pv_str_copy(c->brand, sizeof c->brand, q->pay.brand);
    pv_str_copy(c->last4, sizeof c->last4, q->pay.last4);
    c->amount = due;
    c->created = now;
}

/* Batches a held card job waits for its intent's row before it waits in its own move. */
#define HELD_WAIT_ROUNDS 200

/*
 * A held job's intent its batch did not claim - the claim skips a row another transaction holds,
 * or failed whole - is locked for the job's own move only when free (PostgreSQL). Held, the
 * job is deferred to a later batch (PV_EBUSY with r->refill.deferred, its hold kept) instead of
 * waiting after its batch's gate: another processor's batch that moved that intent in its round
 * (a twin's, adopted) may be waiting for that gate (docs/internals/purchase-path.md). After
 * HELD_WAIT_ROUNDS batches it waits, as before.
 */
static int intent_free(struct pv_store *st, struct pv_purchase_res *r)
{
    int rc;

    if (r->refill.rounds >= HELD_WAIT_ROUNDS)
        return PV_OK;
    rc = pv_store_intent_try_lock(st, r->intent_id);
    if (rc == PV_EBUSY) {
        r->refill.rounds++;
        r->refill.deferred = 1;
    }
    return rc == PV_ENOTFOUND ? PV_OK : rc; /* not there: the guarded move refuses it */
}

int pv_purchase_book_hold(struct pv_store *st, struct pv_processor_ctx *ctx,
                          const struct pv_purchase_req *q, struct pv_purchase_res *r, pv_mills due,
                          int64_t now, struct pv_ledger_line lines[2])
{
    struct pv_charge_rec c;
    int rc;

    if (!r->held)
        return PV_EINTERNAL; /* pv_purchase_authorize sets pre_err when it holds nothing */
    /* The price moved since the hold (a medium's sheet paid meanwhile): the
     * hold is voided and a retry holds the new amount. */
    if (due != r->charged)
        return PV_EPAYSTATE;
    card_charge(q, r, due, now, &c);
    if (r->claimed) { /* settling since before the jobs; its charge row after them */
        pv_pay_charge_lines(&c, lines);
        /* Refused here, in its savepoint, rather than by the batch's one statement. */
        return pv_store_charge_valid(&c);
    }
    if ((rc = intent_free(st, r)) != PV_OK ||
        (rc = pv_pay_charge(st, &c, lines)) != PV_OK) /* lines: posted with postage_sale */
        return rc;
    /* Guarded: the recovery may have given the hold up meanwhile. */
    return pv_store_intent_move(st, r->intent_id, held_state(r), PV_INTENT_SETTLING,
                                r->held_pending ? r->charge_id : NULL, r->rec.id, ctx->server_id, 0,
                                pv_now_ms());
}

int pv_purchase_card_tails(struct pv_store *st, const struct pv_purchase_req *reqs,
                           const struct pv_purchase_res *res, size_t n, int64_t now)
{
    struct pv_charge_rec *c;
    size_t i, m = 0;
    int rc;

    for (i = 0; i < n; i++)
        m += pv_purchase_res_pays(&res[i]) && res[i].claimed;
    if (m == 0)
        return PV_OK; /* unclaimed: each head wrote its own */
    if (!(c = calloc(m, sizeof *c)))
        return PV_ENOMEM;
    /* Each at its hold's amount: its head checked that the price is that. */
    for (i = 0, m = 0; i < n; i++)
        if (pv_purchase_res_pays(&res[i]) && res[i].claimed)
            card_charge(&reqs[i], &res[i], res[i].charged, now, &c[m++]);
    rc = pv_store_charges_insert(st, c, m);
    free(c);
    return rc;
}

int pv_purchase_hold_drop(struct pv_store *st, struct pv_processor_ctx *ctx,
                          const struct pv_purchase_res *r)
{
    int rc;

    if (!r->held)
        return PV_OK;
    rc = pv_store_intent_move(
        st, r->intent_id, r->claimed ? PV_INTENT_SETTLING : held_state(r), PV_INTENT_VOIDING,
        !r->claimed && r->held_pending ? r->charge_id : NULL, NULL, ctx->server_id, 0, pv_now_ms());
    /* Claimed, its row is this batch's: the move cannot be refused (if it is, something broke
     * the batch's lock: the batch fails). Otherwise a refusal says someone else moved it (the
     * recovery): theirs to finish. */
    if (rc == PV_EPAYSTATE)
        return r->claimed ? PV_EINTERNAL : PV_OK;
    return rc;
}

int pv_purchase_store_trouble(int rc)
{
    return rc == PV_ESTORE || rc == PV_ENOMEM || rc == PV_EBUSY;
}

/* What the client hears when the intent's step failed with rc. */
static int hold_error(int rc)
{
    /* Not known whether the gateway holds anything: the intent stays
     * pending for a retry or the recovery; the client may try again. */
    return (rc == PV_ECARDDECLINED || rc == PV_ECARDINVALID || rc == PV_ENOGATEWAY ||
            rc == PV_EIDEMREUSED)
               ? rc
               : PV_EGATEWAY;
}

int pv_purchase_hold_start(const struct pv_purchase_req *q, struct pv_purchase_res *r, int64_t now)
{
    int rc;

    {
        /* A job run again after its refill keeps what the refill did. */
        struct pv_refill_carry carry = r->refill;
        char refill_id[PV_REF_MAX];
        pv_mills refilled = r->refilled;

        memcpy(refill_id, r->refill_id, sizeof refill_id);
        pv_purchase_res_reset(r); /* with its piece's texts, were there any */
        r->refill = carry;
        memcpy(r->refill_id, refill_id, sizeof refill_id);
        r->refilled = refilled;
    }
    if (q->pay.method != PV_PAY_CARD)
        return 0;
    /* Refused anyway: hold nothing, let the batch answer it. */
    if ((rc = pv_purchase_check_price(q, now)) != PV_OK) {
        r->pre_err = rc;
        return 0;
    }
    return 1;
}

int pv_purchase_hold_opened(struct pv_purchase_res *r, const struct pv_intent_rec *it, int in_group,
                            int rc)
{
    if (rc == PV_EEXIST)
        return 0; /* paid and committed: the batch replays it */
    if (rc != PV_OK) {
        if (in_group && pv_purchase_store_trouble(rc))
            return rc;
        r->pre_err = hold_error(rc);
        return 0;
    }
    if (strcmp(it->state, PV_INTENT_AUTHORIZED) == 0 && it->charge_id[0]) {
        pv_purchase_hold_done(r, it, PV_OK); /* adopted with its hold */
        return 0;
    }
    return 1;
}

int pv_purchase_hold_plan(struct pv_store *st, struct pv_processor_ctx *ctx,
                          const struct pv_purchase_req *q, struct pv_purchase_res *r,
                          struct pv_intent_rec *it, int in_group, const struct pv_card_head *head,
                          int head_rc)
{
    char owner[PV_ID_MAX];
    struct pv_media_use use;
    pv_mills due;
    int rc = head_rc;

    if (rc != PV_OK)
        goto failed;
    /* A replay: the batch answers it, nothing is charged - before any check that the first
     * purchase itself would now fail (its medium used, a hold placed since): a key a purchase
     * from the balance stored, or a card purchase's intent that committed, on SQLite its
     * key's only record (store_payments.h, card_key_put). */
    if (head->replay || (head->found && pv_intent_done(&head->latest)))
        return 0;
    /* A customer the postal authority stopped: no card is held (claims.h). */
    if (head->on_hold) {
        rc = PV_EONHOLD;
        goto failed;
    }
    memset(&use, 0, sizeof use);
    if (q->medium_serial[0] && (rc = pv_media_check(st, q, &use)) != PV_OK)
        goto failed;
    if ((rc = pv_money_add(q->postage, use.price, &due)) != PV_OK)
        goto failed;

    pv_idem_owner(q->customer_id, q->test, owner);
    pv_intent_draft(it, "purchase", owner, q->customer_id, q->test, q->idem_key, q->req_hash, due,
                    &q->pay, ctx->server_id);
    if (!pv_pay_gateway(&ctx->gws, q->test)) {
        r->pre_err = PV_ENOGATEWAY;
        return 0;
    }
    rc = pv_intent_plan(it, head->found ? &head->latest : NULL, pv_now_ms());
    return rc == 1 ? 2 : pv_purchase_hold_opened(r, it, in_group, rc);
failed:
    if (in_group && pv_purchase_store_trouble(rc))
        return rc;
    r->pre_err = rc;
    return 0;
}

/* hold_plan, then the intent written (hold_open's one card). */
static int hold_head(struct pv_store *st, struct pv_processor_ctx *ctx,
                     const struct pv_purchase_req *q, struct pv_purchase_res *r,
                     struct pv_intent_rec *it, int in_group, const struct pv_card_head *head,
                     int head_rc)
{
    int rc = pv_purchase_hold_plan(st, ctx, q, r, it, in_group, head, head_rc);

    if (rc != 2)
        return rc;
    rc = pv_store_intent_insert(st, it);
    /* A concurrent twin wrote this attempt first: read it and adopt it (pv_intent_open). */
    if (rc == PV_EEXIST)
        rc = pv_intent_open(st, it, pv_now_ms());
    return pv_purchase_hold_opened(r, it, in_group, rc);
}

int pv_purchase_hold_open(struct pv_store *st, struct pv_processor_ctx *ctx,
                          const struct pv_purchase_req *q, struct pv_purchase_res *r, int64_t now,
                          struct pv_intent_rec *it, int in_group)
{
    char owner[PV_ID_MAX];
    struct pv_card_head head;
    int rc;

    if (!pv_purchase_hold_start(q, r, now))
        return 0;
    pv_idem_owner(q->customer_id, q->test, owner);
    /* The key's use, the customer's hold and the key's latest intent: one statement. */
    rc = pv_store_card_head(st, "purchase", owner, q->idem_key, q->customer_id, &head);
    return hold_head(st, ctx, q, r, it, in_group, &head, rc);
}

void pv_purchase_hold_done(struct pv_purchase_res *r, const struct pv_intent_rec *it, int rc)
{
    if (rc == PV_EEXIST)
        return; /* a twin committed it meanwhile: the batch replays it */
    if (rc != PV_OK) {
        r->pre_err = hold_error(rc);
        return;
    }
    r->held = 1;
    pv_str_copy(r->intent_id, sizeof r->intent_id, it->id);
    pv_str_copy(r->charge_id, sizeof r->charge_id, it->charge_id);
    r->charged = it->amount;
}

void pv_purchase_authorize(struct pv_store *st, struct pv_processor_ctx *ctx,
                           const struct pv_purchase_req *q, struct pv_purchase_res *r, int64_t now)
{
    struct pv_intent_rec it;
    int rc;

    if (pv_purchase_hold_open(st, ctx, q, r, now, &it, 0) != 1)
        return;
    rc = pv_intent_authorize(st, pv_pay_gateway(&ctx->gws, q->test), &it, r->decline, pv_now_ms());
    pv_purchase_hold_done(r, &it, rc);
}

void pv_purchase_settle(struct pv_store *st, struct pv_processor_ctx *ctx,
                        const struct pv_purchase_res *res, size_t n)
{
    const char **ids = NULL;
    int *capture = NULL, rc;
    size_t i, k = 0;

    for (i = 0; i < n; i++)
        k += pv_purchase_res_settles(&res[i]);
    if (k == 0)
        return;
    pv_crash_point("after_commit");
    ids = calloc(k, sizeof *ids);
    capture = calloc(k, sizeof *capture);
    if (!ids || !capture) {
        rc = PV_ENOMEM;
        goto out;
    }
    for (i = 0, k = 0; i < n; i++) {
        if (!pv_purchase_res_settles(&res[i]))
            continue;
        ids[k] = res[i].intent_id;
        capture[k++] = pv_purchase_res_pays(&res[i]);
    }
    rc = pv_intent_settle_batch(st, &ctx->gws, ids, capture, k, pv_now_ms());
out:
    if (rc != PV_OK)
        pv_log(PV_LOG_WARNING, "%s: settling card payments: %s (the recovery finishes them)\n",
               ctx->server_id, pv_strerror(rc));
    free(ids);
    free(capture);
}

/* auto_refill.failed for a job whose refill failed (events.h); a failure to
 * record it is logged, never the purchase's failure, unless in_batch (then the
 * batch's transaction cannot go on). */
static int refill_failed(struct pv_store *st, struct pv_processor_ctx *ctx,
                         const struct pv_purchase_req *q, const struct pv_purchase_res *r,
                         int own_tx)
{
    struct pv_autorefill_rec ar;
    int rc;

    if (pv_store_autorefill_get(st, q->customer_id, q->test, &ar) != PV_OK)
        ar.amount = 0;
    rc = pv_event_auto_refill_failed(st, q->customer_id, q->test, ar.amount, r->refill.decline,
                                     r->refill.err, own_tx, pv_now_ms() / 1000);
    if (rc != PV_OK && own_tx) {
        pv_log(PV_LOG_WARNING, "%s: auto_refill.failed event not recorded: %s\n", ctx->server_id,
               pv_strerror(rc));
        rc = PV_OK;
    }
    return rc;
}

int pv_purchase_refill_record(struct pv_store *st, struct pv_processor_ctx *ctx,
                              const struct pv_purchase_req *q, struct pv_purchase_res *r)
{
    struct pv_autorefill_rec ar;
    struct pv_payment_method_rec pm;
    struct pv_payment card;
    struct pv_intent_rec it;
    char owner[PV_ID_MAX];
    int rc;

    r->refill.want = 0;
    if ((rc = pv_store_autorefill_get(st, q->customer_id, q->test, &ar)) != PV_OK ||
        (rc = pv_store_pm_get(st, q->customer_id, ar.payment_method_id, &pm)) != PV_OK)
        goto refused;
    memset(&card, 0, sizeof card);
    card.method = PV_PAY_CARD;
    pv_str_copy(card.source, sizeof card.source, pm.gateway_ref);
    pv_str_copy(card.payment_method_id, sizeof card.payment_method_id, pm.id);
    pv_str_copy(card.brand, sizeof card.brand, pm.brand);
    pv_str_copy(card.last4, sizeof card.last4, pm.last4);
    /* The purchase's key: its retry after a crash adopts this refill. */
    pv_idem_owner(q->customer_id, q->test, owner);
    pv_intent_draft(&it, "auto_refill", owner, q->customer_id, q->test, q->idem_key, q->req_hash,
                    ar.amount, &card, ctx->server_id);
    rc = pv_intent_open(st, &it, pv_now_ms());
    if (rc == PV_EEXIST) {
        /* Credited before a crash: the balance holds it already. */
        r->refill.done = 1;
        r->refill.err = PV_OK;
        return PV_OK;
    }
    if (rc != PV_OK)
        goto refused;
    pv_str_copy(r->refill.intent_id, sizeof r->refill.intent_id, it.id);
    return PV_OK;
refused:
    if (rc == PV_ESTORE || rc == PV_ENOMEM)
        return rc; /* the batch's transaction cannot go on */
    /* No refill after all (the rule or card went away): the balance decides. */
    r->refill.done = 1;
    r->refill.err = rc == PV_ENOTFOUND ? PV_EFUNDS : rc;
    /* In the batch's transaction, outside the job's savepoint: it commits with the batch. */
    return refill_failed(st, ctx, q, r, 0);
}

/* Hold, credit and capture one deferred job's refill; its outcome into r->refill. */
static int refill_one(struct pv_store *st, struct pv_processor_ctx *ctx,
                      const struct pv_purchase_req *q, struct pv_purchase_res *r)
{
    struct pv_gateway *gw = pv_pay_gateway(&ctx->gws, q->test);
    struct pv_intent_rec it;
    struct pv_charge_rec c;
    int64_t now = pv_now_ms() / 1000;
    int rc;

    if ((rc = pv_store_intent_get(st, r->refill.intent_id, &it)) != PV_OK)
        return rc;
    if ((rc = pv_intent_authorize(st, gw, &it, r->refill.decline, pv_now_ms())) != PV_OK)
        return rc == PV_EIO ? PV_EGATEWAY : rc;
    memset(&c, 0, sizeof c);
    pv_str_copy(c.id, sizeof c.id, it.charge_id);
    pv_str_copy(c.customer_id, sizeof c.customer_id, q->customer_id);
    c.test = q->test;
    snprintf(c.purpose, sizeof c.purpose, "auto_refill");
    pv_str_copy(c.payment_method_id, sizeof c.payment_method_id, it.payment_method_id);
    pv_str_copy(c.brand, sizeof c.brand, it.brand);
    pv_str_copy(c.last4, sizeof c.last4, it.last4);
    c.amount = it.amount;
    c.created = now;
    if ((rc = pv_new_id("arf", c.ref)) != PV_OK || (rc = pv_store_begin(st)) != PV_OK)
        goto abandon;
    /* Under the writer lock, like every writer of a customer's money. */
    if ((rc = pv_store_lock_writer(st)) != PV_OK ||
        (rc = pv_pay_book(st, &c, "auto_refill", now)) != PV_OK ||
        (rc = pv_store_intent_move(st, it.id, PV_INTENT_AUTHORIZED, PV_INTENT_SETTLING, NULL, c.ref,
                                   ctx->server_id, 0, pv_now_ms())) != PV_OK ||
        (rc = pv_event_funds_added(st, &c, now)) != PV_OK || (rc = pv_store_commit(st)) != PV_OK) {
        pv_store_rollback(st);
        goto abandon;
    }
    pv_intent_settle(st, &ctx->gws, it.id, 1, pv_now_ms());
    pv_str_copy(r->refill_id, sizeof r->refill_id, c.id);
    r->refilled = c.amount;
    return PV_OK;
abandon:
    pv_intent_abandon(st, &ctx->gws, it.id, pv_now_ms());
    return rc;
}

void pv_purchase_refill(struct pv_store *st, struct pv_processor_ctx *ctx,
                        const struct pv_purchase_req *reqs, struct pv_purchase_res *res, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct pv_purchase_res *r = &res[i];

        if (!r->refill.deferred || !r->refill.intent_id[0] || r->refill.done)
            continue;
        r->refill.err = refill_one(st, ctx, &reqs[i], r);
        r->refill.done = 1;
        if (r->refill.err != PV_OK && r->refill.err != PV_ECARDDECLINED)
            r->refill.decline[0] = '\0';
        if (r->refill.err != PV_OK)
            refill_failed(st, ctx, &reqs[i], r, 1);
    }
}
