/*
 * test_funds.c - prepaid funds by card (src/domain/funds.c): the top-up and
 * its books, idempotent replays and reuse, amounts, declines, no gateway,
 * test money apart from live, top-up keys apart from purchase keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain_env.h"

#include "domain/funds.h"

static int setup(void **state)
{
    *state = denv_open("funds");
    return 0;
}

static int teardown(void **state)
{
    denv_close(*state);
    return 0;
}

static void test_add_and_replay(void **state)
{
    struct denv *e = *state;
    struct pv_funds_res res, again;
    struct pv_payment pay;
    int64_t n = -1;

    denv_card(e, 0, "4242424242424242", &pay);
    assert_int_equal(pv_funds_replay(e->st, "cus_a", 0, "k1", "h1", &res), PV_ENOTFOUND);
    assert_int_equal(pv_funds_add(e->st, &e->gws, "cus_a", 0, "k1", "h1", 2500, &pay, 77, &res),
                     PV_OK);
    assert_false(res.replayed);
    assert_int_equal(res.balance, 12500);
    assert_int_equal(res.charge.amount, 2500);
    assert_int_equal(res.charge.created, 77);
    assert_string_equal(res.charge.purpose, "funds");
    assert_string_equal(res.charge.last4, "4242");
    assert_memory_equal(res.charge.ref, "top_", 4);
    assert_true(res.charge.id[0] != '\0');
    /* The same key and request: the same top-up, nothing charged. */
    assert_int_equal(pv_funds_replay(e->st, "cus_a", 0, "k1", "h1", &again), PV_OK);
    assert_true(again.replayed);
    assert_string_equal(again.charge.ref, res.charge.ref);
    assert_int_equal(again.balance, 12500);
    assert_int_equal(pv_funds_add(e->st, &e->gws, "cus_a", 0, "k1", "h1", 2500, &pay, 78, &again),
                     PV_OK);
    assert_true(again.replayed);
    assert_string_equal(again.charge.id, res.charge.id);
    assert_int_equal(denv_balance(e, "customer:cus_a"), 12500);
    assert_int_equal(pv_store_charge_count(e->st, "cus_a", "funds", &n), PV_OK);
    assert_int_equal(n, 1);
    /* The same key with another request. */
    assert_int_equal(pv_funds_replay(e->st, "cus_a", 0, "k1", "h2", &again), PV_EIDEMREUSED);
    assert_int_equal(pv_funds_add(e->st, &e->gws, "cus_a", 0, "k1", "h2", 2500, &pay, 78, &again),
                     PV_EIDEMREUSED);
    /* Keys of test mode are another namespace, and test money another balance. */
    assert_int_equal(pv_funds_replay(e->st, "cus_a", 1, "k1", "h1", &again), PV_ENOTFOUND);
    denv_card(e, 1, "4242424242424242", &pay);
    assert_int_equal(pv_funds_add(e->st, &e->gws, "cus_a", 1, "k1", "h1", 1000, &pay, 79, &res),
                     PV_OK);
    assert_int_equal(res.balance, 1000);
    assert_int_equal(denv_balance(e, "test:customer:cus_a"), 1000);
    assert_int_equal(denv_balance(e, "customer:cus_a"), 12500);
    denv_books(e);
}

static void test_refusals(void **state)
{
    struct denv *e = *state;
    struct pv_funds_res res;
    struct pv_payment pay, balance;
    struct pv_gateways none = {NULL, NULL};
    char longkey[PV_IDEM_KEY_MAX + 2];

    denv_card(e, 0, "4242424242424242", &pay);
    memset(&balance, 0, sizeof balance);
    assert_int_equal(pv_funds_add(e->st, &e->gws, "cus_a", 0, "a", "h", 999, &pay, 1, &res),
                     PV_EAMOUNT);
    assert_int_equal(pv_funds_add(e->st, &e->gws, "cus_a", 0, "a", "h", 1005, &pay, 1, &res),
                     PV_EAMOUNT);
    assert_int_equal(
        pv_funds_add(e->st, &e->gws, "cus_a", 0, "a", "h", PV_FUNDS_MAX + 10, &pay, 1, &res),
        PV_EAMOUNT);
    assert_int_equal(pv_funds_add(e->st, &e->gws, "cus_a", 0, "a", "h", 1000, &balance, 1, &res),
                     PV_EINVAL);
    assert_int_equal(pv_funds_add(e->st, &e->gws, "cus_a", 0, "", "h", 1000, &pay, 1, &res),
                     PV_EIDEMREQUIRED);
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_int_equal(pv_funds_add(e->st, &e->gws, "cus_a", 0, longkey, "h", 1000, &pay, 1, &res),
                     PV_EINVAL);
    assert_int_equal(pv_funds_add(e->st, &none, "cus_a", 0, "a", "h", 1000, &pay, 1, &res),
                     PV_ENOGATEWAY);
    denv_card(e, 0, "4000000000000002", &pay);
    assert_int_equal(pv_funds_add(e->st, &e->gws, "cus_a", 0, "a", "h", 1000, &pay, 1, &res),
                     PV_ECARDDECLINED);
    assert_string_equal(res.decline, "card_declined");
    denv_card(e, 0, "4000000000000119", &pay);
    assert_int_equal(pv_funds_add(e->st, &e->gws, "cus_a", 0, "a", "h", 1000, &pay, 1, &res),
                     PV_EGATEWAY);
    /* Nothing of it was kept: the key is still new and the balance unchanged. */
    assert_int_equal(pv_funds_replay(e->st, "cus_a", 0, "a", "h", &res), PV_ENOTFOUND);
    assert_int_equal(denv_balance(e, "customer:cus_a"), 10000);
    denv_books(e);
}

/*
 * A top-up's Idempotency-Key is a namespace of its own (schema v37): a purchase under "funds:x"
 * and a top-up under "x" are two keys, in either order. Until v37 a top-up's record was the
 * purchases' "funds:" + its key, and the second of the two was refused as the first's reuse.
 */
static void test_keys_apart_from_purchases(void **state)
{
    struct denv *e = *state;
    struct pv_funds_res res;
    struct pv_payment pay;
    char hash[PV_HASH_HEX], ref[PV_ID_MAX];

    denv_card(e, 0, "4242424242424242", &pay);
    /* A purchase's record under "funds:x", as purchase.c keeps it. */
    assert_int_equal(pv_store_idem_put(e->st, "cus_a", "funds:x", "hp", "ind_x", 1), PV_OK);
    assert_int_equal(pv_funds_replay(e->st, "cus_a", 0, "x", "h1", &res), PV_ENOTFOUND);
    assert_int_equal(pv_funds_add(e->st, &e->gws, "cus_a", 0, "x", "h1", 2500, &pay, 2, &res),
                     PV_OK);
    assert_false(res.replayed);
    /* The other way round: a top-up under "y" leaves the purchase key "funds:y" free. */
    assert_int_equal(pv_funds_add(e->st, &e->gws, "cus_a", 0, "y", "h2", 1000, &pay, 3, &res),
                     PV_OK);
    assert_int_equal(pv_store_idem_get(e->st, "cus_a", "funds:y", hash, ref), PV_ENOTFOUND);
    assert_int_equal(pv_store_idem_get(e->st, "funds:cus_a", "y", hash, ref), PV_OK);
    assert_string_equal(hash, "h2");
    assert_string_equal(ref, res.charge.ref);
    /* Test mode's top-ups are apart from live's, and from its purchases. */
    assert_int_equal(pv_store_idem_get(e->st, "funds:test:cus_a", "y", hash, ref), PV_ENOTFOUND);
    denv_card(e, 1, "4242424242424242", &pay);
    assert_int_equal(pv_funds_add(e->st, &e->gws, "cus_a", 1, "y", "h3", 1000, &pay, 4, &res),
                     PV_OK);
    assert_false(res.replayed);
    assert_int_equal(pv_store_idem_get(e->st, "funds:test:cus_a", "y", hash, ref), PV_OK);
    assert_string_equal(hash, "h3");
    assert_int_equal(pv_store_idem_get(e->st, "test:cus_a", "funds:y", hash, ref), PV_ENOTFOUND);
    assert_int_equal(pv_store_idem_get(e->st, "funds:cus_a", "y", hash, ref), PV_OK);
    assert_string_equal(hash, "h2");
    assert_int_equal(pv_store_idem_get(e->st, "cus_a", "funds:x", hash, ref), PV_OK);
    assert_string_equal(ref, "ind_x");
    assert_int_equal(pv_funds_replay(e->st, "cus_a", 0, "x", "h1", &res), PV_OK);
    assert_true(res.replayed);
    assert_int_equal(denv_balance(e, "customer:cus_a"), 13500);
    assert_int_equal(denv_balance(e, "test:customer:cus_a"), 1000);
    denv_books(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_and_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_apart_from_purchases, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
