/*
 * test_oom_core.c - allocation failure in the core (tests/unit/oom.h): the
 * codecs, money, dates, serials and card checks, the indicium encoder and
 * decoder, signing and verifying with a fresh key, and the indicium's JSON
 * view. For each, the n-th allocation fails for every n the operation
 * reaches, and the operation must answer PV_ENOMEM (or succeed once n is
 * past its last allocation), free all it allocated and not crash. The
 * parsers that promise not to allocate at all are held to that: a change
 * that makes them allocate shows up here first.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "domain/indicium_view.h"
#include "oom.h"
#include "stampd/card.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/indicium.h"
#include "stampd/money.h"
#include "stampd/serial.h"
#include "stampd/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- codecs ------------------------------------------------------------------- */

static int op_base64(void *arg)
{
    static const uint8_t data[] = "any bytes \x00\x01\xff will do";
    uint8_t *back = NULL;
    size_t back_len = 0;
    char *text = pv_base64_encode(data, sizeof data);
    int rc;

    (void) arg;
    if (!text)
        return PV_ENOMEM;
    rc = pv_base64_decode(text, strlen(text), &back, &back_len);
    if (rc == PV_OK && (back_len != sizeof data || memcmp(back, data, back_len) != 0))
        rc = PV_EINTERNAL;
    free(back);
    free(text);
    return rc;
}

static void test_codec(void **state)
{
    (void) state;
    assert_true(oom_loop("base64 round trip", op_base64, NULL, NULL, NULL, 0) >= 2);
    oom_loop("base64 round trip, sticky", op_base64, NULL, NULL, NULL, 1);
}

/* ---- parsers that must not allocate ------------------------------------------- */

static int op_no_alloc(void *arg)
{
    static const uint8_t secret[32] = {1, 2, 3};
    const struct pv_serial_key key = {.key_id = 1, .secret = secret, .secret_len = sizeof secret};
    struct pv_serial s = {.version = PV_SERIAL_VERSION, .key_id = 1, .batch = 7, .sheet = 3};
    struct pv_card_input card = {"4242 4242 4242 4242", 12, 2040, "123", "94107"};
    struct pv_card_info info;
    char text[PV_SERIAL_TEXT_SIZE], buf[64], hex[9];
    uint8_t raw[4];
    uint64_t u;
    uint32_t day;
    pv_mills m, sum;

    (void) arg;
    if (pv_money_parse("12.345", &m) != PV_OK || pv_money_add(m, m, &sum) != PV_OK ||
        !pv_money_format(sum, buf, sizeof buf) || pv_date_parse("2026-12-04", &day) != PV_OK ||
        pv_parse_u64("12345", 0, 99999, &u) != PV_OK ||
        pv_hex_decode("0a0b0c0d", raw, 4) != PV_OK || !pv_hex_encode(raw, 4, hex) ||
        pv_serial_encode(&s, secret, sizeof secret, text, sizeof text) != PV_OK ||
        pv_serial_verify(text, &key, 1, NULL) != PV_OK ||
        pv_serial_normalize(text, buf, sizeof buf) != PV_OK ||
        pv_card_validate(&card, 202612, &info, NULL) != PV_OK)
        return PV_EINTERNAL;
    return PV_OK;
}

static void test_parsers_do_not_allocate(void **state)
{
    (void) state;
    assert_int_equal(oom_loop("money, date, hex, serial, card", op_no_alloc, NULL, NULL, NULL, 0),
                     0);
}

/* ---- indicium: encode, sign, verify, decode, JSON ------------------------------ */

struct ind_env {
    char dir[256];
    struct pv_crypto *cm;
    char *ref, *pub;
};

static void sample(struct pv_indicium *ind)
{
    memset(ind, 0, sizeof *ind);
    ind->version = PV_INDICIUM_V1;
    ind->sig_alg = PV_SIGALG_P256_SHA256;
    ind->flags = PV_IND_FLAG_TEST;
    memcpy(ind->license, "PV-TEST-1", 10);
    ind->device_id = 1;
    ind->key_id = 1;
    ind->serial = 42;
    ind->ascending_mills = 740;
    ind->postage_mills = 740;
    ind->mail_date = 20261204;
    ind->mail_class = 1;
    ind->weight_tenth_oz = 10;
    memcpy(ind->from_zip, "94107", 6);
    memcpy(ind->to_zip, "100011234", 10);
    memcpy(ind->software_id, PV_SOFTWARE_ID, sizeof PV_SOFTWARE_ID);
}

static int op_indicium(void *arg)
{
    struct ind_env *e = arg;
    struct pv_indicium ind, got;
    uint8_t body[PV_INDICIUM_MAX], full[PV_INDICIUM_MAX];
    size_t body_len, full_len, got_body;
    json_t *j;
    int rc;

    sample(&ind);
    if ((rc = pv_indicium_encode_body(&ind, body, sizeof body, &body_len)) != PV_OK ||
        (rc = pv_crypto_sign(e->cm, e->ref, body, body_len, ind.signature)) != PV_OK ||
        (rc = pv_indicium_encode(&ind, full, sizeof full, &full_len)) != PV_OK ||
        (rc = pv_indicium_decode(full, full_len, &got, &got_body)) != PV_OK ||
        (rc = pv_indicium_verify(full, full_len, e->pub, &got)) != PV_OK)
        return rc;
    if (!(j = pv_indicium_fields_json(&got)))
        return PV_ENOMEM;
    json_decref(j);
    return PV_OK;
}

static int op_keygen(void *arg)
{
    struct ind_env *e = arg;
    char *ref = NULL, *pub = NULL;
    int rc = pv_crypto_generate_key(e->cm, "psd-oom", &ref, &pub);

    if (rc == PV_OK)
        unlink(ref);
    free(ref);
    free(pub);
    return rc;
}

static void test_indicium(void **state)
{
    struct ind_env e;
    const char *tmp = getenv("STAMPD_TEST_TMP");
    char spec[300];

    (void) state;
    memset(&e, 0, sizeof e);
    mkdir(tmp ? tmp : "/tmp", 0700);
    snprintf(e.dir, sizeof e.dir, "%s/test_oom_core-XXXXXX", tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(e.dir));
    snprintf(spec, sizeof spec, "openssl:%s", e.dir);
    assert_int_equal(pv_crypto_open(spec, &e.cm), PV_OK);
    assert_int_equal(pv_crypto_generate_key(e.cm, "psd-1", &e.ref, &e.pub), PV_OK);

    oom_loop("indicium encode, sign, verify, decode, JSON", op_indicium, NULL, &e, NULL, 0);
    oom_loop("indicium, sticky", op_indicium, NULL, &e, NULL, 1);
    oom_loop("key generation", op_keygen, NULL, &e, NULL, 0);

    pv_crypto_close(e.cm);
    unlink(e.ref);
    free(e.ref);
    free(e.pub);
    rmdir(e.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_parsers_do_not_allocate),
        cmocka_unit_test(test_indicium),
    };

    oom_init(0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
