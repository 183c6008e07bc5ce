/*
 * test_verify.c - the verdict on indicium bytes (src/domain/verify.c):
 * online against a store with real purchases (valid, presentations counted
 * only when asked, bad signature, unknown key, license, not issued, test
 * piece, refunded, malformed) and offline with published keys only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain_env.h"

#include "domain/verify.h"

/* The postal authority scanning, at the time of the scan, nowhere said. */
static const struct pv_presenter BY = {"pa_test", 0, NULL};

static int setup(void **state)
{
    *state = denv_open("verify");
    return 0;
}

static int teardown(void **state)
{
    denv_close(*state);
    return 0;
}

static int64_t presentations(struct denv *e, const char *id)
{
    static struct pv_indicium_rec rec;

    assert_int_equal(pv_store_indicium_get(e->st, id, &rec), PV_OK);
    return rec.presentations;
}

static void test_online_valid_and_presentations(void **state)
{
    struct denv *e = *state;
    struct pv_indicium_rec rec;
    struct pv_verdict v;

    denv_buy(e, "cus_a", 0, &rec);
    /* Anyone but the authority reads the count without raising it. */
    assert_int_equal(pv_verify_online(e->st, DENV_LICENSE, rec.data, rec.data_len, NULL, 0, 1, &v),
                     PV_OK);
    assert_true(v.valid && v.sig_ok && v.known);
    assert_int_equal(v.presented_before, 0);
    assert_string_equal(v.status, "valid");
    assert_null(v.reason);
    assert_int_equal(v.ind.serial, rec.ind.serial);
    assert_int_equal(pv_verify_online(e->st, DENV_LICENSE, rec.data, rec.data_len, &BY, 0, 2, &v),
                     PV_OK);
    assert_int_equal(v.presented_before, 0);
    assert_string_equal(v.status, "valid");
    assert_int_equal(pv_verify_online(e->st, DENV_LICENSE, rec.data, rec.data_len, &BY, 0, 3, &v),
                     PV_OK);
    assert_int_equal(v.presented_before, 1);
    assert_string_equal(v.status, "duplicate");
    assert_true(v.valid);
    assert_int_equal(presentations(e, rec.id), 2);
}

/* Issue 13: each counted presentation is recorded with when and where the
 * authority says it was, and from the second on the first is named. */
static void test_presentations_recorded(void **state)
{
    struct denv *e = *state;
    struct pv_indicium_rec rec;
    struct pv_verdict v;
    struct pv_presenter first = {"pa_one", 1700000000, "NDC-Denver"};
    struct pv_presenter second = {"pa_two", 1700000600, "P&DC 100"};

    denv_buy(e, "cus_a", 0, &rec);
    assert_int_equal(
        pv_verify_online(e->st, DENV_LICENSE, rec.data, rec.data_len, &first, 0, 1700000100, &v),
        PV_OK);
    assert_true(v.counted && v.first_known && v.valid);
    assert_int_equal(v.presentations, 1);
    assert_int_equal(v.presented_before, 0);
    assert_string_equal(v.first.location, "NDC-Denver");
    assert_int_equal(v.first.presented_at, 1700000000);
    assert_int_equal(v.first.recorded_at, 1700000100);
    /* A reader (not the authority) neither counts nor learns where. */
    assert_int_equal(
        pv_verify_online(e->st, DENV_LICENSE, rec.data, rec.data_len, NULL, 0, 1700000200, &v),
        PV_OK);
    assert_false(v.counted || v.first_known);
    assert_int_equal(v.presentations, 1);
    assert_string_equal(v.status, "duplicate");
    assert_int_equal(
        pv_verify_online(e->st, DENV_LICENSE, rec.data, rec.data_len, &second, 0, 1700000700, &v),
        PV_OK);
    assert_true(v.counted && v.first_known);
    assert_int_equal(v.presentations, 2);
    assert_int_equal(v.presented_before, 1);
    assert_string_equal(v.status, "duplicate");
    assert_string_equal(v.first.location, "NDC-Denver");
    assert_string_equal(v.first.postal_id, "pa_one");
    assert_int_equal(v.first.presented_at, 1700000000);
    /* Without a time the scan's own time is recorded. */
    assert_int_equal(
        pv_verify_online(e->st, DENV_LICENSE, rec.data, rec.data_len, &BY, 0, 1700000800, &v),
        PV_OK);
    assert_int_equal(v.presentations, 3);
    assert_int_equal(presentations(e, rec.id), 3);
}

static void test_online_invalid(void **state)
{
    struct denv *e = *state;
    struct pv_indicium_rec rec;
    struct pv_indicium ind;
    struct pv_verdict v;
    uint8_t buf[PV_INDICIUM_MAX];
    size_t len;

    denv_buy(e, "cus_a", 0, &rec);
    /* A flipped signature bit. */
    memcpy(buf, rec.data, rec.data_len);
    buf[rec.data_len - 1] ^= 1;
    assert_int_equal(pv_verify_online(e->st, DENV_LICENSE, buf, rec.data_len, &BY, 0, 1, &v),
                     PV_OK);
    assert_false(v.sig_ok || v.known || v.valid);
    assert_string_equal(v.reason, "indicium_signature_invalid");
    assert_string_equal(v.status, "invalid");
    /* A key nobody has. */
    ind = rec.ind;
    ind.key_id = 99;
    assert_int_equal(pv_indicium_encode(&ind, buf, sizeof buf, &len), PV_OK);
    assert_int_equal(pv_verify_online(e->st, DENV_LICENSE, buf, len, &BY, 0, 1, &v), PV_OK);
    assert_string_equal(v.reason, "indicium_key_unknown");
    assert_false(v.sig_ok);
    /* Another vendor's license. */
    assert_int_equal(pv_verify_online(e->st, "OTHER", rec.data, rec.data_len, &BY, 0, 1, &v),
                     PV_OK);
    assert_true(v.sig_ok);
    assert_false(v.known || v.valid);
    assert_string_equal(v.reason, "license_mismatch");
    /* Signed by our key, never issued. */
    ind = rec.ind;
    ind.serial += 1000;
    assert_int_equal(pv_indicium_encode_body(&ind, buf, sizeof buf, &len), PV_OK);
    assert_int_equal(
        pv_crypto_sign(e->cm, e->ctx.psds[ind.device_id - 1].key_ref, buf, len, ind.signature),
        PV_OK);
    memcpy(buf + len, ind.signature, PV_SIG_LEN);
    assert_int_equal(pv_verify_online(e->st, DENV_LICENSE, buf, len + PV_SIG_LEN, &BY, 0, 1, &v),
                     PV_OK);
    assert_true(v.sig_ok);
    assert_false(v.known);
    assert_string_equal(v.reason, "not_issued");
    /* Malformed bytes are an error of their own; nothing was counted. */
    assert_int_equal(pv_verify_online(e->st, DENV_LICENSE, rec.data, 10, &BY, 0, 1, &v),
                     PV_ETRUNCATED);
    assert_true(pv_verify_input_error(PV_ETRUNCATED));
    assert_false(pv_verify_input_error(PV_ESTORE));
    assert_int_equal(presentations(e, rec.id), 0);
}

static void test_online_test_and_refunded(void **state)
{
    struct denv *e = *state;
    struct pv_indicium_rec rec;
    struct pv_verdict v;

    denv_post(e->st, "test:" PV_ACCT_FUNDING, "test:customer:cus_a", 5000);
    denv_buy(e, "cus_a", 1, &rec);
    assert_int_equal(pv_verify_online(e->st, DENV_LICENSE, rec.data, rec.data_len, NULL, 0, 1, &v),
                     PV_OK);
    assert_true(v.sig_ok && v.known && v.test);
    assert_false(v.valid);
    assert_string_equal(v.status, "test");
    assert_string_equal(v.reason, "test_piece");

    denv_buy(e, "cus_a", 0, &rec);
    assert_int_equal(pv_store_indicium_mark_refunded(e->st, rec.id, 5), PV_OK);
    assert_int_equal(pv_verify_online(e->st, DENV_LICENSE, rec.data, rec.data_len, NULL, 0, 1, &v),
                     PV_OK);
    assert_true(v.refunded);
    assert_false(v.valid);
    assert_string_equal(v.status, "refunded");
    assert_string_equal(v.reason, "refunded");
}

/* A scan counts only a piece of the scanner's mode (domain/mode.h). */
static void test_online_counts_only_the_scanners_mode(void **state)
{
    struct denv *e = *state;
    struct pv_indicium_rec live, test;
    struct pv_verdict v;

    denv_post(e->st, "test:" PV_ACCT_FUNDING, "test:customer:cus_a", 5000);
    denv_buy(e, "cus_a", 1, &test);
    denv_buy(e, "cus_a", 0, &live);
    /* The live authority scans a test piece, twice: no count moves. */
    assert_int_equal(pv_verify_online(e->st, DENV_LICENSE, test.data, test.data_len, &BY, 0, 1, &v),
                     PV_OK);
    assert_int_equal(pv_verify_online(e->st, DENV_LICENSE, test.data, test.data_len, &BY, 0, 2, &v),
                     PV_OK);
    assert_int_equal(v.presented_before, 0);
    assert_string_equal(v.status, "test");
    assert_int_equal(presentations(e, test.id), 0);
    /* A test scanner and a live piece: the same. */
    assert_int_equal(pv_verify_online(e->st, DENV_LICENSE, live.data, live.data_len, &BY, 1, 3, &v),
                     PV_OK);
    assert_string_equal(v.status, "valid");
    assert_int_equal(presentations(e, live.id), 0);
    /* Each mode counts its own. */
    assert_int_equal(pv_verify_online(e->st, DENV_LICENSE, test.data, test.data_len, &BY, 1, 4, &v),
                     PV_OK);
    assert_int_equal(presentations(e, test.id), 1);
    assert_int_equal(pv_verify_online(e->st, DENV_LICENSE, live.data, live.data_len, &BY, 0, 5, &v),
                     PV_OK);
    assert_int_equal(presentations(e, live.id), 1);
}

static void test_offline(void **state)
{
    struct denv *e = *state;
    struct pv_indicium_rec rec;
    struct pv_key_rec *keys = NULL;
    struct pv_pubkey pub[3], one;
    struct pv_keyset ks = {DENV_LICENSE, pub, 0, NULL, NULL};
    struct pv_verdict v;
    uint8_t buf[PV_INDICIUM_MAX];
    size_t n = 0, i;

    denv_buy(e, "cus_a", 0, &rec);
    assert_int_equal(pv_store_key_list(e->st, &keys, &n), PV_OK);
    assert_int_equal(n, 3);
    for (i = 0; i < n; i++) {
        pub[i].key_id = keys[i].key_id;
        pub[i].psd_id = keys[i].psd_id;
        pub[i].algorithm = keys[i].algorithm;
        pub[i].public_pem = keys[i].public_pem;
    }
    ks.n = n;
    assert_int_equal(pv_verify_offline(rec.data, rec.data_len, &ks, &v), PV_OK);
    assert_true(v.valid && v.sig_ok && v.decoded);
    assert_false(v.known);
    assert_int_equal(v.key->key_id, rec.ind.key_id);
    /* Signature, license, key id, algorithm. */
    memcpy(buf, rec.data, rec.data_len);
    buf[rec.data_len - 2] ^= 0x40;
    assert_int_equal(pv_verify_offline(buf, rec.data_len, &ks, &v), PV_ESIGNATURE);
    assert_false(v.valid);
    ks.license = "OTHER";
    assert_int_equal(pv_verify_offline(rec.data, rec.data_len, &ks, &v), PV_EUNKNOWNKEY);
    assert_int_equal(v.miss, PV_KEY_LICENSE);
    ks.license = DENV_LICENSE;
    ks.n = 0;
    assert_int_equal(pv_verify_offline(rec.data, rec.data_len, &ks, &v), PV_EUNKNOWNKEY);
    assert_int_equal(v.miss, PV_KEY_NONE);
    ks.n = n;
    pub[rec.ind.key_id - 1].algorithm = "rsa";
    assert_int_equal(pv_verify_offline(rec.data, rec.data_len, &ks, &v), PV_EUNKNOWNKEY);
    assert_int_equal(v.miss, PV_KEY_ALGORITHM);
    /* One PEM key of unknown id: right, wrong, and not a key at all. */
    memset(&one, 0, sizeof one);
    one.psd_id = -1;
    one.public_pem = keys[rec.ind.key_id - 1].public_pem;
    ks.license = NULL;
    ks.keys = &one;
    ks.n = 1;
    assert_int_equal(pv_verify_offline(rec.data, rec.data_len, &ks, &v), PV_OK);
    one.public_pem = keys[rec.ind.key_id % 2].public_pem;
    assert_int_equal(pv_verify_offline(rec.data, rec.data_len, &ks, &v), PV_ESIGNATURE);
    one.public_pem = "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n";
    assert_int_equal(pv_verify_offline(rec.data, rec.data_len, &ks, &v), PV_ECRYPTO);
    /* Malformed. */
    assert_int_equal(pv_verify_offline(rec.data, rec.data_len + 1, &ks, &v), PV_ETRAILING);
    assert_false(v.decoded);
    free(keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_online_valid_and_presentations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_presentations_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_online_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_online_test_and_refunded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_online_counts_only_the_scanners_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offline, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
