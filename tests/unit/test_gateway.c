/*
 * test_gateway.c - the payment-gateway interface through the sandbox
 * backend: every test card's outcome, tokens free of card data, idempotent
 * charges (also under concurrency), refund limits, amount bounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "payment/gateway.h"
#include "stampd/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TODAY 202611

static int setup(void **state)
{
    struct pv_gateway *gw = NULL;

    if (pv_gateway_open("sandbox", &gw) != PV_OK)
        return -1;
    *state = gw;
    return 0;
}

static int teardown(void **state)
{
    pv_gateway_close(*state);
    return 0;
}

static int contains(const void *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    const unsigned char *h = hay;

    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(h + i, needle, k) == 0)
            return 1;
    return 0;
}

/* Tokenize number (amex gets a 4-digit CVC); returns an owned token. */
static char *tokenize(struct pv_gateway *gw, const char *number, struct pv_card_info *info)
{
    const char *cvc = (number[0] == '3') ? "1234" : "123";
    struct pv_card_input in = {number, 12, 2030, cvc, "94103"};
    const char *field = "unset";
    char *tok = NULL;

    assert_int_equal(pv_gateway_tokenize(gw, &in, TODAY, &tok, info, &field), PV_OK);
    assert_null(field);
    assert_non_null(tok);
    return tok;
}

static void test_open(void **state)
{
    struct pv_gateway *gw = *state;
    struct pv_gateway *other = (struct pv_gateway *) 1;

    assert_int_equal(gw->ops->version, 1);
    assert_string_equal(gw->ops->name, "sandbox");
    assert_int_equal(pv_gateway_open("stripe", &other), PV_ECONFIG);
    assert_null(other);
    other = (struct pv_gateway *) 1;
    assert_int_equal(pv_gateway_open(NULL, &other), PV_ECONFIG);
    assert_null(other);
    assert_int_equal(pv_gateway_open("sandbox", NULL), PV_EINVAL);
    pv_gateway_close(NULL);
}

static void test_result_codes(void **state)
{
    assert_string_equal(pv_pay_result_code(PV_PAY_APPROVED), "approved");
    assert_string_equal(pv_pay_result_code(PV_PAY_DECLINED), "card_declined");
    assert_string_equal(pv_pay_result_code(PV_PAY_INSUFFICIENT_FUNDS), "insufficient_funds");
    assert_string_equal(pv_pay_result_code(PV_PAY_INCORRECT_CVC), "incorrect_cvc");
    assert_string_equal(pv_pay_result_code(PV_PAY_PROCESSING_ERROR), "processing_error");
    assert_string_equal(pv_pay_result_code((enum pv_pay_result) 99), "unknown");
}

static const struct {
    const char *number;
    const char *brand;
    enum pv_pay_result result;
} CARDS[] = {
    {"4242424242424242", "visa", PV_PAY_APPROVED},
    {"5555555555554444", "mastercard", PV_PAY_APPROVED},
    {"378282246310005", "amex", PV_PAY_APPROVED},
    {"6011111111111117", "discover", PV_PAY_APPROVED},
    {"4111111111111111", "visa", PV_PAY_APPROVED}, /* any other valid card */
    {"4000000000000002", "visa", PV_PAY_DECLINED},
    {"4000000000009995", "visa", PV_PAY_INSUFFICIENT_FUNDS},
    {"4000000000000127", "visa", PV_PAY_INCORRECT_CVC},
    {"4000000000000119", "visa", PV_PAY_PROCESSING_ERROR},
};

static void test_sandbox_cards(void **state)
{
    struct pv_gateway *gw = *state;

    for (size_t i = 0; i < sizeof CARDS / sizeof CARDS[0]; i++) {
        struct pv_card_info info;
        enum pv_pay_result r;
        char *ch = (char *) 1;
        char key[32];
        char *tok = tokenize(gw, CARDS[i].number, &info);

        assert_true(strncmp(tok, "tok_", 4) == 0);
        assert_false(contains(tok, strlen(tok), CARDS[i].number));
        assert_false(contains(&info, sizeof info, CARDS[i].number));
        assert_string_equal(info.brand, CARDS[i].brand);
        assert_string_equal(info.last4, CARDS[i].number + strlen(CARDS[i].number) - 4);

        snprintf(key, sizeof key, "card-%zu", i);
        assert_int_equal(pv_gateway_charge(gw, tok, 7300, key, &r, &ch), PV_OK);
        if (r != CARDS[i].result)
            print_error("%s: got %s\n", CARDS[i].number, pv_pay_result_code(r));
        assert_int_equal(r, CARDS[i].result);
        if (r == PV_PAY_APPROVED) {
            assert_non_null(ch);
            assert_true(strncmp(ch, "ch_", 3) == 0);
            assert_false(contains(ch, strlen(ch), CARDS[i].number));
        } else {
            assert_null(ch);
        }
        free(ch);
        free(tok);
    }
}

static void test_tokenize_invalid(void **state)
{
    struct pv_gateway *gw = *state;
    struct pv_card_input in = {"4242424242424242", 12, 2030, "12", "94103"};
    struct pv_card_info info;
    const char *field = NULL;
    char *tok = (char *) 1;

    assert_int_equal(pv_gateway_tokenize(gw, &in, TODAY, &tok, &info, &field), PV_EINVAL);
    assert_null(tok);
    assert_string_equal(field, "cvc");
    assert_string_equal(info.brand, "");
    in.cvc = "123";
    in.number = "4000000000000003"; /* Luhn */
    assert_int_equal(pv_gateway_tokenize(gw, &in, TODAY, &tok, &info, &field), PV_EINVAL);
    assert_string_equal(field, "number");
    in.number = "4000000000000002";
    in.exp_month = 10;
    in.exp_year = 2026; /* last month */
    assert_int_equal(pv_gateway_tokenize(gw, &in, TODAY, &tok, &info, &field), PV_EINVAL);
    assert_string_equal(field, "exp_month");
    assert_int_equal(pv_gateway_tokenize(gw, NULL, TODAY, &tok, &info, &field), PV_EINVAL);
    assert_int_equal(pv_gateway_tokenize(gw, &in, TODAY, NULL, &info, &field), PV_EINVAL);
}

static void test_idempotent_charge(void **state)
{
    struct pv_gateway *gw = *state;
    char *tok = tokenize(gw, "4242424242424242", NULL);
    char *tok2 = tokenize(gw, "5555555555554444", NULL);
    char *ch1 = NULL, *ch2 = NULL, *ch3 = NULL;
    enum pv_pay_result r;

    assert_string_not_equal(tok, tok2);
    assert_int_equal(pv_gateway_charge(gw, tok, 1000, "k1", &r, &ch1), PV_OK);
    assert_int_equal(r, PV_PAY_APPROVED);
    assert_int_equal(pv_gateway_charge(gw, tok, 1000, "k1", &r, &ch2), PV_OK);
    assert_int_equal(r, PV_PAY_APPROVED);
    assert_string_equal(ch1, ch2); /* the same charge, not a second */
    assert_int_equal(pv_gateway_charge(gw, tok, 1000, "k2", &r, &ch3), PV_OK);
    assert_string_not_equal(ch1, ch3);
    free(ch3);
    ch3 = (char *) 1;
    /* Same key, different request. */
    assert_int_equal(pv_gateway_charge(gw, tok, 1001, "k1", &r, &ch3), PV_EIDEMREUSED);
    assert_null(ch3);
    assert_int_equal(pv_gateway_charge(gw, tok2, 1000, "k1", &r, &ch3), PV_EIDEMREUSED);
    /* Key required and bounded. */
    assert_int_equal(pv_gateway_charge(gw, tok, 1000, NULL, &r, &ch3), PV_EIDEMREQUIRED);
    assert_int_equal(pv_gateway_charge(gw, tok, 1000, "", &r, &ch3), PV_EIDEMREQUIRED);
    {
        char big[PV_GATEWAY_MAX_KEY + 2];

        memset(big, 'k', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        assert_int_equal(pv_gateway_charge(gw, tok, 1000, big, &r, &ch3), PV_EIDEMREQUIRED);
        big[PV_GATEWAY_MAX_KEY] = '\0';
        assert_int_equal(pv_gateway_charge(gw, tok, 1000, big, &r, &ch3), PV_OK);
        free(ch3);
    }
    /* A NULL charge_id is fine. */
    assert_int_equal(pv_gateway_charge(gw, tok, 1000, "k1", &r, NULL), PV_OK);
    assert_int_equal(r, PV_PAY_APPROVED);
    free(ch1);
    free(ch2);
    free(tok);
    free(tok2);
}

static void test_idempotent_decline(void **state)
{
    struct pv_gateway *gw = *state;
    char *tok = tokenize(gw, "4000000000000002", NULL);
    char *ch = NULL;
    enum pv_pay_result r;

    for (int i = 0; i < 3; i++) {
        assert_int_equal(pv_gateway_charge(gw, tok, 500, "d1", &r, &ch), PV_OK);
        assert_int_equal(r, PV_PAY_DECLINED);
        assert_null(ch);
    }
    free(tok);
}

static void test_sources_and_amounts(void **state)
{
    struct pv_gateway *gw = *state;
    char *tok = tokenize(gw, "4242424242424242", NULL);
    enum pv_pay_result r;
    char *ch = NULL;

    assert_int_equal(pv_gateway_charge(gw, tok, 0, "a0", &r, &ch), PV_EINVAL);
    assert_int_equal(pv_gateway_charge(gw, tok, -1, "a1", &r, &ch), PV_EINVAL);
    assert_int_equal(pv_gateway_charge(gw, tok, INT64_MIN, "a2", &r, &ch), PV_EINVAL);
    assert_int_equal(pv_gateway_charge(gw, tok, PV_MILLS_MAX + 1, "a3", &r, &ch), PV_EOVERFLOW);
    assert_int_equal(pv_gateway_charge(gw, tok, INT64_MAX, "a4", &r, &ch), PV_EOVERFLOW);
    assert_null(ch);
    assert_int_equal(pv_gateway_charge(gw, tok, PV_MILLS_MAX, "a5", &r, &ch), PV_OK);
    assert_int_equal(r, PV_PAY_APPROVED);
    free(ch);
    ch = NULL;

    assert_int_equal(pv_gateway_charge(gw, "", 100, "s0", &r, &ch), PV_EINVAL);
    assert_int_equal(pv_gateway_charge(gw, NULL, 100, "s0", &r, &ch), PV_EINVAL);
    assert_int_equal(pv_gateway_charge(gw, "tok_bogus", 100, "s1", &r, &ch), PV_ENOTFOUND);
    assert_int_equal(pv_gateway_charge(gw, "4242424242424242", 100, "s2", &r, &ch), PV_ENOTFOUND);
    assert_int_equal(pv_gateway_charge(gw, "tok_sandbox_approved_", 100, "s3", &r, &ch),
                     PV_ENOTFOUND);
    assert_int_equal(pv_gateway_charge(gw, "tok_sandbox_approved_X!", 100, "s4", &r, &ch),
                     PV_ENOTFOUND);
    assert_null(ch);
    /* A saved payment method's reference carries the same outcome. */
    assert_int_equal(pv_gateway_charge(gw, "pm_sandbox_nsf_abc_1", 100, "s5", &r, &ch), PV_OK);
    assert_int_equal(r, PV_PAY_INSUFFICIENT_FUNDS);
    assert_null(ch);
    free(tok);
}

static void test_refunds(void **state)
{
    struct pv_gateway *gw = *state;
    char *tok = tokenize(gw, "378282246310005", NULL);
    enum pv_pay_result r;
    char *ch = NULL;
    pv_mills total = -1;

    assert_int_equal(pv_gateway_charge(gw, tok, 10000, "rc", &r, &ch), PV_OK);
    assert_int_equal(r, PV_PAY_APPROVED);

    assert_int_equal(pv_gateway_refund(gw, ch, 4000, "r1", &total), PV_OK);
    assert_int_equal(total, 4000);
    /* A retried refund is not paid twice. */
    assert_int_equal(pv_gateway_refund(gw, ch, 4000, "r1", &total), PV_OK);
    assert_int_equal(total, 4000);
    assert_int_equal(pv_gateway_refund(gw, ch, 4001, "r1", &total), PV_EIDEMREUSED);
    /* More than is left. */
    assert_int_equal(pv_gateway_refund(gw, ch, 6001, "r2", &total), PV_EOVERFLOW);
    assert_int_equal(pv_gateway_refund(gw, ch, PV_MILLS_MAX, "r2", &total), PV_EOVERFLOW);
    assert_int_equal(pv_gateway_refund(gw, ch, INT64_MAX, "r2", &total), PV_EOVERFLOW);
    assert_int_equal(pv_gateway_refund(gw, ch, 6000, "r2", &total), PV_OK);
    assert_int_equal(total, 10000);
    assert_int_equal(pv_gateway_refund(gw, ch, 1, "r3", &total), PV_EOVERFLOW);
    /* A failed refund's key is not burnt. */
    assert_int_equal(pv_gateway_refund(gw, ch, 1, "r2-other", &total), PV_EOVERFLOW);

    assert_int_equal(pv_gateway_refund(gw, ch, 0, "r4", &total), PV_EINVAL);
    assert_int_equal(pv_gateway_refund(gw, ch, -5, "r4", &total), PV_EINVAL);
    assert_int_equal(pv_gateway_refund(gw, ch, 1, NULL, &total), PV_EIDEMREQUIRED);
    assert_int_equal(pv_gateway_refund(gw, "ch_nope", 1, "r5", &total), PV_ENOTFOUND);
    assert_int_equal(pv_gateway_refund(gw, NULL, 1, "r5", &total), PV_EINVAL);
    free(ch);
    free(tok);
}

struct race {
    struct pv_gateway *gw;
    const char *tok;
    int distinct; /* use a key of our own rather than the shared one */
    int id;
    char *ch;
    int rc;
};

static void *race_charge(void *arg)
{
    struct race *a = arg;
    enum pv_pay_result r;
    char key[32];

    if (a->distinct)
        snprintf(key, sizeof key, "race-%d", a->id);
    else
        snprintf(key, sizeof key, "race-shared");
    for (int i = 0; i < 50; i++) {
        char *ch = NULL;

        a->rc = pv_gateway_charge(a->gw, a->tok, 2500, key, &r, &ch);
        if (a->rc != PV_OK || r != PV_PAY_APPROVED || !ch) {
            free(ch);
            a->rc = a->rc ? a->rc : PV_EINTERNAL;
            return NULL;
        }
        if (a->ch && strcmp(a->ch, ch) != 0)
            a->rc = PV_EINTERNAL;
        free(a->ch);
        a->ch = ch;
    }
    return NULL;
}

static void test_concurrent_charges(void **state)
{
    struct pv_gateway *gw = *state;
    char *tok = tokenize(gw, "4242424242424242", NULL);
    struct race a[16];
    pthread_t t[16];

    memset(a, 0, sizeof a);
    for (int i = 0; i < 16; i++) {
        a[i] = (struct race){.gw = gw, .tok = tok, .distinct = i % 2, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, race_charge, &a[i]), 0);
    }
    for (int i = 0; i < 16; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(a[i].rc, PV_OK);
        assert_non_null(a[i].ch);
        for (int j = 0; j < i; j++) {
            /* The shared key gave every thread one charge; own keys gave each its own. */
            if (!a[i].distinct && !a[j].distinct)
                assert_string_equal(a[i].ch, a[j].ch);
            else
                assert_string_not_equal(a[i].ch, a[j].ch);
        }
    }
    /* One charge per key: the shared charge refunds only once in full. */
    assert_int_equal(pv_gateway_refund(gw, a[0].ch, 2500, "race-r1", NULL), PV_OK);
    assert_int_equal(pv_gateway_refund(gw, a[0].ch, 1, "race-r2", NULL), PV_EOVERFLOW);
    for (int i = 0; i < 16; i++)
        free(a[i].ch);
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open, setup, teardown),
        cmocka_unit_test(test_result_codes),
        cmocka_unit_test_setup_teardown(test_sandbox_cards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokenize_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_charge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_decline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sources_and_amounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refunds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_charges, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
