/*
 * test_refund.c - refund requests (src/domain/refund.c): approval to the
 * balance and to the paying card, every denial, ownership, and the books.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain_env.h"

#include "domain/intent.h"
#include "domain/refund.h"

#define WINDOW (30 * 86400)

static int setup(void **state)
{
    *state = denv_open_on("refund", 0);
    return *state ? 0 : -1;
}

/* The case that reads through PostgreSQL's own statement too (a fresh database of the
 * fixture's cluster). */
static int setup_pg(void **state)
{
    *state = denv_open_on("refund", 1);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    denv_close(*state);
    return 0;
}

static void test_approved_to_balance(void **state)
{
    struct denv *e = *state;
    static struct pv_indicium_rec rec, again;
    struct pv_refund_rec r, latest;
    char id[PV_ID_MAX];

    denv_buy(e, "cus_a", 0, &rec);
    snprintf(id, sizeof id, "%s", rec.id);
    assert_int_equal(denv_balance(e, "customer:cus_a"), 10000 - 740);
    assert_int_equal(pv_refund_request(e->st, &e->gws, "cus_a", 0, id, WINDOW, pv_now(), &r),
                     PV_OK);
    assert_int_equal(r.status, PV_REFUND_APPROVED);
    assert_string_equal(r.reason, "");
    assert_string_equal(r.destination, "balance");
    assert_int_equal(r.amount, 740);
    assert_string_equal(r.indicium_id, id);
    assert_string_equal(pv_refund_status_name(r.status), "approved");
    assert_int_equal(denv_balance(e, "customer:cus_a"), 10000);
    assert_int_equal(pv_indicium_owned(e->st, "cus_a", 0, id, &again), PV_OK);
    assert_true(again.refunded_at != 0);
    /* Asked again: the same decision, the same record; nothing new is written. */
    assert_int_equal(pv_refund_request(e->st, &e->gws, "cus_a", 0, id, WINDOW, pv_now(), &latest),
                     PV_OK);
    assert_int_equal(latest.status, PV_REFUND_APPROVED);
    assert_string_equal(latest.id, r.id);
    assert_int_equal(latest.amount, r.amount);
    assert_int_equal(pv_store_refund_latest(e->st, id, &latest), PV_OK);
    assert_string_equal(latest.id, r.id);
    assert_int_equal(denv_balance(e, "customer:cus_a"), 10000);
    denv_books(e);
}

static void test_approved_to_card(void **state)
{
    struct denv *e = *state;
    static struct pv_indicium_rec rec;
    struct pv_charge_rec c;
    struct pv_payment pay;
    struct pv_refund_rec r;

    denv_card(e, 0, "4242424242424242", &pay);
    denv_buy_with(e, "cus_b", 0, &pay, &rec);
    assert_int_equal(denv_balance(e, "customer:cus_b"), 500);
    assert_int_equal(pv_refund_request(e->st, &e->gws, "cus_b", 0, rec.id, WINDOW, pv_now(), &r),
                     PV_OK);
    assert_int_equal(r.status, PV_REFUND_APPROVED);
    assert_string_equal(r.destination, "card");
    assert_int_equal(denv_balance(e, "customer:cus_b"), 500);
    assert_int_equal(pv_store_charge_find(e->st, "purchase", rec.id, &c), PV_OK);
    assert_int_equal(c.refunded, 740);
    /* Without the gateway that took the charge the money stays on the balance. */
    denv_buy_with(e, "cus_b", 0, &pay, &rec);
    {
        struct pv_gateways none = {NULL, NULL};
        assert_int_equal(pv_refund_request(e->st, &none, "cus_b", 0, rec.id, WINDOW, pv_now(), &r),
                         PV_OK);
    }
    assert_string_equal(r.destination, "balance");
    assert_int_equal(denv_balance(e, "customer:cus_b"), 500 + 740);
    denv_books(e);
}

/* A card purchase is answered once its batch commits, before its hold is captured (issue 15,
 * session 17), so its refund can come first: the refund captures it under the capture's own key,
 * then refunds - never a refund of a charge still only held, which the gateway refuses (and the
 * refund would end "declined", the customer's money owed by hand). The capture on its way then
 * gets the same answer. */
static void test_refund_before_the_capture(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q;
    struct pv_purchase_res *res = calloc(1, sizeof *res);
    struct pv_payment pay;
    struct pv_refund_rec r;
    struct pv_intent_rec it;
    struct pv_charge_rec c;
    char charge[PV_REF_MAX];

    assert_non_null(res);
    denv_card(e, 0, "4242424242424242", &pay);
    denv_letter(&q, "cus_b", "early", 1, 0);
    q.pay = pay;
    /* Held and bought; not yet captured (pv_purchase_settle not run). */
    pv_purchase_authorize(e->st, &e->ctx, &q, res, pv_now());
    assert_int_equal(pv_purchase_batch(e->st, &e->ctx, &q, res, 1, PV_NOW_AT_LOCK), PV_OK);
    assert_int_equal(res->err, PV_OK);
    assert_int_equal(pv_store_intent_get(e->st, res->intent_id, &it), PV_OK);
    assert_string_equal(it.state, PV_INTENT_SETTLING);
    snprintf(charge, sizeof charge, "%s", it.charge_id);
    assert_int_equal(pv_store_intent_settling(e->st, charge, &it), PV_OK);
    assert_string_equal(it.id, res->intent_id);

    assert_int_equal(
        pv_refund_request(e->st, &e->gws, "cus_b", 0, res->rec.id, WINDOW, pv_now(), &r), PV_OK);
    assert_int_equal(r.status, PV_REFUND_APPROVED);
    assert_string_equal(r.destination, "card");
    /* Captured first, then refunded: the refund's intent is paid, not declined. */
    assert_int_equal(pv_store_intent_get(e->st, res->intent_id, &it), PV_OK);
    assert_string_equal(it.state, PV_INTENT_CAPTURED);
    assert_int_equal(pv_store_intent_settling(e->st, charge, &it), PV_ENOTFOUND);
    assert_int_equal(pv_store_intent_latest(e->st, "refund", "cus_b", r.id, &it), PV_OK);
    assert_string_equal(it.state, PV_INTENT_PAID);
    assert_int_equal(pv_store_charge_find(e->st, "purchase", res->rec.id, &c), PV_OK);
    assert_int_equal(c.refunded, 740);
    /* The capture that was on its way, under the same key: the gateway answers it the same
     * (it does not refuse the refunded charge), and the settle step moves nothing. */
    {
        char key[PV_INTENT_SUBKEY_MAX];

        assert_int_equal(pv_store_intent_get(e->st, res->intent_id, &it), PV_OK);
        pv_intent_finish_key(&it, 1, key);
        assert_int_equal(pv_gateway_capture(pv_pay_gateway(&e->gws, 0), charge, key), PV_OK);
    }
    pv_purchase_settle(e->st, &e->ctx, res, 1);
    assert_int_equal(pv_store_intent_get(e->st, res->intent_id, &it), PV_OK);
    assert_string_equal(it.state, PV_INTENT_CAPTURED);
    assert_int_equal(denv_balance(e, "customer:cus_b"), 500);
    pv_indicium_rec_clear(&res->rec);

    /* A capture refused for good (the hold voided meanwhile) does not keep the refund pending
     * for ever: it goes on, is refused, and ends "declined" for the operator, as before. */
    denv_letter(&q, "cus_b", "voided", 1, 0);
    q.pay = pay;
    memset(res, 0, sizeof *res);
    pv_purchase_authorize(e->st, &e->ctx, &q, res, pv_now());
    assert_int_equal(pv_purchase_batch(e->st, &e->ctx, &q, res, 1, PV_NOW_AT_LOCK), PV_OK);
    assert_int_equal(res->err, PV_OK);
    assert_int_equal(pv_gateway_void(pv_pay_gateway(&e->gws, 0), res->charge_id, "elsewhere"),
                     PV_OK);
    assert_int_equal(
        pv_refund_request(e->st, &e->gws, "cus_b", 0, res->rec.id, WINDOW, pv_now(), &r), PV_OK);
    assert_string_equal(r.destination, "card");
    assert_int_equal(pv_store_intent_latest(e->st, "refund", "cus_b", r.id, &it), PV_OK);
    assert_string_equal(it.state, PV_INTENT_DECLINED);
    pv_indicium_rec_clear(&res->rec);
    free(res);
    denv_books(e);
}

static void test_denials(void **state)
{
    struct denv *e = *state;
    static struct pv_indicium_rec rec;
    struct pv_refund_rec r;
    int64_t before;

    denv_buy(e, "cus_a", 0, &rec);
    assert_int_equal(pv_store_indicium_present(e->st, rec.id, pv_now(), &before), PV_OK);
    assert_int_equal(pv_refund_request(e->st, &e->gws, "cus_a", 0, rec.id, WINDOW, pv_now(), &r),
                     PV_OK);
    assert_int_equal(r.status, PV_REFUND_DENIED);
    assert_string_equal(r.reason, "already_scanned");
    assert_string_equal(r.destination, "");
    assert_int_equal(pv_store_refund_latest(e->st, rec.id, &r), PV_OK);
    assert_string_equal(r.reason, "already_scanned");

    denv_buy(e, "cus_a", 0, &rec);
    assert_int_equal(
        pv_refund_request(e->st, &e->gws, "cus_a", 0, rec.id, 60, rec.created + 61, &r), PV_OK);
    assert_string_equal(r.reason, "window_expired");

    denv_post(e->st, "test:" PV_ACCT_FUNDING, "test:customer:cus_a", 5000);
    denv_buy(e, "cus_a", 1, &rec);
    assert_int_equal(pv_refund_request(e->st, &e->gws, "cus_a", 1, rec.id, WINDOW, pv_now(), &r),
                     PV_OK);
    assert_string_equal(r.reason, "test_piece");
    assert_int_equal(denv_balance(e, "customer:cus_a"), 10000 - 2 * 740);
    denv_books(e);
}

static void test_ownership(void **state)
{
    struct denv *e = *state;
    static struct pv_indicium_rec rec, other;
    struct pv_refund_rec r;
    char longid[PV_ID_MAX + 8];

    denv_buy(e, "cus_a", 0, &rec);
    assert_int_equal(pv_refund_request(e->st, &e->gws, "cus_b", 0, rec.id, WINDOW, pv_now(), &r),
                     PV_ENOTFOUND);
    assert_int_equal(pv_store_refund_latest(e->st, rec.id, &r), PV_ENOTFOUND);
    assert_int_equal(
        pv_refund_request(e->st, &e->gws, "cus_a", 0, "ind_nope", WINDOW, pv_now(), &r),
        PV_ENOTFOUND);
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_int_equal(pv_indicium_owned(e->st, NULL, 0, longid, &other), PV_ENOTFOUND);
    assert_int_equal(pv_indicium_owned(e->st, "cus_b", 0, rec.id, &other), PV_ENOTFOUND);
    assert_int_equal(pv_indicium_owned(e->st, NULL, 0, rec.id, &other), PV_OK);
    assert_string_equal(pv_refund_status_name(PV_REFUND_DENIED), "denied");
    assert_string_equal(pv_refund_status_name(7), "unknown");
}

/* A test key never refunds a live piece, nor a live key a test one: each
 * is unknown to the other mode, and nothing moves (domain/mode.h). */
static void test_modes(void **state)
{
    struct denv *e = *state;
    static struct pv_indicium_rec live, test, other;
    struct pv_refund_rec r;

    denv_post(e->st, "test:" PV_ACCT_FUNDING, "test:customer:cus_a", 5000);
    denv_buy(e, "cus_a", 0, &live);
    denv_buy(e, "cus_a", 1, &test);
    assert_int_equal(pv_refund_request(e->st, &e->gws, "cus_a", 1, live.id, WINDOW, pv_now(), &r),
                     PV_ENOTFOUND);
    assert_int_equal(pv_refund_request(e->st, &e->gws, "cus_a", 0, test.id, WINDOW, pv_now(), &r),
                     PV_ENOTFOUND);
    assert_int_equal(pv_store_refund_latest(e->st, live.id, &r), PV_ENOTFOUND);
    assert_int_equal(pv_store_refund_latest(e->st, test.id, &r), PV_ENOTFOUND);
    assert_int_equal(denv_balance(e, "customer:cus_a"), 10000 - 740);
    assert_int_equal(denv_balance(e, "test:customer:cus_a"), 5000 - 740);
    assert_int_equal(pv_indicium_owned(e->st, "cus_a", 1, live.id, &other), PV_ENOTFOUND);
    assert_int_equal(pv_indicium_owned(e->st, "cus_a", 0, test.id, &other), PV_ENOTFOUND);
    assert_int_equal(pv_indicium_owned(e->st, "cus_a", 0, live.id, &other), PV_OK);
    assert_int_equal(pv_indicium_owned(e->st, "cus_a", 1, test.id, &other), PV_OK);
    /* An operator reads both; its mode argument is not asked. */
    assert_int_equal(pv_indicium_owned(e->st, NULL, 0, test.id, &other), PV_OK);
    assert_int_equal(pv_indicium_owned(e->st, NULL, 1, live.id, &other), PV_OK);
    /* The live key's own live piece is refunded as ever. */
    assert_int_equal(pv_refund_request(e->st, &e->gws, "cus_a", 0, live.id, WINDOW, pv_now(), &r),
                     PV_OK);
    assert_int_equal(r.status, PV_REFUND_APPROVED);
    assert_int_equal(denv_balance(e, "customer:cus_a"), 10000);
    denv_books(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_approved_to_balance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_approved_to_card, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refund_before_the_capture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_denials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ownership, setup, teardown),
        cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
    };
    /* The refund's read of the capture on its way through PostgreSQL's own statement too. */
    const struct CMUnitTest on_pg[] = {
        cmocka_unit_test_setup_teardown(test_refund_before_the_capture, setup_pg, teardown),
    };
    int failed = cmocka_run_group_tests_name("refund (sqlite)", tests, NULL, NULL);

    if (getenv("STAMPD_TEST_PG_DSN_FILE"))
        failed += cmocka_run_group_tests_name("refund (postgres)", on_pg, NULL, NULL);
    return failed;
}
