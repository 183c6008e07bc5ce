/*
 * views.c - what several handlers share beyond the domain's indicium view
 * (domain/indicium_view.h): the JSON of a ledger report, the server status
 * names, and the one ownership check that decides whether a caller may see
 * an indicium at all (its customer's and its mode's: domain/mode.h), and
 * the answer of a purchase.
 */
#include "server/views.h"

#include "domain/indicium_view.h"
#include "domain/json_text.h"
#include "domain/ledger.h"
#include "domain/mode.h"
#include "domain/purchase.h"
#include "domain/refund.h"
#include "stampd/error.h"

#include <stdlib.h>
#include <string.h>

const char *const pv_view_server_status[3] = {"active", "draining", "disabled"};

int pv_view_own_indicium(struct pv_store *st, const struct pv_principal *who, const char *id,
                         struct pv_indicium_rec *rec, struct pv_reply *rp)
{
    int rc = pv_indicium_owned(st, who->role == PV_ROLE_OPERATOR ? NULL : who->owner_id, who->test,
                               id, rec);

    if (rc != PV_OK)
        pv_reply_error(rp, rc, NULL, rc == PV_ENOTFOUND ? "no such indicium" : NULL);
    return rc;
}

/* The report of pv_ledger_check as JSON; used by the API. */
json_t *pv_view_ledger(const struct pv_ledger_report *rep)
{
    static const char *const kinds[] = {"", "unbalanced_journal", "account_mismatch",
                                        "psd_mismatch", "totals_mismatch"};
    json_t *arr = json_array();
    size_t i;

    for (i = 0; arr && i < rep->n; i++) {
        const struct pv_ledger_issue *x = &rep->issues[i];
        json_array_append_new(arr,
                              json_pack("{s:s, s:s, s:I, s:I}", "kind",
                                        x->kind >= 1 && x->kind <= 4 ? kinds[x->kind] : "?", "name",
                                        x->name, "recorded_mills", (json_int_t) x->recorded,
                                        "computed_mills", (json_int_t) x->computed));
    }
    return arr ? json_pack("{s:b, s:I, s:I, s:o}", "ok", rep->n == 0, "journals",
                           (json_int_t) rep->journals, "accounts", (json_int_t) rep->accounts,
                           "issues", arr)
               : NULL;
}

/* pv_view_payment - see views.h. The bytes jansson wrote of the object it was before
 * (issue 15, session 27: built with json_pack and dumped, ~19,000 instructions of a card
 * purchase's answer). */
void pv_view_payment(struct pv_jtext *t, const struct pv_purchase_req *q,
                     const struct pv_purchase_res *r)
{
    pv_jt_open(t, '{');
    pv_jt_key(t, "method");
    if (q->pay.method == PV_PAY_CARD) {
        pv_jt_str(t, "card");
        pv_jt_key(t, "charge_id");
        pv_jt_str(t, r->charge_id);
        pv_jt_key(t, "brand");
        pv_jt_str(t, q->pay.brand);
        pv_jt_key(t, "last4");
        pv_jt_str(t, q->pay.last4);
        pv_jt_key(t, "payment_method_id");
        pv_jt_str(t, q->pay.payment_method_id[0] ? q->pay.payment_method_id : NULL);
    } else {
        pv_jt_str(t, "balance");
    }
    if (r->refill_id[0]) {
        pv_jt_key(t, "auto_refill");
        pv_jt_open(t, '{');
        pv_jt_key(t, "charge_id");
        pv_jt_str(t, r->refill_id);
        pv_jt_key(t, "amount");
        pv_jt_money(t, r->refilled);
        pv_jt_key(t, "amount_mills");
        pv_jt_int(t, r->refilled);
        pv_jt_close(t, '}');
    }
    pv_jt_close(t, '}');
}

/* pv_view_purchase - see views.h. Written as text (json_text.h): the same
 * bytes as the jansson tree send_reply would dump, without its hundred
 * allocations, for the answer every purchase gets. */
void pv_view_purchase(const struct pv_indicium_rec *rec, pv_mills balance,
                      const struct pv_purchase_req *q, const struct pv_purchase_res *r,
                      json_t *fixes, struct pv_reply *rp)
{
    struct pv_jtext t;
    size_t len;
    char *text;

    pv_jt_init(&t, 2048);
    pv_indicium_text(&t, rec);
    pv_jt_key(&t, "balance_mills");
    pv_jt_int(&t, balance);
    if (q) {
        pv_jt_key(&t, "payment");
        pv_view_payment(&t, q, r);
    }
    if (fixes) {
        pv_jt_key(&t, "address_corrections");
        pv_jt_json(&t, fixes);
    }
    pv_jt_close(&t, '}');
    if (!(text = pv_jt_take(&t, &len))) {
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        return;
    }
    json_decref(rp->body);
    rp->body = NULL;
    rp->status = 201;
    rp->raw = (uint8_t *) text;
    rp->raw_len = len;
    rp->content_type = "application/json";
}

/* 1 when id (pv_new_id's: "<prefix>_", the time in ms in its first
 * PV_ID_TIME_CHARS characters, Crockford base 32) was made before ms. */
static int made_before(const char *id, int64_t ms)
{
    static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
    const char *p = strchr(id, '_'), *c;
    int64_t t = 0;
    size_t i;

    if (!p || strlen(p + 1) < PV_ID_TIME_CHARS)
        return 0;
    for (i = 1; i <= PV_ID_TIME_CHARS; i++) {
        if (!p[i] || !(c = strchr(alphabet, p[i])))
            return 0;
        t = t * 32 + (c - alphabet);
    }
    return t < ms;
}

/* pv_view_replay - see views.h. Before any validation that depends on the
 * day, so a retry days later still gets its stamp. The processor checks
 * again inside its transaction, which settles races. */
int pv_view_replay(struct pv_store *st, const char *customer, int test, const char *key,
                   int64_t before_ms, const char *req_hash, struct pv_reply *rp)
{
    char stored[PV_HASH_HEX], id[PV_ID_MAX], acct[PV_ACCOUNT_MAX], owner[PV_ID_MAX];
    struct pv_indicium_rec *rec;
    pv_mills bal;
    int rc;

    pv_idem_owner(customer, test, owner);
    rc = pv_store_purchase_key(st, owner, key, stored, id);
    if (rc != PV_OK)
        return rc;
    if (!id[0])
        return PV_ENOTFOUND; /* a card attempt on its way: its batch answers (purchase_key) */
    if (before_ms > 0 && !made_before(id, before_ms))
        return PV_ENOTFOUND; /* not there yet when the read would have been made */
    if (strcmp(stored, req_hash) != 0) {
        pv_reply_error(rp, PV_EIDEMREUSED, "Idempotency-Key", NULL);
        return PV_OK;
    }
    rec = malloc(sizeof *rec);
    if (!rec)
        return PV_ENOMEM;
    pv_account_customer_mode(customer, test, acct);
    if ((rc = pv_store_indicium_get(st, id, rec)) == PV_OK &&
        (rc = pv_balance(st, acct, &bal)) == PV_OK) {
        pv_view_purchase(rec, bal, NULL, NULL, NULL, rp);
        rp->replayed = 1;
    }
    pv_indicium_rec_clear(rec);
    free(rec);
    return rc;
}

/* pv_view_replay_late - see views.h. */
int pv_view_replay_late(struct pv_store *st, const char *customer, int test, const char *key,
                        int64_t before_ms, const char *req_hash, struct pv_reply *rp)
{
    struct pv_reply r;
    int rc;

    memset(&r, 0, sizeof r);
    if ((rc = pv_view_replay(st, customer, test, key, before_ms, req_hash, &r)) == PV_ENOTFOUND)
        return 0;
    json_decref(rp->body);
    rp->body = NULL;
    rp->status = 0;
    rp->collect = 0;
    if (rc != PV_OK) {
        json_decref(r.body);
        free(r.raw);
        pv_reply_error(rp, rc, NULL, NULL);
        return 1;
    }
    rp->status = r.status;
    rp->body = r.body;
    rp->raw = r.raw;
    rp->raw_len = r.raw_len;
    rp->content_type = r.content_type;
    rp->replayed = r.replayed;
    return 1;
}
