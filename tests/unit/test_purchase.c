/*
 * test_purchase.c - the group-commit write path on a real SQLite store and
 * a real OpenSSL crypto module: registers, refills, charges, ledger,
 * idempotency rules, and "a refused purchase changes nothing".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain_env.h"

#include "crypto/signpool.h"
#include "stampd/codec.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NOW 1795305600 /* 2026-11-22 */

/* Two PSDs (keys 101 and 102), a deposit of `deposit`, refills of 5.000, customers A ($10)
 * and B ($0.50). */
static struct denv *setup_env(pv_mills deposit)
{
    struct denv *e = denv_vendor("purchase", deposit, 100, 0);

    assert_int_equal(e->ctx.npsds, 2);
    assert_int_equal(e->ctx.refill_policy, 5000);
    return e;
}

static int setup(void **state)
{
    *state = setup_env(1000000);
    return 0;
}

static int setup_test_psd(void **state)
{
    *state = denv_vendor("purchase", 1000000, 100, 1); /* and the test PSD 3 */
    return 0;
}

static int setup_small_deposit(void **state)
{
    *state = setup_env(1000); /* $1: one refill's worth of nothing much */
    return 0;
}

static int setup_shared_deposit(void **state)
{
    *state = setup_env(8000); /* $8, shared by two processors */
    return 0;
}

static int teardown(void **state)
{
    denv_close(*state);
    return 0;
}

/* A first-class letter on NOW's date whose weight step costs postage (740: 1 oz,
 * 1030: 2 oz, ...); a postage no step costs is a 1 oz letter that price does not
 * match, which the processor refuses. */
static struct pv_purchase_req req(const char *customer, const char *key, const char *hash,
                                  pv_mills postage)
{
    struct pv_purchase_req q;
    uint16_t w;
    pv_mills p;

    memset(&q, 0, sizeof q);
    snprintf(q.customer_id, sizeof q.customer_id, "%s", customer);
    snprintf(q.idem_key, sizeof q.idem_key, "%s", key);
    snprintf(q.req_hash, sizeof q.req_hash, "%s", hash);
    q.mail_class = PV_MC_FIRST_CLASS_LETTER;
    q.weight_tenth_oz = 10;
    q.mail_date = 20261122;
    for (w = 10; w <= pv_rate_max_weight(q.mail_class); w += 10)
        if (pv_rate_quote(q.mail_class, w, q.mail_date, &p, NULL) == PV_OK && p == postage) {
            q.weight_tenth_oz = w;
            break;
        }
    memcpy(q.from_zip, "94107", 6);
    memcpy(q.to_zip, "100011234", 10);
    q.postage = postage;
    return q;
}

static pv_mills bal(struct pv_store *st, const char *acct)
{
    pv_mills v;
    assert_int_equal(pv_balance(st, acct, &v), PV_OK);
    return v;
}

static struct pv_psd_rec psd(struct pv_store *st, uint32_t id)
{
    struct pv_psd_rec p;
    assert_int_equal(pv_store_psd_get(st, id, &p), PV_OK);
    return p;
}

/* Every PSD balances, its ledger account equals descending, and the sums match. */
static void assert_books(struct pv_store *st)
{
    pv_mills asc = 0;
    uint32_t i;

    for (i = 1; i <= 2; i++) {
        struct pv_psd_rec p = psd(st, i);
        char acct[PV_ACCOUNT_MAX];
        assert_int_equal(p.ascending + p.descending, p.control_total);
        pv_account_psd(i, acct);
        assert_int_equal(bal(st, acct), p.descending);
        asc += p.ascending;
    }
    assert_int_equal(bal(st, PV_ACCT_DISPENSED), asc);
    assert_int_equal(bal(st, PV_ACCT_REVENUE), asc);
}

static void test_purchase_signs_and_books(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q = req("cus_a", "k1", "h1", 740);
    struct pv_purchase_res r;
    struct pv_key_rec *keys;
    struct pv_refill_rec *refills;
    struct pv_indicium_rec got;
    size_t nkeys, nrefills, i;
    struct pv_psd_rec p;

    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r, 1, NOW), PV_OK);
    assert_int_equal(r.err, PV_OK);
    assert_false(r.replayed);
    assert_int_equal(r.balance_after, 10000 - 740);
    assert_int_equal(bal(e->st, "customer:cus_a"), 10000 - 740);
    assert_int_equal(bal(e->st, PV_ACCT_DEPOSIT), 1000000 - 5000);

    p = psd(e->st, 1);
    assert_int_equal(p.control_total, 5000);
    assert_int_equal(p.ascending, 740);
    assert_int_equal(p.descending, 5000 - 740);
    assert_int_equal(p.piece_count, 1);
    assert_int_equal(p.last_refill_at, NOW);
    assert_int_equal(pv_store_refill_list(e->st, 1, 0, &refills, &nrefills), PV_OK);
    assert_int_equal(nrefills, 1);
    assert_int_equal(refills[0].amount, 5000);
    assert_int_equal(refills[0].desc_before, 0);
    assert_int_equal(refills[0].ctl_after, 5000);
    free(refills);

    assert_int_equal(r.rec.ind.serial, 1);
    assert_int_equal(r.rec.ind.device_id, 1);
    assert_int_equal(r.rec.ind.key_id, 101);
    assert_int_equal(r.rec.ind.ascending_mills, 740);
    assert_string_equal(r.rec.ind.license, "PV-TEST-1");
    assert_string_equal(r.rec.server_id, "proc-1");
    assert_int_equal(pv_store_indicium_get(e->st, r.rec.id, &got), PV_OK);
    assert_int_equal(got.data_len, r.rec.data_len);
    assert_memory_equal(got.data, r.rec.data, got.data_len);
    /* Signed as version 2 (docs/indicium.md): the device's vendor and model,
     * the descending register after the piece, no services yet, and the
     * piece's own id; the store gives the same fields back from the bytes. */
    {
        char pub[25];

        assert_int_equal(r.rec.ind.version, PV_INDICIUM_V2);
        assert_int_equal(got.ind.version, PV_INDICIUM_V2);
        assert_int_equal(got.ind.vendor_id, PV_VENDOR_ID);
        assert_int_equal(got.ind.model_id, PV_MODEL_ID);
        assert_int_equal(got.ind.descending_mills, 5000 - 740);
        assert_int_equal(got.ind.services, 0);
        assert_int_equal(pv_indicium_piece_public(&got.ind, pub), PV_OK);
        assert_string_equal(pub, r.rec.id);
    }

    assert_int_equal(pv_store_key_list(e->st, &keys, &nkeys), PV_OK);
    for (i = 0; i < nkeys; i++)
        if (keys[i].key_id == 101)
            assert_int_equal(pv_indicium_verify(got.data, got.data_len, keys[i].public_pem, NULL),
                             PV_OK);
        else
            assert_int_equal(pv_indicium_verify(got.data, got.data_len, keys[i].public_pem, NULL),
                             PV_ESIGNATURE);
    free(keys);
    assert_books(e->st);
}

static void test_idempotency_rules(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q = req("cus_a", "same-key", "hash-1", 740);
    struct pv_purchase_res r1, r2, r3, r4;

    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r1, 1, NOW), PV_OK);
    assert_int_equal(r1.err, PV_OK);
    /* Same key, same request: the same indicium, nothing charged again. */
    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r2, 1, NOW + 5), PV_OK);
    assert_int_equal(r2.err, PV_OK);
    assert_true(r2.replayed);
    assert_string_equal(r2.rec.id, r1.rec.id);
    assert_memory_equal(r2.rec.data, r1.rec.data, r1.rec.data_len);
    assert_int_equal(bal(e->st, "customer:cus_a"), 10000 - 740);
    assert_int_equal(psd(e->st, 1).piece_count, 1);
    /* Same key, different request: refused, nothing written. */
    q = req("cus_a", "same-key", "hash-2", 740);
    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r3, 1, NOW), PV_OK);
    assert_int_equal(r3.err, PV_EIDEMREUSED);
    assert_int_equal(psd(e->st, 1).piece_count, 1);
    /* Keys are per customer: B may use the same key string. */
    denv_post(e->st, PV_ACCT_FUNDING, "customer:cus_b", 500);
    q = req("cus_b", "same-key", "hash-1", 740);
    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r4, 1, NOW), PV_OK);
    assert_int_equal(r4.err, PV_OK);
    assert_false(r4.replayed);
    assert_string_not_equal(r4.rec.id, r1.rec.id);
    assert_books(e->st);
}

static void test_insufficient_funds_changes_nothing(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q = req("cus_b", "k", "h", 740); /* B has 0.50 */
    struct pv_purchase_res r;
    struct pv_indicium_rec *list;
    size_t n;

    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r, 1, NOW), PV_OK);
    assert_int_equal(r.err, PV_EFUNDS);
    assert_int_equal(bal(e->st, "customer:cus_b"), 500);
    assert_int_equal(psd(e->st, 1).piece_count, 0);
    assert_int_equal(psd(e->st, 1).control_total, 0); /* no refill happened either */
    assert_int_equal(bal(e->st, PV_ACCT_DEPOSIT), 1000000);
    assert_int_equal(pv_store_indicium_list(e->st, "cus_b", NULL, 10, &list, &n), PV_OK);
    assert_int_equal(n, 0);
    free(list);
    /* The key was not burnt by the failure: a funded retry can use it. */
    assert_int_equal(
        pv_store_idem_get(e->st, "cus_b", "k", (char[PV_HASH_HEX]){0}, (char[PV_ID_MAX]){0}),
        PV_ENOTFOUND);
}

/*
 * A piece's addresses and metadata are owned strings (store_indicium.h): the
 * batch copies the request's into the piece, a replay (in a later batch and
 * in the same one) reads them back, a refused job keeps none; LeakSanitizer
 * checks that whoever ends a result frees them.
 */
static void test_texts_through_the_batch(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q[3];
    struct pv_purchase_res r[3], again;
    size_t i;

    q[0] = req("cus_a", "t1", "h", 740);
    q[1] = req("cus_a", "t1", "h", 740); /* its replay, in the same batch */
    q[2] = req("cus_b", "t2", "h", 740); /* no funds */
    for (i = 0; i < 3; i++) {
        assert_int_equal(pv_text_set(&q[i].to_address, "Jo\nNew York NY 10001"), PV_OK);
        assert_int_equal(pv_text_set(&q[i].metadata, "order=17\n"), PV_OK);
    }
    assert_int_equal(denv_batch(e->st, &e->ctx, q, r, 3, NOW), PV_OK);
    assert_int_equal(r[0].err, PV_OK);
    assert_null(r[0].rec.from_address);
    assert_string_equal(r[0].rec.to_address, "Jo\nNew York NY 10001");
    assert_string_equal(r[0].rec.metadata, "order=17\n");
    assert_ptr_not_equal(r[0].rec.metadata, q[0].metadata); /* a copy, not the request's */
    assert_true(r[1].replayed);
    assert_string_equal(r[1].rec.to_address, "Jo\nNew York NY 10001");
    assert_string_equal(r[1].rec.metadata, "order=17\n");
    assert_int_equal(r[2].err, PV_EFUNDS);
    assert_null(r[2].rec.to_address);
    assert_null(r[2].rec.metadata);
    assert_int_equal(denv_batch(e->st, &e->ctx, q, &again, 1, NOW + 5), PV_OK);
    assert_true(again.replayed);
    assert_string_equal(again.rec.to_address, "Jo\nNew York NY 10001");
    assert_string_equal(again.rec.metadata, "order=17\n");
    pv_purchase_res_reset(&again);
    for (i = 0; i < 3; i++) {
        pv_purchase_res_reset(&r[i]);
        pv_purchase_req_clear(&q[i]);
    }
    assert_books(e->st);
}

static void test_batch_mixed_outcomes(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q[5];
    struct pv_purchase_res r[5];

    q[0] = req("cus_a", "a1", "h", 740);
    q[1] = req("cus_b", "b1", "h", 740); /* no funds */
    q[2] = req("cus_a", "a2", "h", 1030);
    q[3] = req("cus_a", "a1", "h", 740); /* replay of q[0] inside the same batch */
    q[4] = req("cus_a", "a1", "x", 740); /* reuse with another body */
    assert_int_equal(denv_batch(e->st, &e->ctx, q, r, 5, NOW), PV_OK);
    assert_int_equal(r[0].err, PV_OK);
    assert_int_equal(r[1].err, PV_EFUNDS);
    assert_int_equal(r[2].err, PV_OK);
    assert_int_equal(r[3].err, PV_OK);
    assert_true(r[3].replayed);
    assert_string_equal(r[3].rec.id, r[0].rec.id);
    assert_int_equal(r[4].err, PV_EIDEMREUSED);
    assert_int_equal(r[0].rec.ind.serial, 1);
    assert_int_equal(r[2].rec.ind.serial, 2);
    assert_int_equal(r[2].rec.ind.ascending_mills, 740 + 1030);
    assert_int_equal(bal(e->st, "customer:cus_a"), 10000 - 740 - 1030);
    assert_int_equal(bal(e->st, "customer:cus_b"), 500);
    assert_books(e->st);
}

/* The public key of key key_id (owned PEM). */
static char *key_pem(struct pv_store *st, uint32_t key_id)
{
    struct pv_key_rec *keys;
    size_t nkeys, i;
    char *pem = NULL;

    assert_int_equal(pv_store_key_list(st, &keys, &nkeys), PV_OK);
    for (i = 0; i < nkeys; i++)
        if (keys[i].key_id == key_id)
            pem = strdup(keys[i].public_pem);
    free(keys);
    assert_non_null(pem);
    return pem;
}

/* With a sign pool the batch's indicia are signed together after their
 * registers and ledger lines are written: each stored piece verifies, the
 * serials and registers follow the batch's order, the books balance; a
 * repeated key inside the batch still replays its first piece. */
static void test_batch_signed_together(void **state)
{
    struct denv *e = *state;
    struct pv_sign_pool *pool = NULL;
    struct pv_purchase_req q[9];
    struct pv_purchase_res r[9];
    struct pv_indicium_rec got;
    char key[8], *pem = key_pem(e->st, 101);
    size_t i;

    assert_int_equal(pv_sign_pool_new(2, &pool), PV_OK);
    e->ctx.sign_pool = pool;
    for (i = 0; i < 6; i++) { /* 6 x 740 fit in one refill of PSD 1 */
        snprintf(key, sizeof key, "s%zu", i);
        q[i] = req("cus_a", key, "h", 740);
    }
    assert_int_equal(denv_batch(e->st, &e->ctx, q, r, 6, NOW), PV_OK);
    for (i = 0; i < 6; i++) {
        assert_int_equal(r[i].err, PV_OK);
        assert_int_equal(r[i].rec.ind.serial, i + 1);
        assert_int_equal(r[i].rec.ind.ascending_mills, 740 * (i + 1));
        assert_int_equal(pv_store_indicium_get(e->st, r[i].rec.id, &got), PV_OK);
        assert_int_equal(got.data_len, r[i].rec.data_len);
        assert_memory_equal(got.data, r[i].rec.data, got.data_len);
        assert_int_equal(pv_indicium_verify(got.data, got.data_len, pem, NULL), PV_OK);
    }
    assert_int_equal(bal(e->st, "customer:cus_a"), 10000 - 6 * 740);
    assert_books(e->st);

    /* A key used twice in one batch: the batch is signed piece by piece. */
    q[0] = req("cus_a", "t1", "h", 1030);
    q[1] = req("cus_a", "t2", "h", 740);
    q[2] = req("cus_a", "t1", "h", 1030);
    assert_int_equal(denv_batch(e->st, &e->ctx, q, r, 3, NOW), PV_OK);
    assert_int_equal(r[0].err, PV_OK);
    assert_int_equal(r[1].err, PV_OK);
    assert_int_equal(r[2].err, PV_OK);
    assert_true(r[2].replayed);
    assert_string_equal(r[2].rec.id, r[0].rec.id);
    free(pem);
    pem = key_pem(e->st, r[2].rec.ind.key_id); /* PSD 2 may have taken over */
    assert_int_equal(pv_indicium_verify(r[2].rec.data, r[2].rec.data_len, pem, NULL), PV_OK);
    assert_books(e->st);
    e->ctx.sign_pool = NULL;
    pv_sign_pool_free(pool);
    free(pem);
}

/* A signature that fails after the heads cannot be undone for its job
 * alone: the whole batch is refused and nothing of it is written. */
static void test_batch_sign_failure_writes_nothing(void **state)
{
    struct denv *e = *state;
    struct pv_sign_pool *pool = NULL;
    struct pv_purchase_req q[3];
    struct pv_purchase_res r[3];
    struct pv_psd_rec before, after;
    char saved[sizeof e->ctx.psds[0].key_ref], owner[PV_ID_MAX], h[PV_HASH_HEX], id[PV_ID_MAX];
    size_t i;

    q[0] = req("cus_a", "w0", "h", 740);
    assert_int_equal(denv_batch(e->st, &e->ctx, q, r, 1, NOW), PV_OK); /* PSD 1 refilled */
    assert_int_equal(r[0].err, PV_OK);
    before = psd(e->st, 1);
    assert_int_equal(pv_sign_pool_new(1, &pool), PV_OK);
    e->ctx.sign_pool = pool;
    memcpy(saved, e->ctx.psds[0].key_ref, sizeof saved);
    snprintf(e->ctx.psds[0].key_ref, sizeof e->ctx.psds[0].key_ref, "%.400s.gone", saved);
    for (i = 0; i < 3; i++) {
        char key[8];
        snprintf(key, sizeof key, "f%zu", i);
        q[i] = req("cus_a", key, "h", 740);
    }
    assert_int_equal(denv_batch(e->st, &e->ctx, q, r, 3, NOW), PV_ECRYPTO);
    for (i = 0; i < 3; i++)
        assert_int_equal(r[i].err, PV_ECRYPTO); /* the dispatcher sends it elsewhere */
    after = psd(e->st, 1);
    assert_int_equal(after.piece_count, before.piece_count);
    assert_int_equal(after.ascending, before.ascending);
    assert_int_equal(after.descending, before.descending);
    assert_int_equal(bal(e->st, "customer:cus_a"), 10000 - 740);
    pv_idem_owner("cus_a", 0, owner);
    assert_int_equal(pv_store_idem_get(e->st, owner, "f0", h, id), PV_ENOTFOUND);
    assert_books(e->st);

    /* The key back: the same requests are bought, once each. */
    memcpy(e->ctx.psds[0].key_ref, saved, sizeof saved);
    assert_int_equal(denv_batch(e->st, &e->ctx, q, r, 3, NOW), PV_OK);
    for (i = 0; i < 3; i++)
        assert_int_equal(r[i].err, PV_OK);
    assert_int_equal(psd(e->st, 1).piece_count, before.piece_count + 3);
    assert_books(e->st);
    e->ctx.sign_pool = NULL;
    pv_sign_pool_free(pool);
}

/* Nine 1.030 pieces, refills of 5.000 (test_selection_and_refill_policy): PSD 1 until
 * short, then PSD 2 (refilled), then PSD 1 again. */
static void assert_nine_pieces_refilled(struct denv *e)
{
    assert_int_equal(psd(e->st, 1).piece_count, 5);
    assert_int_equal(psd(e->st, 2).piece_count, 4);
    assert_int_equal(psd(e->st, 1).control_total, 10000);
    assert_int_equal(psd(e->st, 1).control_total + psd(e->st, 2).control_total, 15000);
    assert_int_equal(bal(e->st, PV_ACCT_DEPOSIT), 1000000 - 15000);
    assert_books(e->st);
}

/* A batch reads each PSD row once and writes it once before its commit
 * (psd_batch.h). A job that fails after its PSD was debited (here the test
 * PSD's key cannot sign) leaves that PSD as it was, and the jobs around it
 * on the live PSD take consecutive serials. */
static void test_batch_failed_job_leaves_its_psd(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q[3];
    struct pv_purchase_res r[3];
    char saved[sizeof e->ctx.test_psd.key_ref];
    uint32_t tid = e->ctx.test_psd.psd_id;
    struct pv_psd_rec before_test, before_live;

    denv_post(e->st, "test:" PV_ACCT_FUNDING, "test:customer:cus_a", 5000);
    q[0] = req("cus_a", "p0", "h", 740);
    assert_int_equal(denv_batch(e->st, &e->ctx, q, r, 1, NOW), PV_OK); /* PSD 1 refilled */
    assert_int_equal(r[0].err, PV_OK);
    before_test = psd(e->st, tid);
    before_live = psd(e->st, 1);
    memcpy(saved, e->ctx.test_psd.key_ref, sizeof saved);
    snprintf(e->ctx.test_psd.key_ref, sizeof e->ctx.test_psd.key_ref, "%.400s.gone", saved);
    q[0] = req("cus_a", "p1", "h", 740);
    q[1] = req("cus_a", "p2", "h", 740);
    q[1].test = 1;
    q[2] = req("cus_a", "p3", "h", 740);
    assert_int_equal(denv_batch(e->st, &e->ctx, q, r, 3, NOW), PV_OK);
    memcpy(e->ctx.test_psd.key_ref, saved, sizeof saved);
    assert_int_equal(r[0].err, PV_OK);
    assert_int_not_equal(r[1].err, PV_OK);
    assert_int_equal(r[2].err, PV_OK);
    assert_int_equal(r[0].rec.ind.serial, before_live.piece_count + 1);
    assert_int_equal(r[2].rec.ind.serial, before_live.piece_count + 2);
    assert_int_equal(psd(e->st, 1).piece_count, before_live.piece_count + 2);
    assert_int_equal(psd(e->st, 1).ascending, before_live.ascending + 2 * 740);
    assert_int_equal(psd(e->st, tid).piece_count, before_test.piece_count);
    assert_int_equal(psd(e->st, tid).descending, before_test.descending);
    assert_int_equal(bal(e->st, "test:customer:cus_a"), 5000);
    assert_books(e->st);
}

/* Refills inside one batch: the same devices, registers and deposit as
 * one purchase a batch (test_selection_and_refill_policy). */
static void test_refills_inside_one_batch(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q[9];
    struct pv_purchase_res r[9];
    char key[16];
    int i;

    for (i = 0; i < 9; i++) {
        snprintf(key, sizeof key, "k%d", i);
        q[i] = req("cus_a", key, "h", 1030);
    }
    assert_int_equal(denv_batch(e->st, &e->ctx, q, r, 9, NOW), PV_OK);
    for (i = 0; i < 9; i++)
        assert_int_equal(r[i].err, PV_OK);
    assert_nine_pieces_refilled(e);
}

/* A key used twice in a batch, found pair by pair in a small batch and through a table in a
 * big one: the same key of another customer or of the other mode is not a repeat. */
static void test_repeats(void **state)
{
    enum { N = 600 };
    struct pv_purchase_req *q = calloc(N, sizeof *q);

    (void) state;
    assert_non_null(q);
    for (size_t n = 2; n <= N; n = n < 16 ? n + 7 : n * 3) {
        for (size_t i = 0; i < n; i++) {
            char key[32];

            snprintf(key, sizeof key, "k%zu", i);
            q[i] = req(i % 2 ? "cus_a" : "cus_b", key, "h", 740);
        }
        assert_int_equal(pv_purchase_repeats(q, n), 0);
        q[n - 1] = req("cus_b", "k0", "h", 740); /* the first's key, customer and mode */
        assert_int_equal(pv_purchase_repeats(q, n), 1);
        q[n - 1] = req("cus_a", "k0", "h", 740); /* another customer's */
        assert_int_equal(pv_purchase_repeats(q, n), 0);
        q[n - 1] = req("cus_b", "k0", "h", 740);
        q[n - 1].test = !q[0].test; /* the other mode's */
        assert_int_equal(pv_purchase_repeats(q, n), 0);
    }
    free(q);
}

/* A batch with a test-mode job or a job on a medium locks rows that every
 * processor may lock (the test PSD, a sheet): it takes the writer lock whole
 * (purchase_lock.c); a batch of live pieces without media takes it shared. */
static void test_lock_whole_for_shared_rows(void **state)
{
    struct pv_purchase_req q[3];
    struct pv_purchase_res r[3];

    (void) state;
    memset(r, 0, sizeof r);
    q[0] = req("cus_a", "l0", "h", 740);
    q[1] = req("cus_b", "l1", "h", 740);
    q[2] = req("cus_a", "l2", "h", 740);
    assert_int_equal(pv_purchase_lock_whole(q, r, 3), 0);
    q[1].test = 1;
    assert_int_equal(pv_purchase_lock_whole(q, r, 3), 1);
    r[1].pre_err = PV_EFUNDS; /* refused before the batch: locks nothing */
    assert_int_equal(pv_purchase_lock_whole(q, r, 3), 0);
    snprintf(q[2].medium_serial, sizeof q[2].medium_serial, "%s", "SHEET-1");
    assert_int_equal(pv_purchase_lock_whole(q, r, 3), 1);
}

static void test_selection_and_refill_policy(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_res r;
    char key[16];
    int i;

    /* 5.000 refills, 1.030 pieces: 4 pieces fit, the 5th needs more. */
    for (i = 0; i < 9; i++) {
        struct pv_purchase_req q;
        snprintf(key, sizeof key, "k%d", i);
        q = req("cus_a", key, "h", 1030);
        assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r, 1, NOW), PV_OK);
        assert_int_equal(r.err, PV_OK);
    }
    /* Sticky policy: PSD 1 until short, then PSD 2 (refilled), then PSD 1 again. */
    assert_nine_pieces_refilled(e);
}

static void test_deposit_exhausted(void **state)
{
    struct denv *e = *state; /* deposit $1.000 */
    struct pv_purchase_req q = req("cus_a", "k1", "h", 740);
    struct pv_purchase_res r;

    /* The policy wants 5.000 but 1.000 covers 0.740: take what is left. */
    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r, 1, NOW), PV_OK);
    assert_int_equal(r.err, PV_OK);
    assert_int_equal(bal(e->st, PV_ACCT_DEPOSIT), 0);
    assert_int_equal(psd(e->st, 1).control_total, 1000);
    q = req("cus_a", "k2", "h", 740);
    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r, 1, NOW), PV_OK);
    assert_int_equal(r.err, PV_EDEPOSIT);
    assert_int_equal(psd(e->st, 1).piece_count, 1);
    assert_int_equal(psd(e->st, 2).control_total, 0);
    assert_int_equal(bal(e->st, "customer:cus_a"), 10000 - 740);
    assert_books(e->st);
}

/* Reset sizing (issue 13): with two processors drawing on one deposit, a
 * reset takes at most half of what the deposit holds, unless the piece needs
 * more; never more than it holds. On main the first reset took the policy's
 * 5.000 of 8.000 and left the other processor 3.000. */
static void test_reset_shares_the_deposit(void **state)
{
    struct denv *e = *state; /* deposit $8.000 */
    struct pv_purchase_req q;
    struct pv_purchase_res r;

    e->ctx.sharing = 2;
    q = req("cus_a", "s1", "h", 740);
    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r, 1, NOW), PV_OK);
    assert_int_equal(r.err, PV_OK);
    assert_int_equal(psd(e->st, 1).control_total, 4000);
    assert_int_equal(bal(e->st, PV_ACCT_DEPOSIT), 4000);
    /* Spend PSD 1 down to 0.300 (5 x 0.740 = 3.700), then the next piece
     * resets PSD 2 by half of the 4.000 left. */
    for (int i = 0; i < 4; i++) {
        char key[8];
        snprintf(key, sizeof key, "t%d", i);
        q = req("cus_a", key, "h", 740);
        assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r, 1, NOW), PV_OK);
        assert_int_equal(r.err, PV_OK);
    }
    assert_int_equal(psd(e->st, 1).descending, 300);
    q = req("cus_a", "s2", "h", 740);
    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r, 1, NOW), PV_OK);
    assert_int_equal(r.err, PV_OK);
    assert_int_equal(psd(e->st, 2).control_total, 2000);
    assert_int_equal(bal(e->st, PV_ACCT_DEPOSIT), 2000);
    /* PSD 2 covers a 1.030 piece without a reset (0.230 left after it). */
    q = req("cus_a", "s3", "h", 1030);
    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r, 1, NOW), PV_OK);
    assert_int_equal(r.err, PV_OK);
    assert_int_equal(psd(e->st, 2).control_total, 2000);
    assert_int_equal(psd(e->st, 2).descending, 230);
    /* A share (0.020) smaller than the shortfall: the reset is the shortfall. */
    e->ctx.sharing = 100;
    q = req("cus_a", "s4", "h", 740);
    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r, 1, NOW), PV_OK);
    assert_int_equal(r.err, PV_OK);
    assert_int_equal(psd(e->st, 1).control_total, 4000 + 440);
    assert_int_equal(bal(e->st, PV_ACCT_DEPOSIT), 2000 - 440);
    assert_books(e->st);
}

/* Every reset carries the authority's signature over its record (issue 13):
 * it verifies with the published key; an altered record, another key's
 * signature or none at all does not. */
static void test_reset_signed_by_the_authority(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q = req("cus_a", "sig", "h", 740);
    struct pv_purchase_res r;
    struct pv_refill_rec *rfs = NULL, bad;
    struct pv_reset_report rep;
    struct pv_reset_signer *other = NULL;
    char *pem = NULL, spec[320];
    size_t n = 0;

    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r, 1, NOW), PV_OK);
    assert_int_equal(r.err, PV_OK);
    assert_int_equal(pv_store_refill_list(e->st, 1, 0, &rfs, &n), PV_OK);
    assert_int_equal(n, 1);
    assert_int_equal(strlen(rfs[0].authority_sig), 128);
    assert_int_equal(pv_authority_public_key(e->st, &pem), PV_OK);
    assert_int_equal(pv_reset_verify(pem, DENV_LICENSE, &rfs[0]), PV_OK);
    assert_int_equal(pv_reset_check_all(e->st, &rep), PV_OK);
    assert_int_equal(rep.checked, 1);
    assert_int_equal(rep.n, 0);
    pv_reset_report_clear(&rep);

    bad = rfs[0]; /* more money than was authorised */
    bad.amount += 1000;
    bad.desc_after += 1000;
    bad.ctl_after += 1000;
    assert_int_equal(pv_reset_verify(pem, DENV_LICENSE, &bad), PV_ESIGNATURE);
    bad = rfs[0]; /* another license's reset */
    assert_int_equal(pv_reset_verify(pem, "OTHER-1", &bad), PV_ESIGNATURE);
    bad = rfs[0]; /* registers after that do not follow */
    bad.desc_after++;
    assert_int_equal(pv_reset_verify(pem, DENV_LICENSE, &bad), PV_ESIGNATURE);
    bad = rfs[0];
    bad.authority_sig[0] = '\0';
    assert_int_equal(pv_reset_verify(pem, DENV_LICENSE, &bad), PV_ESIGNATURE);

    /* A signer of the vendor's own making signs the same record: refused. */
    snprintf(spec, sizeof spec, "openssl:%s/forger", e->dir);
    {
        struct pv_store *st2 = NULL;
        char dsn[320];
        int from, to;
        snprintf(dsn, sizeof dsn, "sqlite:%s/forger.sqlite", e->dir);
        assert_int_equal(pv_store_open(dsn, &st2), PV_OK);
        assert_int_equal(pv_store_migrate(st2, &from, &to), PV_OK);
        assert_int_equal(pv_authority_key_create(st2, spec, 1, NULL), PV_OK);
        assert_int_equal(pv_authority_key_create(st2, spec, 1, NULL), PV_EEXIST);
        assert_int_equal(pv_reset_signer_open(st2, &other), PV_OK);
        pv_store_close(st2);
    }
    bad = rfs[0];
    assert_int_equal(pv_reset_authorise(other, DENV_LICENSE, &bad), PV_OK);
    assert_int_equal(pv_reset_verify(pem, DENV_LICENSE, &bad), PV_ESIGNATURE);
    pv_reset_signer_close(other);
    /* And no signer: no reset. */
    assert_int_equal(pv_reset_authorise(NULL, DENV_LICENSE, &bad), PV_ERESETAUTH);
    free(pem);
    free(rfs);
}

static void test_refuse_overflowing_postage(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q = req("cus_a", "big", "h", (pv_mills) UINT32_MAX + 1);
    struct pv_purchase_res r;

    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r, 1, NOW), PV_OK);
    assert_int_equal(r.err, PV_EOVERFLOW);
    assert_int_equal(psd(e->st, 1).piece_count, 0);
}

/* The processor prices every piece itself (finding 1 of issue 12): a signed
 * request for a 13 oz large envelope at 0.001 is refused before anything is
 * written, and so is one whose mail date lies outside the window the front
 * allows (an older rate table could be cheaper). Nothing moves: no balance,
 * no register, no refill, no indicium, no idempotency record. */
static void test_wrong_postage_refused_writes_nothing(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q[4];
    struct pv_purchase_res r[4];
    struct pv_indicium_rec *list;
    size_t n;

    q[0] = req("cus_a", "cheap", "h", 1);
    q[0].mail_class = PV_MC_LARGE_ENVELOPE;
    q[0].weight_tenth_oz = 130;
    q[1] = req("cus_a", "cheap-letter", "h", 740);
    q[1].weight_tenth_oz = 35; /* a 3.5 oz letter costs 1.610 */
    q[2] = req("cus_a", "dear", "h", 740);
    q[2].postage = 741; /* too much is as wrong as too little */
    q[3] = req("cus_a", "old-date", "h", 740);
    q[3].mail_date = 20250801; /* priced right for that date, but the window is NOW-1..NOW+30 */
    assert_int_equal(denv_batch(e->st, &e->ctx, q, r, 4, NOW), PV_OK);
    assert_int_equal(r[0].err, PV_EPOSTAGE);
    assert_int_equal(r[1].err, PV_EPOSTAGE);
    assert_int_equal(r[2].err, PV_EPOSTAGE);
    assert_int_equal(r[3].err, PV_EMAILDATE);
    assert_string_equal(pv_error_code(PV_EPOSTAGE), "postage_mismatch");

    assert_int_equal(bal(e->st, "customer:cus_a"), 10000);
    assert_int_equal(bal(e->st, PV_ACCT_DEPOSIT), 1000000);
    assert_int_equal(psd(e->st, 1).piece_count, 0);
    assert_int_equal(psd(e->st, 1).control_total, 0);
    assert_int_equal(psd(e->st, 2).control_total, 0);
    assert_int_equal(pv_store_indicium_list(e->st, "cus_a", NULL, 10, &list, &n), PV_OK);
    assert_int_equal(n, 0);
    free(list);
    assert_int_equal(
        pv_store_idem_get(e->st, "cus_a", "cheap", (char[PV_HASH_HEX]){0}, (char[PV_ID_MAX]){0}),
        PV_ENOTFOUND);
    /* Priced right, the same piece is sold. */
    q[0].postage = 4870;
    assert_int_equal(denv_batch(e->st, &e->ctx, q, r, 1, NOW), PV_OK);
    assert_int_equal(r[0].err, PV_OK);
    assert_int_equal(r[0].rec.ind.postage_mills, 4870);
    assert_books(e->st);
}

/* Selection policy across processors: each holds its share of the leases;
 * one processor's stamps come from its PSD, another's from another PSD. */
static void test_two_processors_share_psds(void **state)
{
    struct denv *e = *state;
    struct pv_processor_ctx p2;
    struct pv_purchase_req q;
    struct pv_purchase_res r1, r2, r3, r4;
    struct pv_psd_rec a, b;
    int status;

    memset(&p2, 0, sizeof p2);
    p2.cm = e->cm;
    snprintf(p2.server_id, sizeof p2.server_id, "proc-2");
    assert_int_equal(pv_processor_load(e->st, &p2), PV_OK);
    denv_register_and_tick(e->st, &p2);
    /* proc-1 took both while alone; now both are live: 1 each after proc-1's tick. */
    assert_int_equal(pv_processor_tick(e->st, &e->ctx, pv_now_ms(), &status), PV_OK);
    assert_int_equal(pv_processor_tick(e->st, &p2, pv_now_ms(), &status), PV_OK);
    a = psd(e->st, 1);
    b = psd(e->st, 2);
    /* One each (proc-1 kept the PSD it was using, the last one, see load). */
    assert_string_equal(a.lease_holder, "proc-2");
    assert_string_equal(b.lease_holder, "proc-1");

    q = req("cus_a", "k1", "h", 740);
    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r1, 1, NOW), PV_OK);
    q = req("cus_a", "k2", "h", 740);
    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r2, 1, NOW), PV_OK);
    q = req("cus_a", "k3", "h", 740);
    assert_int_equal(denv_batch(e->st, &p2, &q, &r3, 1, NOW), PV_OK);
    assert_int_equal(r1.err + r2.err + r3.err, PV_OK);
    /* Two stamps from one processor: the same PSD, consecutive serials. */
    assert_int_equal(r1.rec.ind.device_id, 2);
    assert_int_equal(r2.rec.ind.device_id, 2);
    assert_int_equal(r2.rec.ind.serial, r1.rec.ind.serial + 1);
    /* From another processor: another PSD, and its server id. */
    assert_int_equal(r3.rec.ind.device_id, 1);
    assert_string_equal(r3.rec.server_id, "proc-2");
    assert_string_equal(r1.rec.server_id, "proc-1");

    /* proc-2 is drained: it gives its lease up, proc-1 takes the PSD over. */
    assert_int_equal(pv_store_server_set_status(e->st, "proc-2", PV_SERVER_DRAINING), PV_OK);
    assert_int_equal(pv_processor_tick(e->st, &p2, pv_now_ms(), &status), PV_OK);
    assert_int_equal(status, PV_SERVER_DRAINING);
    q = req("cus_a", "k4", "h", 740);
    assert_int_equal(denv_batch(e->st, &p2, &q, &r4, 1, NOW), PV_OK);
    assert_int_equal(r4.err, PV_ENOPSD); /* nothing charged, the front retries elsewhere */
    assert_int_equal(pv_processor_tick(e->st, &e->ctx, pv_now_ms(), &status), PV_OK);
    assert_string_equal(psd(e->st, 1).lease_holder, "proc-1");
    assert_books(e->st);
    pv_processor_ctx_clear(&p2);
}

/* A lease another processor holds is never used, even by a stale processor. */
static void test_expired_lease_is_not_used(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q = req("cus_a", "k1", "h", 740);
    struct pv_purchase_res r;
    int64_t t = pv_now_ms();

    /* Another processor took both PSDs after our leases ran out. */
    assert_int_equal(pv_store_lease_release(e->st, 1, "proc-1", t), PV_OK);
    assert_int_equal(pv_store_lease_release(e->st, 2, "proc-1", t), PV_OK);
    assert_int_equal(pv_store_lease_acquire(e->st, 1, "proc-9", t, t + 60000), PV_OK);
    assert_int_equal(pv_store_lease_acquire(e->st, 2, "proc-9", t, t + 60000), PV_OK);
    /* proc-1 still believes it holds them: the row decides. */
    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r, 1, NOW), PV_OK);
    assert_int_equal(r.err, PV_ENOPSD);
    assert_int_equal(psd(e->st, 1).piece_count, 0);
    assert_int_equal(bal(e->st, "customer:cus_a"), 10000);
}

/* The books prove themselves after purchases and refills, and catch tampering. */
static void test_ledger_check(void **state)
{
    struct denv *e = *state;
    struct pv_ledger_report rep;
    struct pv_ledger_line l[2];
    struct pv_purchase_res r;
    char key[16];
    int i;

    for (i = 0; i < 12; i++) { /* several refills on both PSDs */
        struct pv_purchase_req q;
        snprintf(key, sizeof key, "k%d", i);
        q = req("cus_a", key, "h", 740);
        assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r, 1, NOW), PV_OK);
        assert_int_equal(r.err, PV_OK);
    }
    assert_int_equal(pv_ledger_check(e->st, &rep), PV_OK);
    assert_int_equal(rep.n, 0);
    assert_true(rep.journals > 12);
    pv_ledger_report_clear(&rep);

    /* A journal written around pv_ledger_post that moves value into a PSD account
     * without a refill: unbalanced, and the PSD account no longer matches. */
    memset(l, 0, sizeof l);
    snprintf(l[0].account, sizeof l[0].account, "psd:1");
    l[0].amount = 5;
    snprintf(l[1].account, sizeof l[1].account, "%s", PV_ACCT_REVENUE);
    l[1].amount = -4;
    assert_int_equal(pv_ledger_post(e->st, "bad", "x", l, 2, NOW), PV_EINVAL); /* refused */
    assert_int_equal(pv_store_journal_post(e->st, "bad", "x", l, 2, NOW), PV_OK);
    assert_int_equal(pv_ledger_check(e->st, &rep), PV_OK);
    assert_int_equal(rep.n, 2);
    assert_int_equal(rep.issues[0].kind, PV_LEDGER_UNBALANCED_JOURNAL);
    assert_int_equal(rep.issues[0].computed, 1);
    assert_int_equal(rep.issues[1].kind, PV_LEDGER_PSD_MISMATCH);
    assert_string_equal(rep.issues[1].name, "psd:1");
    pv_ledger_report_clear(&rep);
}

/* The test store's own file, opened beside the store (closed by the caller). */
static sqlite3 *store_db(struct denv *e)
{
    char path[300];
    sqlite3 *db = NULL;

    snprintf(path, sizeof path, "%s/db.sqlite", e->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* One integer from sql on db (the test fails when it does not run). */
static int64_t lite_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t v;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/*
 * Schema v30 (issue 15, session 12): on SQLite journal_lines has no rowid (two B-tree
 * entries a line, not three). The migration from v29 keeps every line: the table is made
 * again in v29's shape under purchases already made, the store migrated, and the same
 * lines are there, the books still check, and purchases go on.
 */
static void test_journal_lines_without_rowid(void **state)
{
    struct denv *e = *state;
    struct pv_ledger_report rep;
    struct pv_purchase_req q[6];
    struct pv_purchase_res r[6];
    char key[16];
    int64_t lines, sum;
    sqlite3 *db = NULL;
    int i, from = -1, to = -1;

    for (i = 0; i < 6; i++) {
        snprintf(key, sizeof key, "w%d", i);
        q[i] = req("cus_a", key, "h", 740);
    }
    assert_int_equal(denv_batch(e->st, &e->ctx, q, r, 6, NOW), PV_OK);
    db = store_db(e);
    assert_int_not_equal(sqlite3_exec(db, "SELECT rowid FROM journal_lines", NULL, NULL, NULL),
                         SQLITE_OK); /* no such column: keyed by (journal_id, line) */
    lines = lite_int(db, "SELECT count(*) FROM journal_lines");
    sum =
        lite_int(db, "SELECT sum(abs(amount_mills) * (line + 1) * journal_id) FROM journal_lines");
    assert_true(lines > 20);
    /* Back to v29's table (a rowid, its key an index), then the migration again. */
    assert_int_equal(
        sqlite3_exec(db,
                     "PRAGMA foreign_keys = OFF; BEGIN;"
                     "CREATE TABLE jl29 (journal_id INTEGER NOT NULL REFERENCES journals(id), "
                     "line INTEGER NOT NULL, account TEXT NOT NULL REFERENCES accounts(name), "
                     "amount_mills INTEGER NOT NULL, PRIMARY KEY (journal_id, line));"
                     "INSERT INTO jl29 SELECT * FROM journal_lines ORDER BY account, journal_id;"
                     "DROP TABLE journal_lines; ALTER TABLE jl29 RENAME TO journal_lines;"
                     "CREATE INDEX journal_lines_account ON journal_lines(account, journal_id);"
                     "DELETE FROM schema_version WHERE version >= 30; COMMIT",
                     NULL, NULL, NULL),
        SQLITE_OK);
    assert_true(lite_int(db, "SELECT max(rowid) FROM journal_lines") == lines);
    assert_int_equal(pv_store_migrate(e->st, &from, &to), PV_OK);
    assert_int_equal(from, 29);
    assert_int_equal(to, PV_SCHEMA_VERSION);
    assert_int_not_equal(sqlite3_exec(db, "SELECT rowid FROM journal_lines", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_true(lite_int(db, "SELECT count(*) FROM journal_lines") == lines);
    assert_true(lite_int(db, "SELECT sum(abs(amount_mills) * (line + 1) * journal_id) "
                             "FROM journal_lines") == sum);
    sqlite3_close(db);
    assert_int_equal(pv_ledger_check(e->st, &rep), PV_OK);
    assert_int_equal(rep.n, 0);
    pv_ledger_report_clear(&rep);
    for (i = 0; i < 6; i++) {
        snprintf(key, sizeof key, "x%d", i);
        q[i] = req("cus_a", key, "h", 740);
    }
    assert_int_equal(denv_batch(e->st, &e->ctx, q, r, 3, NOW), PV_OK);
    for (i = 0; i < 3; i++)
        assert_int_equal(r[i].err, PV_OK);
    assert_int_equal(pv_ledger_check(e->st, &rep), PV_OK);
    assert_int_equal(rep.n, 0);
    pv_ledger_report_clear(&rep);
    assert_books(e->st);
}

/* 1 when table has no rowid: reading it fails with "no such column", not another error. A
 * statement prepared against a schema another connection changed since is prepared again at
 * its first step: the error can come from either. */
static int no_rowid(sqlite3 *db, const char *table)
{
    char sql[100];
    sqlite3_stmt *s = NULL;
    int rc;

    snprintf(sql, sizeof sql, "SELECT rowid FROM %s", table);
    if ((rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL)) == SQLITE_OK)
        rc = sqlite3_step(s);
    rc = (rc == SQLITE_ERROR || rc == SQLITE_SCHEMA) &&
         strstr(sqlite3_errmsg(db), "no such column") != NULL;
    sqlite3_finalize(s);
    return rc;
}

/* pay_intents' columns and key (v27 on), for a test to make the table again in an older
 * shape. */
#define PI_COLUMNS                                                                                 \
    "id TEXT PRIMARY KEY, kind TEXT NOT NULL, owner TEXT NOT NULL, customer_id TEXT NOT NULL, "    \
    "test INTEGER NOT NULL, client_key TEXT NOT NULL, attempt INTEGER NOT NULL, req_hash TEXT "    \
    "NOT NULL DEFAULT '', gateway_key TEXT NOT NULL, source TEXT NOT NULL DEFAULT '', "            \
    "payment_method_id TEXT NOT NULL DEFAULT '', brand TEXT NOT NULL DEFAULT '', last4 TEXT NOT "  \
    "NULL DEFAULT '', amount_mills INTEGER NOT NULL, state TEXT NOT NULL, charge_id TEXT NOT "     \
    "NULL DEFAULT '', ref TEXT NOT NULL DEFAULT '', server_id TEXT NOT NULL DEFAULT '', created "  \
    "INTEGER NOT NULL, updated INTEGER NOT NULL, UNIQUE (kind, owner, client_key, attempt)"
#define PI_INDEXES                                                                                 \
    "CREATE INDEX pay_intents_live ON pay_intents(state, updated) WHERE state = 'pending' OR "     \
    "state = 'authorized' OR state = 'settling' OR state = 'voiding';"                             \
    "CREATE UNIQUE INDEX pay_intents_hashed_key ON pay_intents(gateway_key) WHERE gateway_key "    \
    "LIKE '%sha256:%';"

/* The one text sql's one row reads, into out: a table's rows as a migration must keep them. */
static void lite_text(sqlite3 *db, const char *sql, char *out, size_t n)
{
    sqlite3_stmt *s = NULL;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_non_null(sqlite3_column_text(s, 0));
    pv_str_copy(out, n, (const char *) sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
}

/* The intents, in id order, as one text. */
static void intents_text(sqlite3 *db, char *out, size_t n)
{
    lite_text(db,
              "SELECT group_concat(id || '/' || state || '/' || gateway_key || '/' || "
              "amount_mills || '/' || updated, ',') FROM (SELECT * FROM pay_intents ORDER BY id)",
              out, n);
}

/* Migrates the store from version `from` and finds the same intents (before), in a rowid
 * table, with both partial indexes. */
static void intents_migrated(struct denv *e, sqlite3 *db, int from, const char *before)
{
    char after[1000];
    int was = -1, to = -1;

    assert_int_equal(pv_store_migrate(e->st, &was, &to), PV_OK);
    assert_int_equal(was, from);
    assert_int_equal(to, PV_SCHEMA_VERSION);
    assert_false(no_rowid(db, "pay_intents")); /* v35 */
    assert_true(lite_int(db, "SELECT count(rowid) FROM pay_intents") == 5);
    intents_text(db, after, sizeof after);
    assert_string_equal(after, before);
    /* v35 copies them in id order: rowids sort as the ids do. */
    assert_true(lite_int(db, "SELECT count(*) FROM pay_intents a JOIN pay_intents b ON "
                             "a.rowid < b.rowid AND a.id > b.id") == 0);
    assert_true(lite_int(db,
                         "SELECT count(*) FROM pragma_index_list('pay_intents') WHERE name "
                         "IN ('pay_intents_live', 'pay_intents_hashed_key') AND partial = 1") == 2);
    /* and the two keys: the id (origin pk) and (kind, owner, client_key, attempt) */
    assert_true(lite_int(db, "SELECT count(*) FROM pragma_index_list('pay_intents')") == 4);
    assert_true(lite_int(db, "SELECT count(*) FROM pragma_index_list('pay_intents') WHERE "
                             "origin = 'pk' OR (origin = 'u' AND \"unique\" = 1)") == 2);
    assert_true(lite_int(db, "SELECT count(*) FROM pragma_index_info((SELECT name FROM "
                             "pragma_index_list('pay_intents') WHERE origin = 'u'))") == 4);
    assert_true(lite_int(db, "SELECT count(*) FROM pragma_integrity_check WHERE "
                             "integrity_check = 'ok'") == 1);
}

/*
 * The intents' table on SQLite (issue 15). v32 (session 20) keyed it by its id without a rowid;
 * v35 (session 29) made it a rowid table again, its id an index: a table without rowid keeps
 * whole rows in its interior pages, and at ~410 bytes an intent the tree fanned out ~4 ways.
 * Each migration keeps every intent and both partial indexes: the table is made again in
 * v31's shape (a rowid, from before v32; its rows in another order) and in v34's (no rowid), the
 * store migrated each time, and the same rows are there, read by id, by key and as live.
 * charges_customer, which only a test's count read, is gone (v32).
 */
static void test_intents_table(void **state)
{
    static const char *const ids[] = {"pi_c", "pi_a", "pi_e", "pi_b", "pi_d"};
    static const char *const states[] = {"pending", "captured", "settling", "voided", "authorized"};
    struct denv *e = *state;
    struct pv_intent_rec it;
    struct pv_intent_rec *due = NULL;
    size_t ndue = 0;
    char before[1000], key[16];
    sqlite3 *db = NULL;
    int i;

    for (i = 0; i < 5; i++) {
        memset(&it, 0, sizeof it);
        snprintf(key, sizeof key, "k%d", i);
        pv_str_copy(it.id, sizeof it.id, ids[i]);
        pv_str_copy(it.kind, sizeof it.kind, "purchase");
        pv_str_copy(it.owner, sizeof it.owner, "cus_a");
        pv_str_copy(it.customer_id, sizeof it.customer_id, "cus_a");
        pv_str_copy(it.client_key, sizeof it.client_key, key);
        it.attempt = 1;
        snprintf(it.gateway_key, sizeof it.gateway_key, "purchase:cus_a:%s:1", key);
        pv_str_copy(it.state, sizeof it.state, states[i]);
        it.amount = 740 + i;
        it.created = it.updated = 1000 + i;
        assert_int_equal(pv_store_intent_insert(e->st, &it), PV_OK);
    }
    db = store_db(e);
    assert_false(no_rowid(db, "pay_intents")); /* a new store's: v35 */
    intents_text(db, before, sizeof before);
    assert_non_null(strstr(before, "pi_a/captured/purchase:cus_a:k1:1/741/1001,pi_b/"));
    /* Back to v31's table (a rowid, its id an index), rows in another order, then the
     * migrations again: through v32's table without rowid to v35's. */
    assert_int_equal(sqlite3_exec(db,
                                  "BEGIN; CREATE TABLE pi31 (" PI_COLUMNS ");"
                                  "INSERT INTO pi31 SELECT * FROM pay_intents ORDER BY updated "
                                  "DESC; DROP TABLE pay_intents; ALTER TABLE pi31 RENAME TO "
                                  "pay_intents;" PI_INDEXES
                                  "CREATE INDEX charges_customer ON charges(customer_id, purpose);"
                                  "DELETE FROM schema_version WHERE version >= 32; COMMIT",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    intents_migrated(e, db, 31, before);
    assert_true(lite_int(db, "SELECT count(*) FROM sqlite_master WHERE name = "
                             "'charges_customer'") == 0); /* v32: read by tests only */
    /* Back to v34's table (no rowid, keyed by its id), then v35. */
    assert_int_equal(sqlite3_exec(db,
                                  "BEGIN; CREATE TABLE pi34 (" PI_COLUMNS ") WITHOUT ROWID;"
                                  "INSERT INTO pi34 SELECT * FROM pay_intents ORDER BY "
                                  "updated DESC; DROP TABLE "
                                  "pay_intents; ALTER TABLE pi34 RENAME TO pay_intents;" PI_INDEXES
                                  "DELETE FROM schema_version WHERE version >= 35; COMMIT",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_true(no_rowid(db, "pay_intents"));
    intents_migrated(e, db, 34, before);
    sqlite3_close(db);
    /* Read by id, by key, as live; a duplicate id refused. */
    assert_int_equal(pv_store_intent_get(e->st, "pi_e", &it), PV_OK);
    assert_string_equal(it.state, "settling");
    assert_int_equal(it.amount, 742);
    assert_int_equal(pv_store_intent_latest(e->st, "purchase", "cus_a", "k3", &it), PV_OK);
    assert_string_equal(it.id, "pi_b");
    pv_str_copy(it.client_key, sizeof it.client_key, "k9"); /* only the id taken */
    pv_str_copy(it.gateway_key, sizeof it.gateway_key, "purchase:cus_a:k9:1");
    assert_int_equal(pv_store_intent_insert(e->st, &it), PV_EEXIST);
    pv_str_copy(it.id, sizeof it.id, "pi_f");
    pv_str_copy(it.client_key, sizeof it.client_key, "k3"); /* only the key taken */
    assert_int_equal(pv_store_intent_insert(e->st, &it), PV_EEXIST);
    pv_str_copy(it.client_key, sizeof it.client_key, "k9");
    assert_int_equal(pv_store_intent_insert(e->st, &it), PV_OK);
    assert_int_equal(pv_store_intent_due(e->st, "pending", 2000, 10, &due, &ndue), PV_OK);
    assert_int_equal(ndue, 1);
    assert_string_equal(due[0].id, "pi_c");
    free(due);
    assert_int_equal(
        pv_store_intent_move(e->st, "pi_c", "pending", "voided", NULL, NULL, NULL, 0, 1100), PV_OK);
    assert_int_equal(pv_store_intent_get(e->st, "pi_c", &it), PV_OK);
    assert_string_equal(it.state, "voided");
}

/* The idempotency rows in key order, as one text. */
static void idem_text(sqlite3 *db, char *out, size_t n)
{
    lite_text(db,
              "SELECT group_concat(owner_id || '/' || key || '/' || req_hash || '/' || "
              "indicium_id || '/' || created, ',') FROM (SELECT * FROM idempotency ORDER BY "
              "owner_id, key)",
              out, n);
}

/*
 * The idempotency table on SQLite (issue 15, session 30). Until v36 it was keyed by (owner,
 * key) without a rowid: ~160-byte rows at random places, whole in its interior pages too. v36
 * makes it a rowid table whose key is a unique index. The table is made again in v35's shape
 * and migrated: the same rows, in a rowid table in their key's order (not the order they were
 * stored in, k-c first), the key unique on (owner_id, key) and nothing else; then a retry still
 * finds its purchase, another request under a taken key is refused, and so is a second row of
 * a key.
 */
static void test_idempotency_table(void **state)
{
    static const char *const keys[] = {"k-c", "k-a", "k-b"};
    struct denv *e = *state;
    struct pv_purchase_req q;
    struct pv_purchase_res r[3], again;
    char before[2000], after[2000], hash[PV_HASH_HEX], ind[PV_ID_MAX];
    sqlite3 *db = NULL;
    int i, was = -1, to = -1;

    for (i = 0; i < 3; i++) {
        q = req("cus_a", keys[i], "hash-1", 740);
        assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r[i], 1, NOW + i), PV_OK);
        assert_int_equal(r[i].err, PV_OK);
    }
    assert_int_equal(pv_store_idem_put(e->st, "test:cus_a", "k-a", "hash-2", "ch_x", NOW + 3),
                     PV_OK);
    db = store_db(e);
    assert_false(no_rowid(db, "idempotency")); /* a new store's: v36 */
    idem_text(db, before, sizeof before);
    assert_non_null(strstr(before, "cus_a/k-a/hash-1/"));
    assert_non_null(strstr(before, "test:cus_a/k-a/hash-2/ch_x/"));
    /* Back to v35's table: no rowid, its rows in their key's order. */
    assert_int_equal(sqlite3_exec(db,
                                  "BEGIN; CREATE TABLE idem35 (owner_id TEXT NOT NULL, key TEXT "
                                  "NOT NULL, req_hash TEXT NOT NULL, indicium_id TEXT NOT NULL, "
                                  "created INTEGER NOT NULL, PRIMARY KEY (owner_id, key)) WITHOUT "
                                  "ROWID; INSERT INTO idem35 SELECT * FROM idempotency ORDER BY "
                                  "created DESC; DROP TABLE idempotency; ALTER TABLE idem35 "
                                  "RENAME TO idempotency;"
                                  "DELETE FROM schema_version WHERE version >= 36; COMMIT",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_true(no_rowid(db, "idempotency"));
    assert_int_equal(pv_store_migrate(e->st, &was, &to), PV_OK);
    assert_int_equal(was, 35);
    assert_int_equal(to, PV_SCHEMA_VERSION);
    assert_false(no_rowid(db, "idempotency"));
    assert_true(lite_int(db, "SELECT count(rowid) FROM idempotency") == 4);
    idem_text(db, after, sizeof after);
    assert_string_equal(after, before);
    /* copied in their key's order, with no sort: rowids sort as the keys do */
    assert_true(lite_int(db, "SELECT count(*) FROM idempotency a JOIN idempotency b ON "
                             "a.rowid < b.rowid AND (a.owner_id > b.owner_id OR (a.owner_id = "
                             "b.owner_id AND a.key > b.key))") == 0);
    /* one index, the key: unique, on (owner_id, key) */
    assert_true(lite_int(db, "SELECT count(*) FROM pragma_index_list('idempotency')") == 1);
    assert_true(lite_int(db, "SELECT count(*) FROM pragma_index_list('idempotency') WHERE "
                             "origin = 'pk' AND \"unique\" = 1") == 1);
    assert_true(lite_int(db, "SELECT group_concat(name, ',') = 'owner_id,key' FROM (SELECT name "
                             "FROM pragma_index_info((SELECT name FROM "
                             "pragma_index_list('idempotency'))) ORDER BY seqno)") == 1);
    assert_true(lite_int(db, "SELECT count(*) FROM pragma_integrity_check WHERE "
                             "integrity_check = 'ok'") == 1);
    sqlite3_close(db);
    /* A retry finds its purchase; another request under the key is refused; a key is one row. */
    q = req("cus_a", "k-a", "hash-1", 740);
    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &again, 1, NOW + 9), PV_OK);
    assert_int_equal(again.err, PV_OK);
    assert_true(again.replayed);
    assert_string_equal(again.rec.id, r[1].rec.id);
    q = req("cus_a", "k-b", "hash-2", 740);
    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &again, 1, NOW + 9), PV_OK);
    assert_int_equal(again.err, PV_EIDEMREUSED);
    assert_int_equal(pv_store_idem_put(e->st, "cus_a", "k-c", "hash-1", "x", NOW + 9), PV_EEXIST);
    assert_int_equal(pv_store_idem_get(e->st, "test:cus_a", "k-a", hash, ind), PV_OK);
    assert_string_equal(hash, "hash-2");
    assert_string_equal(ind, "ch_x");
    assert_int_equal(bal(e->st, "customer:cus_a"), 10000 - 3 * 740); /* three sold, once */
    assert_books(e->st);
}

/*
 * The page size (issue 15, session 22): a store the SQLite driver makes has 2 KiB pages
 * (a purchase's rows are small, and a commit writes every page it changed whole); a file
 * made before with SQLite's 4 KiB pages keeps them when the driver opens and migrates it,
 * and works (SQLite cannot change the size of a WAL file's pages in place).
 */
static void test_store_page_size(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q = req("cus_a", "pg1", "h", 740);
    struct pv_purchase_res r;
    struct pv_store *old = NULL;
    char path[300], *v = NULL;
    sqlite3 *db = NULL;
    int from = -1, to = -1;

    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r, 1, NOW), PV_OK);
    assert_int_equal(r.err, PV_OK);
    snprintf(path, sizeof path, "%s/db.sqlite", e->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_true(lite_int(db, "PRAGMA page_size") == 2048);
    sqlite3_close(db);

    snprintf(path, sizeof path, "%s/old.sqlite", e->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL;"
                                  "CREATE TABLE before_the_driver (x INTEGER)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    snprintf(path, sizeof path, "sqlite:%s/old.sqlite", e->dir);
    assert_int_equal(pv_store_open(path, &old), PV_OK);
    assert_int_equal(pv_store_migrate(old, &from, &to), PV_OK);
    assert_int_equal(from, 0);
    assert_int_equal(to, PV_SCHEMA_VERSION);
    assert_int_equal(pv_store_config_set(old, PV_CFG_LICENSE, DENV_LICENSE), PV_OK);
    assert_int_equal(pv_store_config_get(old, PV_CFG_LICENSE, &v), PV_OK);
    assert_string_equal(v, DENV_LICENSE);
    free(v);
    pv_store_close(old);
    snprintf(path, sizeof path, "%s/old.sqlite", e->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_true(lite_int(db, "PRAGMA page_size") == 4096);
    assert_true(lite_int(db, "SELECT count(*) FROM schema_version") > 0);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_purchase_signs_and_books, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insufficient_funds_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_mixed_outcomes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_texts_through_the_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_signed_together, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_sign_failure_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_selection_and_refill_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_failed_job_leaves_its_psd, setup_test_psd,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refills_inside_one_batch, setup, teardown),
        cmocka_unit_test(test_lock_whole_for_shared_rows),
        cmocka_unit_test(test_repeats),
        cmocka_unit_test_setup_teardown(test_reset_shares_the_deposit, setup_shared_deposit,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reset_signed_by_the_authority, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deposit_exhausted, setup_small_deposit, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_overflowing_postage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_postage_refused_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_processors_share_psds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_lease_is_not_used, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ledger_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_lines_without_rowid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_intents_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_page_size, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
