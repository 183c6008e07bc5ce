/*
 * test_gateway.c - the payment-gateway interface through the sandbox
 * backend: every test card's outcome, tokens free of card data, idempotent
 * charges (also under concurrency), refund limits, amount bounds; the
 * two-phase calls (authorize, capture, void) and their states; the journal:
 * replayed at open, shared by two instances, a torn last line dropped, keys
 * and ids found by their exact text only; the
 * asynchronous calls (pv_gateway_submit): answered once each, after the
 * latency, as the synchronous calls would, durable in the journal first, and
 * a backend without submit called synchronously.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "payment/gateway.h"
#include "stampd/error.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

    assert_int_equal(gw->ops->version, 2);
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
        assert_int_equal(pv_gateway_authorize(gw, tok, 1000, big, &r, &ch3), PV_EIDEMREQUIRED);
        big[PV_GATEWAY_MAX_KEY] = '\0';
        assert_int_equal(pv_gateway_authorize(gw, tok, 1000, big, &r, &ch3), PV_OK);
        free(ch3);
        /* The one-step charge keeps room for its capture key's suffix. */
        assert_int_equal(pv_gateway_charge(gw, tok, 1000, big, &r, &ch3), PV_EIDEMREQUIRED);
        big[PV_GATEWAY_MAX_KEY - 8] = '\0';
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

static void test_two_phase(void **state)
{
    struct pv_gateway *gw = *state;
    char *tok = tokenize(gw, "4242424242424242", NULL);
    enum pv_pay_result r;
    char *h1 = NULL, *h2 = NULL, *again = NULL;
    pv_mills total = -1;

    assert_int_equal(pv_gateway_authorize(gw, tok, 5000, "a1", &r, &h1), PV_OK);
    assert_int_equal(r, PV_PAY_APPROVED);
    /* The same key answers the same hold; another amount under it is refused. */
    assert_int_equal(pv_gateway_authorize(gw, tok, 5000, "a1", &r, &again), PV_OK);
    assert_string_equal(again, h1);
    assert_int_equal(pv_gateway_authorize(gw, tok, 5001, "a1", &r, NULL), PV_EIDEMREUSED);
    /* A hold is not refundable: nothing was taken yet. */
    assert_int_equal(pv_gateway_refund(gw, h1, 100, "a1-r", &total), PV_EPAYSTATE);
    assert_int_equal(pv_gateway_capture(gw, h1, "a1-cap"), PV_OK);
    assert_int_equal(pv_gateway_capture(gw, h1, "a1-cap"), PV_OK);
    assert_int_equal(pv_gateway_capture(gw, h1, "a1-cap2"), PV_OK); /* captured already */
    assert_int_equal(pv_gateway_refund(gw, h1, 1000, "a1-r", &total), PV_OK);
    assert_int_equal(total, 1000);
    /* A key of one call is not another call's. */
    assert_int_equal(pv_gateway_void(gw, h1, "a1-cap"), PV_EIDEMREUSED);
    /* Void of a captured charge gives back the rest, once. */
    assert_int_equal(pv_gateway_void(gw, h1, "a1-void"), PV_OK);
    assert_int_equal(pv_gateway_void(gw, h1, "a1-void"), PV_OK);
    assert_int_equal(pv_gateway_refund(gw, h1, 1, "a1-r2", &total), PV_EPAYSTATE);

    /* A released hold cannot be captured. */
    assert_int_equal(pv_gateway_authorize(gw, tok, 700, "a2", &r, &h2), PV_OK);
    assert_int_equal(pv_gateway_void(gw, h2, "a2-void"), PV_OK);
    assert_int_equal(pv_gateway_capture(gw, h2, "a2-cap"), PV_EPAYSTATE);
    assert_int_equal(pv_gateway_capture(gw, "ch_nope", "a3-cap"), PV_ENOTFOUND);
    assert_int_equal(pv_gateway_void(gw, "ch_nope", "a3-void"), PV_ENOTFOUND);
    assert_int_equal(pv_gateway_capture(gw, h2, NULL), PV_EIDEMREQUIRED);
    assert_int_equal(pv_gateway_void(gw, NULL, "x"), PV_EINVAL);
    free(h1);
    free(h2);
    free(again);
    free(tok);
}

/* A fresh journal path in the build directory, removed first. */
static void journal_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "test_gateway_%s_%d.jsonl", name, (int) getpid());
    unlink(buf);
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, c;

    assert_non_null(f);
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* Keys with characters JSON escapes round-trip through the journal (written as text since
 * issue 15, session 9, as jansson wrote it before); a key that is not UTF-8 is refused and
 * writes nothing. */
static void test_journal_escapes(void **state)
{
    static const char *keys[] = {"q\"uote:1", "back\\slash:1", "new\nline\t:1", "caf\xc3\xa9:1",
                                 "\x01ctl:1"};
    struct pv_gateway_opts o = {NULL, 0};
    struct pv_gateway *gw = NULL;
    enum pv_pay_result r;
    char path[128], *ch[5] = {NULL}, *again = NULL;
    size_t i;

    (void) state;
    journal_path(path, sizeof path, "escapes");
    o.journal = path;
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &gw), PV_OK);
    for (i = 0; i < 5; i++)
        assert_int_equal(pv_gateway_authorize(gw, "tok_sandbox_approved_x_1", 100 + (pv_mills) i,
                                              keys[i], &r, &ch[i]),
                         PV_OK);
    assert_int_equal(
        pv_gateway_authorize(gw, "tok_sandbox_approved_x_1", 100, "bad\xff:1", &r, NULL),
        PV_ENOMEM);
    pv_gateway_close(gw);
    assert_int_equal(count_lines(path), 5);
    /* A restart knows every one of them under its own key. */
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &gw), PV_OK);
    for (i = 0; i < 5; i++) {
        assert_int_equal(pv_gateway_authorize(gw, "tok_sandbox_approved_x_1", 100 + (pv_mills) i,
                                              keys[i], &r, &again),
                         PV_OK);
        assert_string_equal(again, ch[i]);
        free(again);
        free(ch[i]);
        again = NULL;
    }
    pv_gateway_close(gw);
    assert_int_equal(count_lines(path), 5);
    unlink(path);
}

static void test_journal_replay(void **state)
{
    struct pv_gateway_opts o = {NULL, 0};
    struct pv_gateway *gw = NULL;
    enum pv_pay_result r;
    char path[128], line[512], *ch = NULL, *again = NULL, *tok;
    FILE *f;

    (void) state;
    journal_path(path, sizeof path, "replay");
    o.journal = path;
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &gw), PV_OK);
    tok = tokenize(gw, "4242424242424242", NULL);
    assert_int_equal(pv_gateway_authorize(gw, tok, 7300, "purchase:k:1", &r, &ch), PV_OK);
    assert_int_equal(pv_gateway_capture(gw, ch, "purchase:k:1:capture"), PV_OK);
    assert_int_equal(pv_gateway_authorize(gw, "tok_sandbox_declined_x_1", 100, "d:1", &r, NULL),
                     PV_OK);
    assert_int_equal(r, PV_PAY_DECLINED);
    pv_gateway_close(gw);
    assert_int_equal(count_lines(path), 3);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    /* The names the crash-loop test reads. */
    assert_non_null(strstr(line, "\"op\":\"authorize\""));
    assert_non_null(strstr(line, "\"key\":\"purchase:k:1\""));
    assert_non_null(strstr(line, "\"amount\":7300"));
    assert_non_null(strstr(line, "\"result\":\"approved\""));
    assert_non_null(strstr(line, "\"source\":\"tok_sandbox_approved_"));
    assert_null(strstr(line, "4242424242424242"));

    /* Another instance (a restart) knows the hold and its capture. */
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &gw), PV_OK);
    assert_int_equal(pv_gateway_authorize(gw, tok, 7300, "purchase:k:1", &r, &again), PV_OK);
    assert_string_equal(again, ch);
    assert_int_equal(pv_gateway_refund(gw, ch, 7300, "rf", NULL), PV_OK);
    assert_int_equal(pv_gateway_authorize(gw, "tok_sandbox_declined_x_1", 100, "d:1", &r, NULL),
                     PV_OK);
    assert_int_equal(r, PV_PAY_DECLINED);
    pv_gateway_close(gw);
    assert_int_equal(count_lines(path), 4); /* answers again write nothing */

    /* A torn last line (a crash inside write) is dropped; garbage is refused. */
    f = fopen(path, "a");
    fputs("{\"t\":1,\"op\":\"capt", f);
    fclose(f);
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &gw), PV_OK);
    assert_int_equal(pv_gateway_void(gw, ch, "v"), PV_OK);
    pv_gateway_close(gw);
    assert_int_equal(count_lines(path), 5);
    f = fopen(path, "a");
    fputs("not json\n", f);
    fclose(f);
    gw = (struct pv_gateway *) 1;
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &gw), PV_EIO);
    assert_null(gw);
    o.journal = "/nonexistent-dir/j.jsonl";
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &gw), PV_EIO);
    o.journal = NULL;
    o.latency_ms = -1;
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &gw), PV_ECONFIG);
    unlink(path);
    free(ch);
    free(again);
    free(tok);
}

/*
 * The book keeps a key as its digest and a charge id as its bytes (issue 15): only the
 * exact text of an id finds its charge, keys that differ in their last byte are two
 * keys, an id read from the journal is given back as the same text, and a journal
 * whose hold names an id no sandbox makes is refused.
 */
static void test_book_names(void **state)
{
    struct pv_gateway_opts o = {NULL, 0};
    struct pv_gateway *gw = NULL;
    enum pv_pay_result r;
    char path[128], bad[96], k1[PV_GATEWAY_MAX_KEY + 1], k2[PV_GATEWAY_MAX_KEY + 1];
    char *ch = NULL, *ch2 = NULL, *again = NULL;
    const char *tok = "tok_sandbox_approved_0123456789abcdef_1";
    const char *big = "ch_sandbox_0123456789abcdef_18446744073709551615";
    size_t n;
    FILE *f;

    (void) state;
    journal_path(path, sizeof path, "names");
    o.journal = path;
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &gw), PV_OK);
    memset(k1, 'k', PV_GATEWAY_MAX_KEY);
    k1[PV_GATEWAY_MAX_KEY] = '\0';
    memcpy(k2, k1, sizeof k1);
    k2[PV_GATEWAY_MAX_KEY - 1] = 'j';
    assert_int_equal(pv_gateway_authorize(gw, tok, 500, k1, &r, &ch), PV_OK);
    assert_int_equal(pv_gateway_authorize(gw, tok, 500, k2, &r, &ch2), PV_OK);
    assert_string_not_equal(ch, ch2);
    /* The same key with another source, or another amount, is a key reused. */
    assert_int_equal(
        pv_gateway_authorize(gw, "tok_sandbox_approved_0123456789abcdef_2", 500, k1, &r, &again),
        PV_EIDEMREUSED);
    assert_int_equal(pv_gateway_authorize(gw, tok, 501, k1, &r, &again), PV_EIDEMREUSED);
    assert_null(again);

    /* Not the id's exact text: no charge. */
    n = strlen(ch);
    snprintf(bad, sizeof bad, "%s0", ch); /* another number */
    assert_int_equal(pv_gateway_capture(gw, bad, "c:1"), PV_ENOTFOUND);
    memcpy(bad, ch, n + 1);
    bad[11] = (char) (bad[11] >= 'a' ? bad[11] - 32 : bad[11] == '9' ? 'A' : 'a'); /* hex */
    assert_int_equal(pv_gateway_capture(gw, bad, "c:2"), PV_ENOTFOUND);
    memcpy(bad, ch, 28);                                 /* "ch_sandbox_" + 16 hex + "_" */
    snprintf(bad + 28, sizeof bad - 28, "0%s", ch + 28); /* a leading zero */
    assert_int_equal(pv_gateway_capture(gw, bad, "c:3"), PV_ENOTFOUND);
    assert_int_equal(
        pv_gateway_capture(gw, "ch_sandbox_0123456789abcdef_18446744073709551616", "c:4"),
        PV_ENOTFOUND);
    assert_int_equal(pv_gateway_capture(gw, "ch_sandbox_", "c:5"), PV_ENOTFOUND);
    /* A capture's key asked again on the other charge is a key reused. */
    assert_int_equal(pv_gateway_capture(gw, ch, "cap"), PV_OK);
    assert_int_equal(pv_gateway_capture(gw, ch2, "cap"), PV_EIDEMREUSED);
    assert_int_equal(pv_gateway_capture(gw, ch, "cap"), PV_OK);
    pv_gateway_close(gw);

    /* A hold another sandbox wrote with the largest number is answered as written. */
    f = fopen(path, "a");
    assert_non_null(f);
    fprintf(f,
            "{\"t\":1,\"op\":\"authorize\",\"key\":\"big\",\"id\":\"%s\",\"source\":\"%s\","
            "\"amount\":9,\"result\":\"approved\"}\n",
            big, tok);
    fclose(f);
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &gw), PV_OK);
    assert_int_equal(pv_gateway_authorize(gw, tok, 9, "big", &r, &again), PV_OK);
    assert_string_equal(again, big);
    /* Its id in capitals, or with a number that wraps round to its own, is no charge. */
    assert_int_equal(
        pv_gateway_capture(gw, "ch_sandbox_0123456789ABCDEF_18446744073709551615", "c:6"),
        PV_ENOTFOUND);
    assert_int_equal(
        pv_gateway_capture(gw, "ch_sandbox_0123456789abcdef_36893488147419103231", "c:7"),
        PV_ENOTFOUND);
    assert_int_equal(pv_gateway_capture(gw, big, "big:capture"), PV_OK);
    /* After the replay too: another source under a key, a capture's key on another charge. */
    assert_int_equal(pv_gateway_capture(gw, ch2, "big:capture"), PV_EIDEMREUSED);
    free(again);
    again = NULL;
    assert_int_equal(
        pv_gateway_authorize(gw, "tok_sandbox_approved_0123456789abcdef_2", 9, "big", &r, &again),
        PV_EIDEMREUSED);
    again = NULL;
    assert_int_equal(pv_gateway_authorize(gw, tok, 500, k2, &r, &again), PV_OK);
    assert_string_equal(again, ch2);
    pv_gateway_close(gw);

    /* A hold whose id no sandbox makes: the journal is not a sandbox's. */
    f = fopen(path, "a");
    assert_non_null(f);
    fprintf(f,
            "{\"t\":1,\"op\":\"authorize\",\"key\":\"odd\",\"id\":\"ch_other_1\",\"source\":\"%s\","
            "\"amount\":9,\"result\":\"approved\"}\n",
            tok);
    fclose(f);
    gw = (struct pv_gateway *) 1;
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &gw), PV_EIO);
    assert_null(gw);
    unlink(path);
    free(ch);
    free(ch2);
    free(again);
}

/* A journal's lines are read the fast way when written as the sandbox writes them, and by
 * jansson otherwise (fields in another order, escapes, UTF-8): both give the same book, and a
 * line that is not JSON (a number with a leading zero) is still refused. */
static void test_journal_read_both_ways(void **state)
{
    static const char *const lines[] = {
        "{\"t\":1,\"op\":\"authorize\",\"key\":\"a1\",\"id\":\"ch_sandbox_0123456789abcdef_5\","
        "\"source\":\"tok_sandbox_approved_x_1\",\"amount\":500,\"result\":\"approved\"}",
        "{\"op\":\"authorize\",\"amount\":600,\"t\":2,\"key\":\"a2\",\"result\":\"approved\","
        "\"id\":\"ch_sandbox_0123456789abcdef_6\",\"source\":\"tok_sandbox_approved_x_1\"}",
        "{\"t\":3,\"op\":\"authorize\",\"key\":\"a3\\u00fc\",\"id\":\"\","
        "\"source\":\"tok_sandbox_declined_x_1\",\"amount\":700,\"result\":\"card_declined\"}",
        "{\"t\":4,\"op\":\"authorize\",\"key\":\"a\\\"4\",\"id\":\"ch_sandbox_0123456789abcdef_7\","
        "\"source\":\"tok_sandbox_approved_x_1\",\"amount\":800,\"result\":\"approved\"}",
        "{\"amount\":500,\"id\":\"ch_sandbox_0123456789abcdef_5\",\"key\":\"a1:capture\","
        "\"op\":\"capture\",\"result\":\"approved\",\"t\":5}",
        "{\"t\":6,\"op\":\"authorize\",\"key\":\"a/8\",\"id\":\"ch_sandbox_0123456789abcdef_8\","
        "\"source\":\"tok_sandbox_approved_x_1\",\"amount\":900,\"result\":\"approved\"}",
        "{\"t\":7,\"op\":\"capture\",\"key\":\"a/"
        "8:capture\",\"id\":\"ch_sandbox_0123456789abcdef_8\","
        "\"source\":\"tok_sandbox_approved_x_1\",\"amount\":900,\"result\":\"approved\"}",
    };
    struct pv_gateway_opts o = {NULL, 0};
    struct pv_gateway *gw = NULL;
    enum pv_pay_result r;
    char path[128], *ch = NULL;
    FILE *f;

    (void) state;
    journal_path(path, sizeof path, "both");
    o.journal = path;
    f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        fprintf(f, "%s\n", lines[i]);
    fclose(f);
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &gw), PV_OK);
    assert_int_equal(pv_gateway_authorize(gw, "tok_sandbox_approved_x_1", 500, "a1", &r, &ch),
                     PV_OK);
    assert_string_equal(ch, "ch_sandbox_0123456789abcdef_5");
    free(ch);
    assert_int_equal(pv_gateway_authorize(gw, "tok_sandbox_approved_x_1", 600, "a2", &r, &ch),
                     PV_OK);
    assert_string_equal(ch, "ch_sandbox_0123456789abcdef_6");
    free(ch);
    ch = NULL;
    assert_int_equal(
        pv_gateway_authorize(gw, "tok_sandbox_declined_x_1", 700, "a3\xc3\xbc", &r, &ch), PV_OK);
    assert_int_equal(r, PV_PAY_DECLINED);
    assert_null(ch);
    assert_int_equal(pv_gateway_authorize(gw, "tok_sandbox_approved_x_1", 800, "a\"4", &r, &ch),
                     PV_OK);
    assert_string_equal(ch, "ch_sandbox_0123456789abcdef_7");
    free(ch);
    /* The capture read from its reordered line: captured, so refundable; the hold read from
     * its reordered line, which nothing captured, is not. */
    assert_int_equal(pv_gateway_refund(gw, "ch_sandbox_0123456789abcdef_5", 100, "r5", NULL),
                     PV_OK);
    assert_int_equal(pv_gateway_refund(gw, "ch_sandbox_0123456789abcdef_6", 100, "r6", NULL),
                     PV_EPAYSTATE);
    /* Read the fast way: a key with a '/' (written raw), a source on a capture's line (read
     * and left), and the amount exactly (one mill more is another request). */
    ch = NULL;
    assert_int_equal(pv_gateway_authorize(gw, "tok_sandbox_approved_x_1", 901, "a/8", &r, &ch),
                     PV_EIDEMREUSED);
    assert_int_equal(pv_gateway_authorize(gw, "tok_sandbox_approved_x_1", 900, "a/8", &r, &ch),
                     PV_OK);
    assert_string_equal(ch, "ch_sandbox_0123456789abcdef_8");
    free(ch);
    assert_int_equal(pv_gateway_refund(gw, "ch_sandbox_0123456789abcdef_8", 901, "r8", NULL),
                     PV_EOVERFLOW);
    assert_int_equal(pv_gateway_refund(gw, "ch_sandbox_0123456789abcdef_8", 900, "r8", NULL),
                     PV_OK);
    pv_gateway_close(gw);

    f = fopen(path, "a");
    assert_non_null(f);
    fputs("{\"t\":6,\"op\":\"refund\",\"key\":\"r7\",\"id\":\"ch_sandbox_0123456789abcdef_5\","
          "\"amount\":007,\"result\":\"approved\"}\n",
          f);
    fclose(f);
    gw = (struct pv_gateway *) 1;
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &gw), PV_EIO);
    assert_null(gw);
    unlink(path);
}

struct sharer {
    struct pv_gateway *gw;
    const char *tok;
    char *ch;
    int rc;
};

static void *share_one(void *arg)
{
    struct sharer *s = arg;
    enum pv_pay_result r;

    s->rc = pv_gateway_authorize(s->gw, s->tok, 2500, "shared-key", &r, &s->ch);
    if (s->rc == PV_OK)
        s->rc = pv_gateway_capture(s->gw, s->ch, "shared-key:capture");
    return NULL;
}

static void test_journal_shared(void **state)
{
    struct pv_gateway_opts o = {NULL, 0};
    struct pv_gateway *a = NULL, *b = NULL;
    struct sharer s[8];
    pthread_t t[8];
    enum pv_pay_result r;
    char path[128], *tok, *ch = NULL;

    (void) state;
    journal_path(path, sizeof path, "shared");
    o.journal = path;
    /* Two instances on one file: two processes, or the test and live sandboxes. */
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &a), PV_OK);
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &b), PV_OK);
    tok = tokenize(a, "5555555555554444", NULL);
    for (int i = 0; i < 8; i++) {
        s[i] = (struct sharer){i % 2 ? a : b, tok, NULL, -1};
        assert_int_equal(pthread_create(&t[i], NULL, share_one, &s[i]), 0);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(s[i].rc, PV_OK);
        assert_string_equal(s[i].ch, s[0].ch);
    }
    /* One hold and one capture in all, whichever instance answered. */
    assert_int_equal(count_lines(path), 2);
    /* What a wrote, b knows without reopening. */
    assert_int_equal(pv_gateway_authorize(a, tok, 900, "only-a", &r, &ch), PV_OK);
    assert_int_equal(pv_gateway_void(b, ch, "only-a:void"), PV_OK);
    assert_int_equal(pv_gateway_capture(a, ch, "only-a:capture"), PV_EPAYSTATE);
    pv_gateway_close(a);
    pv_gateway_close(b);
    for (int i = 0; i < 8; i++)
        free(s[i].ch);
    free(ch);
    free(tok);
    unlink(path);
}

/* ---- asynchronous calls ---- */

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
};

static void on_done(struct pv_gateway_call *c)
{
    struct waiter *w = c->arg;

    pthread_mutex_lock(&w->mu);
    w->done++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void wait_done(struct waiter *w, int n)
{
    pthread_mutex_lock(&w->mu);
    while (w->done < n)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static int64_t ms_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* When each call of test_submit_staggered was answered (ms_now), then the waiter told. */
struct stamped {
    struct waiter *w;
    int64_t at;
};

static void on_done_at(struct pv_gateway_call *c)
{
    struct stamped *st = c->arg;

    pthread_mutex_lock(&st->w->mu);
    st->at = ms_now();
    st->w->done++;
    pthread_cond_signal(&st->w->cv);
    pthread_mutex_unlock(&st->w->mu);
}

/* A call submitted while another waits is answered at its own time: the timer is woken only
 * for a call that becomes the queue's head (gwqueue.c), and takes only the calls that are due.
 * A late timer can only answer a call later, never sooner: no bound here is an upper one. */
static void test_submit_staggered(void **state)
{
    enum { LATENCY = 300 };
    struct pv_gateway_opts o = {NULL, LATENCY};
    struct pv_gateway *gw = NULL;
    struct pv_gateway_call c[3];
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct stamped at[3] = {{&w, 0}, {&w, 0}, {&w, 0}};
    int64_t sent[3];
    char *tok;
    const char *keys[] = {"stagger-0", "stagger-1", "stagger-2"};

    (void) state;
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &gw), PV_OK);
    tok = tokenize(gw, "4242424242424242", NULL);
    for (int i = 0; i < 3; i++)
        c[i] = (struct pv_gateway_call){.op = PV_GW_AUTHORIZE,
                                        .source = tok,
                                        .amount = 500,
                                        .key = keys[i],
                                        .done = on_done_at,
                                        .arg = &at[i]};
    sent[0] = ms_now();
    pv_gateway_submit(gw, &c[0]);
    nanosleep(&(struct timespec){0, 150 * 1000 * 1000}, NULL);
    sent[1] = ms_now();
    pv_gateway_submit(gw, &c[1]); /* behind c[0]: the timer is not woken for it */
    wait_done(&w, 2);
    /* Each after its own latency: c[1] was not made with c[0]'s group. */
    assert_true(at[0].at - sent[0] >= LATENCY - 10);
    assert_true(at[1].at - sent[1] >= LATENCY - 10);
    assert_true(at[1].at >= at[0].at);
    /* The queue is empty again and the timer waits for work: a new call wakes it. */
    sent[2] = ms_now();
    pv_gateway_submit(gw, &c[2]);
    wait_done(&w, 3);
    assert_true(at[2].at - sent[2] >= LATENCY - 10);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(c[i].rc, PV_OK);
        assert_int_equal(c[i].result, PV_PAY_APPROVED);
        assert_non_null(c[i].charge_id);
    }
    pv_gateway_close(gw);
    for (int i = 0; i < 3; i++)
        free(c[i].charge_id);
    free(tok);
}

static void test_submit(void **state)
{
    enum { N = 40 };
    struct pv_gateway_opts o = {NULL, 150};
    struct pv_gateway *gw = NULL;
    struct pv_gateway_call c[N], cap[N];
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    char path[128], keys[N][32], ckeys[N][40], *tok, *declined, *again = NULL;
    enum pv_pay_result r;
    int64_t t0;

    (void) state;
    journal_path(path, sizeof path, "async");
    o.journal = path;
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &gw), PV_OK);
    tok = tokenize(gw, "4242424242424242", NULL);
    declined = tokenize(gw, "4000000000000002", NULL);
    t0 = ms_now();
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "async-%d", i);
        c[i] = (struct pv_gateway_call){.op = PV_GW_AUTHORIZE,
                                        .source = i == 7 ? declined : tok,
                                        .amount = 1000 + i,
                                        .key = keys[i],
                                        .done = on_done,
                                        .arg = &w};
        pv_gateway_submit(gw, &c[i]);
    }
    /* Nothing answered before the latency; then each exactly once. */
    wait_done(&w, N);
    assert_true(ms_now() - t0 >= 140);
    assert_int_equal(w.done, N);
    /* Durable before answered: every record is in the journal already. */
    assert_int_equal(count_lines(path), N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(c[i].rc, PV_OK);
        if (i == 7) {
            assert_int_equal(c[i].result, PV_PAY_DECLINED);
            assert_null(c[i].charge_id);
            continue;
        }
        assert_int_equal(c[i].result, PV_PAY_APPROVED);
        assert_non_null(c[i].charge_id);
        /* The synchronous call under the same key answers the same hold. */
        assert_int_equal(pv_gateway_authorize(gw, tok, 1000 + i, keys[i], &r, &again), PV_OK);
        assert_string_equal(again, c[i].charge_id);
        free(again);
        again = NULL;
    }
    /* Captures and voids the same way; the declined one has nothing to take. */
    w.done = 0;
    for (int i = 0; i < N; i++) {
        snprintf(ckeys[i], sizeof ckeys[i], "async-%d:%s", i, i % 2 ? "void" : "capture");
        cap[i] = (struct pv_gateway_call){.op = i % 2 ? PV_GW_VOID : PV_GW_CAPTURE,
                                          .charge_id_in = i == 7 ? "ch_nope" : c[i].charge_id,
                                          .key = ckeys[i],
                                          .done = on_done,
                                          .arg = &w};
        pv_gateway_submit(gw, &cap[i]);
    }
    wait_done(&w, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(cap[i].rc, i == 7 ? PV_ENOTFOUND : PV_OK);
    assert_int_equal(count_lines(path), 2 * N - 1);
    assert_int_equal(pv_gateway_capture(gw, c[1].charge_id, "async-1:capture2"), PV_EPAYSTATE);
    pv_gateway_close(gw);
    for (int i = 0; i < N; i++)
        free(c[i].charge_id);
    free(tok);
    free(declined);
    unlink(path);
}

/*
 * A group's write that fails (a full disk; here the file-size limit) fails its calls
 * and leaves nothing of them, in the file or in memory: the same key asked again is a
 * new hold, written, which another instance on the journal reads and captures.
 */
static void test_group_write_fails(void **state)
{
    struct pv_gateway_opts o = {NULL, 1};
    struct pv_gateway *gw = NULL, *other = NULL;
    struct pv_gateway_call c;
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct rlimit lim, was;
    enum pv_pay_result r;
    char path[128], *tok, *ch = NULL;

    (void) state;
    journal_path(path, sizeof path, "full");
    o.journal = path;
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &gw), PV_OK);
    tok = tokenize(gw, "4242424242424242", NULL);
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &was), 0);
    lim = was;
    lim.rlim_cur = 0; /* every write past the file's end fails */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    c = (struct pv_gateway_call){.op = PV_GW_AUTHORIZE,
                                 .source = tok,
                                 .amount = 1000,
                                 .key = "full-1",
                                 .done = on_done,
                                 .arg = &w};
    pv_gateway_submit(gw, &c);
    wait_done(&w, 1);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &was), 0);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_not_equal(c.rc, PV_OK);
    assert_int_equal(count_lines(path), 0);
    /* Asked again: made again and written, not answered from memory alone. */
    assert_int_equal(pv_gateway_authorize(gw, tok, 1000, "full-1", &r, &ch), PV_OK);
    assert_int_equal(r, PV_PAY_APPROVED);
    assert_int_equal(count_lines(path), 1);
    assert_int_equal(pv_gateway_open_with("sandbox", &o, &other), PV_OK);
    assert_int_equal(pv_gateway_void(other, ch, "full-1:void"), PV_OK);
    assert_int_equal(pv_gateway_capture(gw, ch, "full-1:capture"), PV_EPAYSTATE); /* gw read it */
    pv_gateway_close(other);
    pv_gateway_close(gw);
    free(c.charge_id);
    free(ch);
    free(tok);
    unlink(path);
}

/* A backend without submit: pv_gateway_submit calls it synchronously. */
static int fake_capture(struct pv_gateway *gw, const char *charge_id, const char *key)
{
    (void) gw;
    (void) key;
    return strcmp(charge_id, "ch_known") == 0 ? PV_OK : PV_ENOTFOUND;
}

static void test_submit_fallback(void **state)
{
    static const struct pv_gateway_ops ops = {
        .version = 2, .name = "fake", .capture = fake_capture};
    struct pv_gateway gw = {&ops};
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct pv_gateway_call c = {
        .op = PV_GW_CAPTURE, .charge_id_in = "ch_known", .key = "k", .done = on_done, .arg = &w};

    (void) state;
    pv_gateway_submit(&gw, &c);
    assert_int_equal(w.done, 1); /* before submit returned */
    assert_int_equal(c.rc, PV_OK);
    c.charge_id_in = "ch_other";
    pv_gateway_submit(&gw, &c);
    assert_int_equal(w.done, 2);
    assert_int_equal(c.rc, PV_ENOTFOUND);
    c.op = PV_GW_AUTHORIZE; /* the backend has none */
    pv_gateway_submit(&gw, &c);
    assert_int_equal(w.done, 3);
    assert_int_equal(c.rc, PV_EINVAL);
    pv_gateway_submit(NULL, &c);
    assert_int_equal(w.done, 4);
    assert_int_equal(c.rc, PV_EINVAL);
}

/* A synchronous backend whose every hold waits until `want` holds are in it
 * at once (or a second passes): how many were, at most, says whether the
 * calls ran in parallel. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int inside, most, want;
} slow = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};

static int slow_authorize(struct pv_gateway *gw, const char *source, pv_mills amount,
                          const char *key, enum pv_pay_result *result, char **charge_id)
{
    struct timespec until;

    (void) gw;
    (void) source;
    (void) amount;
    (void) key;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_mutex_lock(&slow.mu);
    if (++slow.inside > slow.most)
        slow.most = slow.inside;
    pthread_cond_broadcast(&slow.cv);
    while (slow.most < slow.want && pthread_cond_timedwait(&slow.cv, &slow.mu, &until) == 0)
        ;
    slow.inside--;
    pthread_mutex_unlock(&slow.mu);
    *result = PV_PAY_APPROVED;
    *charge_id = strdup("ch_slow");
    return *charge_id ? PV_OK : PV_ENOMEM;
}

/* With the fallback pool, a synchronous backend's calls are in flight together. */
static void test_submit_fallback_pool(void **state)
{
    enum { N = 8 };
    static const struct pv_gateway_ops ops = {
        .version = 2, .name = "slow", .authorize = slow_authorize};
    struct pv_gateway gw = {&ops};
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct pv_gateway_call c[N];
    char keys[N][16];

    (void) state;
    slow.want = N;
    pv_gateway_sync_threads(N);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "slow-%d", i);
        c[i] = (struct pv_gateway_call){.op = PV_GW_AUTHORIZE,
                                        .source = "tok",
                                        .amount = 1000,
                                        .key = keys[i],
                                        .done = on_done,
                                        .arg = &w};
        pv_gateway_submit(&gw, &c[i]);
    }
    wait_done(&w, N);
    pv_gateway_sync_threads(0);
    /* All N held at once (one at a time: 1, and each waited its second). */
    assert_int_equal(slow.most, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(c[i].rc, PV_OK);
        assert_string_equal(c[i].charge_id, "ch_slow");
        free(c[i].charge_id);
    }
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
        cmocka_unit_test_setup_teardown(test_two_phase, setup, teardown),
        cmocka_unit_test(test_journal_replay),
        cmocka_unit_test(test_journal_escapes),
        cmocka_unit_test(test_book_names),
        cmocka_unit_test(test_journal_read_both_ways),
        cmocka_unit_test(test_journal_shared),
        cmocka_unit_test(test_submit),
        cmocka_unit_test(test_submit_staggered),
        cmocka_unit_test(test_group_write_fails),
        cmocka_unit_test(test_submit_fallback),
        cmocka_unit_test(test_submit_fallback_pool),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
