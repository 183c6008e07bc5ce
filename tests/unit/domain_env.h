/*
 * domain_env.h - a fresh vendor for the domain workflow suites
 * (test_verify, test_refund, test_funds, test_account, test_lease,
 * test_payment, test_prints, test_media, test_claims): a SQLite store under
 * $STAMPD_TEST_TMP (or the database $STAMPD_DENV_DSN names), an OpenSSL crypto module, license
 * PV-TEST-1, two live PSDs (keys 1 and 2) and a test PSD (key 3), a postal
 * deposit of $1000, customers cus_a ($10.00) and cus_b ($0.50), sandbox
 * gateways for live and test money, and a registered processor "proc-1"
 * holding its leases, so that real purchases make real indicia.
 *
 * Include after <cmocka.h>. Everything is static: each suite is one program.
 */
#ifndef STAMPD_TEST_DOMAIN_ENV_H
#define STAMPD_TEST_DOMAIN_ENV_H

#include "domain/ledger.h"
#include "domain/purchase.h"
#include "domain/reset_auth.h"
#include "stampd/error.h"
#include "stampd/rates.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DENV_LICENSE "PV-TEST-1"

/* A suite that runs on PostgreSQL too sets this to a fresh database's DSN
 * before denv_open (""; SQLite under the suite's directory). */
static char denv_dsn[1024];

struct denv {
    char dir[256];
    struct pv_store *st;
    struct pv_crypto *cm;
    struct pv_processor_ctx ctx;
    struct pv_gateways gws;
    int nbought;
};

static inline void denv_post(struct pv_store *st, const char *from, const char *to, pv_mills v)
{
    struct pv_ledger_line l[2];

    memset(l, 0, sizeof l);
    snprintf(l[0].account, sizeof l[0].account, "%s", from);
    l[0].amount = -v;
    snprintf(l[1].account, sizeof l[1].account, "%s", to);
    l[1].amount = v;
    assert_int_equal(pv_ledger_post(st, "test", "setup", l, 2, pv_now()), PV_OK);
}

/* Inside a transaction: PSD id (a test PSD when test) with a new key key_id in cm. */
static inline void denv_psd(struct pv_store *st, struct pv_crypto *cm, uint32_t id, uint32_t key_id,
                            int test)
{
    struct pv_key_rec k;
    struct pv_psd_rec p;
    char *ref, *pem, label[16];

    snprintf(label, sizeof label, "psd-%u", (unsigned) id);
    assert_int_equal(pv_crypto_generate_key(cm, label, &ref, &pem), PV_OK);
    memset(&k, 0, sizeof k);
    k.key_id = key_id;
    k.psd_id = id;
    snprintf(k.algorithm, sizeof k.algorithm, "ecdsa-p256-sha256");
    snprintf(k.module, sizeof k.module, "openssl");
    snprintf(k.key_ref, sizeof k.key_ref, "%s", ref);
    snprintf(k.public_pem, sizeof k.public_pem, "%s", pem);
    free(ref);
    free(pem);
    memset(&p, 0, sizeof p);
    p.id = id;
    p.key_id = key_id;
    p.status = PV_PSD_ACTIVE;
    p.test = test;
    assert_int_equal(pv_store_key_insert(st, &k), PV_OK);
    assert_int_equal(pv_store_psd_insert(st, &p), PV_OK);
}

/* Register ctx as a processor and take its share of the PSD leases. */
static inline void denv_register_and_tick(struct pv_store *st, struct pv_processor_ctx *ctx)
{
    struct pv_server_rec r;
    int status = -1;

    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "%s", ctx->server_id);
    snprintf(r.address, sizeof r.address, "inproc");
    snprintf(r.crypto_module, sizeof r.crypto_module, "openssl");
    r.started_ms = r.heartbeat_ms = pv_now_ms();
    assert_int_equal(pv_store_server_register(st, &r), PV_OK);
    assert_int_equal(pv_processor_tick(st, ctx, pv_now_ms(), &status), PV_OK);
    assert_int_equal(status, PV_SERVER_ACTIVE);
}

static inline void denv_customer(struct pv_store *st, const char *id, const char *email)
{
    struct pv_customer_rec c;

    memset(&c, 0, sizeof c);
    snprintf(c.id, sizeof c.id, "%s", id);
    snprintf(c.email, sizeof c.email, "%s", email);
    assert_int_equal(pv_store_customer_insert(st, &c), PV_OK);
}

/* A fresh PostgreSQL database on the CTest fixture's cluster (test_store.c's pg_fresh)
 * into denv_dsn: test_lifecycle and test_events run their suites on it too. */
static inline void denv_pg_fresh(void)
{
    const char *file = getenv("STAMPD_TEST_PG_DSN_FILE");
    const char *src = getenv("STAMPD_SOURCE_DIR");
    char cmd[1536];
    FILE *f;
    size_t len;
    int ok;

    assert_non_null(file);
    assert_non_null(src);
    assert_int_equal(access(file, R_OK), 0);
    assert_null(strchr(file, '\''));
    assert_null(strchr(src, '\''));
    snprintf(cmd, sizeof cmd, "sh '%s/scripts/pg-test.sh' createdb '%s'", src, file);
    assert_non_null(f = popen(cmd, "r"));
    ok = fgets(denv_dsn, (int) sizeof denv_dsn, f) != NULL;
    assert_int_equal(pclose(f), 0);
    assert_true(ok);
    len = strcspn(denv_dsn, "\n");
    denv_dsn[len] = '\0';
    assert_true(len > 0);
}

/* An empty, migrated store and a crypto module in a fresh directory. */
static inline struct denv *denv_empty(const char *name)
{
    struct denv *e = calloc(1, sizeof *e);
    const char *tmp = getenv("STAMPD_TEST_TMP");
    char dsn[1024], spec[320];
    int from, to;

    assert_non_null(e);
    mkdir(tmp ? tmp : "/tmp", 0700);
    snprintf(e->dir, sizeof e->dir, "%s/%s-XXXXXX", tmp ? tmp : "/tmp", name);
    assert_non_null(mkdtemp(e->dir));
    /* Another database than the SQLite file: denv_dsn (test_lifecycle) or
     * STAMPD_DENV_DSN (test_claims runs on PostgreSQL too). */
    snprintf(dsn, sizeof dsn, "%s", getenv("STAMPD_DENV_DSN") ? getenv("STAMPD_DENV_DSN") : "");
    if (denv_dsn[0])
        snprintf(dsn, sizeof dsn, "%s", denv_dsn);
    if (!dsn[0])
        snprintf(dsn, sizeof dsn, "sqlite:%s/db.sqlite", e->dir);
    snprintf(spec, sizeof spec, "openssl:%s/keys", e->dir);
    assert_int_equal(pv_store_open(dsn, &e->st), PV_OK);
    assert_int_equal(pv_store_migrate(e->st, &from, &to), PV_OK);
    assert_int_equal(pv_crypto_open(spec, &e->cm), PV_OK);
    assert_int_equal(pv_gateway_open("sandbox", &e->gws.live), PV_OK);
    assert_int_equal(pv_gateway_open("sandbox", &e->gws.test), PV_OK);
    return e;
}

/*
 * A vendor: license DENV_LICENSE, refills of $5, two live PSDs with keys
 * key_base + 1 and key_base + 2, a test PSD 3 (key key_base + 3) when
 * test_psd, the deposit, customers cus_a ($10.00) and cus_b ($0.50), and
 * processor "proc-1" registered and holding its leases.
 */
static inline struct denv *denv_vendor(const char *name, pv_mills deposit, uint32_t key_base,
                                       int test_psd)
{
    struct denv *e = denv_empty(name);
    uint32_t i;

    assert_int_equal(pv_store_begin(e->st), PV_OK);
    assert_int_equal(pv_store_config_set(e->st, PV_CFG_LICENSE, DENV_LICENSE), PV_OK);
    assert_int_equal(pv_store_config_set(e->st, PV_CFG_REFILL, "5000"), PV_OK);
    for (i = 1; i <= (test_psd ? 3u : 2u); i++)
        denv_psd(e->st, e->cm, i, key_base + i, i == 3);
    if (deposit)
        denv_post(e->st, PV_ACCT_AUTHORITY, PV_ACCT_DEPOSIT, deposit);
    denv_customer(e->st, "cus_a", "a@example.com");
    denv_customer(e->st, "cus_b", "b@example.com");
    denv_post(e->st, PV_ACCT_FUNDING, "customer:cus_a", 10000);
    denv_post(e->st, PV_ACCT_FUNDING, "customer:cus_b", 500);
    assert_int_equal(pv_store_commit(e->st), PV_OK);

    {
        /* The postal authority's reset signer, in a directory of its own. */
        char aspec[320];
        snprintf(aspec, sizeof aspec, "openssl:%s/authority", e->dir);
        assert_int_equal(pv_authority_key_create(e->st, aspec, 1, NULL), PV_OK);
    }
    e->ctx.cm = e->cm;
    e->ctx.gws = e->gws;
    snprintf(e->ctx.server_id, sizeof e->ctx.server_id, "proc-1");
    assert_int_equal(pv_processor_load(e->st, &e->ctx), PV_OK);
    denv_register_and_tick(e->st, &e->ctx);
    return e;
}

/* The usual vendor: a deposit of $1000, keys 1 and 2, and the test PSD 3. */
static inline struct denv *denv_open(const char *name)
{
    return denv_vendor(name, 1000000, 0, 1);
}

/* denv_open on a fresh PostgreSQL database of the fixture's cluster (pg) or on
 * SQLite; NULL when the store is not the one asked for (a cmocka setup fails). */
static inline struct denv *denv_open_on(const char *name, int pg)
{
    struct denv *e;

    denv_dsn[0] = '\0';
    if (pg)
        denv_pg_fresh();
    e = denv_open(name);
    if (strcmp(pv_store_backend_name(e->st), pg ? "postgres" : "sqlite") != 0)
        return NULL; /* the suite runs where it says it does */
    return e;
}

static inline void denv_close(struct denv *e)
{
    char cmd[300];

    pv_processor_ctx_clear(&e->ctx);
    pv_gateway_close(e->gws.live);
    pv_gateway_close(e->gws.test);
    pv_crypto_close(e->cm);
    pv_store_close(e->st);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    assert_int_equal(system(cmd), 0);
    free(e);
}

/* A card token from the sandbox (live or test) for a test card number ("4242424242424242"). */
static inline void denv_card(struct denv *e, int test, const char *number, struct pv_payment *pay)
{
    struct pv_card_input in = {number, 12, 2040, "123", "94107"};
    struct pv_card_info info;
    char *token = NULL;

    memset(pay, 0, sizeof *pay);
    assert_int_equal(
        pv_gateway_tokenize(test ? e->gws.test : e->gws.live, &in, 202611, &token, &info, NULL),
        PV_OK);
    pay->method = PV_PAY_CARD;
    snprintf(pay->source, sizeof pay->source, "%s", token);
    snprintf(pay->brand, sizeof pay->brand, "%s", info.brand);
    snprintf(pay->last4, sizeof pay->last4, "%s", info.last4);
    free(token);
}

/* q: a first-class letter ($0.74) of customer mailed today, from its
 * balance, under idempotency key "prefix-n" (test: with a test key). */
static inline void denv_letter(struct pv_purchase_req *q, const char *customer, const char *prefix,
                               int n, int test)
{
    memset(q, 0, sizeof *q);
    snprintf(q->customer_id, sizeof q->customer_id, "%s", customer);
    snprintf(q->idem_key, sizeof q->idem_key, "%s-%d", prefix, n);
    snprintf(q->req_hash, sizeof q->req_hash, "hash");
    q->mail_class = PV_MC_FIRST_CLASS_LETTER;
    q->weight_tenth_oz = 10;
    q->mail_date = pv_date_from_unix(pv_now());
    memcpy(q->from_zip, "94107", 6);
    memcpy(q->to_zip, "100011234", 10);
    q->postage = 740;
    q->test = test;
    q->flags = test ? PV_IND_FLAG_TEST : 0;
}

/*
 * A first-class letter ($0.74) bought by customer (test: with a test key),
 * from its balance, or with pay (may be NULL) when given.
 */
/*
 * What a processor's writer does with n jobs: hold the cards, run the
 * batch, capture or void the holds (processor.c). now as for
 * pv_purchase_batch.
 */
static inline int denv_batch(struct pv_store *st, struct pv_processor_ctx *ctx,
                             const struct pv_purchase_req *reqs, struct pv_purchase_res *res,
                             size_t n, int64_t now)
{
    int rc;
    size_t i, k;

    for (i = 0; i < n; i++)
        memset(&res[i], 0, sizeof res[i]);
    for (i = 0; i < n; i++)
        pv_purchase_authorize(st, ctx, &reqs[i], &res[i], now == PV_NOW_AT_LOCK ? pv_now() : now);
    rc = pv_purchase_batch(st, ctx, reqs, res, n, now);
    pv_purchase_settle(st, ctx, res, n);
    pv_purchase_refill(st, ctx, reqs, res, n);
    /* The writer runs deferred jobs again after their refills, one by one here. */
    for (k = 0; k < 300; k++) {
        int again = 0;
        for (i = 0; i < n; i++) {
            if (!res[i].refill.deferred)
                continue;
            again = 1;
            pv_purchase_authorize(st, ctx, &reqs[i], &res[i],
                                  now == PV_NOW_AT_LOCK ? pv_now() : now);
            pv_purchase_batch(st, ctx, &reqs[i], &res[i], 1, now);
            pv_purchase_settle(st, ctx, &res[i], 1);
            pv_purchase_refill(st, ctx, &reqs[i], &res[i], 1);
        }
        if (!again)
            break;
    }
    return rc;
}

static inline void denv_buy_with(struct denv *e, const char *customer, int test,
                                 const struct pv_payment *pay, struct pv_indicium_rec *out)
{
    struct pv_purchase_req q;
    struct pv_purchase_res *r = calloc(1, sizeof *r);

    assert_non_null(r);
    denv_letter(&q, customer, "buy", e->nbought++, test);
    if (pay)
        q.pay = *pay;
    assert_int_equal(denv_batch(e->st, &e->ctx, &q, r, 1, PV_NOW_AT_LOCK), PV_OK);
    assert_int_equal(r->err, PV_OK);
    *out = r->rec;
    free(r);
}

static inline void denv_buy(struct denv *e, const char *customer, int test,
                            struct pv_indicium_rec *out)
{
    denv_buy_with(e, customer, test, NULL, out);
}

/*
 * A second connection to e's database (owned: pv_store_close()). It sees
 * only what was committed: a workflow that owns its transaction is checked
 * through it, not through the handle that wrote.
 */
static inline struct pv_store *denv_reader(struct denv *e)
{
    struct pv_store *r = NULL;
    char dsn[1024];

    /* Another database than the SQLite file: denv_dsn (test_lifecycle) or
     * STAMPD_DENV_DSN (test_claims runs on PostgreSQL too). */
    snprintf(dsn, sizeof dsn, "%s", getenv("STAMPD_DENV_DSN") ? getenv("STAMPD_DENV_DSN") : "");
    if (denv_dsn[0])
        snprintf(dsn, sizeof dsn, "%s", denv_dsn);
    if (!dsn[0])
        snprintf(dsn, sizeof dsn, "sqlite:%s/db.sqlite", e->dir);
    assert_int_equal(pv_store_open(dsn, &r), PV_OK);
    return r;
}

/* st has no transaction open: the workflow just called committed or rolled back its own. */
static inline void denv_no_tx(struct pv_store *st)
{
    assert_int_equal(pv_store_commit(st), PV_EINVAL);
}

/* The books balance (pv_ledger_check finds nothing). */
static inline void denv_books(struct denv *e)
{
    struct pv_ledger_report rep;

    assert_int_equal(pv_ledger_check(e->st, &rep), PV_OK);
    assert_int_equal(rep.n, 0);
    pv_ledger_report_clear(&rep);
}

static inline pv_mills denv_balance(struct denv *e, const char *account)
{
    pv_mills v = -1;

    assert_int_equal(pv_balance(e->st, account, &v), PV_OK);
    return v;
}

#endif
