/*
 * writer_bench.c - the SQLite writer's work a purchase, for a count no other load moves
 * (docs/performance.md, issue 15, session 12): NB batches (default 40) of B balance
 * purchases (default 36) by 32 customers through pv_purchase_batch with one sign
 * thread, as `stampd serve`'s writer runs them. Built against a release build's core
 * library and run under callgrind, counting only inside the batches:
 *
 *   cc -O2 -g -std=c11 -D_GNU_SOURCE -o /tmp/wb bench/writer_bench.c -Iinclude -Isrc \
 *      -Itests/unit -Ibuild/release build/release/libstampd_core.a \
 *      $(pkg-config --libs sqlite3 libpq libcrypto jansson libargon2) -lcmocka -lpthread -ldl
 *   valgrind --tool=callgrind --toggle-collect=pv_purchase_batch /tmp/wb 40 36
 *
 * then pv_purchase_batch's inclusive count less pv_sign_pool_run's (callgrind_annotate
 * --inclusive=yes), over NB x B: the writer's instructions a purchase without signing.
 * Its store is a fresh directory under $STAMPD_TEST_TMP (default /tmp), removed at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain_env.h"

#include "crypto/signpool.h"

int main(int argc, char **argv)
{
    int nb = argc > 1 ? atoi(argv[1]) : 40, bsz = argc > 2 ? atoi(argv[2]) : 36;
    struct denv *e;
    struct pv_sign_pool *pool = NULL;
    struct pv_purchase_req *q = calloc(bsz, sizeof *q);
    struct pv_purchase_res *r = calloc(bsz, sizeof *r);
    char id[32];
    int i, b, n = 0, bad = 0;

    if (!getenv("STAMPD_TEST_TMP"))
        setenv("STAMPD_TEST_TMP", "/tmp", 1);
    e = denv_vendor("wb", 1000000000000LL, 0, 0);
    assert_int_equal(pv_store_begin(e->st), PV_OK);
    for (i = 0; i < 32; i++) {
        char mail[64], acct[64];
        snprintf(id, sizeof id, "cus_%02d", i);
        snprintf(mail, sizeof mail, "%s@example.com", id);
        snprintf(acct, sizeof acct, "customer:%s", id);
        denv_customer(e->st, id, mail);
        denv_post(e->st, PV_ACCT_FUNDING, acct, 100000000000LL);
    }
    assert_int_equal(pv_store_commit(e->st), PV_OK);
    e->ctx.refill_policy = 100000000000LL;
    assert_int_equal(pv_sign_pool_new(1, &pool), PV_OK);
    e->ctx.sign_pool = pool;
    for (b = 0; b < nb; b++) {
        int status = -1;
        pv_processor_tick(e->st, &e->ctx, pv_now_ms(), &status); /* as the writer between batches */
        for (i = 0; i < bsz; i++) {
            snprintf(id, sizeof id, "cus_%02d", n % 32);
            denv_letter(&q[i], id, "wb", n++, 0);
        }
        assert_int_equal(denv_batch(e->st, &e->ctx, q, r, bsz, PV_NOW_AT_LOCK), PV_OK);
        for (i = 0; i < bsz; i++) {
            if (r[i].err != PV_OK && !bad++)
                fprintf(stderr, "refused: %d\n", r[i].err);
            pv_indicium_rec_clear(&r[i].rec);
        }
    }
    printf("purchases %d refused %d\n", n, bad);
    e->ctx.sign_pool = NULL;
    pv_sign_pool_free(pool);
    denv_close(e);
    return bad != 0;
}
