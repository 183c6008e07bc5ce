/*
 * h_payments.c - how customers pay (docs/payments.md): saved cards,
 * prepaid funds, auto-refill, the transaction history and refunds.
 *
 * Card numbers and CVCs are read from the request body into a
 * pv_card_input, handed to the gateway's tokenize, and never copied
 * anywhere else: not into the store, a log line, an error message, or the
 * request fingerprint used for idempotency (scrubbed first).
 */
#include "server/h_payments.h"

#include "crypto/primitives.h"
#include "domain/funds.h"
#include "domain/ledger.h"
#include "domain/refund.h"
#include "server/views.h"
#include "stampd/card.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFILL_MIN 5000 /* auto-refill amount of at least $5.00 */

static int whole_cents(pv_mills m)
{
    return m % 10 == 0;
}

/* A money field given as a "12.34" string: into *out, or rp set. */
static int get_money(json_t *root, const char *name, int required, pv_mills min, pv_mills max,
                     pv_mills *out, struct pv_reply *rp)
{
    const char *text;
    char msg[160], a[32], b[32];
    int rc;

    if ((rc = pv_body_string(root, name, required, 32, PV_EAMOUNT, &text, rp)) != PV_OK)
        return rc;
    if (!text)
        return PV_ENOTFOUND;
    if (pv_money_parse(text, out) != PV_OK || !whole_cents(*out) || *out < min || *out > max) {
        snprintf(msg, sizeof msg, "%s must be whole cents from %s to %s (\"25.00\")", name,
                 pv_money_format(min, a, sizeof a), pv_money_format(max, b, sizeof b));
        pv_reply_error(rp, PV_EAMOUNT, name, msg);
        return PV_EAMOUNT;
    }
    return PV_OK;
}

static const char *money(pv_mills m, char buf[32])
{
    return pv_money_format(m, buf, 32);
}

static const char *const card_fields[] = {"number", "exp_month", "exp_year", "cvc", "zip", NULL};

/* Names of card fields as the API reports them. */
static const char *card_field(const char *f)
{
    static const char *const names[][2] = {{"number", "card.number"},
                                           {"exp_month", "card.exp_month"},
                                           {"exp_year", "card.exp_year"},
                                           {"cvc", "card.cvc"},
                                           {"zip", "card.zip"}};
    size_t i;

    for (i = 0; f && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(f, names[i][0]) == 0)
            return names[i][1];
    return "card";
}

/* Read card (borrowed JSON) and exchange it for a gateway token into pay. */
static int tokenize_card(struct pv_gateway *gw, json_t *card, struct pv_payment *pay,
                         struct pv_card_info *info, struct pv_reply *rp)
{
    struct pv_card_input in;
    const char *k, *field = NULL;
    char *token = NULL;
    json_t *v;
    int rc;

    if (!json_is_object(card)) {
        pv_reply_error(rp, PV_ECARDINVALID, "card", "card must be an object");
        return PV_ECARDINVALID;
    }
    json_object_foreach(card, k, v)
    {
        size_t i;
        for (i = 0; card_fields[i] && strcmp(k, card_fields[i]) != 0; i++)
            ;
        if (!card_fields[i]) {
            pv_reply_error(rp, PV_EUNKNOWNFIELD, "card", "unknown field in card");
            return PV_EUNKNOWNFIELD;
        }
    }
    memset(&in, 0, sizeof in);
    v = json_object_get(card, "number");
    in.number = json_is_string(v) ? json_string_value(v) : NULL;
    v = json_object_get(card, "exp_month");
    in.exp_month = json_is_integer(v) ? (int) json_integer_value(v) : 0;
    v = json_object_get(card, "exp_year");
    in.exp_year = json_is_integer(v) ? (int) json_integer_value(v) : 0;
    v = json_object_get(card, "cvc");
    in.cvc = json_is_string(v) ? json_string_value(v) : NULL;
    v = json_object_get(card, "zip");
    in.zip = json_is_string(v) ? json_string_value(v) : NULL;
    if (!gw) {
        pv_reply_error(rp, PV_ENOGATEWAY, "payment", NULL);
        return PV_ENOGATEWAY;
    }
    rc = pv_gateway_tokenize(gw, &in, (int) (pv_date_from_unix(pv_now()) / 100), &token, info,
                             &field);
    if (rc != PV_OK) {
        /* The message names the field, never its value. */
        pv_reply_error(rp, rc == PV_EINVAL ? PV_ECARDINVALID : rc,
                       rc == PV_EINVAL ? card_field(field) : NULL, NULL);
        return rc == PV_EINVAL ? PV_ECARDINVALID : rc;
    }
    pv_str_copy(pay->source, sizeof pay->source, token);
    pv_str_copy(pay->brand, sizeof pay->brand, info->brand);
    pv_str_copy(pay->last4, sizeof pay->last4, info->last4);
    free(token);
    return PV_OK;
}

int pv_payments_parse(struct pv_app *app, struct pv_store *st, const struct pv_principal *who,
                      json_t *pay, int allow_balance, struct pv_payment *out, struct pv_reply *rp)
{
    struct pv_payment_method_rec pm;
    struct pv_card_info info;
    json_t *m, *card, *pmid;
    const char *k;
    json_t *v;
    int rc;

    memset(out, 0, sizeof *out);
    if (!pay && allow_balance)
        return PV_OK;
    if (!pay) {
        pv_reply_error(rp, PV_EMISSING, "payment", NULL);
        return PV_EMISSING;
    }
    m = json_is_object(pay) ? json_object_get(pay, "method") : NULL;
    if (!json_is_string(m)) {
        pv_reply_error(rp, PV_ETYPE, "payment",
                       "payment must be {\"method\": \"balance\"} or {\"method\": \"card\", ...}");
        return PV_ETYPE;
    }
    json_object_foreach(pay, k, v)
    {
        if (strcmp(k, "method") != 0 && strcmp(k, "card") != 0 &&
            strcmp(k, "payment_method_id") != 0) {
            pv_reply_error(rp, PV_EUNKNOWNFIELD, "payment", "unknown field in payment");
            return PV_EUNKNOWNFIELD;
        }
    }
    card = json_object_get(pay, "card");
    pmid = json_object_get(pay, "payment_method_id");
    if (strcmp(json_string_value(m), "balance") == 0 && allow_balance && !card && !pmid)
        return PV_OK;
    if (strcmp(json_string_value(m), "card") != 0 || (!card == !pmid)) {
        pv_reply_error(rp, PV_EINVAL, "payment.method",
                       allow_balance ? "payment is {\"method\":\"balance\"}, or \"card\" with "
                                       "one of card or payment_method_id"
                                     : "payment is {\"method\":\"card\"} with one of card or "
                                       "payment_method_id");
        return PV_EINVAL;
    }
    out->method = PV_PAY_CARD;
    if (card)
        return tokenize_card(pv_pay_gateway(&app->gws, who->test), card, out, &info, rp);
    if (!json_is_string(pmid) || json_string_length(pmid) >= PV_ID_MAX) {
        pv_reply_error(rp, PV_ETYPE, "payment.payment_method_id", NULL);
        return PV_ETYPE;
    }
    rc = pv_store_pm_get(st, who->owner_id, json_string_value(pmid), &pm);
    if (rc == PV_OK && pm.test != who->test)
        rc = PV_ENOTFOUND; /* test cards are for test keys only, and live for live */
    if (rc != PV_OK) {
        pv_reply_error(rp, rc, "payment.payment_method_id",
                       rc == PV_ENOTFOUND ? "no such saved card" : NULL);
        return rc;
    }
    if (!pv_pay_gateway(&app->gws, who->test)) {
        pv_reply_error(rp, PV_ENOGATEWAY, "payment", NULL);
        return PV_ENOGATEWAY;
    }
    pv_str_copy(out->source, sizeof out->source, pm.gateway_ref);
    pv_str_copy(out->payment_method_id, sizeof out->payment_method_id, pm.id);
    pv_str_copy(out->brand, sizeof out->brand, pm.brand);
    pv_str_copy(out->last4, sizeof out->last4, pm.last4);
    return PV_OK;
}

/* The card object's number cut to its last four digits, its CVC gone; PV_ENOMEM when the
 * number could not be replaced (a fingerprint of what is left would not be the request's). */
static int scrub_card_object(json_t *card)
{
    json_t *num = json_object_get(card, "number");
    char last4[5] = "";
    size_t n, i, k = 4;

    if (json_is_string(num)) {
        const char *s = json_string_value(num);
        /* Keep the last four digits: enough to tell two cards apart in a retry. */
        for (n = strlen(s), i = n; i > 0 && k > 0; i--)
            if (s[i - 1] >= '0' && s[i - 1] <= '9')
                last4[--k] = s[i - 1];
        memmove(last4, last4 + k, 5 - k);
        if (json_object_set_new(card, "number", json_string(last4)) != 0)
            return PV_ENOMEM;
    }
    json_object_del(card, "cvc");
    return PV_OK;
}

int pv_payments_scrub_card(json_t *root)
{
    json_t *pay = json_object_get(root, "payment");
    json_t *card = json_is_object(pay) ? json_object_get(pay, "card") : NULL;

    return json_is_object(card) ? scrub_card_object(card) : PV_OK;
}

static json_t *pm_json(const struct pv_payment_method_rec *pm)
{
    char created[32];

    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:s}", "id", pm->id, "object",
                     "payment_method", "brand", pm->brand, "last4", pm->last4, "exp_month",
                     pm->exp_month, "exp_year", pm->exp_year, "mode", pm->test ? "test" : "live",
                     "created", pv_time_format(pm->created, created, sizeof created));
}

static const char *const pm_fields[] = {"card", NULL};

void pv_h_payment_methods(struct pv_call *c)
{
    struct pv_app *app = c->app;
    struct pv_store *st = c->st;
    const struct pv_principal *who = c->who;
    const char *id = c->id;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    struct pv_payment_method_rec *list = NULL, pm;
    struct pv_card_info info;
    struct pv_payment pay;
    size_t n = 0, i;
    json_t *arr, *root;
    int rc;

    if (strcmp(rq->method, "GET") == 0 && !id) {
        if ((rc = pv_store_pm_list(st, who->owner_id, who->test, &list, &n)) != PV_OK) {
            pv_reply_error(rp, rc, NULL, NULL);
            return;
        }
        arr = json_array();
        for (i = 0; arr && i < n; i++)
            if (json_array_append_new(arr, pm_json(&list[i])) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        free(list);
        pv_reply_json(rp, 200, arr ? json_pack("{s:s, s:o}", "object", "list", "data", arr) : NULL);
        return;
    }
    if (id && strcmp(rq->method, "DELETE") == 0) {
        /* The card goes and the auto-refill that used it stops, or neither. */
        rc = pv_pay_method_delete(st, who->owner_id, who->test, id, pv_now());
        if (rc != PV_OK)
            pv_reply_error(rp, rc, rc == PV_ENOTFOUND ? "id" : NULL,
                           rc == PV_ENOTFOUND ? "no such saved card" : NULL);
        else
            pv_reply_json(
                rp, 200,
                json_pack("{s:s, s:s, s:b}", "id", id, "object", "payment_method", "deleted", 1));
        return;
    }
    /* The route table lets only POST of the list on (and DELETE of one card, above). */
    rp->collect = 1; /* every bad field listed */
    if (!(root = pv_body_object(rq, pm_fields, rp)))
        return;
    memset(&pay, 0, sizeof pay);
    if (!json_object_get(root, "card"))
        pv_reply_error(rp, PV_EMISSING, "card", NULL);
    if (pv_reply_failed(rp)) /* the card is sent to the gateway only in a good body */
        goto out;
    if (tokenize_card(pv_pay_gateway(&app->gws, who->test), json_object_get(root, "card"), &pay,
                      &info, rp) != PV_OK)
        goto out;
    memset(&pm, 0, sizeof pm);
    if ((rc = pv_new_id("pm", pm.id)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    pv_str_copy(pm.customer_id, sizeof pm.customer_id, who->owner_id);
    pm.test = who->test;
    pv_str_copy(pm.gateway_ref, sizeof pm.gateway_ref, pay.source);
    pv_str_copy(pm.brand, sizeof pm.brand, info.brand);
    pv_str_copy(pm.last4, sizeof pm.last4, info.last4);
    pm.exp_month = info.exp_month;
    pm.exp_year = info.exp_year;
    pm.created = pv_now();
    if ((rc = pv_store_pm_insert(st, &pm)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    pv_reply_json(rp, 201, pm_json(&pm));
out:
    json_decref(root);
}

/* The fingerprint of a request body for idempotency, card number and CVC scrubbed. */
int pv_payments_request_hash(const char *prefix, json_t *root, char out[PV_HASH_HEX])
{
    json_t *pay = json_object_get(root, "payment");
    json_t *card = json_is_object(pay) ? json_object_get(pay, "card") : NULL;
    json_t *scrubbed = NULL;
    /* The prefix and the canonical text, written into a buffer on the stack when they fit (a
     * purchase's body does): json_dumps grew a string of its own by doubling, and it was
     * copied once more behind the prefix - ~8 allocations a purchase on the front (issue 15,
     * session 20). The same bytes are hashed either way. */
    char stack[4096], *buf = stack;
    uint8_t digest[32];
    size_t plen = strlen(prefix), clen = 0, room;
    const size_t flags = JSON_SORT_KEYS | JSON_COMPACT;
    int put_back = 0, rc = PV_OK;

    if (json_is_object(card)) {
        /* Only the card has anything to scrub: a scrubbed shallow copy of it stands in the
         * body while it is written out, then the card goes back - the same text as a
         * scrubbed copy of the whole body, without copying the body (issue 15). jansson's
         * shallow copy leaves out a key it has no memory for, and says nothing. */
        if (!(scrubbed = json_copy(card)) || json_object_size(scrubbed) != json_object_size(card) ||
            scrub_card_object(scrubbed) != PV_OK) {
            json_decref(scrubbed);
            return PV_ENOMEM;
        }
        json_incref(card);
        if (json_object_set(pay, "card", scrubbed) != 0) {
            json_decref(card);
            json_decref(scrubbed);
            return PV_ENOMEM;
        }
        put_back = 1;
    }
    /* json_dumpb, never json_dumps: out of memory, jansson 2.14's string writer drops a
     * key's closing quote and goes on, and the fingerprint would be of another text
     * (test_oom_server). json_dumpb's writer cannot fail: it counts what it cannot store. */
    room = plen < sizeof stack ? sizeof stack - plen : 0;
    if ((clen = json_dumpb(root, room ? stack + plen : NULL, room, flags)) == 0)
        rc = PV_ENOMEM;
    else if (clen > room) { /* too long for the stack: its own buffer, written again */
        if (!(buf = malloc(plen + clen)) || json_dumpb(root, buf + plen, clen, flags) != clen)
            rc = PV_ENOMEM;
    }
    if (put_back) {
        json_decref(scrubbed);
        if (json_object_set_new(pay, "card", card) != 0)
            rc = PV_ENOMEM;
    }
    if (rc == PV_OK) {
        memcpy(buf, prefix, plen);
        pv_sha256(buf, plen + clen, digest);
        pv_hex_encode(digest, sizeof digest, out);
    }
    if (buf != stack)
        free(buf); /* NULL when its malloc failed */
    return rc;
}

/* Answer status with the top-up of *res (borrowed): its charge and the balance now. */
static void funds_answer(const struct pv_funds_res *res, int status, struct pv_reply *rp)
{
    const struct pv_charge_rec *c = &res->charge;
    char a[32], b[32], created[32];

    pv_reply_json(
        rp, status,
        json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:{s:s, s:s, s:s, s:o}}", "id", c->ref,
                  "object", "funds", "amount", money(c->amount, a), "amount_mills",
                  (json_int_t) c->amount, "balance", money(res->balance, b), "balance_mills",
                  (json_int_t) res->balance, "created",
                  pv_time_format(c->created, created, sizeof created), "charge", "id", c->id,
                  "brand", c->brand, "last4", c->last4, "payment_method_id",
                  c->payment_method_id[0] ? json_string(c->payment_method_id) : json_null()));
    rp->replayed = res->replayed;
}

static const char *const funds_fields[] = {"amount", "payment", NULL};

void pv_h_funds(struct pv_call *call)
{
    struct pv_app *app = call->app;
    struct pv_store *st = call->st;
    const struct pv_principal *who = call->who;
    const struct pv_request *rq = call->rq;
    struct pv_reply *rp = call->rp;
    char hash[PV_HASH_HEX];
    struct pv_funds_res res;
    struct pv_payment pay;
    pv_mills amount;
    json_t *root;
    int rc;

    if (pv_idem_key_check(rq->idempotency_key, rp) != PV_OK)
        return;
    rp->collect = 1; /* every bad field listed */
    if (!(root = pv_body_object(rq, funds_fields, rp)))
        return;
    if (pv_reply_failed(rp)) { /* unknown fields: list the amount's error too */
        get_money(root, "amount", 1, PV_FUNDS_MIN, PV_FUNDS_MAX, &amount, rp);
        goto out;
    }
    if ((rc = pv_payments_request_hash("POST /v1/account/funds\n", root, hash)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    /* A retry is answered before its card is read again. */
    rc = pv_funds_replay(st, who->owner_id, who->test, rq->idempotency_key, hash, &res);
    if (rc != PV_ENOTFOUND) {
        if (rc == PV_OK)
            funds_answer(&res, 201, rp);
        else
            pv_reply_error(rp, rc, rc == PV_EIDEMREUSED ? "Idempotency-Key" : NULL, NULL);
        goto out;
    }
    if (get_money(root, "amount", 1, PV_FUNDS_MIN, PV_FUNDS_MAX, &amount, rp) != PV_OK ||
        pv_payments_parse(app, st, who, json_object_get(root, "payment"), 0, &pay, rp) != PV_OK)
        goto out;
    rc = pv_funds_add(st, &app->gws, who->owner_id, who->test, rq->idempotency_key, hash, amount,
                      &pay, pv_now(), &res);
    if (rc == PV_OK)
        funds_answer(&res, 201, rp);
    else if (rc == PV_ECARDDECLINED)
        pv_reply_declined(rp, res.decline);
    else
        pv_reply_error(rp, rc,
                       rc == PV_EIDEMREUSED    ? "Idempotency-Key"
                       : rc == PV_ECARDINVALID ? "payment"
                                               : NULL,
                       NULL);
out:
    json_decref(root);
}

static json_t *autorefill_json(const struct pv_autorefill_rec *ar)
{
    char t[32], a[32];

    return json_pack("{s:s, s:b, s:s, s:I, s:s, s:I, s:o}", "object", "auto_refill", "enabled",
                     ar->enabled, "trigger", money(ar->trigger, t), "trigger_mills",
                     (json_int_t) ar->trigger, "amount", money(ar->amount, a), "amount_mills",
                     (json_int_t) ar->amount, "payment_method_id",
                     ar->payment_method_id[0] ? json_string(ar->payment_method_id) : json_null());
}

static const char *const refill_fields[] = {"enabled", "trigger", "amount", "payment_method_id",
                                            NULL};

void pv_h_auto_refill(struct pv_call *c)
{
    struct pv_store *st = c->st;
    const struct pv_principal *who = c->who;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    struct pv_autorefill_rec ar;
    struct pv_payment_method_rec pm;
    const char *pmid;
    json_t *root, *en;
    int rc;

    rc = pv_store_autorefill_get(st, who->owner_id, who->test, &ar);
    if (rc == PV_ENOTFOUND) {
        memset(&ar, 0, sizeof ar);
        pv_str_copy(ar.customer_id, sizeof ar.customer_id, who->owner_id);
        ar.test = who->test;
    } else if (rc != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    if (strcmp(rq->method, "GET") == 0) {
        pv_reply_json(rp, 200, autorefill_json(&ar));
        return;
    }
    /* PUT or POST: the route table lets no other method on. */
    rp->collect = 1; /* every bad field listed */
    if (!(root = pv_body_object(rq, refill_fields, rp)))
        return;
    en = json_object_get(root, "enabled");
    if (!json_is_boolean(en))
        pv_reply_error(rp, en ? PV_ETYPE : PV_EMISSING, "enabled", "enabled must be true or false");
    /* Not sure whether it is being turned on: the others are then optional. */
    ar.enabled = json_is_true(en);
    get_money(root, "trigger", ar.enabled, 0, PV_FUNDS_MAX, &ar.trigger, rp);
    get_money(root, "amount", ar.enabled, REFILL_MIN, PV_FUNDS_MAX, &ar.amount, rp);
    pv_body_string(root, "payment_method_id", ar.enabled, PV_ID_MAX - 1, PV_EINVAL, &pmid, rp);
    if (pv_reply_failed(rp))
        goto out;
    if (pmid) {
        rc = pv_store_pm_get(st, who->owner_id, pmid, &pm);
        if (rc == PV_OK && pm.test != who->test)
            rc = PV_ENOTFOUND;
        if (rc != PV_OK) {
            pv_reply_error(rp, rc, "payment_method_id",
                           rc == PV_ENOTFOUND ? "no such saved card" : NULL);
            goto out;
        }
        pv_str_copy(ar.payment_method_id, sizeof ar.payment_method_id, pmid);
    }
    ar.updated = pv_now();
    if ((rc = pv_store_autorefill_put(st, &ar)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    pv_reply_json(rp, 200, autorefill_json(&ar));
out:
    json_decref(root);
}

void pv_h_transactions(struct pv_call *c)
{
    struct pv_store *st = c->st;
    const struct pv_principal *who = c->who;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    struct pv_txn_rec *rows = NULL;
    struct pv_list_page pg;
    char acct[PV_ACCOUNT_MAX], id[32], at[32], a[32];
    uint64_t before = 0;
    size_t n = 0, i;
    json_t *arr;
    int rc;

    if (pv_list_args(rq, &pg, rp) != PV_OK)
        return;
    if (pv_list_cursor_num(&pg, "txn_", (uint64_t) INT64_MAX, &before, rp) != PV_OK)
        return;
    pv_account_customer_mode(who->owner_id, who->test, acct);
    if ((rc = pv_store_account_lines(st, acct, (int64_t) before, (size_t) pg.limit + 1, &rows,
                                     &n)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n && i < pg.limit; i++) {
        snprintf(id, sizeof id, "txn_%lld", (long long) rows[i].journal_id);
        pv_list_push(&arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "id", id, "object",
                                     "transaction", "kind", rows[i].kind, "ref", rows[i].ref,
                                     "amount", money(rows[i].amount, a), "amount_mills",
                                     (json_int_t) rows[i].amount, "created",
                                     pv_time_format(rows[i].at, at, sizeof at)));
    }
    if (n > pg.limit)
        snprintf(id, sizeof id, "txn_%lld", (long long) rows[pg.limit - 1].journal_id);
    pv_reply_list(rp, arr, n > pg.limit ? id : NULL);
    free(rows);
}

void pv_h_refund(struct pv_call *c)
{
    struct pv_app *app = c->app;
    struct pv_store *st = c->st;
    const struct pv_principal *who = c->who;
    const char *id = c->id;
    struct pv_reply *rp = c->rp;
    struct pv_indicium_rec *rec;
    struct pv_refund_rec r;
    int rc;

    if (!(rec = calloc(1, sizeof *rec))) {
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        return;
    }
    if (pv_view_own_indicium(st, who, id, rec, rp) != PV_OK)
        goto out;
    if (strcmp(c->rq->method, "GET") == 0) {
        rc = pv_store_refund_latest(st, id, &r);
        if (rc != PV_OK)
            pv_reply_error(rp, rc, NULL, rc == PV_ENOTFOUND ? "no refund was requested" : NULL);
        else
            pv_reply_json(rp, 200, pv_refund_json(&r));
        goto out;
    }
    rc = pv_refund_request(st, &app->gws, who->owner_id, who->test, id, app->refund_window_s,
                           pv_now(), &r);
    if (rc != PV_OK)
        pv_reply_error(rp, rc, NULL, NULL);
    else
        pv_reply_json(rp, r.status == PV_REFUND_APPROVED ? 201 : 200, pv_refund_json(&r));
out:
    pv_indicium_recs_free(rec, 1);
}
