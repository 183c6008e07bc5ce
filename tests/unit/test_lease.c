/*
 * test_lease.c - a processor's PSD pool (src/domain/lease.c): loading,
 * the fair share among live servers, draining, renewal and failover when a
 * processor stops ticking.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain_env.h"

static int setup(void **state)
{
    *state = denv_open("lease");
    return 0;
}

static int teardown(void **state)
{
    denv_close(*state);
    return 0;
}

static size_t held(const struct pv_processor_ctx *ctx)
{
    size_t i, n = 0;

    for (i = 0; i < ctx->npsds; i++)
        n += ctx->psds[i].held != 0;
    return n;
}

/* A second processor "proc-2" on the same store, registered at now_ms. */
static void second(struct denv *e, struct pv_processor_ctx *p2, int64_t now_ms)
{
    struct pv_server_rec r;

    memset(p2, 0, sizeof *p2);
    p2->cm = e->cm;
    snprintf(p2->server_id, sizeof p2->server_id, "proc-2");
    assert_int_equal(pv_processor_load(e->st, p2), PV_OK);
    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "proc-2");
    snprintf(r.address, sizeof r.address, "inproc");
    r.started_ms = r.heartbeat_ms = now_ms;
    assert_int_equal(pv_store_server_register(e->st, &r), PV_OK);
}

static void test_load(void **state)
{
    struct denv *e = *state;

    assert_int_equal(e->ctx.npsds, 2);
    assert_int_equal(e->ctx.psds[0].psd_id, 1);
    assert_int_equal(e->ctx.psds[1].key_id, 2);
    assert_int_equal(e->ctx.test_psd.psd_id, 3);
    assert_true(e->ctx.test_psd.held);
    assert_int_equal(e->ctx.current, 1);
    assert_int_equal(e->ctx.lease_ms, PV_LEASE_MS_DEFAULT);
    assert_int_equal(e->ctx.refill_policy, 5000);
    assert_string_equal(e->ctx.license, DENV_LICENSE);
    /* Alone, the processor holds both live PSDs. */
    assert_int_equal(held(&e->ctx), 2);
    assert_string_equal(e->ctx.key_ids, "1,2");
}

static void test_fair_share_and_failover(void **state)
{
    struct denv *e = *state;
    struct pv_processor_ctx p2;
    struct pv_psd_rec p;
    int64_t t = pv_now_ms();
    int status;

    second(e, &p2, t);
    /* proc-1 gives one up on its next tick, proc-2 takes it. */
    assert_int_equal(pv_processor_tick(e->st, &e->ctx, t, &status), PV_OK);
    assert_int_equal(pv_processor_tick(e->st, &p2, t, &status), PV_OK);
    assert_int_equal(held(&e->ctx), 1);
    assert_int_equal(held(&p2), 1);
    assert_string_not_equal(e->ctx.key_ids, p2.key_ids);
    /* proc-1 keeps the PSD in use. */
    assert_true(e->ctx.psds[e->ctx.current].held);
    /* proc-2 stops ticking: once its heartbeat is stale and its lease expired, proc-1 takes all. */
    t += e->ctx.live_ms + 1;
    assert_int_equal(pv_processor_tick(e->st, &e->ctx, t, &status), PV_OK);
    assert_int_equal(held(&e->ctx), 1);
    t += e->ctx.lease_ms;
    assert_int_equal(pv_processor_tick(e->st, &e->ctx, t, &status), PV_OK);
    assert_int_equal(held(&e->ctx), 2);
    assert_int_equal(pv_store_psd_get(e->st, 1, &p), PV_OK);
    assert_string_equal(p.lease_holder, "proc-1");
    assert_true(p.lease_expires_ms == t + e->ctx.lease_ms);
    pv_processor_ctx_clear(&p2);
}

static void test_draining_holds_none(void **state)
{
    struct denv *e = *state;
    struct pv_psd_rec p;
    int status = -1;

    assert_int_equal(pv_store_server_set_status(e->st, "proc-1", PV_SERVER_DRAINING), PV_OK);
    assert_int_equal(pv_processor_tick(e->st, &e->ctx, pv_now_ms(), &status), PV_OK);
    assert_int_equal(status, PV_SERVER_DRAINING);
    assert_int_equal(held(&e->ctx), 0);
    assert_string_equal(e->ctx.key_ids, "");
    assert_int_equal(pv_store_psd_get(e->st, 2, &p), PV_OK);
    assert_true(p.lease_expires_ms <= pv_now_ms());
    /* The test PSD needs no lease. */
    assert_true(e->ctx.test_psd.held);
    pv_processor_ctx_clear(&e->ctx);
    assert_int_equal(e->ctx.npsds, 0);
    assert_null(e->ctx.psds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fair_share_and_failover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_draining_holds_none, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
