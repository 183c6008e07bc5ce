/*
 * test_oom_domain.c - allocation failure in the workflows of src/domain on
 * a SQLite store (tests/unit/oom.h, tests/unit/domain_env.h): a purchase
 * batch paid from the balance, by card and on a medium, funds, a refund,
 * sign-up and login, the media keyring and serials, online verification
 * and provisioning. SQLite's own allocations are counted and failed too
 * (SQLITE_CONFIG_MALLOC), so the store drivers' error paths run as well.
 *
 * For each n, the n-th allocation fails; the workflow must answer PV_ENOMEM
 * (a store error where SQLite reports the failure as one), free what it
 * allocated, leave no transaction open and the books balanced (checked
 * after every run), and succeed once n is past its last allocation. Each
 * run is a new request (its own idempotency key, a new indicium), so a run
 * that got through despite the failure does not turn the next into a replay.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "domain_env.h"
#include "oom.h"

#include "domain/account.h"
#include "domain/funds.h"
#include "domain/media.h"
#include "domain/provision.h"
#include "domain/refund.h"
#include "domain/verify.h"

#include <unistd.h>

#define PASSWORD "correct horse battery"
#define WINDOW   (30 * 86400)

/* What SQLite may report a failed allocation as, besides PV_ENOMEM: a
 * statement that fails to step is a store error to the driver. */
static const int store_too[] = {PV_ESTORE, 0};
/* A card payment short of memory may fail in the sandbox gateway: that is
 * "the payment gateway failed; nothing was charged" (a hold it made is
 * voided by the settle step or the recovery; consistent() checks the books). */
static const int gateway_too[] = {PV_ESTORE, PV_EGATEWAY, 0};

struct run {
    struct denv *e;
    struct pv_gateways kept; /* denv's own gateways, while a run has fresh ones */
    int n;                   /* runs so far: a fresh key per run */
    int test;                /* test mode for the purchase */
    int card;                /* pay by card */
    char (*serials)[PV_SERIAL_TEXT_SIZE];
    size_t nserials, next;  /* label serials of a paid batch, and the next unused */
    struct pv_store *fresh; /* an uninitialised store for op_provision */
};

/*
 * Each run gets sandbox gateways of its own, closed at its end: a sandbox
 * remembers every charge it saw, as a real gateway would, and that memory
 * would otherwise look like a leak of the run. Opening them is set-up, not
 * counted; closing them frees what the run made them keep.
 */
static void gw_fresh(struct run *r)
{
    oom_pause(1);
    r->kept = r->e->gws;
    assert_int_equal(pv_gateway_open("sandbox", &r->e->gws.live), PV_OK);
    assert_int_equal(pv_gateway_open("sandbox", &r->e->gws.test), PV_OK);
    r->e->ctx.gws = r->e->gws;
    oom_pause(0);
}

static int gw_drop(struct run *r, int rc)
{
    pv_gateway_close(r->e->gws.live);
    pv_gateway_close(r->e->gws.test);
    r->e->gws = r->e->ctx.gws = r->kept;
    return rc;
}

/* After each run: no transaction left open, the books balance; then the
 * processor's heartbeat, as its thread would beat it. */
static void consistent(void *arg)
{
    struct run *r = arg;

    int status = -1;

    denv_no_tx(r->e->st);
    denv_books(r->e);
    assert_int_equal(pv_processor_tick(r->e->st, &r->e->ctx, pv_now_ms(), &status), PV_OK);
}

/* A sandbox card token in pay; the tokenizer's error otherwise. */
static int card(struct run *r, int test, struct pv_payment *pay)
{
    struct pv_card_input in = {"4242424242424242", 12, 2040, "123", "94107"};
    struct pv_card_info info;
    char *token = NULL;
    int rc;

    memset(pay, 0, sizeof *pay);
    rc = pv_gateway_tokenize(test ? r->e->gws.test : r->e->gws.live, &in, 202611, &token, &info,
                             NULL);
    if (rc != PV_OK)
        return rc;
    pay->method = PV_PAY_CARD;
    snprintf(pay->source, sizeof pay->source, "%s", token);
    snprintf(pay->brand, sizeof pay->brand, "%s", info.brand);
    snprintf(pay->last4, sizeof pay->last4, "%s", info.last4);
    free(token);
    return PV_OK;
}

static int buy(struct run *r, const char *medium, struct pv_indicium_rec *out)
{
    struct pv_purchase_req q;
    struct pv_purchase_res *res;
    int rc;

    denv_letter(&q, "cus_a", "oom", r->n++, r->test);
    if (r->card && (rc = card(r, r->test, &q.pay)) != PV_OK)
        return rc;
    if (!(res = calloc(1, sizeof *res)))
        return PV_ENOMEM;
    if (medium)
        snprintf(q.medium_serial, sizeof q.medium_serial, "%s", medium);
    rc = denv_batch(r->e->st, &r->e->ctx, &q, res, 1, PV_NOW_AT_LOCK);
    if (rc == PV_OK)
        rc = res->err;
    if (rc == PV_OK && out)
        *out = res->rec;
    free(res);
    return rc;
}

/*
 * Three purchases in one batch (one transaction, a savepoint each): SQLite
 * may roll the whole transaction back on its own when out of memory, and
 * then the batch must fail as a whole, not go on in autocommitted pieces.
 * Whatever the results say, the balance moved by exactly the purchases
 * reported done.
 */
static int op_batch3(void *arg)
{
    struct run *r = arg;
    struct pv_purchase_req q[3];
    struct pv_purchase_res *res;
    pv_mills before, after;
    int rc, i, done = 0;

    oom_pause(1);
    before = denv_balance(r->e, "customer:cus_a");
    oom_pause(0);
    for (i = 0; i < 3; i++)
        denv_letter(&q[i], "cus_a", "oom", r->n++, 0);
    if (!(res = calloc(3, sizeof *res)))
        return PV_ENOMEM;
    rc = denv_batch(r->e->st, &r->e->ctx, q, res, 3, PV_NOW_AT_LOCK);
    for (i = 0; i < 3; i++) {
        done += res[i].err == PV_OK;
        if (rc == PV_OK && res[i].err != PV_OK)
            rc = res[i].err;
    }
    free(res);
    oom_pause(1);
    after = denv_balance(r->e, "customer:cus_a");
    oom_pause(0);
    assert_int_equal(before - after, 740 * done);
    return rc;
}

static int op_purchase(void *arg)
{
    gw_fresh(arg);
    return gw_drop(arg, buy(arg, NULL, NULL));
}

static int op_purchase_medium(void *arg)
{
    struct run *r = arg;

    assert_true(r->next < r->nserials);
    gw_fresh(r);
    return gw_drop(r, buy(r, r->serials[r->next++], NULL));
}

static int op_funds(void *arg)
{
    struct run *r = arg;
    struct pv_payment pay;
    struct pv_funds_res res;
    char key[32];
    int rc;

    gw_fresh(r);
    if ((rc = card(r, 0, &pay)) != PV_OK)
        return gw_drop(r, rc);
    snprintf(key, sizeof key, "funds-%d", r->n++);
    rc = pv_funds_add(r->e->st, &r->e->gws, "cus_a", 0, key, "h", 2500, &pay, pv_now(), &res);
    return gw_drop(r, rc);
}

static int op_refund(void *arg)
{
    struct run *r = arg;
    static struct pv_indicium_rec rec;
    struct pv_refund_rec out;
    int rc;

    gw_fresh(r);
    if ((rc = buy(r, NULL, &rec)) == PV_OK)
        rc = pv_refund_request(r->e->st, &r->e->gws, "cus_a", 0, rec.id, WINDOW, pv_now(), &out);
    return gw_drop(r, rc);
}

static int op_verify(void *arg)
{
    struct run *r = arg;
    static struct pv_indicium_rec rec;
    struct pv_verdict v;
    int rc = buy(r, NULL, &rec);

    if (rc != PV_OK)
        return rc;
    /* The postal authority's scan: one more presentation, recorded. */
    static const struct pv_presenter by = {"pa_oom", 0, "OOM-1"};
    rc = pv_verify_online(r->e->st, DENV_LICENSE, rec.data, rec.data_len, &by, 0, pv_now(), &v);
    if (rc == PV_OK && !v.valid)
        rc = PV_EINTERNAL;
    return rc;
}

static int op_signup_login(void *arg)
{
    struct run *r = arg;
    struct pv_key_wish kw = {1, "laptop", 0};
    struct pv_login in;
    char email[64], id[PV_ID_MAX], owner[PV_ID_MAX];
    int rc;

    snprintf(email, sizeof email, "oom%d@example.com", r->n++);
    if ((rc = pv_account_signup(r->e->st, email, PASSWORD, &kw, pv_now(), id, &in)) != PV_OK)
        return rc;
    pv_card_wipe(in.key, sizeof in.key);
    if ((rc = pv_account_check_password(r->e->st, PV_ROLE_CUSTOMER, email, PASSWORD, owner)) !=
        PV_OK)
        return rc;
    rc = pv_account_open_session(r->e->st, PV_ROLE_CUSTOMER, owner, &kw, pv_now(), &in);
    pv_card_wipe(in.key, sizeof in.key);
    return rc;
}

static int op_media_keys(void *arg)
{
    struct run *r = arg;
    struct pv_media_keyring kr;
    struct pv_media_batch_rec b;
    char(*serials)[PV_SERIAL_TEXT_SIZE] = NULL;
    size_t n = 0;
    int rc;

    memset(&b, 0, sizeof b);
    if ((rc = pv_store_media_batch_get(r->e->st, 1, &b)) != PV_OK)
        return rc;
    if ((rc = pv_media_keyring_init(&kr, r->e->st, PV_MEDIA_RELOAD_MS)) != PV_OK)
        return rc;
    if ((rc = pv_media_batch_serials(r->e->st, &b, &serials, &n)) == PV_OK)
        rc = pv_media_authenticate(&kr, r->e->st, serials[n - 1], NULL);
    free(serials);
    pv_media_keyring_clear(&kr);
    return rc;
}

/*
 * Provisioning on a migrated, uninitialised store of its own. A run that
 * fails must leave it uninitialised, so the same store serves the next run
 * (which would otherwise get PV_EEXIST); only after a success is a new one
 * made, and making it is set-up, not counted.
 */
static int op_provision(void *arg)
{
    struct run *r = arg;
    struct pv_provision_out out;
    char spec[320];
    struct pv_provision p = {.license = "PV-OOM-1",
                             .psds = 2,
                             .deposit = 100000,
                             .refill = 5000,
                             .crypto_spec = spec,
                             .gateway = "sandbox"};
    int rc, from, to;

    snprintf(spec, sizeof spec, "openssl:%s/keys", r->e->dir);
    if (!r->fresh) {
        oom_pause(1);
        assert_int_equal(pv_store_open("sqlite::memory:", &r->fresh), PV_OK);
        assert_int_equal(pv_store_migrate(r->fresh, &from, &to), PV_OK);
        oom_pause(0);
    }
    rc = pv_provision_init(r->fresh, &p, pv_now(), &out);
    if (rc == PV_OK) {
        pv_store_close(r->fresh);
        r->fresh = NULL;
    }
    return rc;
}

/* A paid batch of 40 sheets for cus_a's purchases on a medium: its label serials. */
static void media_setup(struct run *r)
{
    struct pv_store *st = r->e->st;
    struct pv_affiliate_rec a;
    struct pv_media_batch_rec b;
    char(*all)[PV_SERIAL_TEXT_SIZE] = NULL;
    size_t n = 0, i;

    assert_int_equal(pv_media_secret_ensure(st, 1700000000, NULL), PV_OK);
    memset(&a, 0, sizeof a);
    snprintf(a.name, sizeof a.name, "Reseller");
    a.resupply_sheets = 5;
    assert_int_equal(pv_affiliate_create(st, &a), PV_OK);
    memset(&b, 0, sizeof b);
    b.product = 1;
    b.sheets = 40;
    b.payment = PV_MEDIA_PAID;
    snprintf(b.affiliate_id, sizeof b.affiliate_id, "%s", a.id);
    assert_int_equal(pv_media_batch_create(st, &b), PV_OK);
    assert_int_equal(b.batch, 1);
    assert_int_equal(pv_media_batch_serials(st, &b, &all, &n), PV_OK);
    r->serials = calloc(n, sizeof *r->serials);
    assert_non_null(r->serials);
    for (i = 0; i < n; i++)
        if (i % (b.labels_per_sheet + 1) != 0) /* labels, not the sheet serials */
            memcpy(r->serials[r->nserials++], all[i], PV_SERIAL_TEXT_SIZE);
    free(all);
}

/* Load every PSD key into the crypto module's cache: a purchase that
 * falls back to another PSD after a failure would otherwise load it then,
 * and the cache entry would look like a leak. */
static void warm_keys(struct denv *e)
{
    uint8_t sig[64];
    size_t i;

    for (i = 0; i < e->ctx.npsds; i++)
        assert_int_equal(pv_crypto_sign(e->cm, e->ctx.psds[i].key_ref, sig, 1, sig), PV_OK);
    assert_int_equal(pv_crypto_sign(e->cm, e->ctx.test_psd.key_ref, sig, 1, sig), PV_OK);
}

static struct denv *open_vendor(void)
{
    struct denv *e = denv_open("test_oom_domain");

    warm_keys(e);
    /* The loops take seconds on a loaded machine: leases that outlive them
     * (and consistent() renews them after every run). */
    e->ctx.lease_ms = 3600 * 1000;
    e->ctx.live_ms = 3600 * 1000;
    denv_register_and_tick(e->st, &e->ctx);
    /* Enough for every run of every loop, failed or not. */
    assert_int_equal(pv_store_begin(e->st), PV_OK);
    denv_post(e->st, PV_ACCT_FUNDING, "customer:cus_a", 100000000);
    assert_int_equal(pv_store_commit(e->st), PV_OK);
    return e;
}

static void test_purchase(void **state)
{
    struct run r = {.e = open_vendor()};

    (void) state;
    oom_loop("purchase from the balance", op_purchase, consistent, &r, store_too, 0);
    oom_loop("purchase from the balance, sticky", op_purchase, consistent, &r, store_too, 1);
    oom_loop("a batch of three purchases", op_batch3, consistent, &r, store_too, 0);
    r.card = 1;
    oom_loop("purchase by card", op_purchase, consistent, &r, gateway_too, 0);
    r.test = 1;
    oom_loop("test-mode purchase by card", op_purchase, consistent, &r, gateway_too, 0);
    r.test = 0;
    r.card = 0;
    media_setup(&r);
    oom_loop("purchase on a medium", op_purchase_medium, consistent, &r, store_too, 0);
    oom_loop("media keyring and serials", op_media_keys, consistent, &r, store_too, 0);
    free(r.serials);
    denv_close(r.e);
}

static void test_money(void **state)
{
    struct run r = {.e = open_vendor()};

    (void) state;
    oom_loop("funds by card", op_funds, consistent, &r, gateway_too, 0);
    oom_loop("buy, then refund", op_refund, consistent, &r, store_too, 0);
    oom_loop("buy, then verify online", op_verify, consistent, &r, store_too, 0);
    denv_close(r.e);
}

static void test_accounts(void **state)
{
    struct run r = {.e = open_vendor()};

    (void) state;
    oom_loop("sign-up, login, session", op_signup_login, consistent, &r, store_too, 0);
    oom_loop("provisioning a new store", op_provision, NULL, &r, store_too, 0);
    pv_store_close(r.fresh);
    denv_close(r.e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_purchase),
        cmocka_unit_test(test_money),
        cmocka_unit_test(test_accounts),
    };

    /* SQLite syncs every commit, and the loops commit hundreds of times:
     * on a tmpfs when there is one, so that the suite takes seconds. */
    if (access("/dev/shm", W_OK) == 0)
        setenv("STAMPD_TEST_TMP", "/dev/shm", 1);
    oom_init(1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
