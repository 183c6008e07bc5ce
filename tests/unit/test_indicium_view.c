/*
 * test_indicium_view.c - the one JSON view of indicia and verdicts
 * (src/domain/indicium_view.c): names, formats, nulls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain/indicium_view.h"
#include "domain/verify.h"
#include "stampd/error.h"
#include "stampd/rates.h"

#include <string.h>

static struct pv_indicium sample(void)
{
    struct pv_indicium ind;

    memset(&ind, 0, sizeof ind);
    ind.version = 1;
    snprintf(ind.license, sizeof ind.license, "PV-TEST-1");
    ind.device_id = 2;
    ind.key_id = 7;
    ind.serial = 42;
    ind.ascending_mills = 12345;
    ind.postage_mills = 740;
    ind.mail_date = 20261122;
    ind.mail_class = PV_MC_LARGE_ENVELOPE;
    ind.weight_tenth_oz = 35;
    memcpy(ind.from_zip, "94107", 6);
    memcpy(ind.to_zip, "100011234", 10);
    snprintf(ind.software_id, sizeof ind.software_id, "STAMPD01");
    return ind;
}

static void test_fields(void **state)
{
    struct pv_indicium ind = sample();
    json_t *j = pv_indicium_fields_json(&ind);
    char zip[11];

    (void) state;
    assert_non_null(j);
    /* 15 fields of version 1, and the 6 of version 2, null for this one. */
    assert_int_equal(json_object_size(j), 21);
    assert_true(json_is_null(json_object_get(j, "services")));
    assert_true(json_is_null(json_object_get(j, "descending_mills")));
    assert_true(json_is_null(json_object_get(j, "piece_indicium_id")));
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "license")), "PV-TEST-1");
    assert_int_equal(json_integer_value(json_object_get(j, "psd_id")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "key_id")), 7);
    assert_int_equal(json_integer_value(json_object_get(j, "serial")), 42);
    assert_int_equal(json_integer_value(json_object_get(j, "postage_mills")), 740);
    assert_string_equal(json_string_value(json_object_get(j, "mail_date")), "2026-11-22");
    assert_string_equal(json_string_value(json_object_get(j, "mail_class")), "large_envelope");
    assert_true(json_real_value(json_object_get(j, "weight_oz")) == 3.5);
    assert_string_equal(json_string_value(json_object_get(j, "to_zip")), "10001-1234");
    assert_true(json_is_null(json_object_get(j, "medium_serial")));
    assert_true(json_is_false(json_object_get(j, "test")));
    json_decref(j);
    /* The class table has no 9; a medium; a test piece; a five-digit ZIP. */
    ind.mail_class = 9;
    snprintf(ind.medium_serial, sizeof ind.medium_serial, "1ABC");
    ind.flags = PV_IND_FLAG_TEST;
    memcpy(ind.to_zip, "10001", 6);
    j = pv_indicium_fields_json(&ind);
    assert_string_equal(json_string_value(json_object_get(j, "mail_class")), "unknown");
    assert_string_equal(json_string_value(json_object_get(j, "medium_serial")), "1ABC");
    assert_true(json_is_true(json_object_get(j, "test")));
    assert_string_equal(json_string_value(json_object_get(j, "to_zip")), "10001");
    json_decref(j);
    pv_zip_display("123456789", zip);
    assert_string_equal(zip, "12345-6789");
}

/* A version 2 piece shows what only it carries. */
static void test_fields_v2(void **state)
{
    struct pv_indicium ind = sample();
    json_t *j, *svc;

    (void) state;
    ind.version = PV_INDICIUM_V2;
    ind.vendor_id = PV_VENDOR_ID;
    ind.model_id = PV_MODEL_ID;
    ind.descending_mills = 487655;
    ind.services = PV_IND_SVC_CERTIFIED | PV_IND_SVC_NONMACHINABLE;
    assert_int_equal(pv_indicium_set_piece(&ind, "ind_0123456789abcdefghjk"), PV_OK);
    j = pv_indicium_fields_json(&ind);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 21);
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "vendor_id")), 0xfe);
    assert_int_equal(json_integer_value(json_object_get(j, "model_id")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "descending_mills")), 487655);
    svc = json_object_get(j, "services");
    assert_int_equal(json_array_size(svc), 2);
    assert_string_equal(json_string_value(json_array_get(svc, 0)), "certified_mail");
    assert_string_equal(json_string_value(json_array_get(svc, 1)), "non_machinable");
    assert_string_equal(json_string_value(json_object_get(j, "piece_id")),
                        "000443214c74254b635cf84653");
    assert_string_equal(json_string_value(json_object_get(j, "piece_indicium_id")),
                        "ind_0123456789abcdefghjk");
    json_decref(j);
    /* No services: an empty list; a piece id that is no stampd id: hex only. */
    ind.services = 0;
    ind.piece_id_len = 2;
    j = pv_indicium_fields_json(&ind);
    assert_int_equal(json_array_size(json_object_get(j, "services")), 0);
    assert_string_equal(json_string_value(json_object_get(j, "piece_id")), "0004");
    assert_true(json_is_null(json_object_get(j, "piece_indicium_id")));
    json_decref(j);
}

static void test_record(void **state)
{
    static struct pv_indicium_rec r;
    json_t *j;

    (void) state;
    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "ind_x");
    snprintf(r.server_id, sizeof r.server_id, "proc-1");
    assert_int_equal(pv_text_set(&r.to_address, "Jo\nNew York"), PV_OK);
    r.ind = sample();
    r.created = 1795305600;
    r.presentations = 3;
    r.prints = 2;
    r.refunded_at = 5;
    memcpy(r.data, "\x01\x02\x03", 3);
    r.data_len = 3;
    j = pv_indicium_json(&r);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "indicium");
    assert_string_equal(json_string_value(json_object_get(j, "postage")), "0.74");
    assert_string_equal(json_string_value(json_object_get(j, "data")), "AQID");
    assert_string_equal(json_string_value(json_object_get(j, "created")), "2026-11-22T00:00:00Z");
    assert_int_equal(json_integer_value(json_object_get(j, "presentations")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "prints")), 2);
    assert_true(json_is_null(json_object_get(j, "from_address")));
    assert_string_equal(json_string_value(json_object_get(j, "to_address")), "Jo\nNew York");
    assert_true(json_is_true(json_object_get(j, "refunded")));
    json_decref(j);
    pv_indicium_rec_clear(&r);
}

static void test_verdict(void **state)
{
    struct pv_verdict v;
    json_t *j;

    (void) state;
    memset(&v, 0, sizeof v);
    v.ind = sample();
    v.sig_ok = v.known = v.valid = 1;
    v.presented_before = 2;
    v.status = "duplicate";
    j = pv_verdict_json(&v);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "duplicate")));
    assert_int_equal(json_integer_value(json_object_get(j, "presented_before")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "duplicate");
    assert_true(json_is_null(json_object_get(j, "reason")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "fields"), "serial")),
                     42);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_fields_v2),
        cmocka_unit_test(test_record),
        cmocka_unit_test(test_verdict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
