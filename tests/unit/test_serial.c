/*
 * test_serial.c - media serial numbers, format version 1: the test vectors
 * printed in docs/serials.md, round trips over the field extremes and random
 * fields, exhaustive single-substitution and adjacent-transposition sweeps
 * over a few hundred serials (caught by the check symbol), tampered
 * authentication codes, key rotation, lenient input (case, I/L/O, hyphens),
 * and garbage / random input that must fail cleanly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "stampd/error.h"
#include "stampd/serial.h"

#include <stdio.h>
#include <string.h>

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static uint8_t secret1[32]; /* 0x00..0x1f */
static uint8_t secret2[32]; /* 0x20..0x3f */

static int setup(void **state)
{
    for (int i = 0; i < 32; i++) {
        secret1[i] = (uint8_t) i;
        secret2[i] = (uint8_t) (0x20 + i);
    }
    return 0;
}

/* xorshift64: deterministic, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static struct pv_serial random_fields(void)
{
    struct pv_serial s = {
        .version = PV_SERIAL_VERSION,
        .key_id = (unsigned) (rnd() % (PV_SERIAL_MAX_KEY_ID + 1)),
        .batch = (uint32_t) (rnd() % (PV_SERIAL_MAX_BATCH + 1)),
        .product = (unsigned) (rnd() % (PV_SERIAL_MAX_PRODUCT + 1)),
        .group = (unsigned) (rnd() % (PV_SERIAL_MAX_GROUP + 1)),
        .sheet = (uint32_t) (rnd() % (PV_SERIAL_MAX_SHEET + 1)),
        .position = (unsigned) (rnd() % (PV_SERIAL_MAX_POSITION + 1)),
    };
    return s;
}

static void assert_fields_equal(const struct pv_serial *a, const struct pv_serial *b)
{
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->key_id, b->key_id);
    assert_int_equal(a->batch, b->batch);
    assert_int_equal(a->product, b->product);
    assert_int_equal(a->group, b->group);
    assert_int_equal(a->sheet, b->sheet);
    assert_int_equal(a->position, b->position);
}

/* Canonical text -> the 23 symbols without hyphens. */
static void compact(const char *text, char out[PV_SERIAL_SYMBOLS + 1])
{
    size_t n = 0;
    for (; *text; text++)
        if (*text != '-' && n < PV_SERIAL_SYMBOLS)
            out[n++] = *text;
    out[n] = '\0';
    assert_int_equal(n, PV_SERIAL_SYMBOLS);
}

static unsigned value_of(char c)
{
    const char *p = strchr(alphabet, c);
    assert_non_null(p);
    return (unsigned) (p - alphabet);
}

/* An independent implementation of the documented check symbol. */
static void fix_check(char s[PV_SERIAL_SYMBOLS + 1])
{
    unsigned r = 0;
    for (int i = 0; i < PV_SERIAL_SYMBOLS - 1; i++) {
        r <<= 1;
        if (r & 0x20)
            r ^= 0x25;
        r ^= value_of(s[i]);
    }
    r <<= 1;
    if (r & 0x20)
        r ^= 0x25;
    s[PV_SERIAL_SYMBOLS - 1] = alphabet[r];
}

static const struct pv_serial_key both_keys[] = {
    {1, secret1, sizeof secret1},
    {2, secret2, sizeof secret2},
};

static void encode_ok(const struct pv_serial *s, char out[PV_SERIAL_TEXT_SIZE])
{
    const uint8_t *secret = s->key_id == 2 ? secret2 : secret1;
    assert_int_equal(pv_serial_encode(s, secret, 32, out, PV_SERIAL_TEXT_SIZE), PV_OK);
    assert_int_equal(strlen(out), PV_SERIAL_TEXT_LEN);
}

/* The vectors of docs/serials.md. */
static void test_vectors(void **state)
{
    static const struct {
        struct pv_serial f;
        int second_secret;
        const char *text;
    } v[] = {
        {{1, 1, 1, 1, 1, 1, 0}, 0, "1200-0810-0800-402Y-4DFF-C37"},
        {{1, 1, 1234, 7, 42, 17, 0}, 0, "1209-MG70-AG02-40Z1-FXYZ-4YE"},
        {{1, 1, 1234, 7, 42, 17, 5}, 0, "1209-MG70-AG02-45JA-RBYF-K6H"},
        {{1, 0, 0, 0, 0, 0, 0}, 0, "1000-0000-0000-00D2-M8S4-7K1"},
        {{1, 15, 262143, 255, 4095, 65535, 99}, 0, "1ZZZ-ZZZZ-ZZZZ-Z399-EYBY-62Z"},
        {{1, 2, 1234, 7, 42, 17, 5}, 1, "1409-MG70-AG02-452H-M2AD-KKD"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char out[PV_SERIAL_TEXT_SIZE];
        struct pv_serial got;
        const uint8_t *secret = v[i].second_secret ? secret2 : secret1;
        struct pv_serial_key key = {v[i].f.key_id, secret, 32};

        assert_int_equal(pv_serial_encode(&v[i].f, secret, 32, out, sizeof out), PV_OK);
        assert_string_equal(out, v[i].text);
        assert_int_equal(pv_serial_parse(v[i].text, &got), PV_OK);
        assert_fields_equal(&got, &v[i].f);
        memset(&got, 0xff, sizeof got);
        assert_int_equal(pv_serial_verify(v[i].text, &key, 1, &got), PV_OK);
        assert_fields_equal(&got, &v[i].f);
    }
}

static void test_round_trip(void **state)
{
    static const uint32_t keys[] = {0, 1, 2, 15};
    static const uint32_t batches[] = {0, 1, 131072, 262143};
    static const uint32_t products[] = {0, 1, 128, 255};
    static const uint32_t groups[] = {0, 1, 2048, 4095};
    static const uint32_t sheets[] = {0, 1, 32768, 65535};
    static const uint32_t positions[] = {0, 1, 50, 99};
    struct pv_serial_key all[16];
    char out[PV_SERIAL_TEXT_SIZE];
    struct pv_serial got;

    for (unsigned k = 0; k < 16; k++)
        all[k] = (struct pv_serial_key){k, k == 2 ? secret2 : secret1, 32};

    /* Every combination of the extremes and midpoints: 4^6 = 4096 serials. */
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 4; c++)
                for (int d = 0; d < 4; d++)
                    for (int e = 0; e < 4; e++)
                        for (int f = 0; f < 4; f++) {
                            struct pv_serial s = {1,         keys[a],   batches[b],  products[c],
                                                  groups[d], sheets[e], positions[f]};
                            encode_ok(&s, out);
                            assert_int_equal(out[0], '1');
                            assert_int_equal(pv_serial_verify(out, all, 16, &got), PV_OK);
                            assert_fields_equal(&got, &s);
                        }
    for (int i = 0; i < 5000; i++) {
        struct pv_serial s = random_fields();
        encode_ok(&s, out);
        assert_int_equal(pv_serial_verify(out, all, 16, &got), PV_OK);
        assert_fields_equal(&got, &s);
    }
}

static void test_encode_errors(void **state)
{
    char out[PV_SERIAL_TEXT_SIZE];
    struct pv_serial ok = {1, 1, 5, 5, 5, 5, 5};
    struct pv_serial bad[] = {
        {0, 1, 5, 5, 5, 5, 5},      {2, 1, 5, 5, 5, 5, 5},   {1, 16, 5, 5, 5, 5, 5},
        {1, 1, 262144, 5, 5, 5, 5}, {1, 1, 5, 256, 5, 5, 5}, {1, 1, 5, 5, 4096, 5, 5},
        {1, 1, 5, 5, 5, 65536, 5},  {1, 1, 5, 5, 5, 5, 100},
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out[0] = 'x';
        out[1] = '\0';
        assert_int_equal(pv_serial_encode(&bad[i], secret1, 32, out, sizeof out), PV_EINVAL);
        assert_string_equal(out, "");
    }
    assert_int_equal(pv_serial_encode(&ok, secret1, 32, out, PV_SERIAL_TEXT_SIZE - 1), PV_EINVAL);
    assert_int_equal(pv_serial_encode(&ok, secret1, PV_SERIAL_MIN_SECRET - 1, out, sizeof out),
                     PV_EINVAL);
    assert_int_equal(pv_serial_encode(NULL, secret1, 32, out, sizeof out), PV_EINVAL);
    assert_int_equal(pv_serial_encode(&ok, NULL, 32, out, sizeof out), PV_EINVAL);
    assert_int_equal(pv_serial_encode(&ok, secret1, 32, NULL, 64), PV_EINVAL);
    assert_int_equal(pv_serial_encode(&ok, secret1, PV_SERIAL_MIN_SECRET, out, sizeof out), PV_OK);
}

/*
 * Every single-symbol substitution (22 x 31 per serial) and every adjacent
 * transposition of distinct symbols is rejected by the check symbol alone:
 * pv_serial_parse answers PV_EMALFORMED. Jump transpositions (abc -> cba)
 * are caught too. 300 serials, about 210,000 altered strings.
 */
static void test_typos_caught_by_check_symbol(void **state)
{
    long substitutions = 0, transpositions = 0;

    for (int n = 0; n < 300; n++) {
        struct pv_serial s = random_fields();
        char text[PV_SERIAL_TEXT_SIZE], orig[PV_SERIAL_SYMBOLS + 1], alt[PV_SERIAL_SYMBOLS + 1];

        s.key_id = 1 + (unsigned) (n % 2);
        encode_ok(&s, text);
        compact(text, orig);
        assert_int_equal(pv_serial_parse(orig, NULL), PV_OK);

        for (int i = 0; i < PV_SERIAL_SYMBOLS; i++) {
            for (int v = 0; v < 32; v++) {
                if (alphabet[v] == orig[i])
                    continue;
                memcpy(alt, orig, sizeof alt);
                alt[i] = alphabet[v];
                assert_int_equal(pv_serial_parse(alt, NULL), PV_EMALFORMED);
                assert_int_equal(pv_serial_verify(alt, both_keys, 2, NULL), PV_EMALFORMED);
                substitutions++;
            }
        }
        for (int i = 0; i + 1 < PV_SERIAL_SYMBOLS; i++) {
            if (orig[i] == orig[i + 1])
                continue;
            memcpy(alt, orig, sizeof alt);
            alt[i] = orig[i + 1];
            alt[i + 1] = orig[i];
            assert_int_equal(pv_serial_parse(alt, NULL), PV_EMALFORMED);
            transpositions++;
        }
        for (int i = 0; i + 2 < PV_SERIAL_SYMBOLS; i++) {
            if (orig[i] == orig[i + 2])
                continue;
            memcpy(alt, orig, sizeof alt);
            alt[i] = orig[i + 2];
            alt[i + 2] = orig[i];
            assert_int_equal(pv_serial_parse(alt, NULL), PV_EMALFORMED);
        }
    }
    assert_true(substitutions == 300L * 23 * 31);
    assert_true(transpositions > 300L * 15);
}

/* A well-formed serial (right check symbol) with the wrong code: PV_ESIGNATURE. */
static void test_wrong_auth_code(void **state)
{
    struct pv_serial s = {1, 1, 1234, 7, 42, 17, 5};
    char text[PV_SERIAL_TEXT_SIZE], orig[PV_SERIAL_SYMBOLS + 1], alt[PV_SERIAL_SYMBOLS + 1];
    struct pv_serial got;

    encode_ok(&s, text);
    compact(text, orig);

    /* Flip each of the 40 code bits (symbols 14..21), recompute the check symbol. */
    for (int bit = 0; bit < 40; bit++) {
        int i = 14 + bit / 5;
        memcpy(alt, orig, sizeof alt);
        alt[i] = alphabet[value_of(orig[i]) ^ (1u << (4 - bit % 5))];
        fix_check(alt);
        assert_int_equal(pv_serial_parse(alt, &got), PV_OK);
        assert_fields_equal(&got, &s);
        memset(&got, 0xff, sizeof got);
        assert_int_equal(pv_serial_verify(alt, both_keys, 2, &got), PV_ESIGNATURE);
        assert_int_equal(got.batch, 0); /* zeroed on failure */
    }

    /* Change a field (the position, symbol 13) but keep the old code: a forged label. */
    memcpy(alt, orig, sizeof alt);
    alt[13] = alphabet[value_of(orig[13]) ^ 1u];
    fix_check(alt);
    assert_int_equal(pv_serial_parse(alt, &got), PV_OK);
    assert_int_equal(got.position, 4);
    assert_int_equal(pv_serial_verify(alt, both_keys, 2, NULL), PV_ESIGNATURE);

    /* The right code under another vendor's secret. */
    struct pv_serial_key other = {1, secret2, 32};
    assert_int_equal(pv_serial_verify(orig, &other, 1, NULL), PV_ESIGNATURE);

    /* Random codes for a few thousand valid payloads: never accepted. */
    for (int n = 0; n < 3000; n++) {
        memcpy(alt, orig, sizeof alt);
        for (int i = 14; i < 22; i++)
            alt[i] = alphabet[rnd() % 32];
        fix_check(alt);
        if (strcmp(alt, orig) == 0)
            continue;
        assert_int_equal(pv_serial_verify(alt, both_keys, 2, NULL), PV_ESIGNATURE);
    }
}

static void test_key_rotation(void **state)
{
    struct pv_serial old_batch = {1, 1, 100, 3, 9, 1, 0};
    struct pv_serial new_batch = {1, 2, 101, 3, 9, 1, 0};
    const struct pv_serial_key only_old[] = {{1, secret1, 32}};
    const struct pv_serial_key only_new[] = {{2, secret2, 32}};
    const struct pv_serial_key short_secret[] = {{1, secret1, PV_SERIAL_MIN_SECRET - 1}};
    char a[PV_SERIAL_TEXT_SIZE], b[PV_SERIAL_TEXT_SIZE];
    struct pv_serial got;

    encode_ok(&old_batch, a);
    encode_ok(&new_batch, b);
    assert_int_equal(pv_serial_verify(a, only_old, 1, NULL), PV_OK);
    /* After rotation both keys are configured: old and new batches verify. */
    assert_int_equal(pv_serial_verify(a, both_keys, 2, &got), PV_OK);
    assert_int_equal(got.key_id, 1);
    assert_int_equal(pv_serial_verify(b, both_keys, 2, &got), PV_OK);
    assert_int_equal(got.key_id, 2);
    /* Key 1 retired: its batches no longer verify. */
    assert_int_equal(pv_serial_verify(a, only_new, 1, NULL), PV_EUNKNOWNKEY);
    assert_int_equal(pv_serial_verify(b, only_old, 1, NULL), PV_EUNKNOWNKEY);
    assert_int_equal(pv_serial_verify(a, NULL, 0, NULL), PV_EUNKNOWNKEY);
    assert_int_equal(pv_serial_verify(a, short_secret, 1, NULL), PV_EUNKNOWNKEY);
}

static void test_lenient_input(void **state)
{
    struct pv_serial s = {1, 1, 1234, 7, 42, 17, 0};
    const char *canon = "1209-MG70-AG02-40Z1-FXYZ-4YE";
    char out[PV_SERIAL_TEXT_SIZE];
    struct pv_serial got;
    static const char *same[] = {
        "1209-MG70-AG02-40Z1-FXYZ-4YE",
        "1209mg70ag0240z1fxyz4ye",
        "1209-mg70-ag02-40z1-fxyz-4ye",
        "I209-MG7o-AG02-4OZl-FXYZ-4YE",
        "i2O9-MG70-AGO2-40ZL-FXYZ-4YE",
        "-12-09MG70AG0240Z1FXYZ4YE--",
        "1209 MG70",
    };

    for (size_t i = 0; i + 1 < sizeof same / sizeof same[0]; i++) {
        assert_int_equal(pv_serial_verify(same[i], both_keys, 2, &got), PV_OK);
        assert_fields_equal(&got, &s);
        assert_int_equal(pv_serial_normalize(same[i], out, sizeof out), PV_OK);
        assert_string_equal(out, canon);
    }
    /* Spaces are not accepted (only hyphens are separators). */
    assert_int_equal(pv_serial_parse(same[6], NULL), PV_EINVAL);

    /* normalize checks syntax only: a typo keeps its (wrong) check symbol. */
    assert_int_equal(pv_serial_normalize("1209mg70ag0240z1fxyz4yf", out, sizeof out), PV_OK);
    assert_string_equal(out, "1209-MG70-AG02-40Z1-FXYZ-4YF");
    assert_int_equal(pv_serial_parse(out, NULL), PV_EMALFORMED);
    assert_int_equal(pv_serial_normalize(canon, out, PV_SERIAL_TEXT_SIZE - 1), PV_EINVAL);
    assert_string_equal(out, "");
    assert_int_equal(pv_serial_normalize("1209-MG70-AG02-40Z1-FXYZ-4Y", out, sizeof out),
                     PV_EINVAL);
    assert_int_equal(pv_serial_normalize(NULL, out, sizeof out), PV_EINVAL);
    assert_int_equal(pv_serial_normalize(canon, NULL, 0), PV_EINVAL);
}

static void test_garbage(void **state)
{
    static const char *bad[] = {
        "",
        "-",
        "----------------------------",
        "1209-MG70-AG02-40Z1-FXYZ-4Y",   /* 22 symbols */
        "1209-MG70-AG02-40Z1-FXYZ-4YEE", /* 24 symbols */
        "1209-MG70-AG02-40Z1-FXYZ-4YU",  /* U is not a symbol */
        "1209-MG70-AG02-40Z1-FXYZ-4Y*",  /* nor Crockford's extra check symbols */
        "1209-MG70-AG02-40Z1-FXYZ-4YE ", /* trailing space */
        "1209-MG70-AG02-40Z1-FXYZ-4Y\xc3\x89",
        "1209_MG70_AG02_40Z1_FXYZ_4YE",
        /* 23 symbols, but 65 bytes with hyphens: over PV_SERIAL_INPUT_MAX */
        "1-2-0-9-M-G-7-0-A-G-0-2-4-0-Z-1-F-X-Y-Z-4-Y-E------------------------",
    };
    char big[10000];
    struct pv_serial got;
    char out[PV_SERIAL_TEXT_SIZE];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&got, 0xff, sizeof got);
        assert_int_equal(pv_serial_parse(bad[i], &got), PV_EINVAL);
        assert_int_equal(got.sheet, 0);
        assert_int_equal(pv_serial_verify(bad[i], both_keys, 2, NULL), PV_EINVAL);
        assert_int_equal(pv_serial_normalize(bad[i], out, sizeof out), PV_EINVAL);
    }
    assert_int_equal(pv_serial_parse(NULL, &got), PV_EINVAL);
    assert_int_equal(pv_serial_verify(NULL, both_keys, 2, &got), PV_EINVAL);
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(pv_serial_parse(big, NULL), PV_EINVAL);
    memset(big, '-', sizeof big - 1);
    assert_int_equal(pv_serial_parse(big, NULL), PV_EINVAL);

    /* Right check symbol, bad fields: version 2, position 100..127. */
    char alt[PV_SERIAL_SYMBOLS + 1];
    compact("1209-MG70-AG02-40Z1-FXYZ-4YE", alt);
    alt[0] = '2';
    fix_check(alt);
    assert_int_equal(pv_serial_parse(alt, &got), PV_EINVAL);
    compact("1209-MG70-AG02-40Z1-FXYZ-4YE", alt);
    alt[12] = alphabet[value_of(alt[12]) | 3u]; /* top bits of the position */
    alt[13] = 'Z';
    fix_check(alt);
    assert_int_equal(pv_serial_parse(alt, &got), PV_EINVAL);

    /* Random strings: any length up to 80, symbols, hyphens, junk bytes. */
    static const char pool[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZabcxyzILOUilou-- *~$=\x01\x7f\xff";
    int passed_check = 0;
    for (int n = 0; n < 5000; n++) {
        char r[81];
        size_t len = (size_t) (rnd() % 81);
        for (size_t i = 0; i < len; i++)
            r[i] = pool[rnd() % (sizeof pool - 1)];
        r[len] = '\0';
        int rc = pv_serial_verify(r, both_keys, 2, &got);
        assert_true(rc == PV_EINVAL || rc == PV_EMALFORMED || rc == PV_EUNKNOWNKEY ||
                    rc == PV_ESIGNATURE);
        (void) pv_serial_normalize(r, out, sizeof out);
    }
    /* Random 23-symbol strings: about 1 in 32 passes the check symbol; none verifies. */
    for (int n = 0; n < 20000; n++) {
        char r[PV_SERIAL_SYMBOLS + 1];
        for (int i = 0; i < PV_SERIAL_SYMBOLS; i++)
            r[i] = alphabet[rnd() % 32];
        r[0] = '1';
        r[PV_SERIAL_SYMBOLS] = '\0';
        int rc = pv_serial_verify(r, both_keys, 2, NULL);
        assert_int_not_equal(rc, PV_OK);
        if (rc != PV_EMALFORMED)
            passed_check++;
    }
    assert_true(passed_check > 400 && passed_check < 900); /* expect 625 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),         cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_encode_errors),   cmocka_unit_test(test_typos_caught_by_check_symbol),
        cmocka_unit_test(test_wrong_auth_code), cmocka_unit_test(test_key_rotation),
        cmocka_unit_test(test_lenient_input),   cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
