/*
 * test_psd.c - register arithmetic, refill, overflow, invariant; rates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "stampd/error.h"
#include "stampd/psd.h"
#include "stampd/rates.h"

#include <string.h>

/* Field by field: the struct has padding that memcmp would compare too. */
static void assert_regs_equal(const struct pv_psd_regs *a, const struct pv_psd_regs *b)
{
    assert_int_equal(a->descending, b->descending);
    assert_int_equal(a->ascending, b->ascending);
    assert_int_equal(a->control_total, b->control_total);
    assert_int_equal(a->piece_count, b->piece_count);
}

static void test_debit_moves_registers(void **state)
{
    struct pv_psd_regs r = {.descending = 1000, .ascending = 0, .control_total = 1000};

    assert_int_equal(pv_psd_debit(&r, 740), PV_OK);
    assert_int_equal(r.descending, 260);
    assert_int_equal(r.ascending, 740);
    assert_int_equal(r.control_total, 1000);
    assert_int_equal(r.piece_count, 1);
    assert_int_equal(pv_psd_check(&r), PV_OK);
    assert_int_equal(pv_psd_debit(&r, 0), PV_OK); /* zero-value piece still counts */
    assert_int_equal(r.piece_count, 2);
}

static void test_debit_short_leaves_registers(void **state)
{
    struct pv_psd_regs r = {
        .descending = 500, .ascending = 500, .control_total = 1000, .piece_count = 3};
    struct pv_psd_regs before = r;

    assert_int_equal(pv_psd_debit(&r, 501), PV_EFUNDS);
    assert_regs_equal(&r, &before);
    assert_int_equal(pv_psd_debit(&r, -1), PV_EINVAL);
    assert_regs_equal(&r, &before);
}

static void test_refill(void **state)
{
    struct pv_psd_regs r = {.descending = 100, .ascending = 900, .control_total = 1000};
    pv_mills amount;

    assert_int_equal(pv_psd_refill_needed(&r, 50, 5000, &amount), PV_OK);
    assert_int_equal(amount, 0);
    assert_int_equal(pv_psd_refill_needed(&r, 740, 5000, &amount), PV_OK);
    assert_int_equal(amount, 5000);
    /* A policy smaller than the shortfall is raised to the shortfall. */
    assert_int_equal(pv_psd_refill_needed(&r, 10000, 5000, &amount), PV_OK);
    assert_int_equal(amount, 9900);
    assert_int_equal(pv_psd_refill(&r, 5000), PV_OK);
    assert_int_equal(r.descending, 5100);
    assert_int_equal(r.control_total, 6000);
    assert_int_equal(r.ascending, 900);
    assert_int_equal(pv_psd_refill(&r, 0), PV_EINVAL);
    assert_int_equal(pv_psd_refill(&r, -5), PV_EINVAL);
}

static void test_overflow(void **state)
{
    struct pv_psd_regs r = {
        .descending = PV_MILLS_MAX, .ascending = 0, .control_total = PV_MILLS_MAX};
    struct pv_psd_regs before = r;

    assert_int_equal(pv_psd_refill(&r, 1), PV_EOVERFLOW);
    assert_regs_equal(&r, &before);
    r.piece_count = UINT32_MAX;
    before = r;
    assert_int_equal(pv_psd_debit(&r, 1), PV_EOVERFLOW);
    assert_regs_equal(&r, &before);
}

static void test_invariant_violations(void **state)
{
    struct pv_psd_regs bad = {.descending = 10, .ascending = 10, .control_total = 21};
    struct pv_psd_regs neg = {.descending = -1, .ascending = 1, .control_total = 0};

    assert_int_equal(pv_psd_check(&bad), PV_EINTERNAL);
    assert_int_equal(pv_psd_check(&neg), PV_EINTERNAL);
    assert_int_equal(pv_psd_debit(&bad, 1), PV_EINTERNAL);
    assert_int_equal(pv_psd_refill(&bad, 1), PV_EINTERNAL);
    assert_int_equal(bad.descending, 10);
}

static void test_many_pieces_keep_invariant(void **state)
{
    struct pv_psd_regs r = {0};
    pv_mills amount, sold = 0;
    int i;

    for (i = 0; i < 10000; i++) {
        pv_mills v = 610 + (i % 7) * 290;
        assert_int_equal(pv_psd_refill_needed(&r, v, 100000, &amount), PV_OK);
        if (amount)
            assert_int_equal(pv_psd_refill(&r, amount), PV_OK);
        assert_int_equal(pv_psd_debit(&r, v), PV_OK);
        sold += v;
        assert_int_equal(pv_psd_check(&r), PV_OK);
    }
    assert_int_equal(r.ascending, sold);
    assert_int_equal(r.piece_count, 10000);
}

static void test_rates(void **state)
{
    pv_mills p;
    uint32_t eff;
    int c;

    assert_int_equal(pv_mail_class_parse("first_class_letter", &c), PV_OK);
    assert_int_equal(c, PV_MC_FIRST_CLASS_LETTER);
    assert_int_equal(pv_mail_class_parse("priority", &c), PV_EMAILCLASS);
    assert_int_equal(pv_mail_class_parse("", &c), PV_EMAILCLASS);
    assert_string_equal(pv_mail_class_name(PV_MC_LARGE_ENVELOPE), "large_envelope");
    assert_null(pv_mail_class_name(99));

    assert_int_equal(pv_rate_quote(PV_MC_FIRST_CLASS_LETTER, 10, 20261122, &p, &eff), PV_OK);
    assert_int_equal(p, 740);
    assert_int_equal(eff, 20250713);
    assert_int_equal(pv_rate_quote(PV_MC_FIRST_CLASS_LETTER, 11, 20261122, &p, NULL), PV_OK);
    assert_int_equal(p, 1030); /* 1.1 oz pays the 2 oz step */
    assert_int_equal(pv_rate_quote(PV_MC_FIRST_CLASS_LETTER, 35, 20261122, &p, NULL), PV_OK);
    assert_int_equal(p, 1610);
    assert_int_equal(pv_rate_quote(PV_MC_FIRST_CLASS_LETTER, 36, 20261122, &p, NULL), PV_EWEIGHT);
    assert_int_equal(pv_rate_quote(PV_MC_FIRST_CLASS_LETTER, 0, 20261122, &p, NULL), PV_EWEIGHT);
    assert_int_equal(pv_rate_quote(PV_MC_POSTCARD, 5, 20261122, &p, NULL), PV_OK);
    assert_int_equal(p, 610);
    assert_int_equal(pv_rate_quote(PV_MC_LARGE_ENVELOPE, 130, 20261122, &p, NULL), PV_OK);
    assert_int_equal(p, 4870);
    assert_int_equal(pv_rate_quote(PV_MC_LARGE_ENVELOPE, 131, 20261122, &p, NULL), PV_EWEIGHT);
    assert_int_equal(pv_rate_quote(99, 10, 20261122, &p, NULL), PV_EMAILCLASS);
    assert_int_equal(pv_rate_quote(PV_MC_POSTCARD, 10, 20250712, &p, NULL), PV_ENORATE);
    assert_int_equal(pv_rate_max_weight(PV_MC_FIRST_CLASS_LETTER), 35);
    assert_int_equal(pv_rate_max_weight(PV_MC_LARGE_ENVELOPE), 130);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_debit_moves_registers),
        cmocka_unit_test(test_debit_short_leaves_registers),
        cmocka_unit_test(test_refill),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_invariant_violations),
        cmocka_unit_test(test_many_pieces_keep_invariant),
        cmocka_unit_test(test_rates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
