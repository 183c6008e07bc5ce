/*
 * test_json_text.c - the compact JSON writer (src/domain/json_text.c) and
 * the purchase answer written with it (pv_indicium_text): byte for byte
 * what jansson dumps for the same values with PV_JSON_ANSWER_FLAGS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain/indicium_view.h"
#include "domain/json_text.h"
#include "domain/purchase.h"
#include "server/views.h"
#include "stampd/error.h"
#include "stampd/money.h"
#include "stampd/rates.h"
#include "stampd/serial.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* jansson's text of v (taken), as the API dumps it. */
static char *dump(json_t *v)
{
    char *s;

    assert_non_null(v);
    s = json_dumps(v, PV_JSON_ANSWER_FLAGS | JSON_ENCODE_ANY);
    json_decref(v);
    assert_non_null(s);
    return s;
}

/* The writer's text of t, compared with want (freed). */
static void same(struct pv_jtext *t, char *want)
{
    size_t len;
    char *got = pv_jt_take(t, &len);

    assert_non_null(got);
    assert_int_equal(len, strlen(got));
    assert_string_equal(got, want);
    free(got);
    free(want);
}

static void one_string(const char *s)
{
    struct pv_jtext t;
    json_t *j = json_string(s);
    size_t len;

    pv_jt_init(&t, 8);
    pv_jt_str(&t, s);
    if (!j) { /* not UTF-8 jansson accepts: the writer fails too */
        assert_null(pv_jt_take(&t, &len));
        return;
    }
    same(&t, dump(j));
}

static void test_strings(void **state)
{
    static const char *const fixed[] = {"",
                                        "plain",
                                        "quote \" and \\ back",
                                        "\b\f\n\r\t\x01\x1f\x7f /",
                                        "caf\xc3\xa9",
                                        "\xe2\x82\xac euro",
                                        "\xf0\x9f\x98\x80 emoji",
                                        "\xf4\x8f\xbf\xbf last",
                                        "\xc0\x80 overlong",
                                        "\xed\xa0\x80 surrogate",
                                        "\xf4\x90\x80\x80 too big",
                                        "\x80 stray",
                                        "\xe2\x82 cut",
                                        "\xf5\x80\x80\x80",
                                        "\xe0\x9f\xbf overlong3"};
    unsigned seed = 12345;
    char s[64];
    size_t i, k;

    (void) state;
    for (i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        one_string(fixed[i]);
    /* Random bytes, most of them not UTF-8, some of them control characters. */
    for (i = 0; i < 20000; i++) {
        size_t n = (i % 23) + 1;
        for (k = 0; k < n; k++) {
            seed = seed * 1103515245u + 12345u;
            s[k] = (char) ((seed >> 16) % 255 + 1);
        }
        s[n] = '\0';
        one_string(s);
    }
}

static void test_numbers(void **state)
{
    static const int64_t ints[] = {0, 1, -1, 9, 10, 123456789, -987654321, INT64_MAX, INT64_MIN};
    struct pv_jtext t;
    uint32_t v;
    size_t i;

    (void) state;
    for (i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        pv_jt_init(&t, 1);
        pv_jt_int(&t, ints[i]);
        same(&t, dump(json_integer(ints[i])));
    }
    for (v = 0; v <= 20000; v++) {
        pv_jt_init(&t, 1);
        pv_jt_tenths(&t, v);
        same(&t, dump(json_real(v / 10.0)));
    }
    /* Nesting and commas, and a jansson value in place. */
    pv_jt_init(&t, 1);
    pv_jt_open(&t, '{');
    pv_jt_key(&t, "a");
    pv_jt_open(&t, '[');
    pv_jt_bool(&t, 1);
    pv_jt_null(&t);
    pv_jt_open(&t, '{');
    pv_jt_close(&t, '}');
    pv_jt_close(&t, ']');
    pv_jt_key(&t, "b");
    pv_jt_json(&t, json_pack("{s:[i,s]}", "x", 1, "y\xc3\xa9"));
    pv_jt_key(&t, "c");
    pv_jt_bool(&t, 0);
    pv_jt_close(&t, '}');
    same(&t, dump(json_pack("{s:[b,n,{}], s:{s:[i,s]}, s:b}", "a", 1, "b", "x", 1, "y\xc3\xa9", "c",
                            0)));
    /* A NULL jansson value fails the text. */
    pv_jt_init(&t, 1);
    pv_jt_json(&t, NULL);
    assert_null(pv_jt_take(&t, &i));
}

/* One formatted string value against the text it must be (a JSON string of want). */
static void same_str(struct pv_jtext *t, const char *want)
{
    same(t, dump(json_string(want)));
}

static void test_money_dates_times(void **state)
{
    static const int64_t fixed[] = {
        0,         1,         -1,         10,           -10,           730,
        735,       1000,      -123456789, PV_MILLS_MAX, -PV_MILLS_MAX, -PV_MILLS_MAX - 7,
        INT64_MAX, INT64_MIN, 1795305600, -86400,       -86401,        253402300799};
    struct pv_jtext t;
    char buf[64];
    uint64_t seed = 99;
    size_t i;

    (void) state;
    for (i = 0; i < sizeof fixed / sizeof fixed[0] + 30000; i++) {
        int64_t v = i < sizeof fixed / sizeof fixed[0] ? fixed[i] : 0;
        if (i >= sizeof fixed / sizeof fixed[0]) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            v = (int64_t) (seed >> (i % 40)) * ((i & 1) ? -1 : 1);
        }
        pv_jt_init(&t, 1);
        pv_jt_money(&t, v);
        same_str(&t, pv_money_format(v, buf, sizeof buf));
        /* Times from 1900 to 9999 (pv_time_format's range of four-digit years). */
        if (v > -2208988800 && v < 253402300800) {
            pv_jt_init(&t, 1);
            pv_jt_time(&t, v);
            same_str(&t, pv_time_format(v, buf, sizeof buf));
        }
    }
    for (i = 0; i < 20000; i++) {
        uint32_t ymd = pv_date_from_unix((int64_t) i * 86400 * 3 + 946684800);
        pv_jt_init(&t, 1);
        pv_jt_date(&t, ymd);
        same_str(&t, pv_date_format(ymd, buf, sizeof buf));
    }
    pv_jt_init(&t, 1);
    pv_jt_date(&t, 20261205);
    same_str(&t, "2026-12-05");
}

/* The answer of a stored piece: pv_indicium_text against pv_indicium_json. */
static void one_record(const struct pv_indicium_rec *r)
{
    struct pv_jtext t;
    size_t len;

    pv_jt_init(&t, 16);
    pv_indicium_text(&t, r);
    pv_jt_key(&t, "balance_mills");
    pv_jt_int(&t, 4200);
    pv_jt_close(&t, '}');
    {
        json_t *j = pv_indicium_json(r);
        if (!j) { /* a string jansson refuses: the writer fails as well */
            assert_null(pv_jt_take(&t, &len));
            return;
        }
        json_object_set_new(j, "balance_mills", json_integer(4200));
        same(&t, dump(j));
    }
}

static void test_records(void **state)
{
    static struct pv_indicium_rec r;
    static const uint8_t secret[32] = {1, 2, 3};
    /* Label 5 of an avery-5160 sheet (30 labels, 3 columns). */
    const struct pv_serial label = {1, 1, 1234, 1, 42, 17, 5};
    char serial[PV_SERIAL_TEXT_SIZE];
    int i;

    (void) state;
    assert_int_equal(pv_serial_encode(&label, secret, sizeof secret, serial, sizeof serial), PV_OK);
    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "ind_0123456789abcdefghjk");
    snprintf(r.server_id, sizeof r.server_id, "proc-1");
    r.ind.version = 1;
    snprintf(r.ind.license, sizeof r.ind.license, "PV1000001");
    r.ind.device_id = 3;
    r.ind.key_id = 7;
    r.ind.serial = 1234567;
    r.ind.ascending_mills = 98765432;
    r.ind.postage_mills = 730;
    r.ind.mail_date = 20261205;
    r.ind.mail_class = PV_MC_FIRST_CLASS_LETTER;
    r.ind.weight_tenth_oz = 10;
    memcpy(r.ind.from_zip, "94107", 6);
    memcpy(r.ind.to_zip, "10001", 6);
    snprintf(r.ind.software_id, sizeof r.ind.software_id, "STAMPD01");
    r.created = 1796428800;
    for (i = 0; i < 120; i++)
        r.data[i] = (uint8_t) (i * 37);
    r.data_len = 120;
    one_record(&r);
    /* Every variation the answer has: version 2, services, piece id, zone,
     * prices, addresses with escapes and non-ASCII, metadata, a medium, a
     * test piece, refunded, an unknown class, a ZIP+4, other data lengths. */
    for (i = 0; i < 64; i++) {
        r.ind.version = (i & 1) ? PV_INDICIUM_V2 : 1;
        r.ind.vendor_id = PV_VENDOR_ID;
        r.ind.model_id = PV_MODEL_ID;
        r.ind.descending_mills = 1000000 - i;
        r.ind.services = (uint8_t) (i & 7);
        r.services = (uint8_t) ((i >> 1) & 7);
        assert_int_equal(pv_indicium_set_piece(&r.ind, r.id), PV_OK);
        if (i & 8)
            r.ind.piece_id_len = (size_t) (i % 3);
        r.zone = (i & 4) ? i % 9 + 1 : 0;
        r.surcharge_mills = (i & 2) ? 210 : 0;
        r.certified_mills = (i & 4) ? 4850 : 0;
        r.return_receipt_mills = (i & 8) ? 4100 : 0;
        r.ind.postage_mills =
            730 + r.surcharge_mills + r.certified_mills + r.return_receipt_mills + i;
        snprintf(r.rate_version, sizeof r.rate_version, "%s", (i & 16) ? "usps-2026-07-13" : "");
        assert_int_equal(
            pv_text_set(&r.from_address,
                        (i & 2)
                            ? "Jos\xc3\xa9 \"Q\" \\ Public\n1 Main St\tApt 2\nSF \xf0\x9f\x93\xae"
                            : NULL),
            PV_OK);
        assert_int_equal(pv_text_set(&r.to_address, (i & 4) ? "Jo\nNew York" : NULL), PV_OK);
        assert_int_equal(
            pv_text_set(&r.metadata,
                        (i & 32) ? "order=A-1\nnote=caf\xc3\xa9 \"x\"\norder=B-2\n" : NULL),
            PV_OK);
        snprintf(r.ind.medium_serial, sizeof r.ind.medium_serial, "%s",
                 (i % 5 == 1)   ? "NOT-A-SERIAL"
                 : (i % 5 == 2) ? serial
                                : "");
        snprintf(r.medium_sheet, sizeof r.medium_sheet, "%s", (i % 10 == 2) ? "SHEET-1" : "");
        r.ind.flags = (i & 16) ? PV_IND_FLAG_TEST : 0;
        r.refunded_at = (i & 8) ? 1796428900 : 0;
        r.ind.mail_class = (i % 7 == 6) ? 99 : (uint8_t) (i % 5);
        r.ind.weight_tenth_oz = (uint16_t) (i * 17 + 1);
        memcpy(r.ind.to_zip, (i & 1) ? "100011234" : "10001\0\0\0\0", 10);
        r.presentations = i;
        r.prints = i / 2;
        r.data_len = 100 + (size_t) i % 3;
        if (i % 5 == 2) { /* a real place on a sheet, not only null */
            json_t *j = pv_indicium_json(&r);
            assert_true(json_is_object(json_object_get(j, "medium")));
            json_decref(j);
        }
        one_record(&r);
    }
    /* A string jansson would refuse fails the text instead of writing it. */
    assert_int_equal(pv_text_set(&r.to_address, "bad \xff byte"), PV_OK);
    one_record(&r);
    pv_indicium_rec_clear(&r);
}

/* A purchase's "payment" (pv_view_payment, server/views.c): written as text since session 27,
 * the bytes jansson wrote of the object the answer built before - paid by card (a saved card
 * or not), from the balance, with an auto-refill or not. */
static void test_purchase_payment(void **state)
{
    static struct pv_purchase_req q;
    static struct pv_purchase_res r;
    char a[32];
    int i;

    (void) state;
    for (i = 0; i < 7; i++) {
        struct pv_jtext t;
        json_t *want;

        memset(&q, 0, sizeof q);
        memset(&r, 0, sizeof r);
        q.pay.method = i < 4 ? PV_PAY_CARD : PV_PAY_BALANCE;
        snprintf(q.pay.brand, sizeof q.pay.brand, "visa");
        snprintf(q.pay.last4, sizeof q.pay.last4, "4242");
        snprintf(r.charge_id, sizeof r.charge_id, "ch_sandbox_0123456789abcdef_7");
        if (i % 2)
            snprintf(q.pay.payment_method_id, sizeof q.pay.payment_method_id, "pm_\"x\u00e9");
        if (i >= 2 && i < 6) {
            snprintf(r.refill_id, sizeof r.refill_id, "ch_sandbox_0123456789abcdef_8");
            r.refilled = i == 5 ? 12345 : 20000;
        }
        if (q.pay.method == PV_PAY_CARD)
            want = json_pack(
                "{s:s, s:s, s:s, s:s, s:o}", "method", "card", "charge_id", r.charge_id, "brand",
                q.pay.brand, "last4", q.pay.last4, "payment_method_id",
                q.pay.payment_method_id[0] ? json_string(q.pay.payment_method_id) : json_null());
        else
            want = json_pack("{s:s}", "method", "balance");
        if (r.refill_id[0])
            json_object_set_new(want, "auto_refill",
                                json_pack("{s:s, s:s, s:I}", "charge_id", r.refill_id, "amount",
                                          pv_money_format(r.refilled, a, sizeof a), "amount_mills",
                                          (json_int_t) r.refilled));
        pv_jt_init(&t, 8);
        pv_view_payment(&t, &q, &r);
        same(&t, dump(want));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings),           cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_money_dates_times), cmocka_unit_test(test_records),
        cmocka_unit_test(test_purchase_payment),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
