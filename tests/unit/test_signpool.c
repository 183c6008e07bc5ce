/*
 * test_signpool.c - a batch's signatures on several threads
 * (src/crypto/signpool.c) with the real OpenSSL module: every signature
 * made once, each verifies, each request's own error kept, batch after
 * batch on the same threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "crypto/primitives.h"
#include "crypto/signpool.h"
#include "stampd/error.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 48

static void test_batches_on_threads(void **state)
{
    const char *tmp = getenv("STAMPD_TEST_TMP");
    char spec[600], label[16], *ref[2], *pem[2];
    uint8_t msg[N][32], sig[N][64];
    struct pv_sign_req reqs[N];
    struct pv_sign_pool *pool = NULL;
    struct pv_crypto *cm = NULL;
    unsigned threads;
    int round, i;

    (void) state;
    snprintf(spec, sizeof spec, "openssl:%s/signpool-%ld", tmp && *tmp ? tmp : "/tmp",
             (long) getpid());
    assert_int_equal(pv_crypto_open(spec, &cm), PV_OK);
    for (i = 0; i < 2; i++) {
        snprintf(label, sizeof label, "k%d", i);
        assert_int_equal(cm->ops->generate_key(cm, label, &ref[i], &pem[i]), PV_OK);
    }
    for (threads = 0; threads <= 3; threads++) {
        assert_int_equal(pv_sign_pool_new(threads, &pool), PV_OK);
        assert_int_equal(pv_sign_pool_threads(pool), threads);
        for (round = 0; round < 20; round++) {
            int n = 1 + (round * 7) % N; /* 1..48, the small ones too */
            for (i = 0; i < n; i++) {
                memset(msg[i], 0, sizeof msg[i]);
                snprintf((char *) msg[i], sizeof msg[i], "%u/%d/%d", threads, round, i);
                memset(sig[i], 0, sizeof sig[i]);
                reqs[i].key_ref = i == 5 ? "/nonexistent/key.pem" : ref[i % 2];
                reqs[i].msg = msg[i];
                reqs[i].len = sizeof msg[i];
                reqs[i].sig = sig[i];
                reqs[i].rc = 12345;
            }
            if (round % 5 == 3) { /* started, then given up: nothing left behind (ASan) */
                pv_sign_pool_start(pool, cm, reqs, (size_t) n);
                pv_sign_pool_cancel(pool, (size_t) n);
                pv_sign_pool_run(pool, cm, reqs, (size_t) n); /* the pool is free again */
            } else if (round % 2) { /* in two halves, the caller away between them (session 13) */
                pv_sign_pool_start(pool, cm, reqs, (size_t) n);
                sched_yield();
                pv_sign_pool_finish(pool, cm, reqs, (size_t) n);
            } else {
                pv_sign_pool_run(pool, cm, reqs, (size_t) n);
            }
            for (i = 0; i < n; i++) {
                if (i == 5) {
                    assert_int_not_equal(reqs[i].rc, PV_OK); /* its own error, the rest signed */
                    assert_int_not_equal(reqs[i].rc, 12345);
                    continue;
                }
                assert_int_equal(reqs[i].rc, PV_OK);
                assert_int_equal(pv_crypto_verify(pem[i % 2], msg[i], sizeof msg[i], sig[i]),
                                 PV_OK);
                assert_int_not_equal(
                    pv_crypto_verify(pem[(i + 1) % 2], msg[i], sizeof msg[i], sig[i]), PV_OK);
            }
        }
        pv_sign_pool_free(pool);
        pool = NULL;
    }
    /* No pool: the caller signs alone. */
    reqs[0].key_ref = ref[0];
    pv_sign_pool_run(NULL, cm, reqs, 1);
    assert_int_equal(reqs[0].rc, PV_OK);
    reqs[0].rc = reqs[1].rc = 12345; /* in halves: start leaves both to finish */
    reqs[1].key_ref = ref[1];
    pv_sign_pool_start(NULL, cm, reqs, 2);
    assert_int_equal(reqs[0].rc, 12345);
    pv_sign_pool_finish(NULL, cm, reqs, 2);
    assert_int_equal(reqs[0].rc, PV_OK);
    assert_int_equal(reqs[1].rc, PV_OK);
    assert_int_equal(pv_sign_pool_threads(NULL), 0);
    pv_sign_pool_free(NULL);
    for (i = 0; i < 2; i++) {
        free(ref[i]);
        free(pem[i]);
    }
    pv_crypto_close(cm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_on_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
