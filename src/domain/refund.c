/*
 * refund.c - decide a refund request and move its money (refund.h).
 */
#include "domain/refund.h"

#include "domain/ledger.h"
#include "domain/mode.h"
#include "stampd/error.h"

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

    if (strlen(id) >= PV_ID_MAX)
        return PV_ENOTFOUND;
    if ((rc = pv_store_indicium_get(st, id, rec)) != PV_OK)
        return rc;
    /* Another customer's piece, or one of the other mode, does not exist. */
    if (owner_id &&
        (strcmp(rec->customer_id, owner_id) != 0 || !pv_mode_sees(test, pv_indicium_mode(rec))))
        return PV_ENOTFOUND;
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

/* Approve: credit the balance, then send it on to the card when a card paid. */
static int refund_money(struct pv_store *st, const struct pv_gateways *gws,
                        const struct pv_indicium_rec *rec, struct pv_refund_rec *r, int64_t now)
{
    struct pv_ledger_line lines[2];
    struct pv_charge_rec c;
    struct pv_gateway *gw;
    char key[PV_ID_MAX + 8];
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
    gw = pv_pay_gateway(gws, c.test);
    /*
     * One key per indicium, not per request: if this transaction fails to
     * commit after the gateway paid, the retry's refund is the same one
     * again at the gateway, never a second. A gateway that does not know the
     * charge (the sandbox of another process, say) leaves the money on the
     * balance, where the customer can spend it; any other failure refuses
     * the refund for now (nothing is written) so that it is retried.
     */
    snprintf(key, sizeof key, "refund:%s", rec->id);
    if (!gw)
        return PV_OK;
    rc = pv_gateway_refund(gw, c.id, r->amount, key, NULL);
    if (rc == PV_ENOTFOUND)
        return PV_OK;
    if (rc != PV_OK)
        return PV_EGATEWAY;
    if ((rc = pv_store_charge_add_refund(st, c.id, r->amount)) != PV_OK)
        return rc;
    lines[0].amount = -r->amount;
    snprintf(lines[0].account, sizeof lines[0].account, "%s", lines[1].account);
    pv_account_mode(PV_ACCT_CLEARING, 0, lines[1].account);
    lines[1].amount = r->amount;
    if ((rc = pv_ledger_post(st, "card_refund", r->id, lines, 2, now)) != PV_OK)
        return rc;
    snprintf(r->destination, sizeof r->destination, "card");
    return PV_OK;
}

/* One attempt, in one transaction: decide and, when approved, pay. */
static int decide(struct pv_store *st, const struct pv_gateways *gws, const char *customer_id,
                  int test, const char *id, int64_t window_s, int64_t now,
                  struct pv_indicium_rec *rec, struct pv_refund_rec *r)
{
    const char *why;
    int rc;

    memset(r, 0, sizeof *r);
    if ((rc = pv_new_id("rfd", r->id)) != PV_OK || (rc = pv_store_begin(st)) != PV_OK)
        return rc;
    /* Read again inside the transaction: a scan or refund may have come since. */
    if ((rc = pv_store_lock_writer(st)) != PV_OK ||
        (rc = pv_indicium_owned(st, customer_id, test, id, rec)) != PV_OK)
        goto out;
    snprintf(r->indicium_id, sizeof r->indicium_id, "%s", rec->id);
    snprintf(r->customer_id, sizeof r->customer_id, "%s", rec->customer_id);
    r->amount = rec->ind.postage_mills;
    r->requested_at = r->decided_at = now;
    why = denial(rec, now, window_s);
    if (why) {
        r->status = PV_REFUND_DENIED;
        snprintf(r->reason, sizeof r->reason, "%s", why);
        /* The approved refund stays the indicium's latest word on it. */
        rc = strcmp(why, "already_refunded") == 0 ? PV_OK : pv_store_refund_insert(st, r);
    } else {
        r->status = PV_REFUND_APPROVED;
        if ((rc = pv_store_indicium_mark_refunded(st, rec->id, now)) == PV_OK &&
            (rc = refund_money(st, gws, rec, r, now)) == PV_OK)
            rc = pv_store_refund_insert(st, r);
    }
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
    struct pv_indicium_rec *rec = malloc(sizeof *rec);
    int rc = PV_ENOMEM, attempt;

    memset(out, 0, sizeof *out);
    for (attempt = 0; rec && attempt < 2; attempt++) {
        rc = decide(st, gws, customer_id, test, indicium_id, window_s, now, rec, out);
        if (rc != PV_EEXIST) /* a concurrent refund won: decide again, it is denied */
            break;
    }
    free(rec);
    return rc;
}
