/*
 * test_lifecycle.c - the PSD lifecycle (src/domain/lifecycle.c) with real
 * purchases (domain_env.h), on SQLite and then on PostgreSQL (a fresh
 * database of the CTest fixture's cluster per test, as test_store does):
 * status transitions and who may undo what; a PSD suspended while the
 * processor holds it in memory never signs again and the sale moves to
 * another PSD; the withdrawal's books (what the descending register held
 * goes back to the deposit, the ledger check stays clean, the key retired);
 * the reset lock (sales go on from what PSDs hold, then refuse with
 * resets_locked, nothing moves); the history written in the change's own
 * transaction (a refused change leaves no event); key revocation and
 * rotation recorded and an operator's suspension kept across a rotation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "domain_env.h"

#include "domain/certs.h"
#include "domain/lifecycle.h"
#include "stampd/timeutil.h"

#include <unistd.h>

static int on_postgres; /* the second pass */

static int setup(void **state)
{
    denv_dsn[0] = '\0';
    if (on_postgres)
        denv_pg_fresh();
    *state = denv_open("lifecycle");
    return 0;
}

static int teardown(void **state)
{
    denv_close(*state);
    return 0;
}

static struct pv_psd_rec psd(struct denv *e, uint32_t id)
{
    struct pv_psd_rec p;

    assert_int_equal(pv_store_psd_get(e->st, id, &p), PV_OK);
    return p;
}

/* The history of PSD id (owned: free()). */
static struct pv_psd_event_rec *history(struct denv *e, uint32_t id, size_t *n)
{
    struct pv_psd_event_rec *ev = NULL;

    assert_int_equal(pv_store_psd_event_list(e->st, id, 0, 1000, &ev, n), PV_OK);
    return ev;
}

static size_t count(struct denv *e, uint32_t id)
{
    size_t n = 0;

    free(history(e, id, &n));
    return n;
}

/* One letter for cus_a: the error and, when sold, the device it came from. */
static int try_buy(struct denv *e, uint32_t *device)
{
    struct pv_purchase_req q;
    struct pv_purchase_res *r = calloc(1, sizeof *r);
    int err;

    assert_non_null(r);
    denv_letter(&q, "cus_a", "lc", e->nbought++, 0);
    denv_batch(e->st, &e->ctx, &q, r, 1, PV_NOW_AT_LOCK);
    err = r->err;
    if (device)
        *device = err == PV_OK ? r->rec.ind.device_id : 0;
    free(r);
    return err;
}

static void test_transitions(void **state)
{
    struct denv *e = *state;
    struct pv_psd_change ch;
    struct pv_psd_event_rec *ev;
    size_t n = 0;
    int64_t now = pv_now();

    /* The PSDs of the vendor were made before this suite's history existed:
     * events come from here on. */
    assert_int_equal(count(e, 1), 0);
    assert_int_equal(pv_psd_resume(e->st, 1, PV_ACTOR_OPERATOR, "op_1", "", now, &ch),
                     PV_EPSDSTATE);
    assert_int_equal(pv_psd_suspend(e->st, 1, PV_ACTOR_OPERATOR, "op_1", "inspection", now, &ch),
                     PV_OK);
    assert_true(ch.changed);
    assert_int_equal(ch.psd.status, PV_PSD_SUSPENDED);
    assert_string_equal(psd(e, 1).suspended_by, "operator");
    assert_string_equal(psd(e, 1).status_reason, "inspection");
    /* Suspending again changes nothing. */
    assert_int_equal(pv_psd_suspend(e->st, 1, PV_ACTOR_OPERATOR, "op_1", "", now, &ch), PV_OK);
    assert_false(ch.changed);
    /* The authority's suspension outranks the operator's... */
    assert_int_equal(pv_psd_suspend(e->st, 1, PV_ACTOR_AUTHORITY, "pa_1", "audit", now, &ch),
                     PV_OK);
    assert_true(ch.changed);
    assert_string_equal(psd(e, 1).suspended_by, "authority");
    /* ...and only the authority lifts it. */
    assert_int_equal(pv_psd_resume(e->st, 1, PV_ACTOR_OPERATOR, "op_1", "", now, &ch),
                     PV_EAUTHSUSPENDED);
    assert_int_equal(psd(e, 1).status, PV_PSD_SUSPENDED);
    assert_int_equal(pv_psd_resume(e->st, 1, PV_ACTOR_AUTHORITY, "pa_1", "done", now, &ch), PV_OK);
    assert_int_equal(psd(e, 1).status, PV_PSD_ACTIVE);
    assert_string_equal(psd(e, 1).suspended_by, "");
    /* The operator's own suspension is not the authority's to lift. */
    assert_int_equal(pv_psd_suspend(e->st, 2, PV_ACTOR_OPERATOR, "op_1", "", now, &ch), PV_OK);
    assert_int_equal(pv_psd_resume(e->st, 2, PV_ACTOR_AUTHORITY, "pa_1", "", now, &ch),
                     PV_EPSDSTATE);
    assert_int_equal(pv_psd_resume(e->st, 2, PV_ACTOR_OPERATOR, "op_1", "", now, &ch), PV_OK);
    /* Unknown PSD, bad actor. */
    assert_int_equal(pv_psd_suspend(e->st, 99, PV_ACTOR_OPERATOR, "op_1", "", now, &ch),
                     PV_ENOTFOUND);
    assert_int_equal(pv_psd_suspend(e->st, 1, "customer", "cus_a", "", now, &ch), PV_EINVAL);

    ev = history(e, 1, &n);
    assert_int_equal(n, 3);
    assert_string_equal(ev[0].event, "suspended");
    assert_string_equal(ev[0].actor, "operator");
    assert_string_equal(ev[0].actor_id, "op_1");
    assert_string_equal(ev[0].reason, "inspection");
    assert_int_equal(ev[0].status_before, PV_PSD_ACTIVE);
    assert_int_equal(ev[0].status_after, PV_PSD_SUSPENDED);
    assert_string_equal(ev[1].actor, "authority");
    assert_int_equal(ev[1].status_before, PV_PSD_SUSPENDED);
    assert_string_equal(ev[2].event, "resumed");
    assert_int_equal(ev[2].status_after, PV_PSD_ACTIVE);
    assert_true(ev[0].id < ev[1].id && ev[1].id < ev[2].id);
    free(ev);
    /* Paging: after the first event. */
    assert_int_equal(pv_store_psd_event_list(e->st, 1, 0, 1, &ev, &n), PV_OK);
    assert_int_equal(n, 1);
    free(ev);
}

static void test_suspended_psd_never_signs(void **state)
{
    struct denv *e = *state;
    struct pv_psd_event_rec *ev;
    uint32_t dev = 0, first;
    size_t n = 0;

    assert_int_equal(try_buy(e, &first), PV_OK);
    assert_int_equal(try_buy(e, &dev), PV_OK);
    assert_int_equal(dev, first); /* runs from one device */
    /* Suspended while this processor holds it (its lease and its place in
     * memory untouched): the batch reads the row and moves to the other PSD. */
    assert_int_equal(pv_psd_suspend(e->st, first, PV_ACTOR_OPERATOR, "op_1", "", pv_now(), NULL),
                     PV_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(try_buy(e, &dev), PV_OK);
        assert_int_not_equal(dev, first);
    }
    /* Both suspended: no usable PSD, nothing written. */
    assert_int_equal(pv_psd_suspend(e->st, dev, PV_ACTOR_AUTHORITY, "pa_1", "", pv_now(), NULL),
                     PV_OK);
    assert_int_equal(try_buy(e, NULL), PV_ENOPSD);
    /* Resumed: it sells again (after the processor's next tick leases it). */
    assert_int_equal(pv_psd_resume(e->st, first, PV_ACTOR_OPERATOR, "op_1", "", pv_now(), NULL),
                     PV_OK);
    assert_int_equal(pv_processor_tick(e->st, &e->ctx, pv_now_ms(), NULL), PV_OK);
    assert_int_equal(try_buy(e, &dev), PV_OK);
    assert_int_equal(dev, first);
    /* The first PSD's history: its reset, the suspension with the registers
     * after the two pieces, the resumption. */
    ev = history(e, first, &n);
    assert_int_equal(n, 3);
    assert_string_equal(ev[0].event, "reset");
    assert_string_equal(ev[0].actor, "system");
    assert_int_equal(ev[0].descending, 5000);
    assert_int_equal(ev[0].piece_count, 0);
    assert_true(strncmp(ev[0].ref, "rfl_", 4) == 0);
    assert_string_equal(ev[1].event, "suspended");
    assert_int_equal(ev[1].ascending, 2 * 740);
    assert_int_equal(ev[1].descending, 5000 - 2 * 740);
    assert_int_equal(ev[1].control_total, 5000);
    assert_int_equal(ev[1].piece_count, 2);
    assert_string_equal(ev[2].event, "resumed");
    free(ev);
    denv_books(e);
}

static void test_withdraw_books(void **state)
{
    struct denv *e = *state;
    struct pv_psd_change ch;
    struct pv_key_rec *keys = NULL;
    struct pv_psd_event_rec *ev;
    pv_mills deposit;
    uint32_t dev = 0;
    size_t n = 0, nk = 0, i;

    assert_int_equal(try_buy(e, &dev), PV_OK);
    assert_int_equal(dev, 1);
    deposit = denv_balance(e, PV_ACCT_DEPOSIT);
    assert_int_equal(pv_psd_withdraw(e->st, 1, "op_1", "end of life", 0, pv_now(), &ch), PV_OK);
    assert_int_equal(ch.returned, 5000 - 740);
    /* Registers frozen as read; the value left went back to the deposit. */
    assert_int_equal(psd(e, 1).status, PV_PSD_RETIRED);
    assert_int_equal(psd(e, 1).descending, 5000 - 740);
    assert_int_equal(psd(e, 1).ascending, 740);
    assert_int_equal(denv_balance(e, PV_ACCT_DEPOSIT), deposit + 5000 - 740);
    assert_int_equal(denv_balance(e, "psd:1"), 0);
    denv_books(e);
    /* Its key is retired, not revoked: still published, old pieces verify. */
    assert_int_equal(pv_store_key_list(e->st, &keys, &nk), PV_OK);
    for (i = 0; i < nk; i++)
        if (keys[i].key_id == psd(e, 1).key_id) {
            assert_true(keys[i].retired_at > 0);
            assert_int_equal(keys[i].revoked_at, 0);
        }
    free(keys);
    /* Final. */
    assert_int_equal(pv_psd_resume(e->st, 1, PV_ACTOR_OPERATOR, "op_1", "", pv_now(), NULL),
                     PV_EPSDSTATE);
    assert_int_equal(pv_psd_suspend(e->st, 1, PV_ACTOR_AUTHORITY, "pa_1", "", pv_now(), NULL),
                     PV_EPSDSTATE);
    assert_int_equal(pv_psd_withdraw(e->st, 1, "op_1", "", 1, pv_now(), NULL), PV_EPSDSTATE);
    /* Sales go on from PSD 2. */
    assert_int_equal(try_buy(e, &dev), PV_OK);
    assert_int_equal(dev, 2);
    /* The last usable live PSD asks for confirmation; the refusal writes nothing. */
    n = count(e, 2);
    assert_int_equal(pv_psd_withdraw(e->st, 2, "op_1", "", 0, pv_now(), NULL), PV_ELASTPSD);
    assert_int_equal(psd(e, 2).status, PV_PSD_ACTIVE);
    assert_int_equal(count(e, 2), n);
    denv_no_tx(e->st);
    assert_int_equal(pv_psd_withdraw(e->st, 2, "op_1", "", 1, pv_now(), &ch), PV_OK);
    assert_int_equal(ch.returned, 5000 - 740);
    denv_books(e);
    assert_int_equal(try_buy(e, NULL), PV_ENOPSD);
    ev = history(e, 1, &n);
    assert_string_equal(ev[n - 1].event, "withdrawn");
    assert_string_equal(ev[n - 1].reason, "end of life");
    assert_int_equal(ev[n - 1].descending, 5000 - 740);
    assert_int_equal(ev[n - 1].status_after, PV_PSD_RETIRED);
    free(ev);
}

static void test_reset_lock(void **state)
{
    struct denv *e = *state;
    struct pv_reset_lock l;
    struct pv_psd_event_rec *ev;
    pv_mills deposit;
    uint32_t dev = 0;
    size_t n = 0;
    int changed = 0, i;

    assert_int_equal(pv_resets_locked(e->st), 0);
    /* Locked before any reset: no PSD holds anything, nothing sells, nothing moves. */
    assert_int_equal(pv_resets_lock_set(e->st, 1, "pa_1", "audit", pv_now(), &changed), PV_OK);
    assert_true(changed);
    assert_int_equal(pv_resets_lock_set(e->st, 1, "pa_1", "again", pv_now(), &changed), PV_OK);
    assert_false(changed);
    assert_int_equal(pv_resets_lock_get(e->st, &l), PV_OK);
    assert_true(l.locked);
    assert_string_equal(l.by, "pa_1");
    assert_string_equal(l.reason, "audit");
    deposit = denv_balance(e, PV_ACCT_DEPOSIT);
    assert_int_equal(try_buy(e, NULL), PV_ERESETLOCK);
    assert_int_equal(denv_balance(e, PV_ACCT_DEPOSIT), deposit);
    assert_int_equal(psd(e, 1).control_total, 0);
    /* Unlocked: the reset happens; locked again, sales go on from what PSD 1 holds. */
    assert_int_equal(pv_resets_lock_set(e->st, 0, "pa_1", "", pv_now(), &changed), PV_OK);
    assert_int_equal(try_buy(e, &dev), PV_OK);
    assert_int_equal(pv_resets_lock_set(e->st, 1, "pa_1", "audit 2", pv_now(), NULL), PV_OK);
    for (i = 0; i < 5; i++) /* $5.00 holds six letters of $0.74 */
        assert_int_equal(try_buy(e, NULL), PV_OK);
    assert_int_equal(try_buy(e, NULL), PV_ERESETLOCK);
    assert_int_equal(psd(e, dev).descending, 5000 - 6 * 740);
    denv_books(e);
    /* Every lock and unlock is in the history of each live PSD, registers included. */
    ev = history(e, 2, &n);
    assert_int_equal(n, 3);
    assert_string_equal(ev[0].event, "resets_locked");
    assert_string_equal(ev[0].actor, "authority");
    assert_string_equal(ev[0].reason, "audit");
    assert_string_equal(ev[1].event, "resets_unlocked");
    assert_string_equal(ev[2].event, "resets_locked");
    free(ev);
    assert_int_equal(count(e, 3), 0); /* the test PSD: play money, never locked */
    /* One reset event per refill, none for the refused pieces. */
    {
        struct pv_refill_rec *rf = NULL;
        size_t nrf = 0, resets = 0, k;

        assert_int_equal(pv_store_refill_list(e->st, dev, 0, &rf, &nrf), PV_OK);
        ev = history(e, dev, &n);
        for (k = 0; k < n; k++)
            if (strcmp(ev[k].event, "reset") == 0) {
                assert_true(resets < nrf);
                assert_string_equal(ev[k].ref, rf[resets].authorization);
                assert_int_equal(ev[k].control_total, rf[resets].ctl_after);
                resets++;
            }
        assert_int_equal(resets, nrf);
        assert_int_equal(nrf, 1);
        free(rf);
        free(ev);
    }
}

static void test_key_revoke_and_rotate(void **state)
{
    struct denv *e = *state;
    struct pv_ca ca;
    struct pv_psd_event_rec *ev;
    uint32_t key = 0;
    size_t n = 0;

    memset(&ca, 0, sizeof ca);
    assert_int_equal(pv_ca_init(e->st, e->cm, e->cm->id, pv_now(), NULL), PV_OK);
    assert_int_equal(pv_ca_load(e->st, e->cm->id, e->cm, NULL, &ca), PV_OK);
    /* Revoked: suspended by the system, and no resume while the key is revoked. */
    assert_int_equal(pv_key_revoke(e->st, &ca, psd(e, 1).key_id, "key_compromise", 0, pv_now()),
                     PV_OK);
    assert_int_equal(psd(e, 1).status, PV_PSD_SUSPENDED);
    assert_string_equal(psd(e, 1).suspended_by, "system");
    assert_int_equal(pv_psd_resume(e->st, 1, PV_ACTOR_OPERATOR, "op_1", "", pv_now(), NULL),
                     PV_EPSDSTATE);
    /* A rotation gives it a key and makes it active again. */
    assert_int_equal(pv_key_rotate(e->st, e->cm, &ca, 1, pv_now(), &key), PV_OK);
    assert_int_equal(psd(e, 1).status, PV_PSD_ACTIVE);
    /* An operator's suspension survives a revocation and a rotation. */
    assert_int_equal(pv_psd_suspend(e->st, 2, PV_ACTOR_OPERATOR, "op_1", "", pv_now(), NULL),
                     PV_OK);
    assert_int_equal(pv_key_revoke(e->st, &ca, psd(e, 2).key_id, "superseded", 0, pv_now()), PV_OK);
    assert_int_equal(pv_key_rotate(e->st, e->cm, &ca, 2, pv_now(), &key), PV_OK);
    assert_int_equal(psd(e, 2).status, PV_PSD_SUSPENDED);
    assert_string_equal(psd(e, 2).suspended_by, "operator");
    ev = history(e, 1, &n);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].event, "key_revoked");
    assert_int_equal(ev[0].status_before, PV_PSD_ACTIVE);
    assert_int_equal(ev[0].status_after, PV_PSD_SUSPENDED);
    assert_string_equal(ev[1].event, "key_rotated");
    assert_int_equal(ev[1].status_after, PV_PSD_ACTIVE);
    free(ev);
    /* A withdrawn PSD gets no new key. */
    assert_int_equal(pv_psd_withdraw(e->st, 1, "op_1", "", 1, pv_now(), NULL), PV_OK);
    assert_int_equal(pv_key_rotate(e->st, e->cm, &ca, 1, pv_now(), NULL), PV_EPSDSTATE);
    pv_ca_clear(&ca);
    denv_books(e);
}

#define BOTH_TESTS                                                                                 \
    cmocka_unit_test_setup_teardown(test_transitions, setup, teardown),                            \
        cmocka_unit_test_setup_teardown(test_suspended_psd_never_signs, setup, teardown),          \
        cmocka_unit_test_setup_teardown(test_withdraw_books, setup, teardown),                     \
        cmocka_unit_test_setup_teardown(test_reset_lock, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(test_key_revoke_and_rotate, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {BOTH_TESTS};
    int failed;

    failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
    on_postgres = 1;
    failed += cmocka_run_group_tests_name("postgres", tests, NULL, NULL);
    return failed ? 1 : 0;
}
