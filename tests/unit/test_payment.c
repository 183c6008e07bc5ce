/*
 * test_payment.c - deleting a saved card (pv_pay_method_delete in
 * src/domain/payment.c): the card goes and the auto-refill that used it
 * stops, in one committed transaction; another customer's card, a card of
 * the other mode and an unknown card are refused with nothing written.
 *
 * What was committed is read through a second connection (denv_reader),
 * which sees nothing of a transaction left open or rolled back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain_env.h"

#include "domain/payment.h"

static int setup(void **state)
{
    *state = denv_open("payment");
    return 0;
}

static int teardown(void **state)
{
    denv_close(*state);
    return 0;
}

/* Saved card id of customer (test or live mode). */
static void save_card(struct denv *e, const char *customer, int test, const char *id)
{
    struct pv_payment_method_rec pm;

    memset(&pm, 0, sizeof pm);
    snprintf(pm.id, sizeof pm.id, "%s", id);
    snprintf(pm.customer_id, sizeof pm.customer_id, "%s", customer);
    pm.test = test;
    snprintf(pm.gateway_ref, sizeof pm.gateway_ref, "tok_%s", id);
    snprintf(pm.brand, sizeof pm.brand, "visa");
    snprintf(pm.last4, sizeof pm.last4, "4242");
    pm.exp_month = 12;
    pm.exp_year = 2040;
    pm.created = 100;
    assert_int_equal(pv_store_pm_insert(e->st, &pm), PV_OK);
}

/* An enabled auto-refill of customer (mode test) on saved card pm_id. */
static void refill_with(struct denv *e, const char *customer, int test, const char *pm_id)
{
    struct pv_autorefill_rec ar;

    memset(&ar, 0, sizeof ar);
    snprintf(ar.customer_id, sizeof ar.customer_id, "%s", customer);
    ar.test = test;
    ar.enabled = 1;
    ar.trigger = 2000;
    ar.amount = 10000;
    snprintf(ar.payment_method_id, sizeof ar.payment_method_id, "%s", pm_id);
    ar.updated = 100;
    assert_int_equal(pv_store_autorefill_put(e->st, &ar), PV_OK);
}

/* The committed auto-refill of customer (mode test), read through r, is enabled or not and
 * was last changed at updated. */
static void refill_is(struct pv_store *r, const char *customer, int test, int enabled,
                      int64_t updated)
{
    struct pv_autorefill_rec ar;

    assert_int_equal(pv_store_autorefill_get(r, customer, test, &ar), PV_OK);
    assert_int_equal(ar.enabled, enabled);
    assert_int_equal(ar.updated, updated);
}

static void test_delete_stops_its_refill(void **state)
{
    struct denv *e = *state;
    struct pv_store *r = denv_reader(e);
    struct pv_payment_method_rec pm;
    struct pv_autorefill_rec ar;

    save_card(e, "cus_a", 0, "pm_one");
    save_card(e, "cus_a", 0, "pm_two");
    refill_with(e, "cus_a", 0, "pm_one");
    assert_int_equal(pv_pay_method_delete(e->st, "cus_a", 0, "pm_one", 500), PV_OK);
    denv_no_tx(e->st);
    /* Both committed: the card is gone and the auto-refill off, stamped now. */
    assert_int_equal(pv_store_pm_get(r, "cus_a", "pm_one", &pm), PV_ENOTFOUND);
    refill_is(r, "cus_a", 0, 0, 500);
    assert_int_equal(pv_store_autorefill_get(r, "cus_a", 0, &ar), PV_OK);
    assert_string_equal(ar.payment_method_id, "pm_one");
    assert_int_equal(ar.trigger, 2000);
    assert_int_equal(ar.amount, 10000);
    /* The other card is still saved; deleting the card twice finds nothing. */
    assert_int_equal(pv_store_pm_get(r, "cus_a", "pm_two", &pm), PV_OK);
    assert_int_equal(pv_pay_method_delete(e->st, "cus_a", 0, "pm_one", 600), PV_ENOTFOUND);
    denv_no_tx(e->st);
    pv_store_close(r);
}

static void test_delete_leaves_other_refills(void **state)
{
    struct denv *e = *state;
    struct pv_store *r = denv_reader(e);
    struct pv_payment_method_rec pm;

    /* The auto-refill runs on another card: it stays on. */
    save_card(e, "cus_a", 0, "pm_one");
    save_card(e, "cus_a", 0, "pm_two");
    refill_with(e, "cus_a", 0, "pm_two");
    /* A test-mode refill on a test card is another rule. */
    save_card(e, "cus_a", 1, "pm_test");
    refill_with(e, "cus_a", 1, "pm_test");
    assert_int_equal(pv_pay_method_delete(e->st, "cus_a", 0, "pm_one", 500), PV_OK);
    denv_no_tx(e->st);
    assert_int_equal(pv_store_pm_get(r, "cus_a", "pm_one", &pm), PV_ENOTFOUND);
    refill_is(r, "cus_a", 0, 1, 100);
    refill_is(r, "cus_a", 1, 1, 100);
    /* The test card goes with its own mode's rule, and the live rule stays. */
    assert_int_equal(pv_pay_method_delete(e->st, "cus_a", 1, "pm_test", 700), PV_OK);
    refill_is(r, "cus_a", 1, 0, 700);
    refill_is(r, "cus_a", 0, 1, 100);
    pv_store_close(r);
}

static void test_refusals_write_nothing(void **state)
{
    struct denv *e = *state;
    struct pv_store *r = denv_reader(e);
    struct pv_payment_method_rec pm;

    save_card(e, "cus_a", 0, "pm_one");
    refill_with(e, "cus_a", 0, "pm_one");
    /* Another customer's card is no card of theirs. */
    assert_int_equal(pv_pay_method_delete(e->st, "cus_b", 0, "pm_one", 500), PV_ENOTFOUND);
    denv_no_tx(e->st);
    /* A live card is unknown to a test key. */
    assert_int_equal(pv_pay_method_delete(e->st, "cus_a", 1, "pm_one", 500), PV_ENOTFOUND);
    denv_no_tx(e->st);
    /* No such card. */
    assert_int_equal(pv_pay_method_delete(e->st, "cus_a", 0, "pm_nope", 500), PV_ENOTFOUND);
    denv_no_tx(e->st);
    /* The card and its auto-refill are as they were. */
    assert_int_equal(pv_store_pm_get(r, "cus_a", "pm_one", &pm), PV_OK);
    assert_int_equal(pm.test, 0);
    refill_is(r, "cus_a", 0, 1, 100);
    pv_store_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_delete_stops_its_refill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_leaves_other_refills, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_write_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
