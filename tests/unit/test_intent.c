/*
 * test_intent.c - payment intents (src/domain/intent.c, the pay_intents
 * store operations): gateway keys from client keys, adoption by a retry
 * and new attempts only after a void or decline, guarded state moves, the
 * settle and abandon steps (one by one and for a batch), and the recovery
 * of what a crash left.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain_env.h"

#include "domain/intent.h"

#define T0 ((int64_t) 1700000000000)

static int setup(void **state)
{
    *state = denv_open("intent");
    return 0;
}

static int teardown(void **state)
{
    denv_close(*state);
    return 0;
}

/* A live purchase intent of cus_a under client key `key`, not yet written. */
static void draft(struct denv *e, const char *key, const char *hash, struct pv_intent_rec *it)
{
    struct pv_payment pay;

    denv_card(e, 0, "4242424242424242", &pay);
    memset(it, 0, sizeof *it);
    snprintf(it->kind, sizeof it->kind, "purchase");
    snprintf(it->owner, sizeof it->owner, "cus_a");
    snprintf(it->customer_id, sizeof it->customer_id, "cus_a");
    snprintf(it->client_key, sizeof it->client_key, "%s", key);
    snprintf(it->req_hash, sizeof it->req_hash, "%s", hash);
    snprintf(it->source, sizeof it->source, "%s", pay.source);
    snprintf(it->server_id, sizeof it->server_id, "proc-1");
    it->amount = 740;
}

static void state_is(struct denv *e, const char *id, const char *state)
{
    struct pv_intent_rec now;

    assert_int_equal(pv_store_intent_get(e->st, id, &now), PV_OK);
    assert_string_equal(now.state, state);
}

static void test_keys(void **state)
{
    char key[PV_IDEM_KEY_MAX], long_key[PV_IDEM_KEY_MAX];

    (void) state;
    pv_intent_key("purchase", "test:cus_a", "k-1", 2, key);
    assert_string_equal(key, "purchase:test:cus_a:k-1:2");
    memset(long_key, 'x', 255);
    long_key[255] = '\0';
    pv_intent_key("funds", "cus_a", long_key, 1, key);
    assert_true(strlen(key) <= PV_INTENT_KEY_MAX);
    assert_memory_equal(key, "funds:cus_a:sha256:", 19);
    assert_string_equal(key + strlen(key) - 2, ":1");
}

/* A client key spelled like the hashed form of another, longer one (schema v24 keeps the
 * gateway keys unique only where "sha256:" makes that possible): the second intent is not
 * written, so no two intents ever send the gateway one key. */
static void test_hashed_key_stays_unique(void **state)
{
    struct denv *e = *state;
    struct pv_intent_rec a, b;
    char long_key[256], twin[PV_IDEM_KEY_MAX];
    const char *h;

    memset(long_key, 'y', 255);
    long_key[255] = '\0';
    draft(e, long_key, "h1", &a);
    assert_int_equal(pv_intent_open(e->st, &a, T0), PV_OK);
    h = strstr(a.gateway_key, "sha256:");
    assert_non_null(h);
    snprintf(twin, sizeof twin, "%.*s", (int) (strrchr(a.gateway_key, ':') - h), h);
    draft(e, twin, "h1", &b);
    pv_intent_key(b.kind, b.owner, twin, 1, b.gateway_key);
    assert_string_equal(b.gateway_key, a.gateway_key); /* the very same key */
    /* Refused by the unique index, read as a twin in flight (PV_EBUSY, tried again later). */
    assert_int_equal(pv_intent_open(e->st, &b, T0 + 1), PV_EBUSY);
    /* And any two keys that differ still make two intents. */
    draft(e, "k-2", "h1", &b);
    assert_int_equal(pv_intent_open(e->st, &b, T0 + 2), PV_OK);
    assert_string_not_equal(b.id, a.id);
}

static void test_adopt_then_new_attempt(void **state)
{
    struct denv *e = *state;
    struct pv_intent_rec a, b;
    char decline[24];

    draft(e, "k1", "h1", &a);
    assert_int_equal(pv_intent_open(e->st, &a, T0), PV_OK);
    assert_int_equal(a.attempt, 1);
    assert_string_equal(a.state, PV_INTENT_PENDING);
    assert_string_equal(a.gateway_key, "purchase:cus_a:k1:1");
    /* A retry adopts it, even with a token of its own for the same card. */
    draft(e, "k1", "h1", &b);
    assert_int_equal(pv_intent_open(e->st, &b, T0 + 1), PV_OK);
    assert_string_equal(b.id, a.id);
    assert_string_equal(b.source, a.source);
    draft(e, "k1", "other", &b);
    assert_int_equal(pv_intent_open(e->st, &b, T0 + 1), PV_EIDEMREUSED);

    /* Both authorize: one hold. */
    assert_int_equal(pv_intent_authorize(e->st, e->gws.live, &a, decline, T0 + 2), PV_OK);
    draft(e, "k1", "h1", &b);
    assert_int_equal(pv_intent_open(e->st, &b, T0 + 3), PV_OK);
    assert_string_equal(b.state, PV_INTENT_AUTHORIZED);
    assert_string_equal(b.charge_id, a.charge_id);
    assert_int_equal(pv_intent_authorize(e->st, e->gws.live, &b, decline, T0 + 3), PV_OK);
    assert_string_equal(b.charge_id, a.charge_id);

    /* Given up: voided at the gateway; the next retry is attempt 2. */
    assert_int_equal(pv_intent_abandon(e->st, &e->gws, a.id, T0 + 4), PV_OK);
    state_is(e, a.id, PV_INTENT_VOIDED);
    assert_int_equal(pv_gateway_capture(e->gws.live, a.charge_id, "late"), PV_EPAYSTATE);
    draft(e, "k1", "h1", &b);
    assert_int_equal(pv_intent_open(e->st, &b, T0 + 5), PV_OK);
    assert_int_equal(b.attempt, 2);
    assert_string_not_equal(b.id, a.id);
    assert_string_equal(b.gateway_key, "purchase:cus_a:k1:2");
    assert_int_equal(pv_intent_authorize(e->st, e->gws.live, &b, decline, T0 + 6), PV_OK);
    assert_string_not_equal(b.charge_id, a.charge_id);

    /* Settled: a retry is told it committed. */
    assert_int_equal(pv_store_intent_move(e->st, b.id, PV_INTENT_AUTHORIZED, PV_INTENT_SETTLING,
                                          NULL, "ind_x", NULL, 0, T0 + 7),
                     PV_OK);
    draft(e, "k1", "h1", &a);
    assert_int_equal(pv_intent_open(e->st, &a, T0 + 8), PV_EEXIST);
    assert_string_equal(a.ref, "ind_x");
    assert_int_equal(pv_intent_settle(e->st, &e->gws, b.id, 1, T0 + 9), PV_OK);
    state_is(e, b.id, PV_INTENT_CAPTURED);
    assert_int_equal(pv_gateway_refund(e->gws.live, b.charge_id, 740, "r", NULL), PV_OK);
}

static void test_declines_and_guards(void **state)
{
    struct denv *e = *state;
    struct pv_intent_rec a;
    struct pv_payment pay;
    char decline[24];

    draft(e, "k2", "h", &a);
    denv_card(e, 0, "4000000000009995", &pay);
    snprintf(a.source, sizeof a.source, "%s", pay.source);
    assert_int_equal(pv_intent_open(e->st, &a, T0), PV_OK);
    assert_int_equal(pv_intent_authorize(e->st, e->gws.live, &a, decline, T0), PV_ECARDDECLINED);
    assert_string_equal(decline, "insufficient_funds");
    state_is(e, a.id, PV_INTENT_DECLINED);
    /* Declined: a retry is a new attempt (the card may have been topped up). */
    assert_int_equal(pv_intent_open(e->st, &a, T0 + 1), PV_OK);
    assert_int_equal(a.attempt, 2);
    assert_int_equal(pv_intent_authorize(e->st, NULL, &a, decline, T0), PV_ENOGATEWAY);
    snprintf(a.source, sizeof a.source, "tok_unknown");
    assert_int_equal(pv_intent_authorize(e->st, e->gws.live, &a, decline, T0), PV_ECARDINVALID);

    /* Guarded moves. */
    assert_int_equal(pv_store_intent_move(e->st, a.id, PV_INTENT_PENDING, PV_INTENT_VOIDING, NULL,
                                          NULL, NULL, 0, T0),
                     PV_EPAYSTATE);
    assert_int_equal(pv_store_intent_move(e->st, "pi_none", PV_INTENT_PENDING, PV_INTENT_VOIDING,
                                          NULL, NULL, NULL, 0, T0),
                     PV_ENOTFOUND);
    draft(e, "k3", "h", &a);
    assert_int_equal(pv_intent_open(e->st, &a, T0 + 100), PV_OK);
    /* Touched at T0 + 100: not older than T0 + 50. */
    assert_int_equal(pv_store_intent_move(e->st, a.id, PV_INTENT_PENDING, PV_INTENT_VOIDING, NULL,
                                          NULL, NULL, T0 + 50, T0 + 200),
                     PV_EPAYSTATE);
    assert_int_equal(pv_store_intent_move(e->st, a.id, PV_INTENT_PENDING, PV_INTENT_VOIDING, NULL,
                                          NULL, NULL, T0 + 101, T0 + 200),
                     PV_OK);
}

static void test_recover(void **state)
{
    struct denv *e = *state;
    struct pv_intent_rec lost, young, settling, nohold;
    enum pv_pay_result r;
    char decline[24], *ch = NULL;
    size_t acted = 0;

    /* A crash right after the gateway approved: the intent still says pending. */
    draft(e, "lost", "h", &lost);
    assert_int_equal(pv_intent_open(e->st, &lost, T0), PV_OK);
    assert_int_equal(
        pv_gateway_authorize(e->gws.live, lost.source, lost.amount, lost.gateway_key, &r, &ch),
        PV_OK);
    /* A crash before the gateway heard of it. */
    draft(e, "nohold", "h", &nohold);
    assert_int_equal(pv_intent_open(e->st, &nohold, T0), PV_OK);
    /* A crash after the commit. */
    draft(e, "settling", "h", &settling);
    assert_int_equal(pv_intent_open(e->st, &settling, T0), PV_OK);
    assert_int_equal(pv_intent_authorize(e->st, e->gws.live, &settling, decline, T0), PV_OK);
    assert_int_equal(pv_store_intent_move(e->st, settling.id, PV_INTENT_AUTHORIZED,
                                          PV_INTENT_SETTLING, NULL, "ind_y", NULL, 0, T0),
                     PV_OK);
    /* A request still in flight. */
    draft(e, "young", "h", &young);
    assert_int_equal(pv_intent_open(e->st, &young, T0 + 9000), PV_OK);

    assert_int_equal(pv_intent_recover(e->st, &e->gws, "proc-2", 5000, T0 + 10000, 100, &acted),
                     PV_OK);
    assert_int_equal(acted, 3);
    state_is(e, lost.id, PV_INTENT_VOIDED);
    state_is(e, nohold.id, PV_INTENT_VOIDED);
    state_is(e, settling.id, PV_INTENT_CAPTURED);
    state_is(e, young.id, PV_INTENT_PENDING);
    /* The hold nobody saw was found under its key and released. */
    assert_int_equal(pv_gateway_capture(e->gws.live, ch, "x"), PV_EPAYSTATE);
    assert_int_equal(pv_gateway_refund(e->gws.live, settling.charge_id, 740, "y", NULL), PV_OK);
    {
        struct pv_intent_rec now;
        assert_int_equal(pv_store_intent_get(e->st, lost.id, &now), PV_OK);
        assert_string_equal(now.charge_id, ch);
        assert_string_equal(now.server_id, "proc-2");
    }
    /* Nothing left to do; run again, nothing moves. */
    assert_int_equal(pv_intent_recover(e->st, &e->gws, "proc-2", 5000, T0 + 10001, 100, &acted),
                     PV_OK);
    assert_int_equal(acted, 0);
    free(ch);
}

static void test_settle_batch(void **state)
{
    struct denv *e = *state;
    struct pv_intent_rec a, b, c;
    const char *ids[3];
    int capture[3] = {1, 0, 0};
    char decline[24];

    draft(e, "sa", "h", &a);
    draft(e, "sb", "h", &b);
    draft(e, "sc", "h", &c);
    assert_int_equal(pv_intent_open(e->st, &a, T0), PV_OK);
    assert_int_equal(pv_intent_open(e->st, &b, T0), PV_OK);
    assert_int_equal(pv_intent_open(e->st, &c, T0), PV_OK);
    assert_int_equal(pv_intent_authorize(e->st, e->gws.live, &a, decline, T0), PV_OK);
    assert_int_equal(pv_intent_authorize(e->st, e->gws.live, &b, decline, T0), PV_OK);
    assert_int_equal(pv_intent_authorize(e->st, e->gws.live, &c, decline, T0), PV_OK);
    /* a committed, b's job failed in a committed batch, c's batch did not commit. */
    assert_int_equal(pv_store_intent_move(e->st, a.id, PV_INTENT_AUTHORIZED, PV_INTENT_SETTLING,
                                          NULL, "ind_a", NULL, 0, T0),
                     PV_OK);
    assert_int_equal(pv_store_intent_move(e->st, b.id, PV_INTENT_AUTHORIZED, PV_INTENT_VOIDING,
                                          NULL, NULL, NULL, 0, T0),
                     PV_OK);
    ids[0] = a.id;
    ids[1] = b.id;
    ids[2] = c.id;
    assert_int_equal(pv_intent_settle_batch(e->st, &e->gws, ids, capture, 3, T0 + 1), PV_OK);
    state_is(e, a.id, PV_INTENT_CAPTURED);
    state_is(e, b.id, PV_INTENT_VOIDED);
    state_is(e, c.id, PV_INTENT_VOIDED);
    assert_int_equal(pv_gateway_refund(e->gws.live, a.charge_id, 740, "ra", NULL), PV_OK);
    assert_int_equal(pv_gateway_capture(e->gws.live, b.charge_id, "cb"), PV_EPAYSTATE);
    assert_int_equal(pv_gateway_capture(e->gws.live, c.charge_id, "cc"), PV_EPAYSTATE);
    /* Again: finished already, nothing moves. */
    assert_int_equal(pv_intent_settle_batch(e->st, &e->gws, ids, capture, 3, T0 + 2), PV_OK);
    state_is(e, a.id, PV_INTENT_CAPTURED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test_setup_teardown(test_adopt_then_new_attempt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hashed_key_stays_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(test_declines_and_guards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settle_batch, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
