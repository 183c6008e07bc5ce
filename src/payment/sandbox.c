/*
 * sandbox.c - the "sandbox" payment gateway: deterministic outcomes from the
 * widely used test card numbers, everything in memory, no network.
 *
 * Test keys (sk_test_...) use it; so do the tests. The card's outcome is
 * decided at tokenize time from its number and carried in the token
 * ("tok_sandbox_declined_<instance>_<n>"), never the number itself, so a
 * token saved with a payment method still means the same thing after a
 * restart. Charges and refunds are kept in two arrays under one mutex,
 * looked up by idempotency key; a sandbox holds a test run's worth of them,
 * so linear search is fine. docs/payments.md lists the cards.
 */
#include "payment/gateway.h"

#include "crypto/primitives.h"
#include "stampd/error.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sb_charge {
    char *key;    /* idempotency key */
    char *source; /* token or payment-method ref as given */
    pv_mills amount;
    enum pv_pay_result result;
    char *id; /* "ch_..." when approved, else NULL */
    pv_mills refunded;
};

struct sb_refund {
    char *key;
    char *charge_id;
    pv_mills amount;
};

struct sandbox {
    struct pv_gateway base; /* first: a struct pv_gateway * is a struct sandbox * */
    pthread_mutex_t mu;
    char inst[17]; /* random per instance, so ids from two runs differ */
    uint64_t seq;
    struct sb_charge *charges;
    size_t n_charges, cap_charges;
    struct sb_refund *refunds;
    size_t n_refunds, cap_refunds;
};

/* The test cards and their outcomes; any other valid card approves. */
static const struct {
    const char *number;
    enum pv_pay_result result;
} TEST_CARDS[] = {
    {"4000000000000002", PV_PAY_DECLINED},
    {"4000000000009995", PV_PAY_INSUFFICIENT_FUNDS},
    {"4000000000000127", PV_PAY_INCORRECT_CVC},
    {"4000000000000119", PV_PAY_PROCESSING_ERROR},
};

/* Token tag for each result, indexed by enum pv_pay_result. */
static const char *const TAGS[] = {"approved", "declined", "nsf", "cvc", "error"};
#define N_TAGS (sizeof TAGS / sizeof TAGS[0])

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);

    if (p)
        memcpy(p, s, n);
    return p;
}

static int key_ok(const char *key)
{
    return key && key[0] != '\0' && strnlen(key, PV_GATEWAY_MAX_KEY + 1) <= PV_GATEWAY_MAX_KEY;
}

/*
 * The result a source stands for: "tok_" or "pm_", "sandbox_", a tag, "_",
 * then one or more of [0-9a-z_]. Returns PV_OK, PV_EINVAL (empty or too
 * long) or PV_ENOTFOUND (not a sandbox reference).
 */
static int source_result(const char *src, enum pv_pay_result *out)
{
    size_t len = strnlen(src, PV_GATEWAY_MAX_REF + 1);
    const char *p;

    if (len == 0 || len > PV_GATEWAY_MAX_REF)
        return PV_EINVAL;
    if (strncmp(src, "tok_sandbox_", 12) == 0)
        p = src + 12;
    else if (strncmp(src, "pm_sandbox_", 11) == 0)
        p = src + 11;
    else
        return PV_ENOTFOUND;
    for (size_t i = 0; i < N_TAGS; i++) {
        size_t tl = strlen(TAGS[i]);
        const char *rest = p + tl + 1;

        if (strncmp(p, TAGS[i], tl) != 0 || p[tl] != '_' || *rest == '\0')
            continue;
        for (; *rest; rest++)
            if (!((*rest >= '0' && *rest <= '9') || (*rest >= 'a' && *rest <= 'z') || *rest == '_'))
                return PV_ENOTFOUND;
        *out = (enum pv_pay_result) i;
        return PV_OK;
    }
    return PV_ENOTFOUND;
}

static int sb_tokenize(struct pv_gateway *gw, const struct pv_card_input *card, int today_yyyymm,
                       char **token, struct pv_card_info *info, const char **field)
{
    struct sandbox *sb = (struct sandbox *) gw;
    struct pv_card_info ci;
    enum pv_pay_result r = PV_PAY_APPROVED;
    char digits[PV_CARD_MAX_DIGITS + 1];
    char buf[PV_GATEWAY_MAX_REF];
    uint64_t n;
    int rc;

    *token = NULL;
    rc = pv_card_validate(card, today_yyyymm, &ci, field);
    if (rc != PV_OK)
        return rc;
    /* Validation passed, so the digits are well-formed. */
    if (pv_card_digits(card->number, digits, sizeof digits) != PV_OK)
        return PV_EINTERNAL;
    for (size_t i = 0; i < sizeof TEST_CARDS / sizeof TEST_CARDS[0]; i++)
        if (strcmp(digits, TEST_CARDS[i].number) == 0)
            r = TEST_CARDS[i].result;
    pv_card_wipe(digits, sizeof digits);

    pthread_mutex_lock(&sb->mu);
    n = ++sb->seq;
    pthread_mutex_unlock(&sb->mu);
    snprintf(buf, sizeof buf, "tok_sandbox_%s_%s_%llu", TAGS[r], sb->inst, (unsigned long long) n);
    *token = dup_str(buf);
    if (!*token)
        return PV_ENOMEM;
    if (info)
        *info = ci;
    return PV_OK;
}

static struct sb_charge *find_charge_by_key(struct sandbox *sb, const char *key)
{
    for (size_t i = 0; i < sb->n_charges; i++)
        if (strcmp(sb->charges[i].key, key) == 0)
            return &sb->charges[i];
    return NULL;
}

static struct sb_charge *find_charge_by_id(struct sandbox *sb, const char *id)
{
    for (size_t i = 0; i < sb->n_charges; i++)
        if (sb->charges[i].id && strcmp(sb->charges[i].id, id) == 0)
            return &sb->charges[i];
    return NULL;
}

/* Make room for one more element of an array; PV_OK or PV_ENOMEM. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    size_t ncap;
    void *p;

    if (n < *cap)
        return PV_OK;
    ncap = *cap ? *cap * 2 : 16;
    if (ncap > SIZE_MAX / elem)
        return PV_ENOMEM;
    p = realloc(*arr, ncap * elem);
    if (!p)
        return PV_ENOMEM;
    *arr = p;
    *cap = ncap;
    return PV_OK;
}

/* Report a recorded charge to the caller. */
static int answer(const struct sb_charge *c, enum pv_pay_result *result, char **charge_id)
{
    *result = c->result;
    if (charge_id && c->id) {
        *charge_id = dup_str(c->id);
        if (!*charge_id)
            return PV_ENOMEM;
    }
    return PV_OK;
}

static int sb_charge(struct pv_gateway *gw, const char *source, pv_mills amount,
                     const char *idempotency_key, enum pv_pay_result *result, char **charge_id)
{
    struct sandbox *sb = (struct sandbox *) gw;
    struct sb_charge c = {0}, *old;
    char buf[PV_GATEWAY_MAX_REF];
    int rc;

    if (charge_id)
        *charge_id = NULL;
    *result = PV_PAY_PROCESSING_ERROR;
    if (amount <= 0)
        return PV_EINVAL;
    if (amount > PV_MILLS_MAX)
        return PV_EOVERFLOW;
    rc = source_result(source, &c.result);
    if (rc != PV_OK)
        return rc;
    if (!key_ok(idempotency_key))
        return PV_EIDEMREQUIRED;

    pthread_mutex_lock(&sb->mu);
    old = find_charge_by_key(sb, idempotency_key);
    if (old) {
        rc = (old->amount == amount && strcmp(old->source, source) == 0)
                 ? answer(old, result, charge_id)
                 : PV_EIDEMREUSED;
        goto out;
    }
    rc = grow((void **) &sb->charges, &sb->cap_charges, sb->n_charges, sizeof c);
    if (rc != PV_OK)
        goto out;
    c.amount = amount;
    c.key = dup_str(idempotency_key);
    c.source = dup_str(source);
    if (c.result == PV_PAY_APPROVED) {
        snprintf(buf, sizeof buf, "ch_sandbox_%s_%llu", sb->inst, (unsigned long long) ++sb->seq);
        c.id = dup_str(buf);
    }
    if (!c.key || !c.source || (c.result == PV_PAY_APPROVED && !c.id)) {
        free(c.key);
        free(c.source);
        free(c.id);
        rc = PV_ENOMEM;
        goto out;
    }
    sb->charges[sb->n_charges++] = c;
    rc = answer(&c, result, charge_id);
out:
    pthread_mutex_unlock(&sb->mu);
    return rc;
}

static int sb_refund(struct pv_gateway *gw, const char *charge_id, pv_mills amount,
                     const char *idempotency_key, pv_mills *refunded_total)
{
    struct sandbox *sb = (struct sandbox *) gw;
    struct sb_charge *c;
    struct sb_refund r = {0};
    pv_mills total;
    int rc;

    if (refunded_total)
        *refunded_total = 0;
    if (amount <= 0)
        return PV_EINVAL;
    if (amount > PV_MILLS_MAX)
        return PV_EOVERFLOW;
    if (!key_ok(idempotency_key))
        return PV_EIDEMREQUIRED;

    pthread_mutex_lock(&sb->mu);
    for (size_t i = 0; i < sb->n_refunds; i++) {
        struct sb_refund *old = &sb->refunds[i];

        if (strcmp(old->key, idempotency_key) != 0)
            continue;
        if (old->amount != amount || strcmp(old->charge_id, charge_id) != 0) {
            rc = PV_EIDEMREUSED;
            goto out;
        }
        c = find_charge_by_id(sb, charge_id);
        if (refunded_total && c)
            *refunded_total = c->refunded;
        rc = PV_OK;
        goto out;
    }
    c = find_charge_by_id(sb, charge_id);
    if (!c) {
        rc = PV_ENOTFOUND;
        goto out;
    }
    rc = pv_money_add(c->refunded, amount, &total);
    if (rc != PV_OK)
        goto out;
    if (total > c->amount) {
        rc = PV_EOVERFLOW;
        goto out;
    }
    rc = grow((void **) &sb->refunds, &sb->cap_refunds, sb->n_refunds, sizeof r);
    if (rc != PV_OK)
        goto out;
    r.key = dup_str(idempotency_key);
    r.charge_id = dup_str(charge_id);
    r.amount = amount;
    if (!r.key || !r.charge_id) {
        free(r.key);
        free(r.charge_id);
        rc = PV_ENOMEM;
        goto out;
    }
    sb->refunds[sb->n_refunds++] = r;
    c->refunded = total;
    if (refunded_total)
        *refunded_total = total;
out:
    pthread_mutex_unlock(&sb->mu);
    return rc;
}

static void sb_close(struct pv_gateway *gw)
{
    struct sandbox *sb = (struct sandbox *) gw;

    for (size_t i = 0; i < sb->n_charges; i++) {
        free(sb->charges[i].key);
        free(sb->charges[i].source);
        free(sb->charges[i].id);
    }
    for (size_t i = 0; i < sb->n_refunds; i++) {
        free(sb->refunds[i].key);
        free(sb->refunds[i].charge_id);
    }
    free(sb->charges);
    free(sb->refunds);
    pthread_mutex_destroy(&sb->mu);
    free(sb);
}

static const struct pv_gateway_ops SANDBOX_OPS = {
    .version = 1,
    .name = "sandbox",
    .tokenize = sb_tokenize,
    .charge = sb_charge,
    .refund = sb_refund,
    .close = sb_close,
};

/*
 * pv_gateway_sandbox_open - a new, empty sandbox gateway in *out (owned,
 * released by pv_gateway_close). Errors: PV_ENOMEM, PV_ECRYPTO.
 */
int pv_gateway_sandbox_open(struct pv_gateway **out)
{
    static const char hex[] = "0123456789abcdef";
    struct sandbox *sb;
    uint8_t rnd[8];

    *out = NULL;
    if (pv_random(rnd, sizeof rnd) != PV_OK)
        return PV_ECRYPTO;
    sb = calloc(1, sizeof *sb);
    if (!sb)
        return PV_ENOMEM;
    if (pthread_mutex_init(&sb->mu, NULL) != 0) {
        free(sb);
        return PV_ENOMEM;
    }
    for (size_t i = 0; i < sizeof rnd; i++) {
        sb->inst[2 * i] = hex[rnd[i] >> 4];
        sb->inst[2 * i + 1] = hex[rnd[i] & 15];
    }
    sb->base.ops = &SANDBOX_OPS;
    *out = &sb->base;
    return PV_OK;
}
