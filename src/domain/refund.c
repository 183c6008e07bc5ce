/*
 * refund.c - decide a refund request and move its money (refund.h).
 *
 * A refund to a card follows the intent pattern (intent.h): decision,
 * books and the refund's intent commit together; the gateway refunds after
 * the commit under a key derived from the refund, and the processors'
 * recovery repeats it until the gateway has paid.
 */
#include "domain/refund.h"

#include "domain/claims.h"
#include "domain/events.h"
#include "domain/intent.h"
#include "domain/ledger.h"
#include "domain/purchase.h"
#include "domain/mode.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *pv_refund_status_name(int status)
{
    static const char *const names[] = {"requested", "approved", "denied"};

    return status >= 0 && status <= PV_REFUND_DENIED ? names[status] : "unknown";
}

int pv_indicium_owned(struct pv_store *st, const char *owner_id, int test, const char *id,
                      struct pv_indicium_rec *rec)
{
    int rc;

    memset(rec, 0, sizeof *rec);
    if (strlen(id) >= PV_ID_MAX)
        return PV_ENOTFOUND;
    if ((rc = pv_store_indicium_get(st, id, rec)) != PV_OK)
        return rc;
    /* Another customer's piece, or one of the other mode, does not exist. */
    if (owner_id &&
        (strcmp(rec->customer_id, owner_id) != 0 || !pv_mode_sees(test, pv_indicium_mode(rec)))) {
        pv_indicium_rec_clear(rec);
        memset(rec, 0, sizeof *rec);
        return PV_ENOTFOUND;
    }
    return PV_OK;
}

/* Why rec cannot be refunded now, or NULL. */
static const char *denial(const struct pv_indicium_rec *rec, int64_t now, int64_t window)
{
    if (rec->ind.flags & PV_IND_FLAG_TEST)
        return "test_piece";
    if (rec->refunded_at)
        return "already_refunded";
    if (rec->presentations > 0)
        return "already_scanned";
    if (now - rec->created > window)
        return "window_expired";
    return NULL;
}

/*
 * The refund's card payment, decided now and paid after the commit: its
 * intent (kind "refund", gateway key "refund:<owner>:<refund id>:1")
 * written in the refund's transaction, "pending" until the gateway pays.
 */
static int refund_intent(struct pv_store *st, const struct pv_charge_rec *c,
                         const struct pv_refund_rec *r, char intent_id[PV_ID_MAX])
{
    struct pv_intent_rec it;
    struct pv_payment card;
    char owner[PV_ID_MAX];
    int rc;

    memset(&card, 0, sizeof card);
    pv_str_copy(card.payment_method_id, sizeof card.payment_method_id, c->payment_method_id);
    pv_str_copy(card.brand, sizeof card.brand, c->brand);
    pv_str_copy(card.last4, sizeof card.last4, c->last4);
    pv_idem_owner(c->customer_id, c->test, owner);
    pv_intent_draft(&it, "refund", owner, c->customer_id, c->test, r->id, NULL, r->amount, &card,
                    "front");
    it.attempt = 1;
    pv_intent_key(it.kind, it.owner, it.client_key, 1, it.gateway_key);
    pv_str_copy(it.state, sizeof it.state, PV_INTENT_PENDING);
    pv_str_copy(it.charge_id, sizeof it.charge_id, c->id);
    pv_str_copy(it.ref, sizeof it.ref, r->id);
    it.created = it.updated = pv_now_ms();
    if ((rc = pv_new_id("pi", it.id)) != PV_OK || (rc = pv_store_intent_insert(st, &it)) != PV_OK)
        return rc;
    pv_str_copy(intent_id, PV_ID_MAX, it.id);
    return PV_OK;
}

/*
 * Approve: credit the balance, then, when a card paid and its gateway is
 * configured, send it on to the card: the card refund is booked here and
 * its intent committed with the decision; the gateway pays it after the
 * commit (pv_intent_refund), and the recovery retries it until it does -
 * the gateway is never called inside this transaction.
 */
static int refund_money(struct pv_store *st, const struct pv_gateways *gws,
                        const struct pv_indicium_rec *rec, struct pv_refund_rec *r,
                        char intent_id[PV_ID_MAX], int64_t now)
{
    struct pv_ledger_line lines[2];
    struct pv_charge_rec c;
    int rc;

    memset(lines, 0, sizeof lines);
    pv_account_mode(PV_ACCT_REVENUE, 0, lines[0].account);
    lines[0].amount = -r->amount;
    pv_account_customer_mode(rec->customer_id, 0, lines[1].account);
    lines[1].amount = r->amount;
    if ((rc = pv_ledger_post(st, "refund", r->id, lines, 2, now)) != PV_OK)
        return rc;
    snprintf(r->destination, sizeof r->destination, "balance");
    rc = pv_store_charge_find(st, "purchase", rec->id, &c);
    if (rc == PV_ENOTFOUND)
        return PV_OK;
    if (rc != PV_OK)
        return rc;
    /* No gateway for the charge's mode: the money stays on the balance. */
    if (!pv_pay_gateway(gws, c.test))
        return PV_OK;
    if ((rc = refund_intent(st, &c, r, intent_id)) != PV_OK ||
        (rc = pv_store_charge_add_refund(st, c.id, r->amount)) != PV_OK)
        return rc;
    lines[0].amount = -r->amount;
    pv_str_copy(lines[0].account, sizeof lines[0].account, lines[1].account);
    pv_account_mode(PV_ACCT_CLEARING, 0, lines[1].account);
    lines[1].amount = r->amount;
    if ((rc = pv_ledger_post(st, "card_refund", r->id, lines, 2, now)) != PV_OK)
        return rc;
    snprintf(r->destination, sizeof r->destination, "card");
    return PV_OK;
}

json_t *pv_refund_json(const struct pv_refund_rec *r)
{
    char a[32], req[32], dec[32];

    return json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:s, s:I, s:o, s:s, s:o}", "id", r->id, "object", "refund",
        "indicium_id", r->indicium_id, "status", pv_refund_status_name(r->status), "reason",
        r->reason[0] ? json_string(r->reason) : json_null(), "amount",
        pv_money_format(r->amount, a, sizeof a), "amount_mills", (json_int_t) r->amount,
        "destination", r->destination[0] ? json_string(r->destination) : json_null(),
        "requested_at", pv_time_format(r->requested_at, req, sizeof req), "decided_at",
        r->decided_at ? json_string(pv_time_format(r->decided_at, dec, sizeof dec)) : json_null());
}

static int emit_decided(struct pv_store *st, const struct pv_refund_rec *r, int test, int64_t now)
{
    json_t *data;
    int rc, yes;

    if ((rc = pv_event_wanted(st, r->customer_id, test, PV_EVENT_REFUND_DECIDED, &yes)) != PV_OK ||
        !yes)
        return rc;
    if (!(data = pv_refund_json(r)))
        return PV_ENOMEM;
    rc = pv_event_emit(st, r->customer_id, test, PV_EVENT_REFUND_DECIDED, data, now, NULL);
    json_decref(data);
    return rc;
}

/* One attempt, in one transaction: decide and, when approved, pay. */
static int decide(struct pv_store *st, const struct pv_gateways *gws, const char *customer_id,
                  int test, const char *id, int64_t window_s, int64_t now,
                  struct pv_indicium_rec *rec, struct pv_refund_rec *r, char intent_id[PV_ID_MAX])
{
    const char *why;
    int rc;

    memset(r, 0, sizeof *r);
    if ((rc = pv_store_begin(st)) != PV_OK)
        return rc;
    /* Read again inside the transaction: a scan or refund may have come since. */
    if ((rc = pv_store_lock_writer(st)) != PV_OK ||
        (rc = pv_indicium_owned(st, customer_id, test, id, rec)) != PV_OK)
        goto out;
    /* Every decision is final (a refund, a scan, a test piece, an expired
     * window stay so): a repeated request is answered the one made first,
     * with its id, and records nothing new. */
    rc = pv_store_refund_latest(st, rec->id, r);
    if (rc == PV_OK) {
        pv_store_rollback(st);
        return PV_OK;
    }
    if (rc != PV_ENOTFOUND)
        goto out;
    memset(r, 0, sizeof *r);
    if ((rc = pv_new_id("rfd", r->id)) != PV_OK)
        goto out;
    pv_str_copy(r->indicium_id, sizeof r->indicium_id, rec->id);
    pv_str_copy(r->customer_id, sizeof r->customer_id, rec->customer_id);
    r->amount = rec->ind.postage_mills;
    r->requested_at = r->decided_at = now;
    why = denial(rec, now, window_s);
    if (why) {
        r->status = PV_REFUND_DENIED;
        pv_str_copy(r->reason, sizeof r->reason, why);
        rc = pv_store_refund_insert(st, r);
    } else {
        r->status = PV_REFUND_APPROVED;
        if ((rc = pv_store_indicium_mark_refunded(st, rec->id, now)) == PV_OK &&
            (rc = refund_money(st, gws, rec, r, intent_id, now)) == PV_OK &&
            (rc = pv_store_refund_insert(st, r)) == PV_OK)
            rc = pv_claim_open_in(st, r, rec, now); /* the authority owes it back */
    }
    /* A new decision (not the repeat of an approved one): refund.decided, with it. */
    if (rc == PV_OK && !(why && strcmp(why, "already_refunded") == 0))
        rc = emit_decided(st, r, test, now);
    if (rc == PV_OK)
        rc = pv_store_commit(st);
out:
    if (rc != PV_OK)
        pv_store_rollback(st);
    return rc;
}

int pv_refund_request(struct pv_store *st, const struct pv_gateways *gws, const char *customer_id,
                      int test, const char *indicium_id, int64_t window_s, int64_t now,
                      struct pv_refund_rec *out)
{
    struct pv_indicium_rec *rec = calloc(1, sizeof *rec);
    char intent_id[PV_ID_MAX];
    int rc = PV_ENOMEM, attempt;

    memset(out, 0, sizeof *out);
    for (attempt = 0; rec && attempt < 2; attempt++) {
        intent_id[0] = '\0';
        pv_indicium_rec_clear(rec); /* the first attempt's */
        rc = decide(st, gws, customer_id, test, indicium_id, window_s, now, rec, out, intent_id);
        if (rc != PV_EEXIST) /* a concurrent refund won: decide again, answer it */
            break;
    }
    pv_indicium_recs_free(rec, rec ? 1 : 0);
    if (rc == PV_OK && intent_id[0]) {
        /* Decided and committed: now the card. Left pending, the recovery pays it. */
        pv_crash_point("refund_after_commit");
        pv_intent_refund(st, gws, intent_id, pv_now_ms());
    }
    return rc;
}
