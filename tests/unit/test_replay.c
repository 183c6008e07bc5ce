/*
 * test_replay.c - the processor's replay guard (src/server/internal.c,
 * compiled in: CMakeLists.txt): each signature is served once, memory is
 * bounded and a full guard refuses rather than forgets. And a purchase's
 * priced options cross the internal protocol (issue 17): the processor
 * prices what the front priced.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/internal.h"
#include "stampd/error.h"
#include "stampd/rates.h"

#include <stdio.h>
#include <string.h>

/* A distinct well-formed signature (64 hex digits) for each n. */
static void sig_of(uint32_t n, char out[PV_HASH_HEX])
{
    snprintf(out, PV_HASH_HEX, "%08x%056x", n * 2654435761u, 0);
}

static void test_second_copy_refused(void **state)
{
    struct pv_replay *g;
    char a[PV_HASH_HEX], b[PV_HASH_HEX];

    (void) state;
    assert_int_equal(pv_replay_new(&g), PV_OK);
    sig_of(1, a);
    sig_of(2, b);
    assert_int_equal(pv_replay_claim(g, "1000", a, 1000), PV_OK);
    assert_int_equal(pv_replay_claim(g, "1000", a, 1000), PV_EUNAUTH);
    assert_int_equal(pv_replay_claim(g, "1000", a, 1000 + PV_INTERNAL_SKEW_MS), PV_EUNAUTH);
    assert_int_equal(pv_replay_claim(g, "1000", b, 1000), PV_OK);
    /* Malformed headers never get in. */
    assert_int_equal(pv_replay_claim(g, NULL, a, 1000), PV_EUNAUTH);
    assert_int_equal(pv_replay_claim(g, "1000", "abc", 1000), PV_EUNAUTH);
    assert_int_equal(pv_replay_claim(g, "x", b, 1000), PV_EUNAUTH);
    pv_replay_free(g);
}

static void test_full_refuses_then_expires(void **state)
{
    struct pv_replay *g;
    char s[PV_HASH_HEX], first[PV_HASH_HEX];
    uint32_t i;

    (void) state;
    assert_int_equal(pv_replay_new(&g), PV_OK);
    for (i = 0; i < PV_REPLAY_MAX; i++) {
        sig_of(i, s);
        assert_int_equal(pv_replay_claim(g, "1000", s, 1000), PV_OK);
    }
    sig_of(PV_REPLAY_MAX, s);
    assert_int_equal(pv_replay_claim(g, "1000", s, 1000), PV_EBUSY);
    assert_int_equal(pv_replay_claim(g, "1000", s, 1000 + PV_INTERNAL_SKEW_MS), PV_EBUSY);
    sig_of(0, first);
    assert_int_equal(pv_replay_claim(g, "1000", first, 1000 + PV_INTERNAL_SKEW_MS), PV_EUNAUTH);
    /* Past its window a signature is refused by pv_internal_verify anyway:
     * only then is it forgotten, and its room reused. */
    assert_int_equal(pv_replay_claim(g, "31001", s, 1001 + PV_INTERNAL_SKEW_MS), PV_OK);
    assert_int_equal(pv_replay_claim(g, "31001", s, 1001 + PV_INTERNAL_SKEW_MS), PV_EUNAUTH);
    pv_replay_free(g);
}

static void test_services_cross(void **state)
{
    struct pv_purchase_req q, back;
    json_t *j;

    (void) state;
    memset(&q, 0, sizeof q);
    snprintf(q.customer_id, sizeof q.customer_id, "cus_a");
    snprintf(q.idem_key, sizeof q.idem_key, "k");
    q.mail_class = PV_MC_PRIORITY_MAIL;
    q.weight_tenth_oz = 320;
    q.mail_date = 20261204;
    memcpy(q.from_zip, "10001", 6);
    memcpy(q.to_zip, "90001", 6);
    q.services = PV_SVC_CERTIFIED | PV_SVC_RETURN_RECEIPT;
    q.postage = 31000;
    assert_non_null(j = pv_req_to_json(&q));
    assert_int_equal(pv_req_from_json(j, &back), PV_OK);
    assert_int_equal(back.services, q.services);
    assert_int_equal(back.mail_class, PV_MC_PRIORITY_MAIL);
    /* An older front sends none: no options. Out of range: refused. */
    json_object_del(j, "services");
    assert_int_equal(pv_req_from_json(j, &back), PV_OK);
    assert_int_equal(back.services, 0);
    json_object_set_new(j, "services", json_integer(8));
    assert_int_equal(pv_req_from_json(j, &back), PV_EINVAL);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_copy_refused),
        cmocka_unit_test(test_full_refuses_then_expires),
        cmocka_unit_test(test_services_cross),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
