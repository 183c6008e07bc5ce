/*
 * test_password.c - argon2id passwords: the policy's boundaries in
 * characters (not bytes), hash and verify, salts differ, a wrong or missing
 * hash never verifies, and the encoded form carries its parameters.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "domain/password.h"
#include "stampd/error.h"

#include <string.h>

static void test_policy(void **state)
{
    char buf[PV_PASSWORD_MAX * 4 + 8];
    (void) state;

    assert_int_equal(pv_password_policy(NULL), PV_EPASSWORD);
    assert_int_equal(pv_password_policy("123456789"), PV_EPASSWORD);
    assert_int_equal(pv_password_policy("1234567890"), PV_OK);
    /* Ten characters of two bytes each are ten characters. */
    assert_int_equal(pv_password_policy("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                                        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"),
                     PV_OK);
    assert_int_equal(pv_password_policy("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"), PV_EPASSWORD);
    memset(buf, 'a', PV_PASSWORD_MAX);
    buf[PV_PASSWORD_MAX] = '\0';
    assert_int_equal(pv_password_policy(buf), PV_OK);
    buf[PV_PASSWORD_MAX] = 'a';
    buf[PV_PASSWORD_MAX + 1] = '\0';
    assert_int_equal(pv_password_policy(buf), PV_EPASSWORD);
}

static void test_hash_and_verify(void **state)
{
    char a[PV_PWHASH_MAX], b[PV_PWHASH_MAX];
    (void) state;

    assert_int_equal(pv_password_hash("correct horse battery", a), PV_OK);
    assert_int_equal(pv_password_hash("correct horse battery", b), PV_OK);
    assert_true(strncmp(a, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    assert_string_not_equal(a, b); /* fresh salts */
    assert_null(strstr(a, "correct"));
    assert_int_equal(pv_password_verify("correct horse battery", a), PV_OK);
    assert_int_equal(pv_password_verify("correct horse batterY", a), PV_ELOGIN);
    assert_int_equal(pv_password_verify("", a), PV_ELOGIN);
    assert_int_equal(pv_password_verify(NULL, a), PV_ELOGIN);
    /* No account, no password set, or garbage: a wrong password, never a match. */
    assert_int_equal(pv_password_verify("correct horse battery", NULL), PV_ELOGIN);
    assert_int_equal(pv_password_verify("correct horse battery", ""), PV_ELOGIN);
    assert_int_equal(pv_password_verify("correct horse battery", "$argon2id$junk"), PV_ELOGIN);
    assert_int_equal(pv_password_hash("short", a), PV_EPASSWORD);
    assert_string_equal(a, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_hash_and_verify),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
