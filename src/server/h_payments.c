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

#include <stdint.h>
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

/* The last (up to) four digits of a card number s, into last4: enough to tell two cards apart
 * in a retry. */
static void card_last4(const char *s, char last4[5])
{
    size_t i, k = 4;

    last4[4] = '\0';
    for (i = strlen(s); i > 0 && k > 0; i--)
        if (s[i - 1] >= '0' && s[i - 1] <= '9')
            last4[--k] = s[i - 1];
    memmove(last4, last4 + k, 5 - k);
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

/*
 * The canonical text of a request body, for its fingerprint: byte for byte what jansson 2.14's
 * json_dumpb writes with JSON_COMPACT | JSON_SORT_KEYS (stored fingerprints were made of that
 * text: a retry made before an upgrade is still known after it), the card - payment.card,
 * c->card - written scrubbed: its number's last four digits (card_last4), no cvc.
 * Written here rather than by jansson, which for every container prints its address into a
 * table of its own (the check for loops, which a parsed body cannot have) and allocates a list
 * of keys to sort: with the scrubbed copy of the card put in the body and taken out again,
 * that was 41,000 of the 192,000 instructions a card purchase cost the HTTP handler
 * (on_request; callgrind, docs/performance.md; issue 15, session 27). Reals are written by jansson
 * itself. Strings are jansson's, so valid UTF-8, whose multi-byte characters have no byte under
 * 0x80: bytes under 0x20, '"' and '\\' are escaped as jansson escapes those characters, and the
 * rest copied as it copies them.
 */
struct canon {
    char *buf; /* the caller's (stack) until it grows, then owned */
    size_t len, cap;
    int heap, failed;
    const json_t *card; /* written scrubbed */
};

struct member {
    const char *key;
    size_t len;
    const json_t *v;
};

static void cn_put(struct canon *c, const char *s, size_t n)
{
    size_t cap = c->cap;
    char *b;

    if (c->failed)
        return;
    if (n > cap - c->len) {
        while (n > cap - c->len && cap <= SIZE_MAX / 2)
            cap *= 2;
        if (n > cap - c->len || !(b = c->heap ? realloc(c->buf, cap) : malloc(cap))) {
            c->failed = 1;
            return;
        }
        if (!c->heap)
            memcpy(b, c->buf, c->len);
        c->buf = b;
        c->cap = cap;
        c->heap = 1;
    }
    memcpy(c->buf + c->len, s, n);
    c->len += n;
}

static void cn_str(struct canon *c, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF"; /* jansson's \u%04X */
    size_t i, from = 0;
    char u[7] = "\\u00";

    cn_put(c, "\"", 1);
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char) s[i];
        const char *e = u;

        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        cn_put(c, s + from, i - from);
        from = i + 1;
        switch (ch) {
        case '"':
            e = "\\\"";
            break;
        case '\\':
            e = "\\\\";
            break;
        case '\b':
            e = "\\b";
            break;
        case '\f':
            e = "\\f";
            break;
        case '\n':
            e = "\\n";
            break;
        case '\r':
            e = "\\r";
            break;
        case '\t':
            e = "\\t";
            break;
        default:
            u[4] = hex[ch >> 4];
            u[5] = hex[ch & 15];
            u[6] = '\0';
        }
        cn_put(c, e, strlen(e));
    }
    cn_put(c, s + from, n - from);
    cn_put(c, "\"", 1);
}

/* jansson's order of keys: their bytes, then the shorter first. */
static int by_key(const void *a, const void *b)
{
    const struct member *x = a, *y = b;
    int r = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);

    return r ? r : (x->len > y->len) - (x->len < y->len);
}

static void cn_value(struct canon *c, const json_t *v);

static void cn_object(struct canon *c, const json_t *o)
{
    struct member few[8], *m = few;
    size_t n = json_object_size(o), k = 0, i;
    const int card = o == c->card;
    char last4[5];
    void *it;

    if (n > sizeof few / sizeof few[0] && !(m = malloc(n * sizeof *m))) {
        c->failed = 1;
        return;
    }
    for (it = json_object_iter((json_t *) o); it && k < n;
         it = json_object_iter_next((json_t *) o, it)) {
        m[k].key = json_object_iter_key(it);
        m[k].len = json_object_iter_key_len(it);
        m[k].v = json_object_iter_value(it);
        if (!card || m[k].len != 3 || memcmp(m[k].key, "cvc", 3) != 0)
            k++;
    }
    if (k > sizeof few / sizeof few[0]) {
        qsort(m, k, sizeof *m, by_key);
    } else { /* a few: in place, without qsort's calls */
        for (i = 1; i < k; i++) {
            struct member x = m[i];
            size_t j = i;

            for (; j > 0 && by_key(&m[j - 1], &x) > 0; j--)
                m[j] = m[j - 1];
            m[j] = x;
        }
    }
    cn_put(c, "{", 1);
    for (i = 0; i < k; i++) {
        if (i)
            cn_put(c, ",", 1);
        cn_str(c, m[i].key, m[i].len);
        cn_put(c, ":", 1);
        if (card && m[i].len == 6 && memcmp(m[i].key, "number", 6) == 0 && json_is_string(m[i].v)) {
            card_last4(json_string_value(m[i].v), last4);
            cn_str(c, last4, strlen(last4));
        } else {
            cn_value(c, m[i].v);
        }
    }
    cn_put(c, "}", 1);
    if (m != few)
        free(m);
}

/* A number as jansson writes it: its buffer in a frame of its own, not in every level of
 * cn_value's recursion (a body may nest as deep as jansson's parser allows, 2048). */
static __attribute__((noinline)) void cn_number(struct canon *c, const json_t *v)
{
    char b[100]; /* jansson's MAX_INTEGER_STR_LENGTH and MAX_REAL_STR_LENGTH */
    size_t n;

    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        unsigned long long u = x < 0 ? 0ULL - (unsigned long long) x : (unsigned long long) x;
        char *p = b + sizeof b;

        do
            *--p = (char) ('0' + u % 10);
        while (u /= 10);
        if (x < 0)
            *--p = '-';
        cn_put(c, p, (size_t) (b + sizeof b - p));
        return;
    }
    n = json_dumpb(v, b, sizeof b, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (n == 0 || n > sizeof b)
        c->failed = 1;
    else
        cn_put(c, b, n);
}

static void cn_value(struct canon *c, const json_t *v)
{
    size_t i, n;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        cn_object(c, v);
        break;
    case JSON_ARRAY:
        cn_put(c, "[", 1);
        for (i = 0, n = json_array_size(v); i < n; i++) {
            if (i)
                cn_put(c, ",", 1);
            cn_value(c, json_array_get(v, i));
        }
        cn_put(c, "]", 1);
        break;
    case JSON_STRING:
        cn_str(c, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        cn_number(c, v);
        break;
    case JSON_TRUE:
        cn_put(c, "true", 4);
        break;
    case JSON_FALSE:
        cn_put(c, "false", 5);
        break;
    default:
        cn_put(c, "null", 4);
    }
}

/* The fingerprint of a request body for idempotency, card number and CVC scrubbed. */
int pv_payments_request_hash(const char *prefix, const json_t *root, char out[PV_HASH_HEX])
{
    const json_t *pay = json_object_get(root, "payment");
    const json_t *card = json_is_object(pay) ? json_object_get(pay, "card") : NULL;
    /* The prefix and the text on the stack when they fit (a purchase's do). */
    char stack[4096];
    struct canon c = {stack, 0, sizeof stack, 0, 0, json_is_object(card) ? card : NULL};
    uint8_t digest[32];
    int rc = PV_OK;

    if (!json_is_object(root))
        return PV_EINVAL; /* a request body is an object (pv_body_object) */
    cn_put(&c, prefix, strlen(prefix));
    cn_object(&c, root);
    if (c.failed) {
        rc = PV_ENOMEM;
    } else {
        pv_sha256(c.buf, c.len, digest);
        pv_hex_encode(digest, sizeof digest, out);
    }
    if (c.heap)
        free(c.buf);
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
