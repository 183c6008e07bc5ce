/*
 * test_lease.c - a processor's PSD pool (src/domain/lease.c): loading,
 * the fair share among live servers, draining, renewal and failover when a
 * processor stops ticking, and the binding of PSDs to crypto modules (a
 * processor leases only PSDs whose keys its own module holds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain_env.h"

#include "domain/provision.h"

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

/* Register server id on module cm at now_ms. */
static void register_on(struct denv *e, const char *id, const struct pv_crypto *cm, int64_t now_ms)
{
    struct pv_server_rec r;

    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "%s", id);
    snprintf(r.address, sizeof r.address, "inproc");
    snprintf(r.module_id, sizeof r.module_id, "%s", cm->id);
    r.started_ms = r.heartbeat_ms = now_ms;
    assert_int_equal(pv_store_server_register(e->st, &r), PV_OK);
}

static int holds(const struct pv_processor_ctx *ctx, uint32_t psd)
{
    size_t i;

    for (i = 0; i < ctx->npsds; i++)
        if (ctx->psds[i].psd_id == psd)
            return ctx->psds[i].held;
    return -1; /* not in its pool at all */
}

/*
 * Two modules: A (the vendor's, whose keys predate the binding) holds PSDs
 * 1, 2 and test PSD 3; B gets PSDs 4, 5 and test PSD 6 from
 * pv_provision_add_psds. Each processor's pool and share are its module's;
 * when B's only processor dies, A's processors never take B's PSDs, and a
 * second processor on A shares A's PSDs with the first.
 */
static void test_binding(void **state)
{
    struct denv *e = *state;
    struct pv_crypto *b = NULL;
    struct pv_processor_ctx pb, pa2;
    struct pv_key_rec *keys = NULL;
    struct pv_psd_rec p;
    char spec[320];
    uint32_t first = 0, test_id = 0;
    int64_t t = pv_now_ms();
    size_t nk = 0, i;
    int status;

    snprintf(spec, sizeof spec, "openssl:%s/keys-b", e->dir);
    assert_int_equal(pv_crypto_open(spec, &b), PV_OK);
    assert_string_not_equal(b->id, e->cm->id);
    assert_int_equal(pv_provision_add_psds(e->st, b, NULL, 2, pv_now(), &first, &test_id), PV_OK);
    assert_int_equal(first, 4);
    assert_int_equal(test_id, 6);
    assert_int_equal(pv_store_key_list(e->st, &keys, &nk), PV_OK);
    for (i = 0; i < nk; i++) {
        assert_int_equal(pv_key_bound(&keys[i], b), keys[i].key_id >= 4);
        assert_int_equal(pv_key_bound(&keys[i], e->cm), keys[i].key_id < 4);
    }
    free(keys);
    /* At most PV_PROVISION_MAX_PSDS at once. */
    assert_int_equal(pv_provision_add_psds(e->st, b, NULL, 65, pv_now(), &first, &test_id),
                     PV_EINVAL);

    memset(&pb, 0, sizeof pb);
    pb.cm = b;
    snprintf(pb.server_id, sizeof pb.server_id, "proc-b");
    assert_int_equal(pv_processor_load(e->st, &pb), PV_OK);
    assert_int_equal(pb.npsds, 2);
    assert_int_equal(pb.psds[0].psd_id, 4);
    assert_int_equal(pb.test_psd.psd_id, 6);
    assert_int_equal(pv_processor_load(e->st, &e->ctx), PV_OK);
    assert_int_equal(e->ctx.npsds, 2);
    assert_int_equal(e->ctx.test_psd.psd_id, 3);
    assert_int_equal(holds(&e->ctx, 4), -1);

    register_on(e, "proc-1", e->cm, t);
    register_on(e, "proc-b", b, t);
    assert_int_equal(pv_processor_tick(e->st, &e->ctx, t, &status), PV_OK);
    assert_int_equal(pv_processor_tick(e->st, &pb, t, &status), PV_OK);
    /* Each is the only server of its module: it holds all of its module's PSDs. */
    assert_int_equal(held(&e->ctx), 2);
    assert_int_equal(held(&pb), 2);
    assert_string_equal(pb.key_ids, "4,5");

    /* proc-b dies: its PSDs wait for a processor of module B; proc-1 never takes them. */
    t += e->ctx.live_ms + e->ctx.lease_ms + 1;
    assert_int_equal(pv_processor_tick(e->st, &e->ctx, t, &status), PV_OK);
    assert_int_equal(held(&e->ctx), 2);
    assert_int_equal(pv_store_psd_get(e->st, 4, &p), PV_OK);
    assert_string_equal(p.lease_holder, "proc-b");
    assert_true(p.lease_expires_ms < t);

    /* A second processor on module A shares A's PSDs with proc-1, not B's. */
    memset(&pa2, 0, sizeof pa2);
    pa2.cm = e->cm;
    snprintf(pa2.server_id, sizeof pa2.server_id, "proc-a2");
    assert_int_equal(pv_processor_load(e->st, &pa2), PV_OK);
    register_on(e, "proc-a2", e->cm, t);
    assert_int_equal(pv_processor_tick(e->st, &e->ctx, t, &status), PV_OK);
    assert_int_equal(pv_processor_tick(e->st, &pa2, t, &status), PV_OK);
    assert_int_equal(held(&e->ctx), 1);
    assert_int_equal(held(&pa2), 1);
    /* proc-b comes back and takes its own PSDs up again. */
    register_on(e, "proc-b", b, t);
    assert_int_equal(pv_processor_tick(e->st, &pb, t, &status), PV_OK);
    assert_int_equal(held(&pb), 2);

    pv_processor_ctx_clear(&pb);
    pv_processor_ctx_clear(&pa2);
    pv_crypto_close(b);
}

/* A module that holds no PSD's key gets no pool: the processor does not start. */
static void test_module_without_psds(void **state)
{
    struct denv *e = *state;
    struct pv_crypto *c = NULL;
    struct pv_processor_ctx pc;
    char spec[320];

    snprintf(spec, sizeof spec, "openssl:%s/keys-c", e->dir);
    assert_int_equal(pv_crypto_open(spec, &c), PV_OK);
    memset(&pc, 0, sizeof pc);
    pc.cm = c;
    snprintf(pc.server_id, sizeof pc.server_id, "proc-c");
    assert_int_equal(pv_processor_load(e->st, &pc), PV_ENOPSD);
    assert_int_equal(pc.npsds, 0);
    assert_false(pc.test_psd.held);
    pv_processor_ctx_clear(&pc);
    pv_crypto_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fair_share_and_failover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_draining_holds_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_module_without_psds, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
