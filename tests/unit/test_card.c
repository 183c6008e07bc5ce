/*
 * test_card.c - card validation: brands and their length boundaries, Luhn,
 * each field's failure and its name, expiry, CVC per brand, ZIP forms, and
 * that what is kept never holds the number.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "stampd/card.h"
#include "stampd/error.h"

#include <string.h>

#define TODAY 202611 /* November 2026 */

/* A card number of len digits starting with prefix, zero-filled, with a valid Luhn digit. */
static void make_number(const char *prefix, size_t len, char *out)
{
    size_t pl = strlen(prefix);
    int sum = 0;

    memset(out, '0', len);
    memcpy(out, prefix, pl);
    out[len] = '\0';
    /* Luhn over the first len-1 digits, counting from the check digit's left neighbour. */
    for (size_t i = 0; i + 1 < len; i++) {
        int v = out[len - 2 - i] - '0';

        if (i % 2 == 0) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    out[len - 1] = (char) ('0' + (10 - sum % 10) % 10);
}

static int check(const char *number, int m, int y, const char *cvc, const char *zip,
                 const char **field, struct pv_card_info *info)
{
    struct pv_card_input in = {number, m, y, cvc, zip};

    return pv_card_validate(&in, TODAY, info, field);
}

/* The number is valid and of brand (NULL: invalid, reported on "number"). */
static void expect_brand(const char *number, const char *brand)
{
    struct pv_card_info info;
    const char *field = "unset";
    const char *cvc = brand && strcmp(brand, "amex") == 0 ? "1234" : "123";
    int rc = check(number, 12, 2030, cvc, "12345", &field, &info);

    if (brand) {
        if (rc != PV_OK)
            print_error("expected %s to be a valid %s, field %s\n", number, brand,
                        field ? field : "(null)");
        assert_int_equal(rc, PV_OK);
        assert_null(field);
        assert_string_equal(info.brand, brand);
    } else {
        if (rc != PV_EINVAL)
            print_error("expected %s to be invalid\n", number);
        assert_int_equal(rc, PV_EINVAL);
        assert_non_null(field);
        assert_string_equal(field, "number");
        assert_string_equal(info.brand, "");
    }
}

static void expect_gen(const char *prefix, size_t len, const char *brand)
{
    char num[32];

    make_number(prefix, len, num);
    expect_brand(num, brand);
}

static void test_known_numbers(void **state)
{
    expect_brand("4242424242424242", "visa");
    expect_brand("4222222222222", "visa");
    expect_brand("4111111111111111", "visa");
    expect_brand("5555555555554444", "mastercard");
    expect_brand("5105105105105100", "mastercard");
    expect_brand("2223003122003222", "mastercard");
    expect_brand("378282246310005", "amex");
    expect_brand("371449635398431", "amex");
    expect_brand("6011111111111117", "discover");
    expect_brand("6011000990139424", "discover");
}

static void test_visa_lengths(void **state)
{
    for (size_t len = 11; len <= 20; len++)
        expect_gen("4", len, (len == 13 || len == 16 || len == 19) ? "visa" : NULL);
}

static void test_mastercard_ranges(void **state)
{
    expect_gen("50", 16, NULL);
    expect_gen("51", 16, "mastercard");
    expect_gen("55", 16, "mastercard");
    expect_gen("56", 16, NULL);
    expect_gen("2220", 16, NULL);
    expect_gen("2221", 16, "mastercard");
    expect_gen("2720", 16, "mastercard");
    expect_gen("2721", 16, NULL);
    expect_gen("51", 15, NULL);
    expect_gen("51", 17, NULL);
    expect_gen("2221", 19, NULL);
}

static void test_amex_ranges(void **state)
{
    expect_gen("34", 15, "amex");
    expect_gen("37", 15, "amex");
    expect_gen("35", 15, NULL);
    expect_gen("36", 15, NULL);
    expect_gen("34", 14, NULL);
    expect_gen("37", 16, NULL);
}

static void test_discover_ranges(void **state)
{
    for (size_t len = 15; len <= 20; len++) {
        const char *b = (len >= 16 && len <= 19) ? "discover" : NULL;

        expect_gen("6011", len, b);
        expect_gen("65", len, b);
        expect_gen("644", len, b);
        expect_gen("649", len, b);
        expect_gen("622126", len, b);
        expect_gen("622925", len, b);
    }
    expect_gen("6010", 16, NULL);
    expect_gen("6012", 16, NULL);
    expect_gen("643", 16, NULL);
    expect_gen("64", 16, NULL);
    expect_gen("66", 16, NULL);
    expect_gen("622125", 16, NULL);
    expect_gen("622926", 16, NULL);
}

static void test_number_form_and_luhn(void **state)
{
    expect_brand("4242 4242 4242 4242", "visa");
    expect_brand("4242-4242-4242-4242", "visa");
    expect_brand(" 3782 822463 10005 ", "amex");
    expect_brand("4242424242424241", NULL); /* Luhn */
    expect_brand("4242424242424243", NULL);
    expect_brand("5555555555554443", NULL);
    expect_brand("378282246310006", NULL);
    expect_brand("6011111111111118", NULL);
    expect_brand("4242.4242.4242.4242", NULL);
    expect_brand("4242424242424242x", NULL);
    expect_brand("+4242424242424242", NULL);
    expect_brand("", NULL);
    expect_brand("   ", NULL);
    expect_brand(NULL, NULL);
    expect_brand("0000000000000000", NULL); /* Luhn-valid, no brand */
    /* 16 digits spread over more than PV_CARD_MAX_INPUT characters. */
    expect_brand("4 2 4 2 4 2 4 2 4 2 4 2 4 2 4 2          ", NULL);
    expect_brand("4242 4242 4242 4242 4242", NULL); /* 20 digits */
}

static void test_expiry(void **state)
{
    const char *field;

    assert_int_equal(check("4242424242424242", 11, 2026, "123", "12345", &field, NULL), PV_OK);
    assert_null(field);
    assert_int_equal(check("4242424242424242", 10, 2026, "123", "12345", &field, NULL), PV_EINVAL);
    assert_string_equal(field, "exp_month");
    assert_int_equal(check("4242424242424242", 12, 2025, "123", "12345", &field, NULL), PV_EINVAL);
    assert_string_equal(field, "exp_year");
    assert_int_equal(check("4242424242424242", 1, 2027, "123", "12345", &field, NULL), PV_OK);
    assert_int_equal(check("4242424242424242", 0, 2030, "123", "12345", &field, NULL), PV_EINVAL);
    assert_string_equal(field, "exp_month");
    assert_int_equal(check("4242424242424242", 13, 2030, "123", "12345", &field, NULL), PV_EINVAL);
    assert_string_equal(field, "exp_month");
    assert_int_equal(check("4242424242424242", -1, 2030, "123", "12345", &field, NULL), PV_EINVAL);
    assert_string_equal(field, "exp_month");
    /* Two-digit years are this century. */
    assert_int_equal(check("4242424242424242", 11, 26, "123", "12345", &field, NULL), PV_OK);
    assert_int_equal(check("4242424242424242", 10, 26, "123", "12345", &field, NULL), PV_EINVAL);
    assert_string_equal(field, "exp_month");
    assert_int_equal(check("4242424242424242", 1, 25, "123", "12345", &field, NULL), PV_EINVAL);
    assert_string_equal(field, "exp_year");
    /* Up to twenty years ahead. */
    assert_int_equal(check("4242424242424242", 12, 2046, "123", "12345", &field, NULL), PV_OK);
    assert_int_equal(check("4242424242424242", 1, 2047, "123", "12345", &field, NULL), PV_EINVAL);
    assert_string_equal(field, "exp_year");
    assert_int_equal(check("4242424242424242", 1, 100, "123", "12345", &field, NULL), PV_EINVAL);
    assert_string_equal(field, "exp_year");
    assert_int_equal(check("4242424242424242", 1, -5, "123", "12345", &field, NULL), PV_EINVAL);
    assert_string_equal(field, "exp_year");
}

static void test_expiry_year_boundary(void **state)
{
    struct pv_card_input in = {"4242424242424242", 12, 2026, "123", "12345"};
    const char *field;

    /* In January, last December is over; this January is not. */
    assert_int_equal(pv_card_validate(&in, 202701, NULL, &field), PV_EINVAL);
    assert_string_equal(field, "exp_year");
    in.exp_month = 1;
    in.exp_year = 2027;
    assert_int_equal(pv_card_validate(&in, 202701, NULL, &field), PV_OK);
    /* In December, this December is still good. */
    in.exp_month = 12;
    in.exp_year = 2026;
    assert_int_equal(pv_card_validate(&in, 202612, NULL, &field), PV_OK);
}

static void test_cvc(void **state)
{
    const char *field;

    assert_int_equal(check("4242424242424242", 12, 2030, "123", "12345", &field, NULL), PV_OK);
    assert_int_equal(check("4242424242424242", 12, 2030, "000", "12345", &field, NULL), PV_OK);
    assert_int_equal(check("5555555555554444", 12, 2030, "999", "12345", &field, NULL), PV_OK);
    assert_int_equal(check("6011111111111117", 12, 2030, "321", "12345", &field, NULL), PV_OK);
    assert_int_equal(check("378282246310005", 12, 2030, "1234", "12345", &field, NULL), PV_OK);

    static const char *const bad3[] = {"12", "1234", "12a", " 123", "123 ", "", "1 3", NULL};
    static const char *const bad4[] = {"123", "12345", "12a4", "", NULL};
    const char *cards3[] = {"4242424242424242", "5555555555554444", "6011111111111117"};

    for (size_t c = 0; c < 3; c++)
        for (size_t i = 0; i < sizeof bad3 / sizeof bad3[0]; i++) {
            assert_int_equal(check(cards3[c], 12, 2030, bad3[i], "12345", &field, NULL), PV_EINVAL);
            assert_string_equal(field, "cvc");
        }
    for (size_t i = 0; i < sizeof bad4 / sizeof bad4[0]; i++) {
        assert_int_equal(check("378282246310005", 12, 2030, bad4[i], "12345", &field, NULL),
                         PV_EINVAL);
        assert_string_equal(field, "cvc");
    }
}

static void test_zip(void **state)
{
    static const char *const good[] = {"12345", "00501", "12345-6789", "123456789"};
    static const char *const bad[] = {
        "1234", "123456", "12345-678", "12345-67890", "1234-56789", "12345 6789", "ABCDE",
        "",     " 12345", "12345 ",    "12345-",      "12a45",      NULL};
    const char *field;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(check("4242424242424242", 12, 2030, "123", good[i], &field, NULL), PV_OK);
        assert_null(field);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(check("4242424242424242", 12, 2030, "123", bad[i], &field, NULL),
                         PV_EINVAL);
        assert_string_equal(field, "zip");
    }
}

static void test_field_order_and_args(void **state)
{
    struct pv_card_input in = {"4242424242424241", 0, 1999, "1", ""};
    struct pv_card_info info;
    const char *field = "unset";

    /* Everything is wrong: the number is reported first, then each in turn. */
    assert_int_equal(pv_card_validate(&in, TODAY, &info, &field), PV_EINVAL);
    assert_string_equal(field, "number");
    in.number = "4242424242424242";
    assert_int_equal(pv_card_validate(&in, TODAY, &info, &field), PV_EINVAL);
    assert_string_equal(field, "exp_month");
    in.exp_month = 5;
    assert_int_equal(pv_card_validate(&in, TODAY, &info, &field), PV_EINVAL);
    assert_string_equal(field, "exp_year");
    in.exp_year = 2031;
    assert_int_equal(pv_card_validate(&in, TODAY, &info, &field), PV_EINVAL);
    assert_string_equal(field, "cvc");
    in.cvc = "123";
    assert_int_equal(pv_card_validate(&in, TODAY, &info, &field), PV_EINVAL);
    assert_string_equal(field, "zip");
    in.zip = "94103";
    assert_int_equal(pv_card_validate(&in, TODAY, &info, &field), PV_OK);
    assert_null(field);

    /* NULL out and field are allowed; bad arguments leave field NULL. */
    assert_int_equal(pv_card_validate(&in, TODAY, NULL, NULL), PV_OK);
    assert_int_equal(pv_card_validate(NULL, TODAY, &info, &field), PV_EINVAL);
    assert_null(field);
    assert_int_equal(pv_card_validate(&in, 202613, &info, &field), PV_EINVAL);
    assert_null(field);
    assert_int_equal(pv_card_validate(&in, 202600, &info, &field), PV_EINVAL);
    assert_null(field);
    assert_int_equal(pv_card_validate(&in, 0, &info, &field), PV_EINVAL);
    assert_null(field);
}

/* needle's bytes appear anywhere in the n bytes at hay. */
static int contains(const void *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    const unsigned char *h = hay;

    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(h + i, needle, k) == 0)
            return 1;
    return 0;
}

static void test_info_is_safe(void **state)
{
    static const char *const nums[] = {"4242424242424242", "5555555555554444", "378282246310005",
                                       "6011111111111117", "4222222222222"};
    struct pv_card_info info;
    const char *field;

    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        const char *cvc = nums[i][0] == '3' ? "7391" : "739";
        size_t len = strlen(nums[i]);

        memset(&info, 0xAA, sizeof info);
        assert_int_equal(check(nums[i], 3, 2029, cvc, "12345-6789", &field, &info), PV_OK);
        assert_string_equal(info.last4, nums[i] + len - 4);
        assert_int_equal(info.exp_month, 3);
        assert_int_equal(info.exp_year, 2029);
        assert_false(contains(&info, sizeof info, nums[i]));
        /* Not even the first eight digits (the IIN) plus the next one. */
        char head[10];
        memcpy(head, nums[i], 9);
        head[9] = '\0';
        assert_false(contains(&info, sizeof info, head));
        assert_false(contains(&info, sizeof info, cvc));
    }

    /* On error, out is zeroed, not left half-filled. */
    memset(&info, 0xAA, sizeof info);
    assert_int_equal(check("4242424242424242", 12, 2030, "123", "1", &field, &info), PV_EINVAL);
    {
        struct pv_card_info zero;

        memset(&zero, 0, sizeof zero);
        assert_memory_equal(&info, &zero, sizeof info);
    }
}

static void test_digits(void **state)
{
    char d[PV_CARD_MAX_DIGITS + 1];

    assert_int_equal(pv_card_digits("4242-4242 4242-4242", d, sizeof d), PV_OK);
    assert_string_equal(d, "4242424242424242");
    assert_int_equal(pv_card_digits("42424242424", d, sizeof d), PV_EINVAL);
    assert_string_equal(d, "");
    assert_int_equal(pv_card_digits("4242424242424242", d, 10), PV_EINVAL);
    assert_int_equal(pv_card_digits(NULL, d, sizeof d), PV_EINVAL);
    pv_card_wipe(d, sizeof d);
    for (size_t i = 0; i < sizeof d; i++)
        assert_int_equal(d[i], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_numbers),
        cmocka_unit_test(test_visa_lengths),
        cmocka_unit_test(test_mastercard_ranges),
        cmocka_unit_test(test_amex_ranges),
        cmocka_unit_test(test_discover_ranges),
        cmocka_unit_test(test_number_form_and_luhn),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_expiry_year_boundary),
        cmocka_unit_test(test_cvc),
        cmocka_unit_test(test_zip),
        cmocka_unit_test(test_field_order_and_args),
        cmocka_unit_test(test_info_is_safe),
        cmocka_unit_test(test_digits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
