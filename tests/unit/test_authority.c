/*
 * test_authority.c - the postal authority as a party (src/domain/authority.c):
 * its accounts and keys, the deposit credit (once per Idempotency-Key, the
 * money bound, nothing half-written), the deposit's history, and the strict
 * UTC time a presentation is stamped with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain_env.h"

#include "domain/account.h"
#include "domain/authority.h"

static int setup(void **state)
{
    *state = denv_vendor("authority", 1000, 0, 0);
    return 0;
}

static int teardown(void **state)
{
    denv_close(*state);
    return 0;
}

static void test_create(void **state)
{
    struct denv *e = *state;
    struct pv_principal who;
    char id[PV_ID_MAX], key[64], id2[PV_ID_MAX], key2[64], name[PV_POSTAL_NAME_MAX];

    assert_int_equal(pv_authority_create(e->st, "Inspector A", 1700000000, id, key), PV_OK);
    assert_memory_equal(key, PV_APIKEY_POSTAL, strlen(PV_APIKEY_POSTAL));
    assert_int_equal(strlen(key), strlen(PV_APIKEY_POSTAL) + 32);
    assert_int_equal(pv_apikey_lookup(e->st, key, &who), PV_OK);
    assert_int_equal(who.role, PV_ROLE_POSTAL);
    assert_string_equal(who.owner_id, id);
    assert_int_equal(who.test, 0);
    assert_int_equal(pv_store_postal_get(e->st, id, name), PV_OK);
    assert_string_equal(name, "Inspector A");
    /* A taken name, or no name: nothing made, nothing shown. */
    assert_int_equal(pv_authority_create(e->st, "Inspector A", 1700000000, id2, key2), PV_EEXIST);
    assert_string_equal(id2, "");
    assert_string_equal(key2, "");
    assert_int_equal(pv_authority_create(e->st, "", 1700000000, id2, key2), PV_EINVAL);
    assert_int_equal(pv_authority_create(e->st, " padded", 1700000000, id2, key2), PV_EINVAL);
    assert_int_equal(pv_authority_create(e->st, "tab\there", 1700000000, id2, key2), PV_EINVAL);
    /* No test keys for the authority. */
    {
        struct pv_apikey_rec rec;

        assert_int_equal(pv_apikey_mint(e->st, PV_ROLE_POSTAL, id, 1, NULL, 0, key2, &rec),
                         PV_EINVAL);
    }
}

static void test_credit_once_per_key(void **state)
{
    struct denv *e = *state;
    struct pv_deposit_res res, again;
    struct pv_deposit_entry *page = NULL;
    size_t n = 0;

    assert_int_equal(
        pv_deposit_credit(e->st, "pa_1", "k1", "hash-a", 5000, "WIRE 1", 1700000000, &res), PV_OK);
    denv_no_tx(e->st);
    assert_false(res.replayed);
    assert_int_equal(res.credit.amount, 5000);
    assert_int_equal(res.balance, 6000);
    assert_int_equal(denv_balance(e, PV_ACCT_DEPOSIT), 6000);
    /* The retry answers the first credit and moves nothing. */
    assert_int_equal(
        pv_deposit_credit(e->st, "pa_1", "k1", "hash-a", 5000, "WIRE 1", 1700000001, &again),
        PV_OK);
    assert_true(again.replayed);
    assert_string_equal(again.credit.id, res.credit.id);
    assert_int_equal(denv_balance(e, PV_ACCT_DEPOSIT), 6000);
    /* The same key for another request; another authority's same key is its own. */
    assert_int_equal(
        pv_deposit_credit(e->st, "pa_1", "k1", "hash-b", 7000, "WIRE 2", 1700000002, &again),
        PV_EIDEMREUSED);
    denv_no_tx(e->st);
    assert_int_equal(
        pv_deposit_credit(e->st, "pa_2", "k1", "hash-b", 7000, "WIRE 2", 1700000003, &again),
        PV_OK);
    assert_int_equal(denv_balance(e, PV_ACCT_DEPOSIT), 13000);
    /* The longest Idempotency-Key the API takes (255 bytes) is a key here too. */
    {
        char longkey[PV_IDEM_KEY_MAX];

        memset(longkey, 'k', sizeof longkey - 1);
        longkey[sizeof longkey - 1] = '\0';
        assert_int_equal(
            pv_deposit_credit(e->st, "pa_1", longkey, "hash-c", 10, "LONG", 1700000003, &again),
            PV_OK);
        assert_int_equal(
            pv_deposit_credit(e->st, "pa_1", longkey, "hash-c", 10, "LONG", 1700000003, &again),
            PV_OK);
        assert_true(again.replayed);
        assert_int_equal(denv_balance(e, PV_ACCT_DEPOSIT), 13010);
    }
    /* Without a key (the command line) every call is a credit. */
    assert_int_equal(
        pv_deposit_credit(e->st, PV_CLI_CREDITOR, NULL, NULL, 10, "CHEQUE", 1700000004, &again),
        PV_OK);
    assert_int_equal(again.balance, 13020);
    denv_books(e);

    assert_int_equal(pv_deposit_history(e->st, 0, 10, &page, &n), PV_OK);
    assert_int_equal(n, 5); /* four credits and the opening deposit */
    assert_string_equal(page[0].reference, "CHEQUE");
    assert_int_equal(page[0].balance, 13020);
    assert_int_equal(page[4].balance, 1000);
    free(page);
}

static void test_credit_refusals_write_nothing(void **state)
{
    struct denv *e = *state;
    struct pv_deposit_res res;
    char longref[PV_DEPOSIT_REF_MAX + 1];

    memset(longref, 'x', sizeof longref - 1);
    longref[sizeof longref - 1] = '\0';
    assert_int_equal(pv_deposit_credit(e->st, "pa_1", "k", "h", 0, "R", 1, &res), PV_EAMOUNT);
    assert_int_equal(pv_deposit_credit(e->st, "pa_1", "k", "h", 5, "R", 1, &res), PV_EAMOUNT);
    assert_int_equal(pv_deposit_credit(e->st, "pa_1", "k", "h", -10, "R", 1, &res), PV_EAMOUNT);
    assert_int_equal(pv_deposit_credit(e->st, "pa_1", "k", "h", PV_MILLS_MAX + 10, "R", 1, &res),
                     PV_EAMOUNT);
    assert_int_equal(pv_deposit_credit(e->st, "pa_1", "k", "h", 10, "", 1, &res), PV_EINVAL);
    assert_int_equal(pv_deposit_credit(e->st, "pa_1", "k", "h", 10, longref, 1, &res), PV_EINVAL);
    assert_int_equal(pv_deposit_credit(e->st, "pa_1", "k", "h", 10, "new\nline", 1, &res),
                     PV_EINVAL);
    assert_int_equal(pv_deposit_credit(e->st, "", "k", "h", 10, "R", 1, &res), PV_EINVAL);
    /* Past the money bound: refused before anything is written, the key stays free. */
    assert_int_equal(pv_deposit_credit(e->st, "pa_1", "k", "h", PV_MILLS_MAX, "R", 1, &res),
                     PV_EOVERFLOW);
    denv_no_tx(e->st);
    assert_int_equal(denv_balance(e, PV_ACCT_DEPOSIT), 1000);
    assert_int_equal(pv_deposit_credit(e->st, "pa_1", "k", "h", PV_MILLS_MAX - 1000, "R", 1, &res),
                     PV_OK);
    assert_int_equal(res.balance, PV_MILLS_MAX);
    denv_books(e);
}

/* A deposit that ran out is drawn on again after a credit (purchase.c refills). */
static void test_sales_resume_after_a_credit(void **state)
{
    struct denv *e = *state;
    struct pv_indicium_rec rec;
    struct pv_deposit_res res;
    struct pv_deposit_entry *page = NULL;
    size_t n = 0;

    /* $1.00 of deposit: the first refill takes it (less than the $5 refill size). */
    denv_buy(e, "cus_a", 0, &rec);
    assert_int_equal(denv_balance(e, PV_ACCT_DEPOSIT), 0);
    assert_int_equal(pv_deposit_credit(e->st, "pa_1", "k", "h", 20000, "WIRE", 1700000000, &res),
                     PV_OK);
    denv_buy(e, "cus_a", 0, &rec);
    denv_books(e);
    assert_int_equal(pv_deposit_history(e->st, 0, 10, &page, &n), PV_OK);
    /* Oldest first from the end: the opening $1.00, its draw, the credit, the next draw. */
    assert_int_equal(n, 4);
    assert_int_equal(page[n - 1].amount, 1000);
    assert_string_equal(page[n - 2].kind, "psd_refill");
    assert_int_equal(page[n - 2].amount, -1000);
    assert_string_equal(page[n - 3].kind, "postal_deposit");
    assert_string_equal(page[n - 3].reference, "WIRE");
    assert_int_equal(page[n - 3].balance, 20000);
    assert_string_equal(page[0].kind, "psd_refill");
    assert_int_equal(page[0].balance, 20000 + page[0].amount);
    assert_int_equal(page[n - 2].balance, 0);
    assert_true(page[n - 2].psd_id == 1 || page[n - 2].psd_id == 2);
    free(page);
}

static void test_time_parse(void **state)
{
    int64_t t = -1;

    (void) state;
    assert_int_equal(pv_time_parse_utc("2026-11-22T09:30:00Z", &t), PV_OK);
    assert_int_equal(t, 1795339800);
    assert_int_equal(pv_time_parse_utc("2000-01-01T00:00:00Z", &t), PV_OK);
    assert_int_equal(t, 946684800);
    assert_int_equal(pv_time_parse_utc("2024-02-29T23:59:59Z", &t), PV_OK);
    assert_int_equal(pv_time_parse_utc("2026-02-29T00:00:00Z", &t), PV_EINVAL);
    assert_int_equal(pv_time_parse_utc("2026-04-31T00:00:00Z", &t), PV_EINVAL);
    assert_int_equal(pv_time_parse_utc("2026-13-01T00:00:00Z", &t), PV_EINVAL);
    assert_int_equal(pv_time_parse_utc("2026-11-22T24:00:00Z", &t), PV_EINVAL);
    assert_int_equal(pv_time_parse_utc("2026-11-22T09:60:00Z", &t), PV_EINVAL);
    assert_int_equal(pv_time_parse_utc("1999-12-31T23:59:59Z", &t), PV_EINVAL);
    assert_int_equal(pv_time_parse_utc("2026-11-22 09:30:00Z", &t), PV_EINVAL);
    assert_int_equal(pv_time_parse_utc("2026-11-22T09:30:00", &t), PV_EINVAL);
    assert_int_equal(pv_time_parse_utc("2026-11-22T09:30:00+01:00", &t), PV_EINVAL);
    assert_int_equal(pv_time_parse_utc("+026-11-22T09:30:00Z", &t), PV_EINVAL);
    assert_int_equal(pv_time_parse_utc(NULL, &t), PV_EINVAL);
    assert_int_equal(t, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credit_once_per_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credit_refusals_write_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sales_resume_after_a_credit, setup, teardown),
        cmocka_unit_test(test_time_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
