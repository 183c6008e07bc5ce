/*
 * test_core.c - money arithmetic and parsing, codecs, dates, error table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/indicium.h" /* pv_date_parse: mail dates are the domain's */
#include "stampd/money.h"
#include "stampd/timeutil.h"

#include <stdlib.h>
#include <string.h>

static void test_money_add_overflow(void **state)
{
    pv_mills r = 7;

    assert_int_equal(pv_money_add(1, 2, &r), PV_OK);
    assert_int_equal(r, 3);
    assert_int_equal(pv_money_add(PV_MILLS_MAX, 0, &r), PV_OK);
    assert_int_equal(pv_money_add(PV_MILLS_MAX, 1, &r), PV_EOVERFLOW);
    assert_int_equal(r, PV_MILLS_MAX); /* unchanged on error */
    assert_int_equal(pv_money_add(INT64_MAX, INT64_MAX, &r), PV_EOVERFLOW);
    assert_int_equal(pv_money_add(INT64_MIN, -1, &r), PV_EOVERFLOW);
    assert_int_equal(pv_money_sub(0, PV_MILLS_MAX, &r), PV_OK);
    assert_int_equal(r, -PV_MILLS_MAX);
    assert_int_equal(pv_money_sub(-PV_MILLS_MAX, 1, &r), PV_EOVERFLOW);
    assert_int_equal(pv_money_sub(0, INT64_MIN, &r), PV_EOVERFLOW);
}

static void test_money_parse_format(void **state)
{
    pv_mills m;
    char buf[32];

    assert_int_equal(pv_money_parse("100", &m), PV_OK);
    assert_int_equal(m, 100000);
    assert_int_equal(pv_money_parse("0.73", &m), PV_OK);
    assert_int_equal(m, 730);
    assert_int_equal(pv_money_parse("12.345", &m), PV_OK);
    assert_int_equal(m, 12345);
    assert_int_equal(pv_money_parse("$5", &m), PV_OK);
    assert_int_equal(m, 5000);
    assert_int_equal(pv_money_parse(".5", &m), PV_OK);
    assert_int_equal(m, 500);
    assert_int_equal(pv_money_parse("1.2345", &m), PV_EINVAL);
    assert_int_equal(pv_money_parse("-1", &m), PV_EINVAL);
    assert_int_equal(pv_money_parse("1e3", &m), PV_EINVAL);
    assert_int_equal(pv_money_parse("", &m), PV_EINVAL);
    assert_int_equal(pv_money_parse("1.", &m), PV_EINVAL);
    assert_int_equal(pv_money_parse("99999999999999999999", &m), PV_EOVERFLOW);
    assert_string_equal(pv_money_format(740, buf, sizeof buf), "0.74");
    assert_string_equal(pv_money_format(100000, buf, sizeof buf), "100.00");
    assert_string_equal(pv_money_format(12345, buf, sizeof buf), "12.345");
    assert_string_equal(pv_money_format(-740, buf, sizeof buf), "-0.74");
}

static void test_base64(void **state)
{
    static const struct {
        const char *raw, *b64;
    } v[] = {{"", ""},
             {"f", "Zg=="},
             {"fo", "Zm8="},
             {"foo", "Zm9v"},
             {"foob", "Zm9vYg=="},
             {"fooba", "Zm9vYmE="},
             {"foobar", "Zm9vYmFy"}};
    size_t i, n;
    uint8_t *out;

    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        char *e = pv_base64_encode((const uint8_t *) v[i].raw, strlen(v[i].raw));
        assert_string_equal(e, v[i].b64);
        free(e);
        assert_int_equal(pv_base64_decode(v[i].b64, strlen(v[i].b64), &out, &n), PV_OK);
        assert_int_equal(n, strlen(v[i].raw));
        assert_memory_equal(out, v[i].raw, n);
        free(out);
    }
    assert_int_equal(pv_base64_decode("Zm9", 3, &out, &n), PV_EBASE64);
    assert_int_equal(pv_base64_decode("Zm9*", 4, &out, &n), PV_EBASE64);
    assert_int_equal(pv_base64_decode("Zh==", 4, &out, &n), PV_EBASE64); /* non-canonical */
    assert_int_equal(pv_base64_decode("Z===", 4, &out, &n), PV_EBASE64);
    assert_int_equal(pv_base64_decode("=Zm9", 4, &out, &n), PV_EBASE64);
}

static void test_parse_u64(void **state)
{
    uint64_t v;

    assert_int_equal(pv_parse_u64("42", 1, 100, &v), PV_OK);
    assert_int_equal(v, 42);
    assert_int_equal(pv_parse_u64("0", 1, 100, &v), PV_EINVAL);
    assert_int_equal(pv_parse_u64("101", 1, 100, &v), PV_EINVAL);
    assert_int_equal(pv_parse_u64("4x", 0, 100, &v), PV_EINVAL);
    assert_int_equal(pv_parse_u64("-1", 0, 100, &v), PV_EINVAL);
    assert_int_equal(pv_parse_u64("", 0, 100, &v), PV_EINVAL);
    assert_int_equal(pv_parse_u64("18446744073709551616", 0, UINT64_MAX, &v), PV_EINVAL);
    assert_int_equal(pv_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), PV_OK);
}

/* The published FNV-1a 64 test vectors (draft-eastlake-fnv): the offset basis
 * itself for "", then one and several characters. */
static void test_fnv1a64(void **state)
{
    (void) state;
    assert_true(pv_fnv1a64("") == 0xcbf29ce484222325u);
    assert_true(pv_fnv1a64(NULL) == 0xcbf29ce484222325u);
    assert_true(pv_fnv1a64("a") == 0xaf63dc4c8601ec8cu);
    assert_true(pv_fnv1a64("foobar") == 0x85944171f73967e8u);
}

/* pv_str_copy copies as snprintf(dst, size, "%s", src) did: cut and terminated, the
 * source's length returned, NULL as "", nothing written into no room; pv_str_join two. */
static void test_str_copy(void **state)
{
    char buf[6];

    (void) state;
    memset(buf, 'x', sizeof buf);
    assert_int_equal(pv_str_copy(buf, sizeof buf, "abc"), 3);
    assert_string_equal(buf, "abc");
    assert_int_equal(pv_str_copy(buf, sizeof buf, "abcde"), 5); /* exactly fits */
    assert_string_equal(buf, "abcde");
    assert_int_equal(pv_str_copy(buf, sizeof buf, "abcdefgh"), 8); /* cut */
    assert_string_equal(buf, "abcde");
    assert_int_equal(pv_str_copy(buf, 1, "abc"), 3);
    assert_string_equal(buf, "");
    buf[0] = 'x';
    assert_int_equal(pv_str_copy(buf, 0, "abc"), 3); /* no room: untouched */
    assert_int_equal(buf[0], 'x');
    assert_int_equal(pv_str_copy(buf, sizeof buf, NULL), 0);
    assert_string_equal(buf, "");
    /* pv_str_join as snprintf(dst, size, "%s%s", a, b). */
    assert_int_equal(pv_str_join(buf, sizeof buf, "ab", "cd"), 4);
    assert_string_equal(buf, "abcd");
    assert_int_equal(pv_str_join(buf, sizeof buf, "abc", "defg"), 7); /* b cut */
    assert_string_equal(buf, "abcde");
    assert_int_equal(pv_str_join(buf, sizeof buf, "abcdefg", "hi"), 9); /* a cut, no b */
    assert_string_equal(buf, "abcde");
    assert_int_equal(pv_str_join(buf, sizeof buf, NULL, "xy"), 2);
    assert_string_equal(buf, "xy");
    assert_int_equal(pv_str_join(buf, sizeof buf, "", ""), 0);
    assert_string_equal(buf, "");
}

static void test_dates(void **state)
{
    uint32_t d;
    char buf[32];

    assert_int_equal(pv_date_from_unix(0), 19700101);
    assert_int_equal(pv_date_from_unix(1795305600), 20261122); /* 2026-11-22T00:00:00Z */
    assert_int_equal(pv_date_to_unix(19700101), 0);
    assert_int_equal(pv_date_to_unix(20261122), 1795305600);
    assert_int_equal(pv_date_to_unix(20240301) - pv_date_to_unix(20240228), 2 * 86400);
    assert_int_equal(pv_date_add_days(20261231, 1), 20270101);
    assert_int_equal(pv_date_add_days(20240228, 1), 20240229);
    assert_int_equal(pv_date_add_days(20240301, -1), 20240229);
    assert_int_equal(pv_date_add_days(20250301, -1), 20250228);
    assert_int_equal(pv_date_parse("2026-11-22", &d), PV_OK);
    assert_int_equal(d, 20261122);
    assert_int_equal(pv_date_parse("2026-02-29", &d), PV_EMAILDATE);
    assert_int_equal(pv_date_parse("2028-02-29", &d), PV_OK);
    assert_int_equal(pv_date_parse("2026-13-01", &d), PV_EMAILDATE);
    assert_int_equal(pv_date_parse("2026-1-01", &d), PV_EMAILDATE);
    assert_int_equal(pv_date_parse("2026/11/22", &d), PV_EMAILDATE);
    assert_string_equal(pv_date_format(20261122, buf, sizeof buf), "2026-11-22");
    assert_string_equal(pv_time_format(1795305661, buf, sizeof buf), "2026-11-22T00:01:01Z");
}

static void test_error_table(void **state)
{
    int i, j, n = pv_error_count();

    assert_true(n > 30);
    for (i = 0; i < n; i++) {
        int e = pv_error_at(i);
        assert_int_equal(e, -i); /* dense, so lookups are O(1) */
        assert_non_null(pv_strerror(e));
        assert_true(pv_error_http(e) >= 200 && pv_error_http(e) < 600);
        for (j = 0; j < i; j++) /* codes may repeat only for internal errors */
            if (strcmp(pv_error_code(pv_error_at(j)), pv_error_code(e)) == 0)
                assert_string_equal(pv_error_code(e), "internal_error");
    }
    assert_string_equal(pv_error_code(PV_EFUNDS), "insufficient_funds");
    assert_int_equal(pv_error_http(PV_EFUNDS), 402);
    assert_int_equal(pv_error_http(PV_EIDEMREUSED), 409);
    assert_int_equal(pv_error_http(PV_EUNAUTH), 401);
    assert_string_equal(pv_error_code(12345), "internal_error");
    assert_int_equal(pv_error_http(-9999), 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_money_add_overflow),
        cmocka_unit_test(test_money_parse_format),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_fnv1a64),
        cmocka_unit_test(test_str_copy),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_error_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
