/*
 * test_store.c - the store contract suite, run against every backend.
 *
 * Written against src/store/store.h only: every test gets a fresh, empty
 * database from the backend under test (struct backend below), opens it
 * through pv_store_open(dsn) and checks what store.h promises. Every test
 * runs against every entry of backends[] (SQLite, then PostgreSQL); a
 * backend's fresh() hands out an empty database per test.
 *
 * Indicium records are filled with plausible made-up values and arbitrary
 * bytes: the store does not decode them, so this suite does not need the
 * codec. Files live in a mkdtemp() directory under $STAMPD_TEST_TMP (or
 * /tmp), removed at the end unless a test failed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "stampd/error.h"
#include "store/store.h"

#include "pg_psql.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define OK(expr) assert_int_equal((expr), PV_OK)

/* ---- backends ----------------------------------------------------------------------------- */

struct backend {
    const char *name;
    int (*init)(void);                 /* once before the backend's tests; 0 = ok */
    int (*fresh)(char *dsn, size_t n); /* DSN of a new, empty database; 0 = ok */
    void (*fini)(int failed);          /* once after them */
};

static char tmpdir[512];
static unsigned dbcount;

static int sqlite_init(void)
{
    const char *base = getenv("STAMPD_TEST_TMP");
    char *made;

    if (!base || !*base)
        base = "/tmp";
    if (mkdir(base, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create %s: %s\n", base, strerror(errno));
        return -1;
    }
    if (snprintf(tmpdir, sizeof tmpdir, "%s/test_store.XXXXXX", base) >= (int) sizeof tmpdir)
        return -1;
    made = mkdtemp(tmpdir);
    if (!made) {
        fprintf(stderr, "mkdtemp %s: %s\n", tmpdir, strerror(errno));
        return -1;
    }
    return 0;
}

static int sqlite_fresh(char *dsn, size_t n)
{
    int len = snprintf(dsn, n, "sqlite:%s/t%03u.db", tmpdir, ++dbcount);

    return len > 0 && (size_t) len < n ? 0 : -1;
}

static void sqlite_fini(int failed)
{
    char path[1024];
    struct dirent *e;
    DIR *d;

    if (failed) {
        fprintf(stderr, "store tests failed; databases kept in %s\n", tmpdir);
        return;
    }
    d = opendir(tmpdir);
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name) < (int) sizeof path)
            unlink(path);
    }
    closedir(d);
    rmdir(tmpdir);
}

/*
 * PostgreSQL: CTest starts a throwaway cluster (scripts/pg-test.sh, fixture
 * "postgres") and names the file holding its DSN in STAMPD_TEST_PG_DSN_FILE.
 * Each test gets a new database on it (pg-test.sh createdb, ~50 ms). Without
 * a cluster these tests fail: nothing is skipped.
 */
static char pg_createdb_cmd[1536];

static int pg_init(void)
{
    const char *file = getenv("STAMPD_TEST_PG_DSN_FILE");
    const char *src = getenv("STAMPD_SOURCE_DIR");
    int len;

    if (!file || !*file || !src || !*src) {
        fprintf(stderr, "postgres: needs STAMPD_TEST_PG_DSN_FILE and STAMPD_SOURCE_DIR; run "
                        "under ctest, or start a cluster with scripts/pg-test.sh start DIR and "
                        "set STAMPD_TEST_PG_DSN_FILE=DIR/dsn\n");
        return -1;
    }
    if (access(file, R_OK) != 0) {
        fprintf(stderr, "postgres: no DSN file %s: the cluster did not start\n", file);
        return -1;
    }
    /* Both go into a shell command line in single quotes. */
    if (strchr(file, '\'') || strchr(src, '\''))
        return -1;
    len = snprintf(pg_createdb_cmd, sizeof pg_createdb_cmd,
                   "sh '%s/scripts/pg-test.sh' createdb '%s'", src, file);
    return len > 0 && (size_t) len < sizeof pg_createdb_cmd ? 0 : -1;
}

static int pg_fresh(char *dsn, size_t n)
{
    FILE *f = popen(pg_createdb_cmd, "r");
    size_t len;
    int ok;

    if (!f)
        return -1;
    ok = fgets(dsn, (int) n, f) != NULL;
    if (pclose(f) != 0 || !ok)
        return -1;
    len = strcspn(dsn, "\n");
    dsn[len] = '\0';
    return len ? 0 : -1;
}

static void pg_fini(int failed)
{
    /* The cluster and its databases go with the fixture's cleanup. */
    (void) failed;
}

static const struct backend backends[] = {
    {"sqlite", sqlite_init, sqlite_fresh, sqlite_fini},
    {"postgres", pg_init, pg_fresh, pg_fini},
};

static const struct backend *backend; /* the backend under test */
static const char *dsn;               /* the current test's fresh database */
static char dsn_buf[1024];

/* ---- fixtures ----------------------------------------------------------------------------- */

/* A fresh, unmigrated database; the test opens it itself. */
static int setup_empty(void **state)
{
    *state = NULL;
    if (backend->fresh(dsn_buf, sizeof dsn_buf) != 0)
        return -1;
    dsn = dsn_buf;
    return 0;
}

/* A fresh database, migrated, with an open handle in *state. */
static int setup_store(void **state)
{
    struct pv_store *st = NULL;
    int from, to;

    if (setup_empty(state) != 0 || pv_store_open(dsn, &st) != PV_OK)
        return -1;
    if (pv_store_migrate(st, &from, &to) != PV_OK) {
        pv_store_close(st);
        return -1;
    }
    *state = st;
    return 0;
}

static int teardown_store(void **state)
{
    pv_store_close(*state);
    *state = NULL;
    return 0;
}

/* ---- data --------------------------------------------------------------------------------- */

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
}

#define COPY(field, src) copy((field), sizeof(field), (src))

static struct pv_psd_rec make_psd(uint32_t id, pv_mills desc, pv_mills asc)
{
    struct pv_psd_rec p;

    memset(&p, 0, sizeof p);
    p.id = id;
    p.status = PV_PSD_ACTIVE;
    p.key_id = 100 + id;
    p.descending = desc;
    p.ascending = asc;
    p.control_total = desc + asc;
    p.piece_count = 7;
    p.last_refill_at = 1700000000;
    return p;
}

static struct pv_key_rec make_key(uint32_t key_id, uint32_t psd_id)
{
    struct pv_key_rec k;

    memset(&k, 0, sizeof k);
    k.key_id = key_id;
    k.psd_id = psd_id;
    COPY(k.algorithm, "ecdsa-p256-sha256");
    COPY(k.module, "openssl");
    snprintf(k.key_ref, sizeof k.key_ref, "/var/lib/stampd/keys/%u.pem", (unsigned) key_id);
    COPY(k.public_pem, "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
                       "-----END PUBLIC KEY-----\n");
    k.created = 1700000000 + key_id;
    return k;
}

static struct pv_customer_rec make_customer(const char *id, const char *email)
{
    struct pv_customer_rec c;

    memset(&c, 0, sizeof c);
    COPY(c.id, id);
    COPY(c.email, email);
    c.created = 1700000100;
    return c;
}

/* An indicium with every field set and data_len arbitrary bytes ending in a signature. */
static void make_indicium(struct pv_indicium_rec *r, const char *id, const char *customer,
                          uint32_t psd, uint32_t serial, const char *medium)
{
    struct pv_indicium *ind = &r->ind;
    size_t i;

    memset(r, 0, sizeof *r);
    COPY(r->id, id);
    COPY(r->customer_id, customer);
    COPY(r->server_id, "srv_proc1");
    r->created = 1700001000 + serial;
    ind->version = PV_INDICIUM_V1;
    ind->sig_alg = PV_SIGALG_P256_SHA256;
    ind->flags = serial % 2 ? PV_IND_FLAG_TEST : 0;
    COPY(ind->license, "PV-LIC-000123");
    ind->device_id = psd;
    ind->key_id = 100 + psd;
    ind->serial = serial;
    ind->ascending_mills = 500000 + 730 * (int64_t) serial;
    ind->postage_mills = 730;
    ind->mail_date = 20240315;
    ind->mail_class = 1;
    ind->weight_tenth_oz = 10 + (uint16_t) (serial % 30);
    COPY(ind->from_zip, "10001");
    COPY(ind->to_zip, serial % 3 ? "945011234" : "60601");
    COPY(ind->software_id, PV_SOFTWARE_ID);
    COPY(ind->medium_serial, medium);
    r->data_len = PV_INDICIUM_MIN + strlen(medium);
    for (i = 0; i < r->data_len; i++)
        r->data[i] = (uint8_t) (i * 31 + serial * 7 + psd);
    memcpy(ind->signature, r->data + r->data_len - PV_SIG_LEN, PV_SIG_LEN);
}

static void assert_indicium_equal(const struct pv_indicium_rec *a, const struct pv_indicium_rec *b)
{
    const struct pv_indicium *x = &a->ind, *y = &b->ind;

    assert_string_equal(a->id, b->id);
    assert_string_equal(a->customer_id, b->customer_id);
    assert_string_equal(a->server_id, b->server_id);
    assert_int_equal(a->created, b->created);
    assert_int_equal(x->version, y->version);
    assert_int_equal(x->sig_alg, y->sig_alg);
    assert_int_equal(x->flags, y->flags);
    assert_string_equal(x->license, y->license);
    assert_int_equal(x->device_id, y->device_id);
    assert_int_equal(x->key_id, y->key_id);
    assert_int_equal(x->serial, y->serial);
    assert_int_equal(x->ascending_mills, y->ascending_mills);
    assert_int_equal(x->postage_mills, y->postage_mills);
    assert_int_equal(x->mail_date, y->mail_date);
    assert_int_equal(x->mail_class, y->mail_class);
    assert_int_equal(x->weight_tenth_oz, y->weight_tenth_oz);
    assert_string_equal(x->from_zip, y->from_zip);
    assert_string_equal(x->to_zip, y->to_zip);
    assert_string_equal(x->software_id, y->software_id);
    assert_string_equal(x->medium_serial, y->medium_serial);
    assert_memory_equal(x->signature, y->signature, PV_SIG_LEN);
    assert_int_equal(a->data_len, b->data_len);
    assert_memory_equal(a->data, b->data, a->data_len);
}

static void assert_psd_equal(const struct pv_psd_rec *a, const struct pv_psd_rec *b)
{
    assert_int_equal(a->id, b->id);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->key_id, b->key_id);
    assert_int_equal(a->descending, b->descending);
    assert_int_equal(a->ascending, b->ascending);
    assert_int_equal(a->control_total, b->control_total);
    assert_int_equal(a->piece_count, b->piece_count);
    assert_int_equal(a->last_refill_at, b->last_refill_at);
    assert_int_equal(a->test, b->test);
}

static void assert_refill_equal(const struct pv_refill_rec *a, const struct pv_refill_rec *b)
{
    assert_int_equal(a->psd_id, b->psd_id);
    assert_int_equal(a->amount, b->amount);
    assert_int_equal(a->desc_before, b->desc_before);
    assert_int_equal(a->asc_before, b->asc_before);
    assert_int_equal(a->ctl_before, b->ctl_before);
    assert_int_equal(a->desc_after, b->desc_after);
    assert_int_equal(a->asc_after, b->asc_after);
    assert_int_equal(a->ctl_after, b->ctl_after);
    assert_string_equal(a->authorization, b->authorization);
    assert_int_equal(a->at, b->at);
}

static void assert_key_equal(const struct pv_key_rec *a, const struct pv_key_rec *b)
{
    assert_int_equal(a->key_id, b->key_id);
    assert_int_equal(a->psd_id, b->psd_id);
    assert_string_equal(a->algorithm, b->algorithm);
    assert_string_equal(a->module, b->module);
    assert_string_equal(a->key_ref, b->key_ref);
    assert_string_equal(a->public_pem, b->public_pem);
    assert_int_equal(a->created, b->created);
}

/* The PSD, key and customers that indicia refer to. */
static void seed_for_indicia(struct pv_store *st)
{
    struct pv_psd_rec p1 = make_psd(1, 100000, 0), p2 = make_psd(2, 100000, 0);
    struct pv_key_rec k1 = make_key(101, 1), k2 = make_key(102, 2);
    struct pv_customer_rec a = make_customer("cus_A", "a@example.com");
    struct pv_customer_rec b = make_customer("cus_B", "b@example.com");

    OK(pv_store_key_insert(st, &k1));
    OK(pv_store_key_insert(st, &k2));
    OK(pv_store_psd_insert(st, &p1));
    OK(pv_store_psd_insert(st, &p2));
    OK(pv_store_customer_insert(st, &a));
    OK(pv_store_customer_insert(st, &b));
}

/* ---- schema and opening ------------------------------------------------------------------- */

static void test_migrate(void **state)
{
    struct pv_store *st = NULL;
    int v = -1, from = -1, to = -1;

    (void) state;
    OK(pv_store_open(dsn, &st));
    assert_non_null(st);
    /* pv_store_open refuses a backend of another interface version. */
    assert_true(strcmp(pv_store_backend_name(st), "sqlite") == 0 ||
                strcmp(pv_store_backend_name(st), "postgres") == 0);
    OK(pv_store_schema_version(st, &v));
    assert_int_equal(v, 0);

    OK(pv_store_migrate(st, &from, &to));
    assert_int_equal(from, 0);
    assert_int_equal(to, PV_SCHEMA_VERSION);
    OK(pv_store_schema_version(st, &v));
    assert_int_equal(v, PV_SCHEMA_VERSION);

    /* Again: nothing pending. */
    OK(pv_store_migrate(st, &from, &to));
    assert_int_equal(from, PV_SCHEMA_VERSION);
    assert_int_equal(to, PV_SCHEMA_VERSION);
    pv_store_close(st);

    /* A new handle sees the migrated schema, and open_checked accepts it. */
    st = NULL;
    OK(pv_store_open_checked(dsn, &st));
    assert_non_null(st);
    OK(pv_store_schema_version(st, &v));
    assert_int_equal(v, PV_SCHEMA_VERSION);
    pv_store_close(st);
}

static void test_open_checked_refuses_unmigrated(void **state)
{
    struct pv_store *st = (struct pv_store *) &st; /* any non-NULL value */

    (void) state;
    assert_int_equal(pv_store_open_checked(dsn, &st), PV_ESCHEMA);
    assert_null(st);
}

static void test_open_dsn(void **state)
{
    struct pv_store *st = (struct pv_store *) &st;

    (void) state;
    assert_int_equal(pv_store_open("", &st), PV_ECONFIG);
    assert_null(st);
    assert_int_equal(pv_store_open("mysql://localhost/stampd", &st), PV_ECONFIG);
    assert_null(st);
    assert_int_equal(pv_store_open("sqlite:", &st), PV_ECONFIG);
    assert_null(st);
    /* A PostgreSQL server that is not there (port 1 on loopback refuses at once). */
    assert_int_equal(pv_store_open("postgres://stampd:secret@127.0.0.1:1/stampd", &st), PV_ESTORE);
    assert_null(st);
    pv_store_close(NULL);
}

/* ---- config ------------------------------------------------------------------------------- */

static void test_config(void **state)
{
    struct pv_store *st = *state;
    char *v = (char *) "stale";

    assert_int_equal(pv_store_config_get(st, "license", &v), PV_ENOTFOUND);
    assert_null(v);
    OK(pv_store_config_set(st, "license", "PV-LIC-000123"));
    OK(pv_store_config_get(st, "license", &v));
    assert_string_equal(v, "PV-LIC-000123");
    free(v);
    OK(pv_store_config_set(st, "license", "PV-LIC-999"));
    OK(pv_store_config_get(st, "license", &v));
    assert_string_equal(v, "PV-LIC-999");
    free(v);
    OK(pv_store_config_set(st, "refill_policy_mills", ""));
    OK(pv_store_config_get(st, "refill_policy_mills", &v));
    assert_string_equal(v, "");
    free(v);
    OK(pv_store_config_delete(st, "refill_policy_mills"));
    assert_int_equal(pv_store_config_get(st, "refill_policy_mills", &v), PV_ENOTFOUND);
    assert_int_equal(pv_store_config_delete(st, "refill_policy_mills"), PV_ENOTFOUND);
    OK(pv_store_config_get(st, "license", &v)); /* only that key */
    free(v);
}

/* ---- ledger ------------------------------------------------------------------------------- */

static void line(struct pv_ledger_line *l, const char *account, pv_mills amount)
{
    memset(l, 0, sizeof *l);
    COPY(l->account, account);
    l->amount = amount;
}

static void test_ledger(void **state)
{
    struct pv_store *st = *state;
    struct pv_ledger_line l[3];
    pv_mills bal = 42;

    assert_int_equal(pv_store_account_balance(st, "customer:cus_A", &bal), PV_ENOTFOUND);

    line(&l[0], "card:clearing", -50000);
    line(&l[1], "customer:cus_A", 50000);
    OK(pv_store_journal_post(st, "card_charge", "ch_1", l, 2, 1700000000));

    line(&l[0], "customer:cus_A", -730);
    line(&l[1], "postage:sold", 700);
    line(&l[2], "revenue:fees", 30);
    OK(pv_store_journal_post(st, "purchase", "ind_1", l, 3, 1700000001));

    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 49270);
    OK(pv_store_account_balance(st, "card:clearing", &bal));
    assert_int_equal(bal, -50000);
    OK(pv_store_account_balance(st, "postage:sold", &bal));
    assert_int_equal(bal, 700);
    OK(pv_store_account_balance(st, "revenue:fees", &bal));
    assert_int_equal(bal, 30);

    /* A balance pushed past the money bound is refused and nothing moves. */
    line(&l[0], "customer:cus_A", PV_MILLS_MAX);
    line(&l[1], "card:clearing", -PV_MILLS_MAX);
    assert_true(pv_store_journal_post(st, "card_charge", "ch_2", l, 2, 1700000002) < 0);
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 49270);
    OK(pv_store_account_balance(st, "card:clearing", &bal));
    assert_int_equal(bal, -50000);
}

/* ---- PSDs, refills, keys ------------------------------------------------------------------ */

static void test_psd(void **state)
{
    struct pv_store *st = *state;
    struct pv_psd_rec a = make_psd(1, 100000, 0), b = make_psd(2, 5000, 20000), got, *list = NULL;
    size_t n = 99;

    OK(pv_store_psd_list(st, &list, &n));
    assert_null(list);
    assert_int_equal(n, 0);
    assert_int_equal(pv_store_psd_get(st, 1, &got), PV_ENOTFOUND);

    OK(pv_store_psd_insert(st, &b));
    OK(pv_store_psd_insert(st, &a));
    assert_int_equal(pv_store_psd_insert(st, &a), PV_EEXIST);

    OK(pv_store_psd_get(st, 1, &got));
    assert_psd_equal(&got, &a);

    /* A purchase of 730 after a refill of 50000. */
    a.descending += 50000 - 730;
    a.control_total += 50000;
    a.ascending += 730;
    a.piece_count += 1;
    a.last_refill_at = 1700000500;
    a.status = PV_PSD_SUSPENDED;
    OK(pv_store_psd_update(st, &a));
    OK(pv_store_psd_get(st, 1, &got));
    assert_psd_equal(&got, &a);

    OK(pv_store_psd_list(st, &list, &n));
    assert_int_equal(n, 2);
    assert_psd_equal(&list[0], &a);
    assert_psd_equal(&list[1], &b);
    free(list);
}

static void test_psd_invariant(void **state)
{
    struct pv_store *st = *state;
    struct pv_psd_rec a = make_psd(1, 100000, 2000), bad, got;

    OK(pv_store_psd_insert(st, &a));

    /* ascending + descending != control_total */
    bad = a;
    bad.descending -= 730;
    assert_true(pv_store_psd_update(st, &bad) < 0);
    OK(pv_store_psd_get(st, 1, &got));
    assert_psd_equal(&got, &a);

    /* a negative register, even with the sum right */
    bad = a;
    bad.descending = -1;
    bad.ascending = a.control_total + 1;
    assert_true(pv_store_psd_update(st, &bad) < 0);

    /* registers never move back */
    bad = a;
    bad.ascending -= 100;
    bad.descending += 100;
    assert_true(pv_store_psd_update(st, &bad) < 0);
    bad = a;
    bad.piece_count -= 1;
    assert_true(pv_store_psd_update(st, &bad) < 0);
    OK(pv_store_psd_get(st, 1, &got));
    assert_psd_equal(&got, &a);

    /* and a broken PSD cannot be inserted either */
    bad = make_psd(2, 100, 100);
    bad.control_total = 300;
    assert_true(pv_store_psd_insert(st, &bad) < 0);
    assert_int_equal(pv_store_psd_get(st, 2, &got), PV_ENOTFOUND);

    /* updating a PSD that does not exist */
    bad = make_psd(9, 1, 1);
    assert_int_equal(pv_store_psd_update(st, &bad), PV_ENOTFOUND);
}

static struct pv_refill_rec make_refill(uint32_t psd, pv_mills desc, pv_mills asc, pv_mills amount,
                                        const char *auth, int64_t at)
{
    struct pv_refill_rec r;

    memset(&r, 0, sizeof r);
    r.psd_id = psd;
    r.amount = amount;
    r.desc_before = desc;
    r.asc_before = asc;
    r.ctl_before = desc + asc;
    r.desc_after = desc + amount;
    r.asc_after = asc;
    r.ctl_after = desc + asc + amount;
    COPY(r.authorization, auth);
    r.at = at;
    return r;
}

static void test_refill(void **state)
{
    struct pv_store *st = *state;
    struct pv_psd_rec p1 = make_psd(1, 100, 900), p2 = make_psd(2, 0, 0);
    struct pv_refill_rec r1 = make_refill(1, 100, 900, 50000, "rfl_0001", 1700000100);
    struct pv_refill_rec r2 = make_refill(1, 300, 50700, 50000, "rfl_0002", 1700000200);
    struct pv_refill_rec r3 = make_refill(2, 0, 0, 1000, "rfl_0003", 1700000150);
    struct pv_refill_rec *list = NULL;
    size_t n = 99;

    OK(pv_store_psd_insert(st, &p1));
    OK(pv_store_psd_insert(st, &p2));
    OK(pv_store_refill_list(st, 1, 0, &list, &n));
    assert_null(list);
    assert_int_equal(n, 0);

    OK(pv_store_refill_insert(st, &r2));
    OK(pv_store_refill_insert(st, &r1));
    OK(pv_store_refill_insert(st, &r3));

    OK(pv_store_refill_list(st, 1, 0, &list, &n));
    assert_int_equal(n, 2);
    assert_refill_equal(&list[0], &r1); /* oldest first */
    assert_refill_equal(&list[1], &r2);
    free(list);
    OK(pv_store_refill_list(st, 2, 0, &list, &n));
    assert_int_equal(n, 1);
    assert_refill_equal(&list[0], &r3);
    free(list);
    /* Since a time, inclusive (the admin's stats: its window's refills only). */
    OK(pv_store_refill_list(st, 1, 1700000101, &list, &n));
    assert_int_equal(n, 1);
    assert_refill_equal(&list[0], &r2);
    free(list);
    OK(pv_store_refill_list(st, 1, 1700000200, &list, &n));
    assert_int_equal(n, 1);
    free(list);
    OK(pv_store_refill_list(st, 1, 1700000201, &list, &n));
    assert_int_equal(n, 0);
}

/* A PSD's refills from a time on and those of the last second before it (a daily report's
 * registers). */
static void test_refill_from(void **state)
{
    struct pv_store *st = *state;
    struct pv_psd_rec p1 = make_psd(1, 0, 0), p2 = make_psd(2, 0, 0);
    struct pv_refill_rec r[5], *list = NULL;
    size_t n = 99, i;

    OK(pv_store_psd_insert(st, &p1));
    OK(pv_store_psd_insert(st, &p2));
    OK(pv_store_refill_from(st, 1, 1700000000, &list, &n));
    assert_int_equal(n, 0);
    free(list);
    r[0] = make_refill(1, 0, 0, 1000, "rfl_a", 1700000100);
    r[1] = make_refill(1, 1000, 0, 1000, "rfl_b", 1700000200); /* two in one second: by id */
    r[2] = make_refill(1, 2000, 0, 1000, "rfl_c", 1700000200);
    r[3] = make_refill(2, 0, 0, 1000, "rfl_d", 1700000250); /* another PSD's */
    r[4] = make_refill(1, 3000, 0, 1000, "rfl_e", 1700000300);
    for (i = 0; i < 5; i++)
        OK(pv_store_refill_insert(st, &r[i]));
    /* From 250: the last second before it (rfl_b and rfl_c, by id) and rfl_e; not rfl_a. */
    OK(pv_store_refill_from(st, 1, 1700000250, &list, &n));
    assert_int_equal(n, 3);
    assert_refill_equal(&list[0], &r[1]);
    assert_refill_equal(&list[1], &r[2]);
    assert_refill_equal(&list[2], &r[4]);
    free(list);
    /* From 200: rfl_a before it, then the three at or after it, oldest first. */
    OK(pv_store_refill_from(st, 1, 1700000200, &list, &n));
    assert_int_equal(n, 4);
    assert_string_equal(list[0].authorization, "rfl_a");
    assert_string_equal(list[1].authorization, "rfl_b");
    assert_string_equal(list[2].authorization, "rfl_c");
    assert_string_equal(list[3].authorization, "rfl_e");
    free(list);
    /* After the last: that one alone; before the first: every one. */
    OK(pv_store_refill_from(st, 1, 1700000400, &list, &n));
    assert_int_equal(n, 1);
    assert_refill_equal(&list[0], &r[4]);
    free(list);
    OK(pv_store_refill_from(st, 1, 1700000000, &list, &n));
    assert_int_equal(n, 4);
    free(list);
}

/* The authority's resets: the live PSDs' refills by row id, newest first, a page at a time;
 * a test PSD's are left out. */
static void test_reset_page(void **state)
{
    struct pv_store *st = *state;
    struct pv_psd_rec live = make_psd(1, 0, 0), test = make_psd(2, 0, 0), other = make_psd(3, 0, 0);
    struct pv_refill_rec r[5], *list = NULL;
    const char *want[] = {"rfl_5", "rfl_4", "rfl_2", "rfl_1"}; /* rfl_3: the test PSD's */
    int64_t before = 0;
    size_t n = 99, got = 0, i;

    test.test = 1;
    OK(pv_store_psd_insert(st, &live));
    OK(pv_store_psd_insert(st, &test));
    OK(pv_store_psd_insert(st, &other));
    OK(pv_store_reset_page(st, 0, 10, &list, &n));
    assert_int_equal(n, 0);
    free(list);
    r[0] = make_refill(1, 0, 0, 1000, "rfl_1", 1700000300); /* later than the next: by id */
    r[1] = make_refill(3, 0, 0, 1000, "rfl_2", 1700000100);
    r[2] = make_refill(2, 0, 0, 1000, "rfl_3", 1700000400);
    r[3] = make_refill(1, 1000, 0, 1000, "rfl_4", 1700000500);
    r[4] = make_refill(3, 1000, 0, 1000, "rfl_5", 1700000600);
    for (i = 0; i < 5; i++)
        OK(pv_store_refill_insert(st, &r[i]));
    do { /* pages of two, each after the last one's id */
        OK(pv_store_reset_page(st, before, 2, &list, &n));
        assert_true(n <= 2);
        for (i = 0; i < n; i++, got++) {
            assert_true(got < 4);
            assert_string_equal(list[i].authorization, want[got]);
            assert_true(list[i].id > 0);
            assert_true(before == 0 || list[i].id < before);
            before = list[i].id;
        }
        free(list);
    } while (n == 2);
    assert_int_equal(got, 4);
    OK(pv_store_reset_page(st, 0, 1, &list, &n));
    assert_int_equal(n, 1);
    assert_refill_equal(&list[0], &r[4]);
    free(list);
    assert_int_equal(pv_store_reset_page(st, 0, 0, &list, &n), PV_EINVAL);
    assert_int_equal(pv_store_reset_page(st, -1, 1, &list, &n), PV_EINVAL);
}

static void test_keys(void **state)
{
    struct pv_store *st = *state;
    struct pv_key_rec k1 = make_key(101, 1), k2 = make_key(102, 2), *list = NULL;
    size_t n = 99;

    OK(pv_store_key_list(st, &list, &n));
    assert_null(list);
    assert_int_equal(n, 0);
    OK(pv_store_key_insert(st, &k2));
    OK(pv_store_key_insert(st, &k1));
    assert_int_equal(pv_store_key_insert(st, &k1), PV_EEXIST);
    OK(pv_store_key_list(st, &list, &n));
    assert_int_equal(n, 2);
    assert_key_equal(&list[0], &k1);
    assert_key_equal(&list[1], &k2);
    free(list);
}

/* Schema v10: a key's certificate, its retirement and revocation, and the PSD's key. */
static void test_key_lifecycle(void **state)
{
    struct pv_store *st = *state;
    struct pv_key_rec k1 = make_key(101, 1), *list = NULL;
    struct pv_psd_rec p = make_psd(1, 100000, 0), got;
    char big[sizeof k1.cert_pem + 8];
    size_t n = 0;

    OK(pv_store_key_insert(st, &k1));
    OK(pv_store_psd_insert(st, &p));
    OK(pv_store_key_list(st, &list, &n));
    assert_string_equal(list[0].cert_pem, "");
    assert_int_equal(list[0].retired_at, 0);
    assert_int_equal(list[0].revoked_at, 0);
    free(list);
    OK(pv_store_key_set_cert(st, 101, "-----BEGIN CERTIFICATE-----\nx\n"));
    assert_int_equal(pv_store_key_set_cert(st, 999, "c"), PV_ENOTFOUND);
    memset(big, 'c', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(pv_store_key_set_cert(st, 101, big), PV_EINVAL);
    OK(pv_store_key_retire(st, 101, 5000));
    assert_int_equal(pv_store_key_retire(st, 101, 6000), PV_ENOTFOUND); /* once */
    assert_int_equal(pv_store_key_revoke(st, 101, 0, "superseded"), PV_EINVAL);
    OK(pv_store_key_revoke(st, 101, 7000, "key_compromise"));
    assert_int_equal(pv_store_key_revoke(st, 101, 8000, "superseded"), PV_ENOTFOUND);
    assert_int_equal(pv_store_key_revoke(st, 999, 8000, "superseded"), PV_ENOTFOUND);
    OK(pv_store_key_list(st, &list, &n));
    assert_string_equal(list[0].cert_pem, "-----BEGIN CERTIFICATE-----\nx\n");
    assert_int_equal(list[0].retired_at, 5000);
    assert_int_equal(list[0].revoked_at, 7000);
    assert_string_equal(list[0].revoke_reason, "key_compromise");
    free(list);
    OK(pv_store_psd_set_key(st, 1, 102, PV_PSD_SUSPENDED));
    assert_int_equal(pv_store_psd_set_key(st, 9, 102, PV_PSD_ACTIVE), PV_ENOTFOUND);
    OK(pv_store_psd_get(st, 1, &got));
    assert_int_equal(got.key_id, 102);
    assert_int_equal(got.status, PV_PSD_SUSPENDED);
    assert_int_equal(got.descending, p.descending); /* the registers are untouched */
}

/* ---- principals and idempotency ----------------------------------------------------------- */

#define HASH_A "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define HASH_B "0000000000000000000000000000000000000000000000000000000000000001"
#define HASH_X "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

static void test_principals(void **state)
{
    struct pv_store *st = *state;
    struct pv_customer_rec c = make_customer("cus_01HZX", "alice@example.com"), got;
    struct pv_customer_rec dup = make_customer("cus_other", "alice@example.com");
    struct pv_principal p;

    assert_int_equal(pv_store_customer_get(st, "cus_01HZX", &got), PV_ENOTFOUND);
    OK(pv_store_customer_insert(st, &c));
    OK(pv_store_customer_get(st, "cus_01HZX", &got));
    assert_string_equal(got.id, c.id);
    assert_string_equal(got.email, c.email);
    assert_int_equal(got.created, c.created);
    assert_int_equal(pv_store_customer_insert(st, &c), PV_EEXIST);
    assert_int_equal(pv_store_customer_insert(st, &dup), PV_EEXIST);

    OK(pv_store_operator_insert(st, "op_root", "ops@example.com", 1700000000));
    assert_int_equal(pv_store_operator_insert(st, "op_root", "ops2@example.com", 1700000000),
                     PV_EEXIST);

    OK(pv_store_apikey_insert(st, "key_c1", HASH_A, "sk_test_a1b2", PV_ROLE_CUSTOMER, "cus_01HZX",
                              1700000001));
    OK(pv_store_apikey_insert(st, "key_o1", HASH_B, "sk_live_0000", PV_ROLE_OPERATOR, "op_root",
                              1700000002));
    assert_int_equal(pv_store_apikey_insert(st, "key_c2", HASH_A, "sk_test_a1b2", PV_ROLE_CUSTOMER,
                                            "cus_01HZX", 1700000003),
                     PV_EEXIST);

    OK(pv_store_apikey_lookup(st, HASH_A, &p));
    assert_int_equal(p.role, PV_ROLE_CUSTOMER);
    assert_string_equal(p.owner_id, "cus_01HZX");
    assert_string_equal(p.key_id, "key_c1");
    OK(pv_store_apikey_lookup(st, HASH_B, &p));
    assert_int_equal(p.role, PV_ROLE_OPERATOR);
    assert_string_equal(p.owner_id, "op_root");
    assert_string_equal(p.key_id, "key_o1");
    assert_int_equal(pv_store_apikey_lookup(st, HASH_X, &p), PV_ENOTFOUND);
}

static void test_idempotency(void **state)
{
    struct pv_store *st = *state;
    char hash[PV_HASH_HEX], ind[PV_ID_MAX];

    assert_int_equal(pv_store_idem_get(st, "cus_A", "order-17", hash, ind), PV_ENOTFOUND);
    OK(pv_store_idem_put(st, "cus_A", "order-17", HASH_A, "ind_0001", 1700000000));
    OK(pv_store_idem_get(st, "cus_A", "order-17", hash, ind));
    assert_string_equal(hash, HASH_A);
    assert_string_equal(ind, "ind_0001");

    assert_int_equal(pv_store_idem_put(st, "cus_A", "order-17", HASH_B, "ind_0002", 1700000001),
                     PV_EEXIST);
    OK(pv_store_idem_get(st, "cus_A", "order-17", hash, ind));
    assert_string_equal(hash, HASH_A);
    assert_string_equal(ind, "ind_0001");

    /* The same key under another owner is another record. */
    OK(pv_store_idem_put(st, "cus_B", "order-17", HASH_B, "ind_0002", 1700000001));
    OK(pv_store_idem_get(st, "cus_B", "order-17", hash, ind));
    assert_string_equal(ind, "ind_0002");
}

/* ---- indicia ------------------------------------------------------------------------------ */

static void test_indicium(void **state)
{
    struct pv_store *st = *state;
    struct pv_indicium_rec a, b, got;

    seed_for_indicia(st);
    make_indicium(&a, "ind_0001", "cus_A", 1, 8, "");
    make_indicium(&b, "ind_0002", "cus_A", 1, 9, "SH-000123-0042-K7Q");

    assert_int_equal(pv_store_indicium_get(st, "ind_0001", &got), PV_ENOTFOUND);
    assert_int_equal(pv_store_indicium_find(st, 1, 8, &got), PV_ENOTFOUND);
    OK(pv_store_indicium_insert(st, &a));
    OK(pv_store_indicium_insert(st, &b));

    OK(pv_store_indicium_get(st, "ind_0001", &got));
    assert_indicium_equal(&got, &a);
    assert_int_equal(got.presentations, 0);
    OK(pv_store_indicium_get(st, "ind_0002", &got));
    assert_indicium_equal(&got, &b);
    OK(pv_store_indicium_find(st, 1, 9, &got));
    assert_indicium_equal(&got, &b);
    assert_int_equal(pv_store_indicium_find(st, 2, 9, &got), PV_ENOTFOUND);

    /* (device, serial) is unique: a PSD never issues one serial twice. */
    make_indicium(&got, "ind_0003", "cus_B", 1, 9, "");
    assert_int_equal(pv_store_indicium_insert(st, &got), PV_EEXIST);
    /* and so is the id */
    make_indicium(&got, "ind_0001", "cus_B", 2, 9, "");
    assert_int_equal(pv_store_indicium_insert(st, &got), PV_EEXIST);
    /* the same serial on another PSD is fine */
    make_indicium(&got, "ind_0004", "cus_B", 2, 9, "");
    OK(pv_store_indicium_insert(st, &got));
}

static void test_indicium_list(void **state)
{
    struct pv_store *st = *state;
    struct pv_indicium_rec r, *page = (struct pv_indicium_rec *) &r;
    char id[PV_ID_MAX], cursor[PV_ID_MAX];
    size_t n = 99;
    uint32_t serial = 1;
    int i;

    seed_for_indicia(st);
    OK(pv_store_indicium_list(st, "cus_A", NULL, 3, &page, &n));
    assert_null(page);
    assert_int_equal(n, 0);

    /* cus_A gets ind_A00..ind_A06 (in that order), cus_B one in between each. */
    for (i = 0; i < 7; i++) {
        snprintf(id, sizeof id, "ind_A%02d", i);
        make_indicium(&r, id, "cus_A", 1 + (uint32_t) i % 2, serial++, "");
        OK(pv_store_indicium_insert(st, &r));
        snprintf(id, sizeof id, "ind_B%02d", i);
        make_indicium(&r, id, "cus_B", 1, serial++, "");
        OK(pv_store_indicium_insert(st, &r));
    }

    /* Page 1: newest first. */
    OK(pv_store_indicium_list(st, "cus_A", "", 3, &page, &n));
    assert_int_equal(n, 3);
    assert_string_equal(page[0].id, "ind_A06");
    assert_string_equal(page[1].id, "ind_A05");
    assert_string_equal(page[2].id, "ind_A04");
    make_indicium(&r, "ind_A05", "cus_A", 2, 11, "");
    assert_indicium_equal(&page[1], &r); /* full records, not just ids */
    COPY(cursor, page[2].id);
    free(page);

    /* Page 2. */
    OK(pv_store_indicium_list(st, "cus_A", cursor, 3, &page, &n));
    assert_int_equal(n, 3);
    assert_string_equal(page[0].id, "ind_A03");
    assert_string_equal(page[1].id, "ind_A02");
    assert_string_equal(page[2].id, "ind_A01");
    COPY(cursor, page[2].id);
    free(page);

    /* Page 3: the last one, short. */
    OK(pv_store_indicium_list(st, "cus_A", cursor, 3, &page, &n));
    assert_int_equal(n, 1);
    assert_string_equal(page[0].id, "ind_A00");
    COPY(cursor, page[0].id);
    free(page);

    /* Past the end: empty. */
    page = &r;
    OK(pv_store_indicium_list(st, "cus_A", cursor, 3, &page, &n));
    assert_null(page);
    assert_int_equal(n, 0);

    /* A bigger limit than there are rows. */
    OK(pv_store_indicium_list(st, "cus_B", NULL, 100, &page, &n));
    assert_int_equal(n, 7);
    assert_string_equal(page[0].id, "ind_B06");
    assert_string_equal(page[6].id, "ind_B00");
    free(page);

    /* Invalid cursors: unknown, and another customer's indicium. */
    page = &r;
    assert_int_equal(pv_store_indicium_list(st, "cus_A", "ind_nope", 3, &page, &n), PV_ECURSOR);
    assert_null(page);
    assert_int_equal(n, 0);
    assert_int_equal(pv_store_indicium_list(st, "cus_A", "ind_B03", 3, &page, &n), PV_ECURSOR);
    assert_null(page);
}

static void test_indicium_present(void **state)
{
    struct pv_store *st = *state;
    struct pv_indicium_rec r;
    int64_t before = -1;

    seed_for_indicia(st);
    make_indicium(&r, "ind_0001", "cus_A", 1, 1, "");
    OK(pv_store_indicium_insert(st, &r));
    OK(pv_store_indicium_present(st, "ind_0001", 1700002000, &before));
    assert_int_equal(before, 0);
    OK(pv_store_indicium_present(st, "ind_0001", 1700002001, &before));
    assert_int_equal(before, 1);
    OK(pv_store_indicium_present(st, "ind_0001", 1700002002, &before));
    assert_int_equal(before, 2);
    OK(pv_store_indicium_get(st, "ind_0001", &r));
    assert_int_equal(r.presentations, 3);
    assert_int_equal(pv_store_indicium_present(st, "ind_nope", 1700002003, &before), PV_ENOTFOUND);
}

/* ---- transactions ------------------------------------------------------------------------- */

static void assert_config(struct pv_store *st, const char *key, const char *want)
{
    char *v = NULL;
    int rc = pv_store_config_get(st, key, &v);

    if (want) {
        assert_int_equal(rc, PV_OK);
        assert_string_equal(v, want);
    } else {
        assert_int_equal(rc, PV_ENOTFOUND);
    }
    free(v);
}

static void test_savepoint(void **state)
{
    struct pv_store *st = *state;
    struct pv_ledger_line l[2];
    pv_mills bal;

    OK(pv_store_begin(st));
    OK(pv_store_config_set(st, "outer", "1"));

    /* A purchase that fails: its writes go. */
    OK(pv_store_savepoint(st));
    OK(pv_store_config_set(st, "failed", "1"));
    line(&l[0], "customer:cus_A", -730);
    line(&l[1], "postage:sold", 730);
    OK(pv_store_journal_post(st, "purchase", "ind_failed", l, 2, 1700000000));
    OK(pv_store_rollback_to(st));

    /* The next one succeeds: its writes stay. */
    OK(pv_store_savepoint(st));
    OK(pv_store_config_set(st, "kept", "1"));
    line(&l[0], "customer:cus_A", -500);
    line(&l[1], "postage:sold", 500);
    OK(pv_store_journal_post(st, "purchase", "ind_kept", l, 2, 1700000001));
    OK(pv_store_release(st));
    OK(pv_store_commit(st));

    assert_config(st, "outer", "1");
    assert_config(st, "kept", "1");
    assert_config(st, "failed", NULL);
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, -500);
    OK(pv_store_account_balance(st, "postage:sold", &bal));
    assert_int_equal(bal, 500);
}

static void test_rollback(void **state)
{
    struct pv_store *st = *state, *other = NULL;
    struct pv_psd_rec p = make_psd(1, 1000, 0), got;
    struct pv_ledger_line l[2];
    pv_mills bal;

    OK(pv_store_psd_insert(st, &p));
    OK(pv_store_open(dsn, &other));

    OK(pv_store_begin(st));
    OK(pv_store_config_set(st, "gone", "1"));
    line(&l[0], "customer:cus_A", -730);
    line(&l[1], "postage:sold", 730);
    OK(pv_store_journal_post(st, "purchase", "ind_gone", l, 2, 1700000000));
    p.descending -= 730;
    p.ascending += 730;
    p.piece_count++;
    OK(pv_store_psd_update(st, &p));

    /* Inside the transaction the handle sees its writes, */
    assert_config(st, "gone", "1");
    OK(pv_store_psd_get(st, 1, &got));
    assert_int_equal(got.descending, 1000 - 730);
    /* another handle sees only the last committed state. */
    assert_config(other, "gone", NULL);
    OK(pv_store_psd_get(other, 1, &got));
    assert_int_equal(got.descending, 1000);

    OK(pv_store_rollback(st));
    assert_config(st, "gone", NULL);
    assert_int_equal(pv_store_account_balance(st, "customer:cus_A", &bal), PV_ENOTFOUND);
    assert_int_equal(pv_store_account_balance(st, "postage:sold", &bal), PV_ENOTFOUND);
    OK(pv_store_psd_get(st, 1, &got));
    assert_int_equal(got.descending, 1000);
    assert_int_equal(got.ascending, 0);
    assert_int_equal(got.piece_count, 7);

    /* The handle is usable afterwards, and the other handle can write too. */
    OK(pv_store_config_set(other, "after", "1"));
    assert_config(st, "after", "1");
    pv_store_close(other);
}

/* begin_read: one moment for every read while another handle sells; no write inside it. */
static void test_read_snapshot(void **state)
{
    struct pv_store *st = *state, *other = NULL;
    struct pv_psd_rec p = make_psd(1, 1000, 0), got;
    struct pv_ledger_line l[2];
    pv_mills bal;

    OK(pv_store_psd_insert(st, &p));
    line(&l[0], "customer:cus_A", -100);
    line(&l[1], "psd:1", 100);
    OK(pv_store_journal_post(st, "purchase", "ind_1", l, 2, 1700000000));
    OK(pv_store_open(dsn, &other));

    OK(pv_store_begin_read(st));
    OK(pv_store_account_balance(st, "psd:1", &bal)); /* the snapshot's first read */
    assert_int_equal(bal, 100);
    /* Another handle commits a sale: a journal and the PSD's registers - it does not wait. */
    OK(pv_store_journal_post(other, "purchase", "ind_2", l, 2, 1700000001));
    p.descending -= 100;
    p.ascending += 100;
    p.piece_count++;
    OK(pv_store_psd_update(other, &p));
    /* The snapshot reads neither, in a later statement of either kind. */
    OK(pv_store_psd_get(st, 1, &got));
    assert_int_equal(got.descending, 1000);
    OK(pv_store_account_balance(st, "psd:1", &bal));
    assert_int_equal(bal, 100);
    /* Nothing writes inside it, nor opens a transaction. */
    assert_int_equal(pv_store_config_set(st, "x", "1"), PV_EINVAL);
    assert_int_equal(pv_store_journal_post(st, "purchase", "ind_3", l, 2, 1700000002), PV_EINVAL);
    assert_int_equal(pv_store_begin(st), PV_EINVAL);
    assert_int_equal(pv_store_begin_read(st), PV_EINVAL);
    assert_int_equal(pv_store_savepoint(st), PV_EINVAL);
    assert_int_equal(pv_store_commit(st), PV_EINVAL);
    assert_int_equal(pv_store_migrate(st, &(int){0}, &(int){0}), PV_EINVAL);
    OK(pv_store_end_read(st));
    assert_int_equal(pv_store_end_read(st), PV_EINVAL);

    /* After it, the sale is there; and the handle writes again. */
    OK(pv_store_psd_get(st, 1, &got));
    assert_int_equal(got.descending, 900);
    OK(pv_store_account_balance(st, "psd:1", &bal));
    assert_int_equal(bal, 200);
    OK(pv_store_config_set(st, "x", "1"));
    assert_config(other, "x", "1");
    assert_config(st, "x", "1");

    /* rollback() ends a snapshot too; a transaction refuses one. */
    OK(pv_store_begin_read(st));
    OK(pv_store_rollback(st));
    OK(pv_store_begin(st));
    assert_int_equal(pv_store_begin_read(st), PV_EINVAL);
    OK(pv_store_rollback(st));
    pv_store_close(other);
}

/* SQLite: a log a read snapshot kept from starting again (a ledger check during sales) is
 * cut back to 131 MB by the first commit after it starts again, not kept at its largest. */
static void test_log_cut_after_snapshot(void **state)
{
    struct pv_store *st = *state, *reader = NULL;
    const size_t chunk = 8u << 20;
    const off_t limit = 131072000; /* sqlite.c: twice PV_WALCK_INLINE_BYTES */
    char wal[1100], *big = malloc(chunk);
    struct stat sb;
    int i;

    if (strcmp(pv_store_backend_name(st), "sqlite") != 0) {
        free(big);
        skip(); /* PostgreSQL's WAL is the cluster's */
    }
    assert_non_null(big);
    big[chunk - 1] = '\0';
    snprintf(wal, sizeof wal, "%s-wal", dsn + strlen("sqlite:"));
    OK(pv_store_config_set(st, "big", "x"));
    OK(pv_store_open(dsn, &reader));
    OK(pv_store_begin_read(reader));
    assert_config(reader, "big", "x");
    for (i = 0; i < 17; i++) {                /* 8 MB of new pages a commit, none copied back */
        memset(big, 'a' + i % 26, chunk - 1); /* SQLite rewrites only the pages that change */
        OK(pv_store_config_set(st, "big", big));
    }
    assert_int_equal(stat(wal, &sb), 0);
    assert_true(sb.st_size > limit);
    OK(pv_store_end_read(reader));
    /* The next commits copy the log back, start it again, and cut the file. */
    for (i = 0; i < 200 && stat(wal, &sb) == 0 && sb.st_size > limit; i++) {
        OK(pv_store_config_set(st, "small", i % 2 ? "a" : "b"));
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    assert_true(sb.st_size <= limit);
    pv_store_close(reader);
    free(big);
}

#define CYCLES 500

struct writer {
    struct pv_store *st;
    int n;
    int errors;
    int first_error;
};

static void *write_loop(void *arg)
{
    struct writer *w = arg;
    struct pv_store *st = w->st;
    struct pv_ledger_line l[2];
    char ref[32];
    int i, rc;

    memset(l, 0, sizeof l);
    snprintf(l[0].account, sizeof l[0].account, "customer:cus_%d", w->n);
    snprintf(l[1].account, sizeof l[1].account, "postage:sold");
    l[0].amount = -10;
    l[1].amount = 10;
    for (i = 0; i < CYCLES; i++) {
        snprintf(ref, sizeof ref, "ind_%d_%d", w->n, i);
        rc = pv_store_begin(st);
        if (rc == PV_OK)
            rc = pv_store_journal_post(st, "purchase", ref, l, 2, 1700000000 + i);
        if (rc == PV_OK) {
            rc = pv_store_commit(st);
        } else {
            pv_store_rollback(st);
        }
        if (rc != PV_OK && w->errors++ == 0)
            w->first_error = rc;
    }
    return NULL;
}

static void test_two_writers(void **state)
{
    struct pv_store *st = *state;
    struct writer w[2];
    pthread_t t[2];
    pv_mills bal;
    int i;

    memset(w, 0, sizeof w);
    for (i = 0; i < 2; i++) {
        w[i].n = i;
        OK(pv_store_open(dsn, &w[i].st));
    }
    for (i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, write_loop, &w[i]), 0);
    for (i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (i = 0; i < 2; i++) {
        pv_store_close(w[i].st);
        if (w[i].errors)
            fail_msg("writer %d: %d errors, first %d (%s)", i, w[i].errors, w[i].first_error,
                     pv_strerror(w[i].first_error));
    }
    OK(pv_store_account_balance(st, "postage:sold", &bal));
    assert_int_equal(bal, 2 * CYCLES * 10);
    OK(pv_store_account_balance(st, "customer:cus_0", &bal));
    assert_int_equal(bal, -CYCLES * 10);
    OK(pv_store_account_balance(st, "customer:cus_1", &bal));
    assert_int_equal(bal, -CYCLES * 10);
}

/*
 * Several processors on one database: each spends a customer's balance in
 * its own transaction (read the balance, post the purchase if it covers
 * it, commit). account_balance() inside a transaction must hold the row
 * until commit, so the balance is never spent twice: on SQLite the single
 * writer gives that, on PostgreSQL SELECT ... FOR UPDATE.
 */
#define SPEND    730
#define SPENDS   40 /* the balance covers exactly this many */
#define SPENDERS 2

struct spender {
    struct pv_store *st;
    int spent;
    int errors;
    int first_error;
    pv_mills seen[SPENDS + 8]; /* the balance each spend read */
};

static void *spend_loop(void *arg)
{
    struct spender *w = arg;
    struct pv_store *st = w->st;
    const struct timespec pause = {0, 200 * 1000}; /* between the read and the write */
    struct pv_ledger_line l[2];
    pv_mills bal;
    int rc;

    line(&l[0], "customer:cus_A", -SPEND);
    line(&l[1], "postage:sold", SPEND);
    for (;;) {
        if ((rc = pv_store_begin(st)) != PV_OK)
            goto error;
        if ((rc = pv_store_account_balance(st, "customer:cus_A", &bal)) != PV_OK)
            goto error;
        if (bal < SPEND) {
            pv_store_rollback(st);
            return NULL;
        }
        nanosleep(&pause, NULL); /* give the other spender every chance to read it too */
        if ((rc = pv_store_journal_post(st, "purchase", "ind_x", l, 2, 1700000000)) != PV_OK)
            goto error;
        if ((rc = pv_store_commit(st)) != PV_OK)
            goto error;
        if (w->spent == (int) (sizeof w->seen / sizeof w->seen[0])) {
            rc = PV_EOVERFLOW; /* far more spends than the balance covers */
            goto error;
        }
        w->seen[w->spent++] = bal;
    }
error:
    pv_store_rollback(st);
    if (w->errors++ == 0)
        w->first_error = rc;
    return NULL;
}

static void test_balance_locked_in_transaction(void **state)
{
    struct pv_store *st = *state;
    struct spender w[SPENDERS];
    pthread_t t[SPENDERS];
    struct pv_ledger_line l[2];
    pv_mills bal;
    int i, j, spent = 0, seen[SPENDS + 1];

    line(&l[0], "card:clearing", -SPEND * SPENDS);
    line(&l[1], "customer:cus_A", SPEND * SPENDS);
    OK(pv_store_journal_post(st, "card_charge", "ch_1", l, 2, 1700000000));

    memset(w, 0, sizeof w);
    for (i = 0; i < SPENDERS; i++)
        OK(pv_store_open(dsn, &w[i].st));
    for (i = 0; i < SPENDERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, spend_loop, &w[i]), 0);
    for (i = 0; i < SPENDERS; i++)
        pthread_join(t[i], NULL);
    for (i = 0; i < SPENDERS; i++)
        pv_store_close(w[i].st); /* before any assertion: a failure must not leak them */
    for (i = 0; i < SPENDERS; i++) {
        if (w[i].errors)
            fail_msg("spender %d: %d errors, first %d (%s)", i, w[i].errors, w[i].first_error,
                     pv_strerror(w[i].first_error));
        spent += w[i].spent;
    }
    /* Each spend read a balance no other spend read: SPENDS * SPEND, ..., SPEND once each. */
    memset(seen, 0, sizeof seen);
    for (i = 0; i < SPENDERS; i++) {
        for (j = 0; j < w[i].spent; j++) {
            bal = w[i].seen[j];
            if (bal % SPEND != 0 || bal / SPEND < 1 || bal / SPEND > SPENDS || seen[bal / SPEND]++)
                fail_msg("spender %d read balance %lld that another spend also read", i,
                         (long long) bal);
        }
    }
    assert_int_equal(spent, SPENDS);
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 0);
    OK(pv_store_account_balance(st, "postage:sold", &bal));
    assert_int_equal(bal, SPEND * SPENDS);
}

/*
 * The same for a PSD: psd_get() inside a transaction holds the row, so two
 * processors debiting one PSD never both start from the same registers
 * (psd_update writes absolute values: without the lock, one debit is lost).
 */
static void *debit_loop(void *arg)
{
    struct spender *w = arg;
    struct pv_store *st = w->st;
    const struct timespec pause = {0, 200 * 1000};
    struct pv_psd_rec p;
    int rc;

    for (;;) {
        if ((rc = pv_store_begin(st)) != PV_OK)
            goto error;
        if ((rc = pv_store_psd_get(st, 1, &p)) != PV_OK)
            goto error;
        if (p.descending < SPEND) {
            pv_store_rollback(st);
            return NULL;
        }
        nanosleep(&pause, NULL);
        p.descending -= SPEND;
        p.ascending += SPEND;
        p.piece_count++;
        if ((rc = pv_store_psd_update(st, &p)) != PV_OK)
            goto error;
        if ((rc = pv_store_commit(st)) != PV_OK)
            goto error;
        w->spent++;
    }
error:
    pv_store_rollback(st);
    if (w->errors++ == 0)
        w->first_error = rc;
    return NULL;
}

static void test_psd_locked_in_transaction(void **state)
{
    struct pv_store *st = *state;
    struct pv_psd_rec p = make_psd(1, SPEND * SPENDS, 0), got;
    struct spender w[SPENDERS];
    pthread_t t[SPENDERS];
    int i, spent = 0;

    OK(pv_store_psd_insert(st, &p));
    memset(w, 0, sizeof w);
    for (i = 0; i < SPENDERS; i++)
        OK(pv_store_open(dsn, &w[i].st));
    for (i = 0; i < SPENDERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, debit_loop, &w[i]), 0);
    for (i = 0; i < SPENDERS; i++)
        pthread_join(t[i], NULL);
    for (i = 0; i < SPENDERS; i++)
        pv_store_close(w[i].st); /* before any assertion: a failure must not leak them */
    for (i = 0; i < SPENDERS; i++) {
        if (w[i].errors)
            fail_msg("debiter %d: %d errors, first %d (%s)", i, w[i].errors, w[i].first_error,
                     pv_strerror(w[i].first_error));
        spent += w[i].spent;
    }
    assert_int_equal(spent, SPENDS);
    OK(pv_store_psd_get(st, 1, &got));
    assert_int_equal(got.descending, 0);
    assert_int_equal(got.ascending, SPEND * SPENDS);
    assert_int_equal(got.piece_count, p.piece_count + SPENDS);
}

/* Two transactions inserting one idempotency key: the second waits and gets PV_EEXIST. */
struct idem_racer {
    struct pv_store *st;
    int rc;
};

static void *idem_race(void *arg)
{
    struct idem_racer *r = arg;
    struct pv_store *st = r->st;

    r->rc = pv_store_begin(st);
    if (r->rc == PV_OK)
        r->rc = pv_store_idem_put(st, "cus_A", "order-17", HASH_B, "ind_0002", 1700000001);
    if (r->rc == PV_OK)
        r->rc = pv_store_commit(st);
    else
        pv_store_rollback(st);
    return NULL;
}

static void test_idempotency_race(void **state)
{
    struct pv_store *st = *state;
    const struct timespec pause = {0, 100 * 1000 * 1000};
    char hash[PV_HASH_HEX], ind[PV_ID_MAX];
    struct idem_racer r = {NULL, PV_OK};
    pthread_t t;

    OK(pv_store_open(dsn, &r.st));
    OK(pv_store_begin(st));
    OK(pv_store_idem_put(st, "cus_A", "order-17", HASH_A, "ind_0001", 1700000000));
    assert_int_equal(pthread_create(&t, NULL, idem_race, &r), 0);
    nanosleep(&pause, NULL); /* the other transaction is now waiting on ours */
    OK(pv_store_commit(st));
    pthread_join(t, NULL);
    pv_store_close(r.st);
    assert_int_equal(r.rc, PV_EEXIST);
    OK(pv_store_idem_get(st, "cus_A", "order-17", hash, ind));
    assert_string_equal(hash, HASH_A);
    assert_string_equal(ind, "ind_0001");
}

/* A failed write inside a savepoint: rollback_to() undoes it and the transaction goes on. */
static void test_savepoint_after_error(void **state)
{
    struct pv_store *st = *state;
    struct pv_customer_rec c = make_customer("cus_A", "a@example.com");

    OK(pv_store_customer_insert(st, &c));
    OK(pv_store_begin(st));
    OK(pv_store_config_set(st, "outer", "1"));
    OK(pv_store_savepoint(st));
    OK(pv_store_config_set(st, "failed", "1"));
    assert_int_equal(pv_store_customer_insert(st, &c), PV_EEXIST);
    OK(pv_store_rollback_to(st));
    OK(pv_store_savepoint(st));
    OK(pv_store_config_set(st, "kept", "1"));
    OK(pv_store_release(st));
    OK(pv_store_savepoint(st));
    assert_int_equal(pv_store_savepoint(st), PV_EINVAL); /* one level only */
    OK(pv_store_release(st));
    assert_int_equal(pv_store_release(st), PV_EINVAL);
    assert_int_equal(pv_store_begin(st), PV_EINVAL);
    OK(pv_store_commit(st));
    assert_config(st, "outer", "1");
    assert_config(st, "kept", "1");
    assert_config(st, "failed", NULL);
    assert_int_equal(pv_store_commit(st), PV_EINVAL);
    OK(pv_store_rollback(st)); /* no transaction: nothing to do */
}

/*
 * pv_store_defer (issue 15): the writes a job queues (PostgreSQL's pipeline) answer
 * at defer(st, 0) with their own code - a duplicate key, a PSD row not found, a
 * balance past the money bound -, a read behind a failed one fails instead of
 * answering, and the job's savepoint undoes that job only: the jobs around it and
 * the commit stand. SQLite runs them at once and answers at the call.
 */
/* One job of a batch: its savepoint, its writes queued (pv_store_defer). */
static void job(struct pv_store *st)
{
    OK(pv_store_savepoint(st));
    OK(pv_store_defer(st, 1));
}

/* 1,000 mills into customer:cus_A from the card clearing account, then begin(). */
static void fund_and_begin(struct pv_store *st)
{
    struct pv_ledger_line l[2];

    line(&l[0], "customer:cus_A", 1000);
    line(&l[1], "card:clearing", -1000);
    OK(pv_store_journal_post(st, "card_charge", "ch_1", l, 2, 1700000000));
    OK(pv_store_begin(st));
}

static int deferred(struct pv_store *st, int rc)
{
    int flushed = pv_store_defer(st, 0);

    return rc != PV_OK ? rc : flushed; /* where the failure shows: the call or the flush */
}

static void test_defer(void **state)
{
    struct pv_store *st = *state;
    struct pv_psd_rec p = make_psd(1, 100000, 0), missing = make_psd(9, 1, 1), got;
    struct pv_ledger_line l[2];
    char hash[PV_HASH_HEX], ind[PV_ID_MAX];
    pv_mills bal;
    int rc;

    assert_int_equal(pv_store_defer(st, 1), PV_EINVAL); /* outside begin() */
    OK(pv_store_psd_insert(st, &p));
    OK(pv_store_idem_put(st, "cus_A", "k1", HASH_A, "ind_0001", 1700000000));
    fund_and_begin(st);

    /* Job 1: a register move, then a key already used: PV_EEXIST, and nothing of it stays. */
    job(st);
    p.descending -= 100;
    p.ascending += 100;
    OK(pv_store_psd_update(st, &p));
    rc = pv_store_idem_put(st, "cus_A", "k1", HASH_B, "ind_0002", 1700000001);
    if (rc == PV_OK) /* queued: the read behind it fails, never "not found" */
        assert_int_equal(pv_store_idem_get(st, "cus_A", "k9", hash, ind), PV_ESTORE);
    assert_int_equal(deferred(st, rc), PV_EEXIST);
    OK(pv_store_rollback_to(st));

    /* Job 2: a PSD that is not there; a read queued behind that write fails too
     * (and keeps no result of its own: LeakSanitizer checks). */
    job(st);
    rc = pv_store_psd_update(st, &missing);
    if (rc == PV_OK)
        assert_int_equal(pv_store_idem_get(st, "cus_A", "k9", hash, ind), PV_ESTORE);
    assert_int_equal(deferred(st, rc), PV_ENOTFOUND);
    OK(pv_store_rollback_to(st));

    /* Job 3: a balance pushed past the money bound. */
    job(st);
    line(&l[0], "customer:cus_A", PV_MILLS_MAX);
    line(&l[1], "card:clearing", -PV_MILLS_MAX);
    assert_int_equal(deferred(st, pv_store_journal_post(st, "card_charge", "ch_2", l, 2, 1)),
                     PV_EOVERFLOW);
    OK(pv_store_rollback_to(st));

    /* Job 4 stands, with what it read and wrote. */
    job(st);
    p = make_psd(1, 100000, 0);
    p.descending -= 250;
    p.ascending += 250;
    p.piece_count++;
    OK(pv_store_psd_update(st, &p));
    OK(pv_store_idem_put(st, "cus_A", "k2", HASH_B, "ind_0003", 1700000002));
    line(&l[0], "customer:cus_A", -250);
    line(&l[1], "card:clearing", 250);
    OK(pv_store_journal_post(st, "postage_sale", "ind_0003", l, 2, 1700000002));
    OK(pv_store_idem_get(st, "cus_A", "k2", hash, ind));
    assert_string_equal(ind, "ind_0003");
    OK(pv_store_defer(st, 0));
    OK(pv_store_release(st));
    OK(pv_store_commit(st));

    OK(pv_store_psd_get(st, 1, &got));
    assert_int_equal(got.descending, 100000 - 250);
    assert_int_equal(got.ascending, 250);
    assert_int_equal(got.piece_count, 8);
    OK(pv_store_idem_get(st, "cus_A", "k1", hash, ind));
    assert_string_equal(ind, "ind_0001");
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 750);
    OK(pv_store_account_balance(st, "card:clearing", &bal));
    assert_int_equal(bal, -750);
    assert_int_equal(pv_store_defer(st, 0), PV_EINVAL); /* the transaction is over */
}

/*
 * pv_store_prefetch_customer (issue 15): the reads a purchase makes of its customer,
 * queued ahead, answer what the same calls would have answered - and a write in
 * between (here the job's own journal entry) is seen, never an answer read before it.
 */
static void test_prefetch(void **state)
{
    struct pv_store *st = *state;
    struct pv_ledger_line l[2];
    struct pv_hold_rec h;
    struct pv_autorefill_rec ar;
    pv_mills bal;

    OK(pv_store_prefetch_customer(st, "cus_A", 0, "customer:cus_A",
                                  PV_FACT_ALL)); /* outside: nothing */
    fund_and_begin(st);
    job(st);
    assert_int_equal(pv_store_prefetch_customer(st, NULL, 0, "customer:cus_A", PV_FACT_ALL),
                     PV_EINVAL);
    OK(pv_store_prefetch_customer(st, "cus_A", 0, "customer:cus_A", PV_FACT_ALL));
    assert_int_equal(pv_store_hold_standing(st, "cus_A", &h), PV_ENOTFOUND);
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 1000);
    assert_int_equal(pv_store_autorefill_get(st, "cus_A", 0, &ar), PV_ENOTFOUND);
    OK(pv_store_account_balance(st, "customer:cus_A", &bal)); /* once more: read again */
    assert_int_equal(bal, 1000);
    OK(pv_store_defer(st, 0));
    OK(pv_store_release(st));

    /* Read ahead, then the job writes: the balance read after it sees the write. */
    job(st);
    OK(pv_store_prefetch_customer(st, "cus_A", 0, "customer:cus_A", PV_FACT_ALL));
    line(&l[0], "customer:cus_A", -250);
    line(&l[1], "revenue:postage", 250);
    OK(pv_store_journal_post(st, "postage_sale", "ind_1", l, 2, 1700000001));
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 750);
    OK(pv_store_defer(st, 0));
    OK(pv_store_release(st));

    /* Read ahead in a job that ends first: the next job reads afresh. */
    job(st);
    OK(pv_store_prefetch_customer(st, "cus_A", 0, "customer:cus_A", PV_FACT_ALL));
    OK(pv_store_defer(st, 0));
    OK(pv_store_rollback_to(st));
    OK(pv_store_savepoint(st));
    line(&l[0], "customer:cus_A", -50);
    line(&l[1], "revenue:postage", 50);
    OK(pv_store_journal_post(st, "postage_sale", "ind_2", l, 2, 1700000002));
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 700);
    OK(pv_store_release(st));
    OK(pv_store_commit(st));
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 700);
}

/* pv_store_server_traffic since since: a's count, then b's (NULL: none), and no other. */
static void expect_traffic(struct pv_store *st, int64_t since, const char *a, int64_t na,
                           const char *b, int64_t nb)
{
    struct pv_server_count *c = NULL;
    size_t n = 99;

    OK(pv_store_server_traffic(st, since, &c, &n));
    assert_int_equal(n, (a != NULL) + (b != NULL));
    if (a) {
        assert_string_equal(c[0].server_id, a);
        assert_int_equal(c[0].count, na);
    }
    if (b) {
        assert_string_equal(c[1].server_id, b);
        assert_int_equal(c[1].count, nb);
    }
    free(c);
}

/* The servers' counts of their indicia from the start (schema v38): two, a's then b's. */
static void expect_counts(struct pv_store *st, const char *a, int64_t na, const char *b, int64_t nb)
{
    expect_traffic(st, 0, a, na, b, nb);
}

/*
 * A purchase batch's reads and writes of many rows at once (issue 15, session 9):
 * pv_store_batch_facts answers, one row a job, whether each job's own reads would
 * find something (PostgreSQL; SQLite answers "read it" for all), and
 * pv_store_indicia_insert stores n indicia - in one statement on PostgreSQL -
 * exactly as n indicium_insert calls would, refusing a duplicate as they would.
 */
/* A webhook endpoint of owner in mode test, enabled or not. */
static void hook_endpoint(struct pv_store *st, const char *id, const char *owner, int test,
                          int enabled)
{
    struct pv_hook_endpoint_rec ep;

    memset(&ep, 0, sizeof ep);
    COPY(ep.id, id);
    COPY(ep.owner_id, owner);
    ep.test = test;
    snprintf(ep.url, sizeof ep.url, "https://shop.example/%s", id);
    COPY(ep.events, "*");
    ep.enabled = enabled;
    COPY(ep.secret, "whsec_test");
    ep.created = ep.updated = 1700000000;
    OK(pv_store_hook_endpoint_insert(st, &ep));
}

static void test_batch_rows(void **state)
{
    struct pv_store *st = *state;
    const char *cus[] = {"cus_A", "cus_B", "cus_A", "cus_B"};
    const char *own[] = {"cus_A", "cus_B", "test:cus_A", "cus_B"};
    const char *keys[] = {"k1", "k1", "k1", "k2"};
    const int64_t tests[] = {0, 0, 1, 0};
    const int pg = strcmp(pv_store_backend_name(st), "postgres") == 0;
    struct pv_indicium_rec r[4], got;
    const struct pv_indicium_rec *recs[4] = {&r[0], &r[1], &r[2], &r[3]};
    struct pv_autorefill_rec ar;
    uint8_t facts[4];
    size_t i;

    seed_for_indicia(st);
    OK(pv_store_idem_put(st, "cus_A", "k1", HASH_A, "ind_0001", 1700000000));
    OK(pv_store_idem_put(st, "test:cus_A", "k2", HASH_A, "ind_0002", 1700000000));
    memset(&ar, 0, sizeof ar);
    COPY(ar.customer_id, "cus_B");
    ar.enabled = 1;
    ar.trigger = 5000;
    ar.amount = 20000;
    COPY(ar.payment_method_id, "pm_1");
    OK(pv_store_autorefill_put(st, &ar));
    /* Webhook endpoints: cus_A's test endpoint, cus_B's live one disabled. */
    hook_endpoint(st, "we_1", "cus_A", 1, 1);
    hook_endpoint(st, "we_2", "cus_B", 0, 0);
    OK(pv_store_batch_facts(st, cus, tests, own, keys, 4, facts));
    if (pg) {
        assert_int_equal(facts[0], PV_FACT_IDEM); /* its key; no hold, rule or live endpoint */
        assert_int_equal(facts[1], PV_FACT_RULE); /* cus_B's key k1 is not cus_A's */
        assert_int_equal(facts[2], PV_FACT_HOOK); /* test mode: k1 and the rule not its */
        assert_int_equal(facts[3], PV_FACT_RULE); /* its endpoint disabled */
    } else {
        for (i = 0; i < 4; i++)
            assert_int_equal(facts[i], PV_FACT_ALL);
    }
    OK(pv_store_batch_facts(st, cus, tests, own, keys, 0, facts));
    assert_int_equal(pv_store_batch_facts(st, NULL, tests, own, keys, 4, facts), PV_EINVAL);

    make_indicium(&r[0], "ind_0101", "cus_A", 1, 8, "");
    make_indicium(&r[1], "ind_0102", "cus_B", 1, 9, "SH-000123-0042-K7Q");
    make_indicium(&r[2], "ind_0103", "cus_A", 2, 9, "");
    OK(pv_text_set(&r[2].from_address, "1 Main St"));
    r[2].services = 3;
    r[2].surcharge_mills = 40;
    make_indicium(&r[3], "ind_0104", "cus_B", 2, 10, "");
    OK(pv_text_set(&r[3].metadata, "order=17\n")); /* its metadata rows too */
    COPY(r[1].server_id, "srv_proc2");
    OK(pv_store_begin(st));
    OK(pv_store_indicia_insert(st, recs, 4));
    OK(pv_store_commit(st));
    /* Each server's count (schema v38): on SQLite kept by the store once a run of a server's
     * rows (v40), on PostgreSQL by its trigger once a statement; and each PSD's day (v44),
     * on PostgreSQL from both the piece with metadata rows (inserted alone) and the others. */
    expect_counts(st, "srv_proc1", 3, "srv_proc2", 1);
    {
        struct pv_sales_day *d = NULL;
        size_t nd = 0;

        OK(pv_store_sales_daily(st, 0, &d, &nd));
        assert_int_equal(nd, 2);
        assert_int_equal(d[0].psd_id, 1);
        assert_int_equal(d[0].count, 2);
        assert_int_equal(d[1].psd_id, 2);
        assert_int_equal(d[1].count, 2);
        assert_int_equal(d[1].postage, 730 * 2);
        free(d);
    }
    for (i = 0; i < 4; i++) {
        OK(pv_store_indicium_get(st, r[i].id, &got));
        assert_indicium_equal(&got, &r[i]);
        assert_string_equal(pv_text(got.from_address), pv_text(r[i].from_address));
        assert_int_equal(got.services, r[i].services);
        assert_int_equal(got.surcharge_mills, r[i].surcharge_mills);
        assert_string_equal(pv_text(got.metadata), pv_text(r[i].metadata));
        pv_indicium_rec_clear(&got);
    }
    pv_indicium_rec_clear(&r[2]);
    pv_indicium_rec_clear(&r[3]);
    /* (device, serial) is unique: the whole statement is refused, nothing of it stored. */
    make_indicium(&r[0], "ind_0105", "cus_A", 1, 11, "");
    make_indicium(&r[1], "ind_0106", "cus_A", 1, 8, "");
    OK(pv_store_begin(st));
    assert_int_equal(pv_store_indicia_insert(st, recs, 2), PV_EEXIST);
    OK(pv_store_rollback(st));
    assert_int_equal(pv_store_indicium_get(st, "ind_0105", &got), PV_ENOTFOUND);
    /* Outside a transaction too: one write, the rows and their counts or nothing. */
    assert_int_equal(pv_store_indicia_insert(st, recs, 2), PV_EEXIST);
    assert_int_equal(pv_store_indicium_get(st, "ind_0105", &got), PV_ENOTFOUND);
    expect_counts(st, "srv_proc1", 3, "srv_proc2", 1);
    r[0].data_len = 0;
    assert_int_equal(pv_store_indicia_insert(st, recs, 2), PV_EINVAL);
}

/*
 * pv_store_journal_batch (issue 15, session 9): inside a purchase batch the jobs'
 * journals wait for one statement, but each job's balances move in its savepoint, and
 * a job rolled back leaves no journal: the books are what per-job posting would leave.
 */
static void test_journal_batch(void **state)
{
    struct pv_store *st = *state;
    struct pv_ledger_line l[4];
    struct pv_txn_rec *lines = NULL;
    struct pv_ledger_issue *issues = NULL;
    int64_t journals, accounts;
    size_t n = 0;
    pv_mills bal;

    fund_and_begin(st);
    OK(pv_store_journal_batch(st, 1));
    line(&l[0], "customer:cus_A", -250);
    line(&l[1], "revenue:postage", 250);
    line(&l[2], "psd:1", -250);
    line(&l[3], "postage_dispensed", 250);
    l[1].shared = l[3].shared = 1;
    pv_store_set_part(st, 7);
    job(st);
    OK(pv_store_journal_post(st, "postage_sale", "ind_1", l, 4, 1700000001));
    OK(pv_store_defer(st, 0));
    OK(pv_store_release(st));
    OK(pv_store_account_balance(st, "customer:cus_A", &bal)); /* seen by the next job */
    assert_int_equal(bal, 750);
    job(st); /* this one is rolled back: its balances and its journal go */
    OK(pv_store_journal_post(st, "postage_sale", "ind_2", l, 4, 1700000002));
    OK(pv_store_defer(st, 0));
    OK(pv_store_rollback_to(st));
    job(st);
    l[0].amount = -100;
    l[1].amount = 100;
    l[2].amount = -100;
    l[3].amount = 100;
    OK(pv_store_journal_post(st, "postage_sale", "ind_3", l, 4, 1700000003));
    OK(pv_store_defer(st, 0));
    OK(pv_store_release(st));
    OK(pv_store_journal_batch(st, 0));
    OK(pv_store_commit(st));

    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 650);
    OK(pv_store_account_balance(st, "revenue:postage", &bal));
    assert_int_equal(bal, 350);
    OK(pv_store_account_lines(st, "customer:cus_A", 0, 10, &lines, &n));
    assert_int_equal(n, 3); /* the funding, ind_3, ind_1: newest first */
    assert_string_equal(lines[0].ref, "ind_3");
    assert_int_equal(lines[0].amount, -100);
    assert_string_equal(lines[1].ref, "ind_1");
    assert_true(lines[0].journal_id > lines[1].journal_id);
    free(lines);
    OK(pv_store_ledger_audit(st, &journals, &accounts, &issues, &n));
    assert_int_equal(journals, 3);
    assert_int_equal(n, 0);
    free(issues);

    /* Kept journals are written by commit too, and dropped by rollback. */
    OK(pv_store_begin(st));
    OK(pv_store_journal_batch(st, 1));
    OK(pv_store_journal_post(st, "postage_sale", "ind_4", l, 4, 1700000004));
    OK(pv_store_rollback(st));
    OK(pv_store_begin(st));
    OK(pv_store_journal_batch(st, 1));
    OK(pv_store_journal_post(st, "postage_sale", "ind_5", l, 4, 1700000005));
    OK(pv_store_commit(st));
    OK(pv_store_ledger_audit(st, &journals, &accounts, &issues, &n));
    assert_int_equal(journals, 4);
    assert_int_equal(n, 0);
    free(issues);
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 550);
    assert_int_equal(pv_store_journal_batch(st, 1), PV_EINVAL); /* outside a transaction */
}

/*
 * lock_batch keeps the balances it locked (PostgreSQL): account_balance answers them plus
 * the batch's kept lines, and reads the row again once a journal written at once moved it.
 */
static void test_batch_balances(void **state)
{
    struct pv_store *st = *state;
    const char acct[][PV_ACCOUNT_MAX] = {"customer:cus_A", "customer:cus_none"};
    struct pv_ledger_line l[2];
    pv_mills bal;

    fund_and_begin(st);
    OK(pv_store_lock_batch(st, acct, 2));
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 1000);
    assert_int_equal(pv_store_account_balance(st, "customer:cus_none", &bal), PV_ENOTFOUND);
    OK(pv_store_journal_batch(st, 1));
    line(&l[0], "customer:cus_A", -250);
    line(&l[1], "revenue:postage", 250);
    job(st);
    /* Known: not read ahead, answered from what the lock read plus the kept lines. */
    OK(pv_store_prefetch_customer(st, "cus_A", 0, "customer:cus_A", PV_FACT_ALL));
    OK(pv_store_journal_post(st, "postage_sale", "ind_1", l, 2, 1700000001));
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 750);
    OK(pv_store_defer(st, 0));
    OK(pv_store_release(st));
    OK(pv_store_journal_batch(st, 0));
    /* Written: the balance counts them, not the lock's 1000 again (review, session 9). */
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 750);
    line(&l[0], "customer:cus_A", 100);
    line(&l[1], "card:clearing", -100);
    OK(pv_store_journal_post(st, "card_charge", "ch_2", l, 2, 1700000002)); /* at once */
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 850);
    OK(pv_store_commit(st));
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 850);
}

/* A batch locking its customers late (store_batch.h, issue 15 session 10): the balances read
 * without a lock, so another connection's purchase of the same customer goes through at once;
 * settle locks the rows and says what was read and what is locked; undo forgets the jobs'
 * kept lines. SQLite: nothing to do late (its write lock is the whole database's). */
static void test_batch_late(void **state)
{
    struct pv_store *st = *state, *other = NULL;
    const char acct[][PV_ACCOUNT_MAX] = {"customer:cus_A", "customer:cus_none"};
    struct pv_ledger_line l[2];
    pv_mills bal, was[2], now[2];
    int late = -1, moved = -1;

    fund_and_begin(st);
    OK(pv_store_lock_batch(st, NULL, 0));
    OK(pv_store_journal_batch(st, 1));
    OK(pv_store_batch_late(st, acct, 2, &late));
    if (!late) {
        OK(pv_store_commit(st));
        assert_int_equal(pv_store_batch_late(st, acct, 2, &late), PV_EINVAL); /* no begin() */
        return;
    }
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 1000);
    line(&l[0], "customer:cus_A", -250);
    line(&l[1], "revenue:postage", 250);
    job(st);
    OK(pv_store_journal_post(st, "postage_sale", "ind_1", l, 2, 1700000001));
    OK(pv_store_defer(st, 0));
    OK(pv_store_release(st));
    /* Another writer spends 300 of the same customer meanwhile: no lock to wait for. */
    OK(pv_store_open(dsn, &other));
    line(&l[0], "customer:cus_A", -300);
    line(&l[1], "revenue:postage", 300);
    OK(pv_store_journal_post(other, "postage_sale", "ind_2", l, 2, 1700000002));
    OK(pv_store_batch_settle(st, acct, 2, was, now, &moved));
    assert_int_equal(moved, 0);
    assert_int_equal(was[0], 1000);
    assert_int_equal(now[0], 700);
    assert_int_equal(was[1], 0); /* no row */
    assert_int_equal(now[1], 0);
    OK(pv_store_account_balance(st, "customer:cus_A", &bal)); /* the locked one and the kept */
    assert_int_equal(bal, 450);
    /* Back to before the jobs, then locking first: the kept line is gone. */
    OK(pv_store_batch_undo(st));
    OK(pv_store_lock_batch(st, acct, 2));
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 700);
    OK(pv_store_commit(st));
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 700);
    /* A journal written at once on a known balance: settle says it moved. */
    OK(pv_store_begin(st));
    OK(pv_store_lock_batch(st, NULL, 0));
    OK(pv_store_journal_batch(st, 1));
    OK(pv_store_batch_late(st, acct, 1, &late));
    line(&l[0], "customer:cus_A", 100);
    line(&l[1], "card:clearing", -100);
    OK(pv_store_journal_post(st, "card_charge", NULL, l, 2, 1700000003)); /* no ref: at once */
    OK(pv_store_batch_settle(st, acct, 1, was, now, &moved));
    assert_int_equal(moved, 1);
    OK(pv_store_rollback(st));
    pv_store_close(other);
}

/* A batch locking late keeps its jobs' idempotency rows (PostgreSQL, issue 15 session 11):
 * idem_put runs no statement, a job's rollback_to forgets its row, settle writes the rest in
 * one statement before the customers' rows; a key another connection stored meanwhile is
 * not written and sends the batch back (moved), and its undo leaves none of the batch's. */
static void test_batch_late_keys(void **state)
{
    struct pv_store *st = *state, *other = NULL;
    const char acct[][PV_ACCOUNT_MAX] = {"customer:cus_A"};
    char hash[PV_HASH_HEX], ind[PV_ID_MAX];
    pv_mills was[1], now[1];
    uint64_t ran;
    int late = -1, moved = -1;

    fund_and_begin(st);
    OK(pv_store_lock_batch(st, NULL, 0));
    OK(pv_store_journal_batch(st, 1));
    OK(pv_store_batch_late(st, acct, 1, &late));
    if (!late) { /* SQLite: written at once, as ever */
        OK(pv_store_idem_put(st, "cus_A", "k-1", HASH_A, "ind_1", 1700000001));
        OK(pv_store_commit(st));
        OK(pv_store_idem_get(st, "cus_A", "k-1", hash, ind));
        return;
    }
    job(st);
    ran = pv_store_statements(st);
    OK(pv_store_idem_put(st, "cus_A", "k-1", HASH_A, "ind_1", 1700000001));
    assert_int_equal(pv_store_statements(st), ran); /* kept, not sent */
    OK(pv_store_defer(st, 0));
    OK(pv_store_release(st));
    job(st); /* refused after its put: its row goes with its savepoint */
    OK(pv_store_idem_put(st, "cus_A", "k-2", HASH_A, "ind_2", 1700000002));
    OK(pv_store_defer(st, 0));
    OK(pv_store_rollback_to(st));
    job(st);
    OK(pv_store_idem_put(st, "cus_A", "k-3", HASH_B, "ind_3", 1700000003));
    OK(pv_store_defer(st, 0));
    OK(pv_store_release(st));
    OK(pv_store_batch_settle(st, acct, 1, was, now, &moved));
    assert_int_equal(moved, 0);
    OK(pv_store_commit(st));
    OK(pv_store_idem_get(st, "cus_A", "k-1", hash, ind));
    assert_string_equal(ind, "ind_1");
    assert_int_equal(pv_store_idem_get(st, "cus_A", "k-2", hash, ind), PV_ENOTFOUND);
    OK(pv_store_idem_get(st, "cus_A", "k-3", hash, ind));
    assert_string_equal(hash, HASH_B);

    /* Another connection stores k-5 after this batch's read: the batch is sent back. */
    OK(pv_store_open(dsn, &other));
    OK(pv_store_begin(st));
    OK(pv_store_lock_batch(st, NULL, 0));
    OK(pv_store_journal_batch(st, 1));
    OK(pv_store_batch_late(st, acct, 1, &late));
    job(st);
    OK(pv_store_idem_put(st, "cus_A", "k-4", HASH_A, "ind_4", 1700000004));
    OK(pv_store_defer(st, 0));
    OK(pv_store_release(st));
    job(st);
    OK(pv_store_idem_put(st, "cus_A", "k-5", HASH_A, "ind_5", 1700000005));
    OK(pv_store_defer(st, 0));
    OK(pv_store_release(st));
    OK(pv_store_idem_put(other, "cus_A", "k-5", HASH_B, "ind_other", 1700000005));
    OK(pv_store_batch_settle(st, acct, 1, was, now, &moved));
    assert_int_equal(moved, 1);
    OK(pv_store_batch_undo(st));
    OK(pv_store_lock_batch(st, acct, 1)); /* locking first: the job finds the key */
    OK(pv_store_idem_get(st, "cus_A", "k-5", hash, ind));
    assert_string_equal(ind, "ind_other");
    OK(pv_store_commit(st));
    assert_int_equal(pv_store_idem_get(st, "cus_A", "k-4", hash, ind), PV_ENOTFOUND);
    pv_store_close(other);
}

/* A batch locking late, as purchase.c runs one (issue 15, session 13): its lock, its first PSD
 * row (session 14), savepoint and gate ride with its two reads, its keys with its customers' lock,
 * a job that only keeps its rows waits for nothing - not even for the RELEASE of a job before it
 * that read (1 round trip of its own) -, and the tails go with the COMMIT: 2 round trips to the
 * jobs, 1 for the settle, 1 for the tails with the COMMIT (7 before session 13). Into w[0..4) the
 * round trips after each of those steps; key names the job's key, amount what it moves. Answers the
 * commit. */
static int late_batch(struct pv_store *st, const char *key, pv_mills amount, uint64_t w[4])
{
    const char acct[][PV_ACCOUNT_MAX] = {"customer:cus_A"};
    const char *cus[] = {"cus_A"}, *own[] = {"cus_A"}, *keys[] = {key};
    const int64_t tests[] = {0};
    struct pv_ledger_line l[2];
    char hash[PV_HASH_HEX], ind[PV_ID_MAX];
    pv_mills was[1], now[1];
    uint8_t facts[1];
    uint64_t w0;
    struct pv_psd_rec psd;
    int late = 0, moved = -1, rc;

    OK(pv_store_begin(st)); /* queued: no wait yet */
    w0 = pv_store_waits(st);
    OK(pv_store_lock_batch(st, NULL, 0));
    OK(pv_store_prefetch_psd(st, 1)); /* the first job's PSD row, ahead of the facts */
    OK(pv_store_batch_facts(st, cus, tests, own, keys, 1, facts));
    OK(pv_store_psd_get(st, 1, &psd)); /* answered from what the facts' round trip read */
    assert_int_equal(psd.descending, 100000);
    w[0] = pv_store_waits(st) - w0; /* BEGIN, the lock, the PSD row and the facts */
    OK(pv_store_journal_batch(st, 1));
    OK(pv_store_batch_late(st, acct, 1, &late));
    assert_int_equal(late, 1);
    job(st); /* a job that reads: its savepoint with it, its RELEASE queued */
    assert_int_equal(pv_store_idem_get(st, "cus_A", "k-none", hash, ind), PV_ENOTFOUND);
    OK(pv_store_defer(st, 0));
    OK(pv_store_release(st));
    job(st);
    OK(pv_store_idem_put(st, "cus_A", key, HASH_A, "ind_rt", 1700000001));
    line(&l[0], "customer:cus_A", -amount);
    line(&l[1], "revenue:postage", amount);
    OK(pv_store_journal_post(st, "postage_sale", key, l, 2, 1700000001));
    OK(pv_store_defer(st, 0));
    OK(pv_store_release(st));
    job(st); /* a job refused after its rows: nothing to undo in the database */
    OK(pv_store_defer(st, 0));
    OK(pv_store_rollback_to(st));
    w[1] = pv_store_waits(st) - w0; /* + the savepoint, the gate, the balances; the read */
    OK(pv_store_batch_settle(st, acct, 1, was, now, &moved));
    assert_int_equal(moved, 0);
    w[2] = pv_store_waits(st) - w0; /* + the keys with the customers' lock */
    OK(pv_store_defer(st, 1));
    OK(pv_store_journal_batch(st, 0));
    OK(pv_store_push(st));
    rc = pv_store_commit(st); /* reads the queued journals too */
    w[3] = pv_store_waits(st) - w0;
    return rc;
}

static void test_batch_round_trips(void **state)
{
    struct pv_store *st = *state;
    struct pv_ledger_line l[2];
    char hash[PV_HASH_HEX], ind[PV_ID_MAX];
    struct pv_psd_rec psd;
    uint64_t w[4];
    pv_mills bal;

    if (strcmp(pv_store_backend_name(st), "postgres") != 0)
        skip(); /* SQLite waits for no server */
    if (pv_store_psd_get(st, 1, &psd) == PV_ENOTFOUND) {
        psd = make_psd(1, 100000, 0);
        OK(pv_store_psd_insert(st, &psd));
    }
    line(&l[0], "customer:cus_A", 1000);
    line(&l[1], "card:clearing", -1000);
    OK(pv_store_journal_post(st, "card_charge", "ch_1", l, 2, 1700000000));
    OK(late_batch(st, "k-rt1", 100, w)); /* its statements prepared: once per connection */
    OK(late_batch(st, "k-rt2", 100, w));
    assert_int_equal(w[0], 1);
    assert_int_equal(w[1], 3);
    assert_int_equal(w[2], 4);
    assert_int_equal(w[3], 5);
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 800);
    /* A queued write the server refuses (revenue past the money bound): the COMMIT, sent
     * behind it, is skipped; commit answers the write's own code and nothing stands. */
    assert_int_equal(late_batch(st, "k-rt3", PV_MILLS_MAX, w), PV_EOVERFLOW);
    assert_int_equal(w[3], 6); /* and the ROLLBACK's */
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, 800);
    OK(pv_store_account_balance(st, "revenue:postage", &bal));
    assert_int_equal(bal, 200);
    assert_int_equal(pv_store_idem_get(st, "cus_A", "k-rt3", hash, ind), PV_ENOTFOUND);
}

/* The batch's shared lock is queued (session 13): a wait past lock_timeout behind a
 * lock_writer holder answers the batch's first read, PV_EBUSY as before. */
static void test_batch_lock_queued_busy(void **state)
{
    struct pv_store *st = *state, *quick = NULL;
    const char *cus[] = {"cus_A"}, *own[] = {"cus_A"}, *keys[] = {"k-busy"};
    const int64_t tests[] = {0};
    uint8_t facts[1];

    if (strcmp(pv_store_backend_name(st), "postgres") != 0)
        skip();                                    /* SQLite queues nothing */
    setenv("PGOPTIONS", "-c lock_timeout=200", 1); /* this handle waits 0.2 s, not 10 */
    OK(pv_store_open(dsn, &quick));
    unsetenv("PGOPTIONS");
    OK(pv_store_begin(st));
    OK(pv_store_lock_writer(st)); /* held whole */
    OK(pv_store_begin(quick));
    OK(pv_store_lock_batch(quick, NULL, 0)); /* queued: answers nothing yet */
    assert_int_equal(pv_store_batch_facts(quick, cus, tests, own, keys, 1, facts), PV_EBUSY);
    OK(pv_store_rollback(quick));
    OK(pv_store_rollback(st));
    OK(pv_store_begin(quick)); /* free now: the same batch goes through */
    OK(pv_store_lock_batch(quick, NULL, 0));
    OK(pv_store_batch_facts(quick, cus, tests, own, keys, 1, facts));
    OK(pv_store_rollback(quick));
    pv_store_close(quick);
}

/* Another handle's batch on customer:cus_B, in a thread: locking first or late. */
struct gate_try {
    struct pv_store *st;
    int late;
    int rc;
    volatile int done;
};

static void *gate_try(void *arg)
{
    struct gate_try *g = arg;
    const char acct[][PV_ACCOUNT_MAX] = {"customer:cus_B"};
    int late = 0, rc = pv_store_begin(g->st);

    if (rc == PV_OK && !g->late)
        rc = pv_store_lock_batch(g->st, acct, 1);
    if (rc == PV_OK && g->late && (rc = pv_store_lock_batch(g->st, NULL, 0)) == PV_OK &&
        (rc = pv_store_journal_batch(g->st, 1)) == PV_OK)
        rc = pv_store_batch_late(g->st, acct, 1, &late);
    g->rc = rc;
    g->done = 1;
    return NULL;
}

/* Waits up to ms for g->done. */
static int gate_done(struct gate_try *g, int ms)
{
    const struct timespec tick = {0, 10 * 1000 * 1000};

    for (int i = 0; i < ms / 10 && !g->done; i++)
        nanosleep(&tick, NULL);
    return g->done;
}

/* The late lock's pair (PostgreSQL, schema v26, issue 15 session 11): two batches that lock
 * their customers first run side by side (before, the late lock whole made them take turns);
 * a batch locking late still waits for one that locks first, and the other way round. */
/* Runs sql on the test's database with the cluster's psql; 0 = ok. */
static int psql_run(const char *sql)
{
    return pv_test_psql(dsn, sql, NULL, 0);
}

/*
 * The watch (store_watch.h, schema v28; issue 15, session 12): a revocation is
 * told once it commits, an insert is not; on PostgreSQL a watch whose backend is
 * gone says so instead of "nothing came". SQLite's watch reads a change count
 * the triggers bump, so another handle's (another process's) change is seen.
 */
static void test_watch(void **state)
{
    struct pv_store *st = *state;
    struct pv_watch *w = NULL;
    struct pv_customer_rec c = make_customer("cus_W", "w@example.com");
    int pg = strcmp(backend->name, "postgres") == 0;

    assert_int_equal(pv_watch_open(dsn, "Bad-Name", &w), PV_ECONFIG);
    assert_null(w);
    assert_int_equal(pv_watch_open(dsn, "no_such_channel", &w), pg ? PV_OK : PV_ECONFIG);
    pv_watch_close(w);
    w = NULL;
    OK(pv_watch_open(dsn, PV_WATCH_API_KEYS, &w));
    assert_int_equal(pv_watch_wait(w, 50), 0); /* alive, nothing */
    OK(pv_store_customer_insert(st, &c));
    OK(pv_store_apikey_insert(st, "key_w1", HASH_A, "sk_live_w1w1", PV_ROLE_CUSTOMER, "cus_W",
                              1700000001));
    assert_int_equal(pv_watch_wait(w, 120), 0);
    OK(pv_store_apikey_revoke(st, "cus_W", "key_w1", 1700000002));
    assert_int_equal(pv_watch_wait(w, 5000), 1);
    assert_int_equal(pv_watch_wait(w, 120), 0);
    /* A revocation that changed no row: PostgreSQL's statement trigger tells it anyway
     * (harmless: a cache forgets), SQLite's row triggers do not. */
    assert_int_equal(pv_store_apikey_revoke(st, "cus_W", "key_w1", 1700000003), PV_ENOTFOUND);
    assert_int_equal(pv_watch_wait(w, pg ? 5000 : 120), pg ? 1 : 0);
    /* Inside a transaction: told at its commit, not before. */
    OK(pv_store_apikey_insert(st, "key_w2", HASH_B, "sk_live_w2w2", PV_ROLE_CUSTOMER, "cus_W",
                              1700000004));
    OK(pv_store_begin(st));
    OK(pv_store_apikey_revoke(st, "cus_W", "key_w2", 1700000005));
    assert_int_equal(pv_watch_wait(w, 120), 0);
    OK(pv_store_commit(st));
    assert_int_equal(pv_watch_wait(w, 5000), 1);
    if (pg) {
        /* Its backend terminated: lost, not "nothing came". */
        assert_int_equal(psql_run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE application_name = 'stampd-watch' "
                                  "AND datname = current_database()"),
                         0);
        assert_int_equal(pv_watch_wait(w, 5000), PV_ESTORE);
    }
    pv_watch_close(w);
}

/* PostgreSQL: a read snapshot whose connection is lost fails its next read instead of going
 * on on a new connection, at another moment; after end_read the handle connects again. */
static void test_read_snapshot_lost(void **state)
{
    struct pv_store *st = *state;
    struct pv_psd_rec p = make_psd(1, 1000, 0), got;

    if (strcmp(backend->name, "postgres") != 0)
        skip(); /* SQLite has no connection to lose */
    OK(pv_store_psd_insert(st, &p));
    OK(pv_store_begin_read(st));
    OK(pv_store_psd_get(st, 1, &got));
    assert_int_equal(psql_run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE state = 'idle in transaction' "
                              "AND datname = current_database() AND pid <> pg_backend_pid()"),
                     0);
    assert_int_equal(pv_store_psd_get(st, 1, &got), PV_ESTORE);
    assert_int_equal(pv_store_psd_get(st, 1, &got), PV_ESTORE);
    (void) pv_store_end_read(st);
    OK(pv_store_psd_get(st, 1, &got));
    assert_int_equal(got.descending, 1000);
}

/*
 * A statement that fails inside a PostgreSQL snapshot (its table renamed away by another
 * connection, so the kept plan cannot be made again) leaves the transaction aborted: the reads
 * after it fail too, instead of going on in a new transaction at another moment, and the
 * handle reads again after end_read.
 */
static void test_read_snapshot_failed(void **state)
{
    struct pv_store *st = *state;
    struct pv_psd_rec p = make_psd(1, 1000, 0), got;
    pv_mills bal = 0;

    if (strcmp(backend->name, "postgres") != 0)
        skip(); /* SQLite ends its snapshot itself on an error, and says so (lite_run) */
    OK(pv_store_psd_insert(st, &p));
    OK(pv_store_psd_get(st, 1, &got)); /* planned and kept */
    OK(pv_store_begin_read(st));
    assert_int_equal(psql_run("ALTER TABLE psds RENAME TO psds_away"), 0);
    assert_int_equal(pv_store_psd_get(st, 1, &got), PV_ESTORE);
    assert_int_equal(pv_store_account_balance(st, "revenue:postage", &bal), PV_ESTORE);
    assert_int_equal(psql_run("ALTER TABLE psds_away RENAME TO psds"), 0);
    assert_int_equal(pv_store_psd_get(st, 1, &got), PV_ESTORE); /* still the aborted one */
    (void) pv_store_end_read(st);
    OK(pv_store_psd_get(st, 1, &got));
    assert_int_equal(got.descending, 1000);
    assert_int_equal(pv_store_account_balance(st, "revenue:postage", &bal), PV_ENOTFOUND);
}

static void test_batch_gate(void **state)
{
    struct pv_store *st = *state, *other = NULL;
    const char acct[][PV_ACCOUNT_MAX] = {"customer:cus_A"};
    struct gate_try g;
    pthread_t t;

    if (strcmp(backend->name, "sqlite") == 0)
        return; /* one write lock for the whole file */
    OK(pv_store_open(dsn, &other));
    OK(pv_store_begin(st));
    OK(pv_store_lock_batch(st, acct, 1)); /* locking first */
    memset(&g, 0, sizeof g);
    g.st = other;
    assert_int_equal(pthread_create(&t, NULL, gate_try, &g), 0);
    assert_true(gate_done(&g, 5000)); /* not waiting for st's commit */
    pthread_join(t, NULL);
    OK(g.rc);
    OK(pv_store_commit(other));
    /* Locking late beside a batch locking first: waits for its commit. */
    memset(&g, 0, sizeof g);
    g.st = other;
    g.late = 1;
    assert_int_equal(pthread_create(&t, NULL, gate_try, &g), 0);
    assert_false(gate_done(&g, 300));
    OK(pv_store_commit(st));
    pthread_join(t, NULL);
    OK(g.rc);
    /* And locking first beside a batch locking late (other's, still open): waits too. */
    memset(&g, 0, sizeof g);
    g.st = st;
    assert_int_equal(pthread_create(&t, NULL, gate_try, &g), 0);
    assert_false(gate_done(&g, 300));
    OK(pv_store_rollback(other));
    pthread_join(t, NULL);
    OK(g.rc);
    OK(pv_store_commit(st));
    pv_store_close(other);
}

/* Two processes migrating one empty database at once: both succeed, one does the work. */
struct migrator {
    struct pv_store *st;
    pthread_barrier_t *go;
    int rc, from, to;
};

static void *migrate_one(void *arg)
{
    struct migrator *m = arg;

    pthread_barrier_wait(m->go);
    m->rc = pv_store_migrate(m->st, &m->from, &m->to);
    return NULL;
}

static void test_migrate_concurrent(void **state)
{
    struct migrator m[2];
    pthread_barrier_t go;
    pthread_t t[2];
    struct pv_store *st = NULL;
    int i, v = -1;

    (void) state;
    memset(m, 0, sizeof m);
    assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
    for (i = 0; i < 2; i++) {
        OK(pv_store_open(dsn, &m[i].st));
        m[i].go = &go;
    }
    for (i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, migrate_one, &m[i]), 0);
    for (i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    for (i = 0; i < 2; i++)
        pv_store_close(m[i].st);
    for (i = 0; i < 2; i++) {
        OK(m[i].rc);
        assert_int_equal(m[i].to, PV_SCHEMA_VERSION);
    }
    /* Exactly one of them applied the migrations. */
    assert_true((m[0].from == 0) != (m[1].from == 0));
    assert_int_equal(m[0].from + m[1].from, PV_SCHEMA_VERSION);
    OK(pv_store_open_checked(dsn, &st));
    OK(pv_store_schema_version(st, &v));
    assert_int_equal(v, PV_SCHEMA_VERSION);
    pv_store_close(st);
}

/*
 * A piece's optional texts are owned strings (store_indicium.h): NULL when
 * none, read back as written, each bounded like the arrays they replace, and
 * a record in flight no longer carries ~13 KiB of them.
 */
static void test_indicium_texts(void **state)
{
    struct pv_store *st = *state;
    struct pv_indicium_rec a, b, got, *list = NULL;
    char *big = malloc(PV_METADATA_MAX + 1);
    size_t n;

    assert_true(sizeof(struct pv_indicium_rec) < 1024);
    assert_non_null(big);
    seed_for_indicia(st);
    make_indicium(&a, "ind_0001", "cus_A", 1, 8, "");
    OK(pv_text_set(&a.to_address, "Jo\nNew York"));
    OK(pv_text_set(&a.metadata, "order=1\n"));
    OK(pv_store_indicium_insert(st, &a));
    make_indicium(&b, "ind_0002", "cus_A", 1, 9, "");
    OK(pv_text_set(&b.from_address, "")); /* "" is none */
    assert_null(b.from_address);
    OK(pv_store_indicium_insert(st, &b));

    OK(pv_store_indicium_get(st, "ind_0001", &got));
    assert_null(got.from_address);
    assert_string_equal(got.to_address, "Jo\nNew York");
    assert_string_equal(got.metadata, "order=1\n");
    pv_indicium_rec_clear(&got);
    assert_null(got.to_address);
    OK(pv_store_indicium_find(st, 1, 9, &got));
    assert_null(got.from_address);
    assert_null(got.to_address);
    assert_null(got.metadata);
    OK(pv_store_indicium_list(st, "cus_A", NULL, 10, &list, &n));
    assert_int_equal(n, 2);
    assert_string_equal(list[1].to_address, "Jo\nNew York");
    pv_indicium_recs_free(list, n);

    /* The bounds of the arrays: one byte under is taken, at the bound refused. */
    make_indicium(&b, "ind_0003", "cus_A", 1, 10, "");
    memset(big, 'a', PV_METADATA_MAX);
    big[PV_ADDRESS_MAX] = '\0';
    OK(pv_text_set(&b.to_address, big));
    assert_int_equal(pv_store_indicium_insert(st, &b), PV_EINVAL);
    big[PV_ADDRESS_MAX - 1] = '\0';
    OK(pv_text_set(&b.to_address, big));
    memset(big, 'a', PV_METADATA_MAX);
    memcpy(big, "k=", 2);
    big[PV_METADATA_MAX] = '\0';
    OK(pv_text_set(&b.metadata, big));
    assert_int_equal(pv_store_indicium_insert(st, &b), PV_EINVAL);
    pv_indicium_rec_clear(&b);
    assert_null(b.metadata);
    pv_indicium_rec_clear(&a);
    free(big);
}

static void test_printing(void **state)
{
    struct pv_store *st = *state;
    struct pv_indicium_rec a, got;
    struct pv_printer_rec p, *list;
    size_t n;

    seed_for_indicia(st);
    make_indicium(&a, "ind_0001", "cus_A", 1, 8, "");
    OK(pv_text_set(&a.from_address, "Ada Lovelace\n1 Main St\nSan Francisco CA 94107"));
    OK(pv_text_set(&a.to_address, "Charles Babbage\n2 Broad St\nNew York NY 10001-1234"));
    OK(pv_store_indicium_insert(st, &a));
    OK(pv_store_indicium_get(st, "ind_0001", &got));
    assert_string_equal(got.from_address, a.from_address);
    assert_string_equal(got.to_address, a.to_address);
    assert_int_equal(got.prints, 0);
    pv_indicium_rec_clear(&got);
    pv_indicium_rec_clear(&a);

    /* Every render is recorded and counted; an unknown indicium is not. */
    OK(pv_store_render_record(st, "ind_0001", "cus_A", "pdf", "label-4x6", 1700002000));
    OK(pv_store_render_record(st, "ind_0001", "op_X", "zpl", "label-4x6", 1700002001));
    assert_int_equal(pv_store_render_record(st, "ind_nope", "cus_A", "pdf", "label-4x6", 1),
                     PV_ENOTFOUND);
    OK(pv_store_indicium_get(st, "ind_0001", &got));
    assert_int_equal(got.prints, 2);
    pv_indicium_rec_clear(&got);

    /* Printers: put, replace, get, list, delete; scoped to the customer. */
    memset(&p, 0, sizeof p);
    COPY(p.name, "zebra");
    p.offset_x = 150;
    p.offset_y = -75;
    p.updated = 1700003000;
    OK(pv_store_printer_put(st, "cus_A", &p));
    p.offset_y = -80;
    OK(pv_store_printer_put(st, "cus_A", &p));
    COPY(p.name, "laser");
    OK(pv_store_printer_put(st, "cus_A", &p));
    OK(pv_store_printer_get(st, "cus_A", "zebra", &p));
    assert_int_equal(p.offset_x, 150);
    assert_int_equal(p.offset_y, -80);
    assert_int_equal(pv_store_printer_get(st, "cus_B", "zebra", &p), PV_ENOTFOUND);
    OK(pv_store_printer_list(st, "cus_A", &list, &n));
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "laser");
    assert_string_equal(list[1].name, "zebra");
    free(list);
    /* Offsets beyond 10 mm are refused by the schema, and nothing changes. */
    COPY(p.name, "zebra");
    p.offset_x = 1001;
    assert_int_not_equal(pv_store_printer_put(st, "cus_A", &p), PV_OK);
    OK(pv_store_printer_get(st, "cus_A", "zebra", &p));
    assert_int_equal(p.offset_x, 150);
    assert_int_equal(pv_store_printer_delete(st, "cus_B", "zebra"), PV_ENOTFOUND);
    OK(pv_store_printer_delete(st, "cus_A", "zebra"));
    assert_int_equal(pv_store_printer_delete(st, "cus_A", "zebra"), PV_ENOTFOUND);
}

static void test_servers(void **state)
{
    const int64_t m = 1700001001 / 60; /* the minute of make_indicium's first pieces */
    struct pv_store *st = *state;
    struct pv_server_rec r, *list;
    struct pv_server_count *counts;
    struct pv_indicium_rec ind;
    size_t n;
    int status = -1;

    memset(&r, 0, sizeof r);
    COPY(r.id, "proc-a");
    COPY(r.address, "http://127.0.0.1:9001");
    COPY(r.crypto_module, "openssl");
    COPY(r.key_ids, "1,3");
    r.started_ms = r.heartbeat_ms = 1700000000000;
    OK(pv_store_server_register(st, &r));
    COPY(r.id, "proc-b");
    OK(pv_store_server_register(st, &r));
    OK(pv_store_server_heartbeat(st, "proc-a", "1", 1700000001000, &status));
    assert_int_equal(status, PV_SERVER_ACTIVE);
    assert_int_equal(pv_store_server_heartbeat(st, "proc-x", "", 1, &status), PV_ENOTFOUND);

    /* An operator's drain survives the server registering again (a restart). */
    OK(pv_store_server_set_status(st, "proc-a", PV_SERVER_DRAINING));
    COPY(r.id, "proc-a");
    COPY(r.address, "http://127.0.0.1:9002");
    r.heartbeat_ms = 1700000005000;
    OK(pv_store_server_register(st, &r));
    OK(pv_store_server_heartbeat(st, "proc-a", "1,3", 1700000006000, &status));
    assert_int_equal(status, PV_SERVER_DRAINING);
    assert_int_equal(pv_store_server_set_status(st, "proc-x", PV_SERVER_ACTIVE), PV_ENOTFOUND);
    assert_int_equal(pv_store_server_set_status(st, "proc-a", 7), PV_EINVAL);

    OK(pv_store_server_list(st, &list, &n));
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, "proc-a");
    assert_string_equal(list[0].address, "http://127.0.0.1:9002");
    assert_string_equal(list[0].key_ids, "1,3");
    assert_int_equal(list[0].status, PV_SERVER_DRAINING);
    assert_int_equal(list[0].heartbeat_ms, 1700000006000);
    assert_string_equal(list[1].id, "proc-b");
    free(list);

    /* Traffic per server: from the start, the servers' kept counts (schema v38); since a
     * time, from their kept minutes (v45): whole minutes, the last sixty a server signed in. */
    seed_for_indicia(st);
    make_indicium(&ind, "ind_1", "cus_A", 1, 1, "");
    COPY(ind.server_id, "proc-a");
    OK(pv_store_indicium_insert(st, &ind));
    make_indicium(&ind, "ind_2", "cus_A", 1, 2, "");
    COPY(ind.server_id, "proc-b");
    OK(pv_store_indicium_insert(st, &ind));
    make_indicium(&ind, "ind_3", "cus_A", 2, 3, "");
    COPY(ind.server_id, "proc-b");
    OK(pv_store_indicium_insert(st, &ind));
    /* An older one: counted from the start, not in the minutes since 1700001002. */
    make_indicium(&ind, "ind_4", "cus_A", 2, 4, "");
    COPY(ind.server_id, "proc-a");
    ind.created = 1600000000;
    OK(pv_store_indicium_insert(st, &ind));
    expect_counts(st, "proc-a", 2, "proc-b", 2);
    /* ind_1-3 (1700001001-1700001003) are of one minute, m. */
    expect_traffic(st, m * 60 + 59, "proc-a", 1, "proc-b", 2);
    expect_traffic(st, (m + 1) * 60, NULL, 0, NULL, 0);
    OK(pv_store_server_traffic(st, INT64_MAX, &counts, &n));
    assert_int_equal(n, 0);
    free(counts);
    /* Sixty minutes on, proc-b's slot of minute m is taken over; a piece of minute m after
     * that (a clock put back an hour) takes it back. Counted from the start either way. */
    make_indicium(&ind, "ind_5", "cus_A", 2, 5, "");
    COPY(ind.server_id, "proc-b");
    ind.created = (m + 60) * 60 + 5;
    OK(pv_store_indicium_insert(st, &ind));
    expect_traffic(st, m * 60, "proc-a", 1, NULL, 0);
    expect_traffic(st, (m + 1) * 60, "proc-b", 1, NULL, 0);
    make_indicium(&ind, "ind_6", "cus_A", 2, 6, "");
    COPY(ind.server_id, "proc-b");
    ind.created = m * 60 + 30;
    OK(pv_store_indicium_insert(st, &ind));
    expect_traffic(st, m * 60, "proc-a", 1, "proc-b", 1);
    expect_traffic(st, (m + 1) * 60, NULL, 0, NULL, 0);
    expect_counts(st, "proc-a", 2, "proc-b", 4);
    /* A batch (PostgreSQL: one statement) of proc-c over two minutes of one slot and the
     * next minute: the later minutes count, and no slot is written twice. */
    {
        struct pv_indicium_rec b[3];
        const struct pv_indicium_rec *recs[3] = {&b[0], &b[1], &b[2]};
        const int64_t at[3] = {(m + 61) * 60, (m + 121) * 60 + 1, (m + 122) * 60};
        size_t i;

        for (i = 0; i < 3; i++) {
            char id[16];

            snprintf(id, sizeof id, "ind_c%u", (unsigned) i);
            make_indicium(&b[i], id, "cus_A", 1, 10 + (uint32_t) i, "");
            COPY(b[i].server_id, "proc-c");
            b[i].created = at[i];
        }
        OK(pv_store_indicia_insert(st, recs, 3));
        expect_traffic(st, (m + 63) * 60, "proc-c", 2, NULL, 0);
        expect_traffic(st, (m + 122) * 60, "proc-c", 1, NULL, 0);
        /* Sixty minutes from since's, no more: proc-c's are ahead of minute m + 59. */
        expect_traffic(st, m * 60, "proc-a", 1, "proc-b", 1);
    }
}

static void test_leases(void **state)
{
    struct pv_store *st = *state;
    struct pv_psd_rec p;
    struct pv_lease_rec *h;
    size_t n;

    seed_for_indicia(st);
    OK(pv_store_psd_get(st, 1, &p));
    assert_string_equal(p.lease_holder, "");
    OK(pv_store_lease_acquire(st, 1, "proc-a", 1000, 3000));
    assert_int_equal(pv_store_lease_acquire(st, 1, "proc-b", 2000, 4000), PV_EBUSY);
    assert_int_equal(pv_store_lease_acquire(st, 1, "proc-b", 3000, 5000), PV_EBUSY); /* at expiry */
    OK(pv_store_lease_acquire(st, 1, "proc-a", 2500, 4500));                         /* renewal */
    OK(pv_store_psd_get(st, 1, &p));
    assert_string_equal(p.lease_holder, "proc-a");
    assert_int_equal(p.lease_expires_ms, 4500);
    /* Moving registers does not touch the lease. */
    p.descending -= 10;
    p.ascending += 10;
    p.piece_count++;
    OK(pv_store_psd_update(st, &p));
    OK(pv_store_psd_get(st, 1, &p));
    assert_string_equal(p.lease_holder, "proc-a");
    /* Expired: another processor takes over. */
    OK(pv_store_lease_acquire(st, 1, "proc-b", 4501, 6000));
    assert_int_equal(pv_store_lease_acquire(st, 1, "proc-a", 4600, 7000), PV_EBUSY);
    /* Release by a non-holder does nothing; by the holder frees it. */
    OK(pv_store_lease_release(st, 1, "proc-a", 4700));
    assert_int_equal(pv_store_lease_acquire(st, 1, "proc-c", 4800, 7000), PV_EBUSY);
    OK(pv_store_lease_release(st, 1, "proc-b", 5000));
    OK(pv_store_lease_acquire(st, 1, "proc-c", 5001, 7000));
    assert_int_equal(pv_store_lease_acquire(st, 9, "proc-c", 5001, 7000), PV_ENOTFOUND);
    assert_int_equal(pv_store_lease_acquire(st, 1, "proc-c", 5001, 5001), PV_EINVAL);

    OK(pv_store_lease_history(st, 1, &h, &n));
    assert_int_equal(n, 3);
    assert_string_equal(h[0].holder, "proc-a");
    assert_int_equal(h[0].acquired_ms, 1000);
    assert_int_equal(h[0].expires_ms, 4500);
    assert_string_equal(h[1].holder, "proc-b");
    assert_int_equal(h[1].acquired_ms, 4501);
    assert_int_equal(h[1].expires_ms, 5000); /* released */
    assert_string_equal(h[2].holder, "proc-c");
    free(h);
}

/* Two handles fight for one PSD with short leases: tenures never overlap. */
struct leaser {
    struct pv_store *st;
    const char *name;
    int wins, errors;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *lease_loop(void *arg)
{
    struct leaser *l = arg;
    int i, rc;

    for (i = 0; i < 300; i++) {
        int64_t t = now_ms();
        rc = pv_store_lease_acquire(l->st, 1, l->name, t, t + 3);
        if (rc == PV_OK)
            l->wins++;
        else if (rc != PV_EBUSY)
            l->errors++;
        if (i % 7 == 0)
            pv_store_lease_release(l->st, 1, l->name, now_ms());
    }
    return NULL;
}

static void test_lease_race(void **state)
{
    struct pv_store *st = *state;
    struct leaser l[2] = {{NULL, "proc-a", 0, 0}, {NULL, "proc-b", 0, 0}};
    struct pv_lease_rec *h;
    pthread_t t[2];
    size_t n, i;

    seed_for_indicia(st);
    for (i = 0; i < 2; i++)
        OK(pv_store_open(dsn, &l[i].st));
    for (i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, lease_loop, &l[i]), 0);
    for (i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (i = 0; i < 2; i++)
        pv_store_close(l[i].st);
    assert_int_equal(l[0].errors + l[1].errors, 0);
    assert_true(l[0].wins + l[1].wins > 0);
    OK(pv_store_lease_history(st, 1, &h, &n));
    assert_true(n >= 2); /* releases hand it over at least once */
    for (i = 1; i < n; i++) {
        /* The next tenure starts only after the previous one ended. */
        assert_true(h[i].acquired_ms >= h[i - 1].expires_ms);
    }
    free(h);
}

static void test_ledger_audit(void **state)
{
    struct pv_store *st = *state;
    struct pv_ledger_line l[2];
    struct pv_ledger_issue *issues;
    int64_t journals = -1, accounts = -1;
    size_t n;

    OK(pv_store_ledger_audit(st, &journals, &accounts, &issues, &n));
    assert_int_equal(journals, 0);
    assert_int_equal(accounts, 0);
    assert_int_equal(n, 0);
    memset(l, 0, sizeof l);
    COPY(l[0].account, "a");
    l[0].amount = -700;
    COPY(l[1].account, "b");
    l[1].amount = 700;
    OK(pv_store_journal_post(st, "ok", "1", l, 2, 1));
    l[1].amount = 650; /* the store does not check sums: the audit does */
    OK(pv_store_journal_post(st, "bad", "2", l, 2, 2));
    OK(pv_store_ledger_audit(st, &journals, &accounts, &issues, &n));
    assert_int_equal(journals, 2);
    assert_int_equal(accounts, 2);
    assert_int_equal(n, 1);
    assert_int_equal(issues[0].kind, PV_LEDGER_UNBALANCED_JOURNAL);
    assert_int_equal(issues[0].computed, -50);
    free(issues);
}

/* Six lines (more than one of SQLite's four-line statements), two of them shared. */
static void six_lines(struct pv_ledger_line *l, pv_mills amount)
{
    line(&l[0], "customer:cus_A", -amount);
    line(&l[1], "revenue:postage", amount);
    line(&l[2], "psd:1", -amount);
    line(&l[3], "postage_dispensed", amount);
    line(&l[4], "customer:cus_B", -amount);
    line(&l[5], "revenue:postage", amount);
    l[1].shared = l[3].shared = l[5].shared = 1;
}

/* journal_post2 (issue 15, session 11): a card purchase's two entries of one ref as two
 * journal_post calls write them; on SQLite in three statements (the accounts netted, the
 * two journals, the lines); a CHECK's refusal leaves nothing of either. */
static void test_journal_post2(void **state)
{
    struct pv_store *st = *state;
    struct pv_ledger_line card[2], sale[4];
    struct pv_txn_rec *t = NULL;
    uint64_t ran;
    pv_mills bal;
    size_t n;

    line(&card[0], "card_clearing", -700);
    line(&card[1], "customer:cus_J", 700);
    line(&sale[0], "customer:cus_J", -700);
    line(&sale[1], "revenue:postage", 700);
    line(&sale[2], "psd:7", -700);
    line(&sale[3], "postage_dispensed", 700);
    OK(pv_store_begin(st));
    ran = pv_store_statements(st);
    OK(pv_store_journal_post2(st, "card_charge", card, 2, "postage_sale", sale, 4, "ind_J", 5));
    /* SQLite: three, inside the inner savepoint's pair (no job's savepoint around). */
    if (strcmp(backend->name, "sqlite") == 0)
        assert_int_equal(pv_store_statements(st) - ran, 5);
    OK(pv_store_commit(st));
    OK(pv_store_account_balance(st, "customer:cus_J", &bal)); /* its row, though netted to 0 */
    assert_int_equal(bal, 0);
    OK(pv_store_account_balance(st, "card_clearing", &bal));
    assert_int_equal(bal, -700);
    OK(pv_store_account_balance(st, "psd:7", &bal));
    assert_int_equal(bal, -700);
    OK(pv_store_account_lines(st, "customer:cus_J", 0, 10, &t, &n));
    assert_int_equal(n, 2); /* newest first */
    assert_string_equal(t[0].kind, "postage_sale");
    assert_int_equal(t[0].amount, -700);
    assert_string_equal(t[1].kind, "card_charge");
    assert_int_equal(t[1].amount, 700);
    assert_string_equal(t[1].ref, "ind_J");
    free(t);
    /* The PSD's account past the money bound: refused, nothing of either entry stays. */
    sale[2].amount = -PV_MILLS_MAX;
    assert_int_equal(
        pv_store_journal_post2(st, "card_charge", card, 2, "postage_sale", sale, 4, "ind_K", 6),
        PV_EOVERFLOW);
    OK(pv_store_account_balance(st, "card_clearing", &bal));
    assert_int_equal(bal, -700);
    OK(pv_store_account_lines(st, "customer:cus_J", 0, 10, &t, &n));
    assert_int_equal(n, 2);
    free(t);
    assert_int_equal(
        pv_store_journal_post2(st, "card_charge", card, 0, "postage_sale", sale, 4, "ind_L", 7),
        PV_EINVAL);
    /* Each journal gets its own lines, whichever kind comes first, also where a rollback to a
     * savepoint took back the newest journals (their ids are given again; SQLite reads the
     * two ids from the handle's last insert since session 12, not from RETURNING). */
    sale[2].amount = -700;
    OK(pv_store_begin(st));
    OK(pv_store_savepoint(st));
    OK(pv_store_journal_post2(st, "card_charge", card, 2, "postage_sale", sale, 4, "ind_M", 8));
    OK(pv_store_rollback_to(st));
    OK(pv_store_journal_post2(st, "postage_sale", sale, 4, "card_charge", card, 2, "ind_N", 9));
    OK(pv_store_commit(st));
    OK(pv_store_account_lines(st, "customer:cus_J", 0, 10, &t, &n));
    assert_int_equal(n, 4);
    assert_string_equal(t[0].kind, "card_charge");
    assert_int_equal(t[0].amount, 700);
    assert_string_equal(t[0].ref, "ind_N");
    assert_string_equal(t[1].kind, "postage_sale");
    assert_int_equal(t[1].amount, -700);
    assert_string_equal(t[1].ref, "ind_N");
    assert_true(t[0].journal_id > t[1].journal_id && t[1].journal_id > t[2].journal_id);
    free(t);
    OK(pv_store_account_lines(st, "psd:7", 0, 10, &t, &n));
    assert_int_equal(n, 2);
    assert_string_equal(t[0].kind, "postage_sale");
    assert_string_equal(t[0].ref, "ind_N");
    free(t);
}

/* A purchase batch's journals are kept to its end on SQLite too (issue 15, session 12): a
 * job's journal_post runs no statement; the commit writes them all - on SQLite the accounts
 * netted (one row an account), the journals and their lines sixteen to a statement; on
 * PostgreSQL one statement - and the books read as if each had been written at once. A job
 * rolled back takes its journal along; a balance past the money bound at the end refuses
 * the commit and leaves nothing. */
static void test_journals_kept(void **state)
{
    struct pv_store *st = *state;
    struct pv_ledger_line l[6];
    struct pv_txn_rec *t = NULL;
    char ref[16];
    uint64_t ran;
    pv_mills bal;
    size_t n, i;

    OK(pv_store_begin(st));
    OK(pv_store_journal_batch(st, 1));
    for (i = 0; i < 20; i++) {
        six_lines(l, 100 + (pv_mills) i);
        snprintf(ref, sizeof ref, "ind_%zu", i);
        job(st);
        ran = pv_store_statements(st);
        OK(deferred(st, pv_store_journal_post(st, "postage_sale", ref, l, 4, 1700000000 + i)));
        assert_int_equal(pv_store_statements(st), ran); /* kept, not sent */
        OK(pv_store_release(st));
    }
    job(st);
    six_lines(l, 5000);
    OK(deferred(st, pv_store_journal_post(st, "postage_sale", "ind_gone", l, 4, 1700000100)));
    OK(pv_store_rollback_to(st)); /* its journal goes with its savepoint */
    OK(pv_store_account_balance(st, "customer:cus_A", &bal)); /* with the kept lines */
    assert_int_equal(bal, -2190);                             /* 100 + 101 + ... + 119 */
    ran = pv_store_statements(st);
    OK(pv_store_commit(st));
    /* The commit, and on SQLite 4 accounts in one statement, the ids' base, 20 journals in 2,
     * 80 lines in 5 (PostgreSQL: one). */
    assert_int_equal(pv_store_statements(st) - ran, strcmp(backend->name, "sqlite") ? 2 : 10);
    OK(pv_store_account_balance(st, "customer:cus_A", &bal));
    assert_int_equal(bal, -2190);
    OK(pv_store_account_balance(st, "postage_dispensed", &bal));
    assert_int_equal(bal, 2190);
    OK(pv_store_account_lines(st, "customer:cus_A", 0, 30, &t, &n));
    assert_int_equal(n, 20); /* newest first, in the jobs' order */
    for (i = 0; i < n; i++) {
        snprintf(ref, sizeof ref, "ind_%zu", 19 - i);
        assert_string_equal(t[i].kind, "postage_sale");
        assert_string_equal(t[i].ref, ref);
        assert_int_equal(t[i].amount, -(pv_mills) (119 - i));
        if (i)
            assert_true(t[i].journal_id < t[i - 1].journal_id);
    }
    free(t);
    /* Two lines of one account in one kept journal that leave the range together: refused
     * when posted, as a journal written at once would be, and nothing of it kept (session 12:
     * before, it was kept and the batch's reads of the account failed). */
    OK(pv_store_begin(st));
    OK(pv_store_journal_batch(st, 1));
    job(st);
    line(&l[0], "psd:1", -PV_MILLS_MAX);
    line(&l[1], "psd:1", -10);
    line(&l[2], "revenue:postage", PV_MILLS_MAX - 10);
    line(&l[3], "postage_dispensed", 20);
    assert_int_equal(deferred(st, pv_store_journal_post(st, "postage_sale", "ind_two", l, 4, 7)),
                     PV_EOVERFLOW);
    OK(pv_store_rollback_to(st));
    job(st);
    six_lines(l, 5);
    OK(deferred(st, pv_store_journal_post(st, "postage_sale", "ind_five", l, 4, 8)));
    OK(pv_store_release(st));
    OK(pv_store_account_balance(st, "psd:1", &bal));
    assert_int_equal(bal, -2195);
    OK(pv_store_commit(st));
    OK(pv_store_account_balance(st, "psd:1", &bal));
    assert_int_equal(bal, -2195);
    OK(pv_store_account_lines(st, "psd:1", 0, 30, &t, &n));
    assert_int_equal(n, 21);
    assert_string_equal(t[0].ref, "ind_five");
    free(t);
    /* The PSD's account past the money bound at the batch's end: nothing of it written. */
    OK(pv_store_begin(st));
    OK(pv_store_journal_batch(st, 1));
    job(st);
    six_lines(l, 10);
    l[2].amount = -PV_MILLS_MAX;
    l[3].amount = PV_MILLS_MAX - 10;
    OK(deferred(st, pv_store_journal_post(st, "postage_sale", "ind_big", l, 4, 1700000200)));
    OK(pv_store_release(st));
    assert_int_equal(pv_store_commit(st), PV_EOVERFLOW);
    OK(pv_store_rollback(st));
    OK(pv_store_account_balance(st, "psd:1", &bal));
    assert_int_equal(bal, -2195);
    OK(pv_store_account_lines(st, "customer:cus_A", 0, 30, &t, &n));
    assert_int_equal(n, 21);
    free(t);
}

/* Schema v21: shared lines go to the writer's part; a balance is the row plus its parts. */
static void test_ledger_parts(void **state)
{
    struct pv_store *st = *state;
    struct pv_ledger_line l[6];
    struct pv_ledger_issue *issues;
    int64_t journals, accounts;
    const char names[3][PV_ACCOUNT_MAX] = {"customer:cus_B", "nobody", "customer:cus_A"};
    uint64_t ran;
    pv_mills bal;
    size_t n;

    assert_int_not_equal(pv_store_part_of("proc-1"), pv_store_part_of("proc-2"));
    assert_true(pv_store_part_of("proc-1") > 0 && pv_store_part_of("") > 0);
    assert_int_equal(pv_store_lock_batch(st, names, 3), PV_EINVAL); /* outside begin() */
    six_lines(l, 700);
    OK(pv_store_journal_post(st, "postage_sale", "ind_1", l, 6, 1)); /* no part: the rows */
    pv_store_set_part(st, pv_store_part_of("proc-1"));
    OK(pv_store_journal_post(st, "postage_sale", "ind_2", l, 6, 2));
    pv_store_set_part(st, pv_store_part_of("proc-2"));
    OK(pv_store_begin(st));
    OK(pv_store_lock_batch(st, names, 3)); /* a missing account is skipped */
    job(st);
    ran = pv_store_statements(st);
    OK(deferred(st, pv_store_journal_post(st, "postage_sale", "ind_3", l, 4, 3)));
    /* In a job: one statement with arrays; SQLite: accounts, journal, lines. */
    assert_int_equal(pv_store_statements(st) - ran, strcmp(backend->name, "sqlite") ? 1 : 3);
    OK(deferred(st, pv_store_journal_post(st, "postage_sale", "ind_3b", l + 4, 2, 3)));
    OK(pv_store_release(st));
    /* Refused in the second statement of four lines: nothing of it stays. */
    job(st);
    six_lines(l, 10);
    l[4].amount = -PV_MILLS_MAX;
    l[5].amount = PV_MILLS_MAX;
    assert_int_equal(deferred(st, pv_store_journal_post(st, "postage_sale", "ind_4", l, 6, 4)),
                     PV_EOVERFLOW);
    OK(pv_store_rollback_to(st));
    OK(pv_store_commit(st));
    /* A shared line past the money bound is refused in its part too, outside a job. */
    six_lines(l, 10);
    l[0].amount = l[4].amount = -PV_MILLS_MAX / 2;
    l[1].amount = l[5].amount = PV_MILLS_MAX / 2;
    assert_int_equal(pv_store_journal_post(st, "postage_sale", "ind_5", l, 6, 5), PV_EOVERFLOW);

    OK(pv_store_account_balance(st, "revenue:postage", &bal));
    assert_int_equal(bal, 6 * 700);
    OK(pv_store_account_balance(st, "postage_dispensed", &bal));
    assert_int_equal(bal, 3 * 700);
    OK(pv_store_account_balance(st, "customer:cus_B", &bal));
    assert_int_equal(bal, -3 * 700);
    OK(pv_store_ledger_audit(st, &journals, &accounts, &issues, &n));
    assert_int_equal(journals, 4);
    assert_int_equal(accounts, 5); /* parts are not accounts */
    assert_int_equal(n, 0);
    pv_store_set_part(st, 0);
}

/* ---- schema v4: accounts, payments, refunds ----------------------------------------------- */

static void test_psd_test_flag(void **state)
{
    struct pv_store *st = *state;
    struct pv_psd_rec live = make_psd(1, 1000, 0), test = make_psd(2, 500, 0), got, *list;
    size_t n;

    test.test = 1;
    OK(pv_store_psd_insert(st, &live));
    OK(pv_store_psd_insert(st, &test));
    OK(pv_store_psd_get(st, 1, &got));
    assert_int_equal(got.test, 0);
    OK(pv_store_psd_get(st, 2, &got));
    assert_int_equal(got.test, 1);
    assert_psd_equal(&got, &test);

    /* psd_update moves registers, never the mode. */
    test.descending -= 100;
    test.ascending += 100;
    test.test = 0;
    OK(pv_store_psd_update(st, &test));
    OK(pv_store_psd_list(st, &list, &n));
    assert_int_equal(n, 2);
    assert_int_equal(list[0].test, 0);
    assert_int_equal(list[1].test, 1);
    assert_int_equal(list[1].descending, 400);
    free(list);
}

static void test_indicium_refunded(void **state)
{
    struct pv_store *st = *state;
    struct pv_indicium_rec a, got, *list;
    size_t n;

    seed_for_indicia(st);
    make_indicium(&a, "ind_0001", "cus_A", 1, 8, "");
    a.refunded_at = 123; /* ignored: a new indicium is not refunded */
    OK(pv_store_indicium_insert(st, &a));
    OK(pv_store_indicium_get(st, "ind_0001", &got));
    assert_int_equal(got.refunded_at, 0);

    OK(pv_store_indicium_mark_refunded(st, "ind_0001", 1700005000));
    OK(pv_store_indicium_get(st, "ind_0001", &got));
    assert_int_equal(got.refunded_at, 1700005000);
    assert_indicium_equal(&got, &a);
    OK(pv_store_indicium_find(st, 1, 8, &got));
    assert_int_equal(got.refunded_at, 1700005000);
    OK(pv_store_indicium_list(st, "cus_A", NULL, 10, &list, &n));
    assert_int_equal(n, 1);
    assert_int_equal(list[0].refunded_at, 1700005000);
    free(list);

    /* Only once: the second mark changes nothing. */
    assert_int_equal(pv_store_indicium_mark_refunded(st, "ind_0001", 1700006000), PV_EEXIST);
    OK(pv_store_indicium_get(st, "ind_0001", &got));
    assert_int_equal(got.refunded_at, 1700005000);
    assert_int_equal(pv_store_indicium_mark_refunded(st, "ind_nope", 1700006000), PV_ENOTFOUND);
    assert_int_equal(pv_store_indicium_mark_refunded(st, "ind_0001", 0), PV_EINVAL);
}

/* Filters narrow the list; a cursor keeps paging correct under a filter. */
static void test_indicium_search(void **state)
{
    struct pv_store *st = *state;
    struct pv_indicium_filter f = {0, 0, 0, -1, -1, "", NULL};
    struct pv_indicium_rec r, *page = NULL;
    char id[PV_ID_MAX];
    size_t n = 99;
    uint32_t serial;

    seed_for_indicia(st);
    /* ind_S01..ind_S12: created 1700001001.., odd serials are test pieces,
     * serial % 3 == 0 goes to 60601 (else 94501-1234), every fourth is a
     * large envelope; cus_B has one look-alike of each. */
    for (serial = 1; serial <= 12; serial++) {
        snprintf(id, sizeof id, "ind_S%02u", (unsigned) serial);
        make_indicium(&r, id, "cus_A", 1, serial, "");
        if (serial % 4 == 0)
            r.ind.mail_class = 3;
        OK(pv_store_indicium_insert(st, &r));
        snprintf(id, sizeof id, "ind_T%02u", (unsigned) serial);
        make_indicium(&r, id, "cus_B", 2, serial, "");
        OK(pv_store_indicium_insert(st, &r));
    }
    OK(pv_store_indicium_mark_refunded(st, "ind_S04", 1700002000));
    OK(pv_store_indicium_mark_refunded(st, "ind_S07", 1700002000));

    /* No filter is the plain list. */
    OK(pv_store_indicium_search(st, "cus_A", NULL, NULL, 100, &page, &n));
    assert_int_equal(n, 12);
    assert_string_equal(page[0].id, "ind_S12");
    free(page);
    OK(pv_store_indicium_search(st, "cus_A", &f, NULL, 100, &page, &n));
    assert_int_equal(n, 12);
    free(page);

    /* Live pieces (even serials), newest first, two per page. */
    f.test = 0;
    OK(pv_store_indicium_search(st, "cus_A", &f, NULL, 2, &page, &n));
    assert_int_equal(n, 2);
    assert_string_equal(page[0].id, "ind_S12");
    assert_string_equal(page[1].id, "ind_S10");
    free(page);
    OK(pv_store_indicium_search(st, "cus_A", &f, "ind_S10", 2, &page, &n));
    assert_int_equal(n, 2);
    assert_string_equal(page[0].id, "ind_S08");
    assert_string_equal(page[1].id, "ind_S06");
    free(page);
    /* A cursor of the other mode is unknown (domain/mode.h); one that
     * does not match another filter still places the page. */
    assert_int_equal(pv_store_indicium_search(st, "cus_A", &f, "ind_S05", 10, &page, &n),
                     PV_ECURSOR);
    assert_null(page);
    f.test = -1;
    f.mail_class = 1;
    OK(pv_store_indicium_search(st, "cus_A", &f, "ind_S08", 10, &page, &n));
    assert_int_equal(n, 6);
    assert_string_equal(page[0].id, "ind_S07");
    free(page);
    f.mail_class = 0;
    f.test = 1;
    OK(pv_store_indicium_search(st, "cus_A", &f, NULL, 100, &page, &n));
    assert_int_equal(n, 6);
    assert_string_equal(page[5].id, "ind_S01");
    free(page);
    f.test = -1;

    /* Mail class, refunded, both ways. */
    f.mail_class = 3;
    OK(pv_store_indicium_search(st, "cus_A", &f, NULL, 100, &page, &n));
    assert_int_equal(n, 3);
    assert_string_equal(page[0].id, "ind_S12");
    assert_string_equal(page[2].id, "ind_S04");
    free(page);
    f.refunded = 1;
    OK(pv_store_indicium_search(st, "cus_A", &f, NULL, 100, &page, &n));
    assert_int_equal(n, 1);
    assert_string_equal(page[0].id, "ind_S04");
    assert_int_equal(page[0].refunded_at, 1700002000);
    free(page);
    f.mail_class = 0;
    OK(pv_store_indicium_search(st, "cus_A", &f, NULL, 100, &page, &n));
    assert_int_equal(n, 2);
    free(page);
    f.refunded = 0;
    OK(pv_store_indicium_search(st, "cus_A", &f, NULL, 100, &page, &n));
    assert_int_equal(n, 10);
    free(page);
    f.refunded = -1;

    /* Created in [from, to). */
    f.created_from = 1700001003;
    f.created_to = 1700001006;
    OK(pv_store_indicium_search(st, "cus_A", &f, NULL, 100, &page, &n));
    assert_int_equal(n, 3);
    assert_string_equal(page[0].id, "ind_S05");
    assert_string_equal(page[2].id, "ind_S03");
    free(page);
    f.created_from = f.created_to = 0;

    /* Search: an id (only the customer's own), a ZIP, the first five digits. */
    COPY(f.q, "ind_S07");
    OK(pv_store_indicium_search(st, "cus_A", &f, NULL, 100, &page, &n));
    assert_int_equal(n, 1);
    assert_string_equal(page[0].id, "ind_S07");
    free(page);
    COPY(f.q, "ind_T07");
    page = &r;
    OK(pv_store_indicium_search(st, "cus_A", &f, NULL, 100, &page, &n));
    assert_null(page);
    assert_int_equal(n, 0);
    COPY(f.q, "60601");
    OK(pv_store_indicium_search(st, "cus_A", &f, NULL, 100, &page, &n));
    assert_int_equal(n, 4);
    free(page);
    COPY(f.q, "94501");
    OK(pv_store_indicium_search(st, "cus_A", &f, NULL, 100, &page, &n));
    assert_int_equal(n, 8);
    free(page);
    COPY(f.q, "945011234");
    OK(pv_store_indicium_search(st, "cus_A", &f, NULL, 100, &page, &n));
    assert_int_equal(n, 8);
    free(page);
    COPY(f.q, "10001");
    f.test = 0;
    f.mail_class = 1;
    OK(pv_store_indicium_search(st, "cus_A", &f, NULL, 100, &page, &n));
    assert_int_equal(n, 3); /* 2, 6, 10 */
    free(page);

    /* Cursors: another customer's, unknown. */
    page = &r;
    assert_int_equal(pv_store_indicium_search(st, "cus_A", &f, "ind_T03", 3, &page, &n),
                     PV_ECURSOR);
    assert_null(page);
    assert_int_equal(pv_store_indicium_search(st, "cus_A", NULL, "ind_nope", 3, &page, &n),
                     PV_ECURSOR);
}

/* Postage per UTC day and PSD: the kept days (psd_days, schema v44) add up every insert of
 * an indicium, one at a time or a batch's. */
static void test_sales_daily(void **state)
{
    struct pv_store *st = *state;
    struct pv_sales_day *d = NULL, dummy;
    struct pv_indicium_rec r;
    const int64_t day0 = 19700; /* 2023-12-09 */
    size_t n = 99;

    seed_for_indicia(st);
    d = &dummy;
    OK(pv_store_sales_daily(st, 0, &d, &n));
    assert_null(d);
    assert_int_equal(n, 0);

    make_indicium(&r, "ind_D1", "cus_A", 1, 1, "");
    r.created = day0 * 86400 + 10;
    OK(pv_store_indicium_insert(st, &r));
    make_indicium(&r, "ind_D2", "cus_B", 1, 2, "");
    r.created = day0 * 86400 + 86399;
    r.ind.postage_mills = 1500;
    OK(pv_store_indicium_insert(st, &r));
    make_indicium(&r, "ind_D3", "cus_A", 2, 3, "");
    r.created = day0 * 86400 + 5000;
    OK(pv_store_indicium_insert(st, &r));
    make_indicium(&r, "ind_D4", "cus_A", 1, 4, "");
    r.created = (day0 + 2) * 86400;
    OK(pv_store_indicium_insert(st, &r));

    OK(pv_store_sales_daily(st, 0, &d, &n));
    assert_int_equal(n, 3);
    assert_int_equal(d[0].day, day0);
    assert_int_equal(d[0].psd_id, 1);
    assert_int_equal(d[0].count, 2);
    assert_int_equal(d[0].postage, 730 + 1500);
    assert_int_equal(d[1].day, day0);
    assert_int_equal(d[1].psd_id, 2);
    assert_int_equal(d[1].count, 1);
    assert_int_equal(d[1].postage, 730);
    assert_int_equal(d[2].day, day0 + 2);
    assert_int_equal(d[2].psd_id, 1);
    assert_int_equal(d[2].count, 1);
    free(d);

    /* The first day is inclusive. */
    OK(pv_store_sales_daily(st, day0 + 2, &d, &n));
    assert_int_equal(n, 1);
    assert_int_equal(d[0].day, day0 + 2);
    free(d);
    OK(pv_store_sales_daily(st, day0 + 3, &d, &n));
    assert_int_equal(n, 0);

    /* A batch over more tallies than the store's table of them holds (twelve: PSD days, server
     * minutes and the server's count): PSD 2 on ten days
     * from day0 + 10, one piece a day, and PSD 1 twice on day0 + 2; in one write, which a
     * refused row leaves without any of them. */
    {
        struct pv_indicium_rec b[12];
        const struct pv_indicium_rec *recs[12];
        char id[16];
        size_t i;

        for (i = 0; i < 12; i++) {
            snprintf(id, sizeof id, "ind_B%02u", (unsigned) i);
            make_indicium(&b[i], id, "cus_A", i < 10 ? 2 : 1, 20 + (uint32_t) i, "");
            b[i].created = (i < 10 ? day0 + 10 + (int64_t) i : day0 + 2) * 86400 + 7;
            b[i].ind.postage_mills = 100 + (int64_t) i;
            recs[i] = &b[i];
        }
        COPY(b[11].id, "ind_D1"); /* taken: the batch is refused whole */
        assert_int_equal(pv_store_indicia_insert(st, recs, 12), PV_EEXIST);
        OK(pv_store_sales_daily(st, day0 + 2, &d, &n));
        assert_int_equal(n, 1);
        assert_int_equal(d[0].count, 1);
        free(d);
        COPY(b[11].id, "ind_B11");
        OK(pv_store_indicia_insert(st, recs, 12));
        OK(pv_store_sales_daily(st, day0 + 2, &d, &n));
        assert_int_equal(n, 11);
        assert_int_equal(d[0].day, day0 + 2);
        assert_int_equal(d[0].psd_id, 1);
        assert_int_equal(d[0].count, 3);
        assert_int_equal(d[0].postage, 730 + 110 + 111);
        for (i = 0; i < 10; i++) {
            assert_int_equal(d[1 + i].day, day0 + 10 + (int64_t) i);
            assert_int_equal(d[1 + i].psd_id, 2);
            assert_int_equal(d[1 + i].count, 1);
            assert_int_equal(d[1 + i].postage, 100 + (int64_t) i);
        }
        free(d);
    }
}

static void test_passwords(void **state)
{
    struct pv_store *st = *state;
    struct pv_customer_rec c = make_customer("cus_A", "Alice@Example.com");
    struct pv_credential cr;
    char email[256], long_hash[PV_PWHASH_MAX + 1];

    OK(pv_store_customer_insert(st, &c));
    OK(pv_store_operator_insert(st, "op_root", "Ops@Example.com", 1700000000));

    /* No password yet: found, with an empty hash (cannot log in). */
    OK(pv_store_credential_get(st, PV_ROLE_CUSTOMER, "alice@example.com", &cr));
    assert_int_equal(cr.role, PV_ROLE_CUSTOMER);
    assert_string_equal(cr.owner_id, "cus_A");
    assert_string_equal(cr.password_hash, "");

    OK(pv_store_password_set(st, PV_ROLE_CUSTOMER, "cus_A",
                             "$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA"));
    OK(pv_store_credential_get(st, PV_ROLE_CUSTOMER, "ALICE@example.COM", &cr));
    assert_string_equal(cr.owner_id, "cus_A");
    assert_string_equal(cr.password_hash, "$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA");
    /* A customer's email is not an operator's login, and vice versa. */
    assert_int_equal(pv_store_credential_get(st, PV_ROLE_OPERATOR, "alice@example.com", &cr),
                     PV_ENOTFOUND);
    assert_string_equal(cr.owner_id, "");
    assert_int_equal(pv_store_credential_get(st, PV_ROLE_CUSTOMER, "ops@example.com", &cr),
                     PV_ENOTFOUND);

    OK(pv_store_password_set(st, PV_ROLE_OPERATOR, "op_root", "$argon2id$op"));
    OK(pv_store_credential_get(st, PV_ROLE_OPERATOR, "OPS@EXAMPLE.COM", &cr));
    assert_int_equal(cr.role, PV_ROLE_OPERATOR);
    assert_string_equal(cr.owner_id, "op_root");
    assert_string_equal(cr.password_hash, "$argon2id$op");
    /* Setting it again replaces it. */
    OK(pv_store_password_set(st, PV_ROLE_OPERATOR, "op_root", "$argon2id$op2"));
    OK(pv_store_credential_get(st, PV_ROLE_OPERATOR, "ops@example.com", &cr));
    assert_string_equal(cr.password_hash, "$argon2id$op2");

    /* A postal account logs in by its exact name. */
    OK(pv_store_postal_insert(st, "pa_A", "Inspection Service", 1700000000));
    OK(pv_store_credential_get(st, PV_ROLE_POSTAL, "Inspection Service", &cr));
    assert_string_equal(cr.password_hash, ""); /* none yet: cannot log in */
    OK(pv_store_password_set(st, PV_ROLE_POSTAL, "pa_A", "$argon2id$pa"));
    OK(pv_store_credential_get(st, PV_ROLE_POSTAL, "Inspection Service", &cr));
    assert_int_equal(cr.role, PV_ROLE_POSTAL);
    assert_string_equal(cr.owner_id, "pa_A");
    assert_string_equal(cr.password_hash, "$argon2id$pa");
    assert_int_equal(pv_store_credential_get(st, PV_ROLE_POSTAL, "inspection service", &cr),
                     PV_ENOTFOUND);
    assert_int_equal(pv_store_credential_get(st, PV_ROLE_POSTAL, "ops@example.com", &cr),
                     PV_ENOTFOUND);
    assert_int_equal(pv_store_password_set(st, PV_ROLE_POSTAL, "op_root", "$x"), PV_ENOTFOUND);

    assert_int_equal(pv_store_password_set(st, PV_ROLE_CUSTOMER, "cus_nope", "$x"), PV_ENOTFOUND);
    assert_int_equal(pv_store_password_set(st, PV_ROLE_OPERATOR, "cus_A", "$x"), PV_ENOTFOUND);
    assert_int_equal(pv_store_password_set(st, 7, "cus_A", "$x"), PV_EINVAL);
    assert_int_equal(pv_store_credential_get(st, 0, "alice@example.com", &cr), PV_EINVAL);
    memset(long_hash, 'h', sizeof long_hash - 1);
    long_hash[sizeof long_hash - 1] = '\0';
    assert_int_equal(pv_store_password_set(st, PV_ROLE_CUSTOMER, "cus_A", long_hash), PV_EINVAL);

    OK(pv_store_operator_get(st, "op_root", email));
    assert_string_equal(email, "Ops@Example.com");
    assert_int_equal(pv_store_operator_get(st, "op_nope", email), PV_ENOTFOUND);
    assert_string_equal(email, "");
}

static struct pv_session_rec make_session(const char *hash, const char *owner, int64_t expires)
{
    struct pv_session_rec s;

    memset(&s, 0, sizeof s);
    COPY(s.hash, hash);
    s.role = PV_ROLE_CUSTOMER;
    COPY(s.owner_id, owner);
    COPY(s.csrf, HASH_B);
    s.created = 1700000000;
    s.expires = expires;
    return s;
}

static void test_sessions(void **state)
{
    struct pv_store *st = *state;
    struct pv_session_rec s = make_session(HASH_A, "cus_A", 1700003600), got;

    assert_int_equal(pv_store_session_get(st, HASH_A, 1700000000, &got), PV_ENOTFOUND);
    OK(pv_store_session_insert(st, &s));
    assert_int_equal(pv_store_session_insert(st, &s), PV_EEXIST);

    OK(pv_store_session_get(st, HASH_A, 1700000001, &got));
    assert_string_equal(got.hash, HASH_A);
    assert_int_equal(got.role, PV_ROLE_CUSTOMER);
    assert_string_equal(got.owner_id, "cus_A");
    assert_string_equal(got.csrf, HASH_B);
    assert_int_equal(got.created, 1700000000);
    assert_int_equal(got.expires, 1700003600);
    /* Valid up to its expiry, not after. */
    OK(pv_store_session_get(st, HASH_A, 1700003600, &got));
    assert_int_equal(pv_store_session_get(st, HASH_A, 1700003601, &got), PV_ENOTFOUND);
    assert_string_equal(got.owner_id, "");
    assert_int_equal(pv_store_session_get(st, HASH_X, 1700000001, &got), PV_ENOTFOUND);

    OK(pv_store_session_delete(st, HASH_A));
    assert_int_equal(pv_store_session_get(st, HASH_A, 1700000001, &got), PV_ENOTFOUND);
    OK(pv_store_session_delete(st, HASH_A)); /* logging out twice is fine */

    /* A new session sweeps out the ones that expired before it began. */
    OK(pv_store_session_insert(st, &s));
    {
        struct pv_session_rec later = make_session(HASH_X, "cus_B", 1700090000);
        later.created = 1700003601;
        OK(pv_store_session_insert(st, &later));
        /* Gone from the table, not merely refused for being old. */
        assert_int_equal(pv_store_session_get(st, HASH_A, 0, &got), PV_ENOTFOUND);
        OK(pv_store_session_get(st, HASH_X, 1700003601, &got));
    }

    s.role = 4; /* customers, operators and the postal authority only */
    assert_int_equal(pv_store_session_insert(st, &s), PV_EINVAL);

    /* The owner's unexpired sessions, newest first; not another role's or owner's. */
    {
        struct pv_session_rec a = make_session(HASH_A, "cus_B", 1700090000),
                              op = make_session(HASH_B, "cus_B", 1700090000), *list = NULL;
        size_t n = 9;

        a.created = 1700003700;
        op.role = PV_ROLE_OPERATOR;
        op.created = 1700003800;
        OK(pv_store_session_insert(st, &a));
        OK(pv_store_session_insert(st, &op));
        OK(pv_store_session_list(st, PV_ROLE_CUSTOMER, "cus_B", 1700004000, &list, &n));
        assert_int_equal(n, 2);
        assert_string_equal(list[0].hash, HASH_A);
        assert_string_equal(list[1].hash, HASH_X);
        assert_int_equal(list[1].created, 1700003601);
        free(list);
        OK(pv_store_session_list(st, PV_ROLE_CUSTOMER, "cus_B", 1700090001, &list, &n));
        assert_int_equal(n, 0);
        assert_null(list);
        OK(pv_store_session_list(st, PV_ROLE_CUSTOMER, "cus_A", 1700004000, &list, &n));
        assert_int_equal(n, 0);
        assert_int_equal(pv_store_session_list(st, 4, "cus_B", 0, &list, &n), PV_EINVAL);
    }
}

static struct pv_apikey_rec make_apikey(const char *id, const char *hash, const char *owner,
                                        int test, int64_t created)
{
    struct pv_apikey_rec k;

    memset(&k, 0, sizeof k);
    COPY(k.id, id);
    COPY(k.hash, hash);
    snprintf(k.prefix, sizeof k.prefix, "%s%.4s", test ? "sk_test_" : "sk_live_", hash);
    k.role = PV_ROLE_CUSTOMER;
    COPY(k.owner_id, owner);
    k.test = test;
    snprintf(k.name, sizeof k.name, "key %s", id);
    k.created = created;
    return k;
}

static void test_apikeys(void **state)
{
    struct pv_store *st = *state;
    struct pv_apikey_rec k1 = make_apikey("key_1", HASH_A, "cus_A", 1, 1700000001);
    struct pv_apikey_rec k2 = make_apikey("key_2", HASH_B, "cus_A", 0, 1700000002), dup, *list;
    struct pv_principal p;
    size_t n;

    OK(pv_store_apikey_list(st, "cus_A", &list, &n));
    assert_null(list);
    assert_int_equal(n, 0);
    OK(pv_store_apikey_create(st, &k1));
    OK(pv_store_apikey_create(st, &k2));
    /* The old insert still works: a live key without a name. */
    OK(pv_store_apikey_insert(st, "key_3", HASH_X, "sk_live_ffff", PV_ROLE_CUSTOMER, "cus_B",
                              1700000003));

    dup = make_apikey("key_1", "1111111111111111111111111111111111111111111111111111111111111111",
                      "cus_A", 0, 1);
    assert_int_equal(pv_store_apikey_create(st, &dup), PV_EEXIST); /* same id */
    dup = make_apikey("key_9", HASH_A, "cus_A", 0, 1);
    assert_int_equal(pv_store_apikey_create(st, &dup), PV_EEXIST); /* same hash */
    dup = make_apikey("key_9", "abc", "cus_A", 0, 1);
    assert_int_equal(pv_store_apikey_create(st, &dup), PV_EINVAL); /* not a sha-256 hex */
    dup = make_apikey("key_9", HASH_A, "cus_A", 0, 1);
    dup.role = 0;
    assert_int_equal(pv_store_apikey_create(st, &dup), PV_EINVAL);

    OK(pv_store_apikey_lookup(st, HASH_A, &p));
    assert_int_equal(p.role, PV_ROLE_CUSTOMER);
    assert_string_equal(p.owner_id, "cus_A");
    assert_string_equal(p.key_id, "key_1");
    assert_int_equal(p.test, 1);
    assert_int_equal(p.session, 0);
    OK(pv_store_apikey_lookup(st, HASH_B, &p));
    assert_int_equal(p.test, 0);
    OK(pv_store_apikey_lookup(st, HASH_X, &p));
    assert_string_equal(p.key_id, "key_3");
    assert_int_equal(p.test, 0);

    /* Newest first. */
    OK(pv_store_apikey_list(st, "cus_A", &list, &n));
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, "key_2");
    assert_string_equal(list[1].id, "key_1");
    assert_string_equal(list[1].hash, HASH_A);
    assert_string_equal(list[1].prefix, k1.prefix);
    assert_int_equal(list[1].role, PV_ROLE_CUSTOMER);
    assert_string_equal(list[1].owner_id, "cus_A");
    assert_int_equal(list[1].test, 1);
    assert_string_equal(list[1].name, "key key_1");
    assert_int_equal(list[1].created, 1700000001);
    assert_int_equal(list[1].revoked_at, 0);
    free(list);
    OK(pv_store_apikey_list(st, "cus_B", &list, &n));
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "");
    assert_int_equal(list[0].test, 0);
    free(list);

    /* Revoking: only the owner's active key; a revoked key no longer authenticates. */
    assert_int_equal(pv_store_apikey_revoke(st, "cus_B", "key_1", 1700000100), PV_ENOTFOUND);
    assert_int_equal(pv_store_apikey_revoke(st, "cus_A", "key_nope", 1700000100), PV_ENOTFOUND);
    OK(pv_store_apikey_revoke(st, "cus_A", "key_1", 1700000100));
    assert_int_equal(pv_store_apikey_revoke(st, "cus_A", "key_1", 1700000200), PV_ENOTFOUND);
    assert_int_equal(pv_store_apikey_lookup(st, HASH_A, &p), PV_ENOTFOUND);
    assert_string_equal(p.owner_id, "");
    OK(pv_store_apikey_lookup(st, HASH_B, &p));
    OK(pv_store_apikey_list(st, "cus_A", &list, &n));
    assert_int_equal(n, 2); /* revoked keys stay listed */
    assert_string_equal(list[1].id, "key_1");
    assert_int_equal(list[1].revoked_at, 1700000100);
    assert_int_equal(list[0].revoked_at, 0);
    free(list);
}

static struct pv_payment_method_rec make_pm(const char *id, const char *customer, int test,
                                            int64_t created)
{
    struct pv_payment_method_rec m;

    memset(&m, 0, sizeof m);
    COPY(m.id, id);
    COPY(m.customer_id, customer);
    m.test = test;
    snprintf(m.gateway_ref, sizeof m.gateway_ref, "tok_%s", id);
    COPY(m.brand, "visa");
    COPY(m.last4, "4242");
    m.exp_month = 12;
    m.exp_year = 2031;
    m.created = created;
    return m;
}

static void test_payment_methods(void **state)
{
    struct pv_store *st = *state;
    struct pv_payment_method_rec a = make_pm("pm_1", "cus_A", 0, 1700000002);
    struct pv_payment_method_rec b = make_pm("pm_2", "cus_A", 0, 1700000001);
    struct pv_payment_method_rec t = make_pm("pm_3", "cus_A", 1, 1700000003);
    struct pv_payment_method_rec o = make_pm("pm_4", "cus_B", 0, 1700000004), got, *list;
    size_t n;

    seed_for_indicia(st);
    OK(pv_store_pm_insert(st, &a));
    OK(pv_store_pm_insert(st, &b));
    OK(pv_store_pm_insert(st, &t));
    OK(pv_store_pm_insert(st, &o));
    assert_int_equal(pv_store_pm_insert(st, &a), PV_EEXIST);
    memset(a.last4, '4', sizeof a.last4); /* no room for the NUL: does not fit */
    assert_int_equal(pv_store_pm_insert(st, &a), PV_EINVAL);
    COPY(a.last4, "4242");

    OK(pv_store_pm_get(st, "cus_A", "pm_1", &got));
    assert_string_equal(got.id, "pm_1");
    assert_string_equal(got.customer_id, "cus_A");
    assert_int_equal(got.test, 0);
    assert_string_equal(got.gateway_ref, "tok_pm_1");
    assert_string_equal(got.brand, "visa");
    assert_string_equal(got.last4, "4242");
    assert_int_equal(got.exp_month, 12);
    assert_int_equal(got.exp_year, 2031);
    assert_int_equal(got.created, 1700000002);
    /* Another customer's card is not found. */
    assert_int_equal(pv_store_pm_get(st, "cus_B", "pm_1", &got), PV_ENOTFOUND);
    assert_string_equal(got.id, "");

    /* Live cards oldest first; test cards apart. */
    OK(pv_store_pm_list(st, "cus_A", 0, &list, &n));
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, "pm_2");
    assert_string_equal(list[1].id, "pm_1");
    free(list);
    OK(pv_store_pm_list(st, "cus_A", 1, &list, &n));
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, "pm_3");
    assert_int_equal(list[0].test, 1);
    free(list);

    /* Deleting: only the customer's own live card, once; then neither got nor listed. */
    assert_int_equal(pv_store_pm_delete(st, "cus_B", "pm_1", 1700000100), PV_ENOTFOUND);
    OK(pv_store_pm_delete(st, "cus_A", "pm_1", 1700000100));
    assert_int_equal(pv_store_pm_delete(st, "cus_A", "pm_1", 1700000200), PV_ENOTFOUND);
    assert_int_equal(pv_store_pm_delete(st, "cus_A", "pm_nope", 1700000200), PV_ENOTFOUND);
    assert_int_equal(pv_store_pm_get(st, "cus_A", "pm_1", &got), PV_ENOTFOUND);
    OK(pv_store_pm_list(st, "cus_A", 0, &list, &n));
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, "pm_2");
    free(list);
    /* Its id stays taken: charges name it. */
    assert_int_equal(pv_store_pm_insert(st, &a), PV_EEXIST);

    /* A card for a customer that does not exist is refused by the schema. */
    o = make_pm("pm_5", "cus_nope", 0, 1);
    assert_true(pv_store_pm_insert(st, &o) < 0);
}

static struct pv_charge_rec make_charge(const char *id, const char *customer, const char *purpose,
                                        const char *ref, pv_mills amount, int64_t created)
{
    struct pv_charge_rec c;

    memset(&c, 0, sizeof c);
    COPY(c.id, id);
    COPY(c.customer_id, customer);
    COPY(c.purpose, purpose);
    COPY(c.ref, ref);
    COPY(c.payment_method_id, "pm_1");
    COPY(c.brand, "visa");
    COPY(c.last4, "4242");
    c.amount = amount;
    c.created = created;
    return c;
}

/* A batch's card charges in one statement on PostgreSQL (charges_insert, issue 15, session 15;
 * SQLite: one each): each read back as charge_insert writes it; nothing written when one is
 * refused before; a taken id fails the whole statement. */
static void test_charges_insert(void **state)
{
    struct pv_store *st = *state;
    struct pv_charge_rec cs[3], got;
    uint64_t ran;
    int i;

    cs[0] = make_charge("ch_m1", "cus_A", "purchase", "ind_m1", 1000, 1700000001);
    cs[1] = make_charge("ch_m2", "cus_B", "purchase", "ind_m2", 740, 1700000002);
    cs[2] = make_charge("ch_m3", "cus_A", "purchase", "ind_m3", 1480, 1700000003);
    cs[1].test = 1;
    COPY(cs[1].payment_method_id, "");
    cs[2].amount = 0; /* refused before anything is written */
    assert_int_equal(pv_store_charges_insert(st, cs, 3), PV_EINVAL);
    assert_int_equal(pv_store_charge_find(st, "purchase", "ind_m1", &got), PV_ENOTFOUND);
    cs[2].amount = 1480;
    ran = pv_store_statements(st);
    OK(pv_store_charges_insert(st, cs, 3));
    if (strcmp(pv_store_backend_name(st), "postgres") == 0)
        assert_int_equal(pv_store_statements(st) - ran, 1);
    for (i = 0; i < 3; i++) {
        OK(pv_store_charge_find(st, "purchase", cs[i].ref, &got));
        assert_string_equal(got.id, cs[i].id);
        assert_string_equal(got.customer_id, cs[i].customer_id);
        assert_int_equal(got.test, cs[i].test);
        assert_string_equal(got.payment_method_id, cs[i].payment_method_id);
        assert_string_equal(got.brand, "visa");
        assert_string_equal(got.last4, "4242");
        assert_int_equal(got.amount, cs[i].amount);
        assert_int_equal(got.refunded, 0);
        assert_int_equal(got.created, cs[i].created);
    }
    if (strcmp(pv_store_backend_name(st), "postgres") == 0) {
        cs[0] = make_charge("ch_m4", "cus_A", "purchase", "ind_m4", 1000, 1700000004);
        OK(pv_store_begin(st)); /* ch_m2 taken: the statement fails whole */
        assert_int_equal(pv_store_charges_insert(st, cs, 2), PV_EEXIST);
        OK(pv_store_rollback(st));
        assert_int_equal(pv_store_charge_find(st, "purchase", "ind_m4", &got), PV_ENOTFOUND);
    }
    OK(pv_store_charges_insert(st, cs, 0));
}

static void test_charges(void **state)
{
    struct pv_store *st = *state;
    struct pv_charge_rec a = make_charge("ch_1", "cus_A", "purchase", "ind_1", 1000, 1700000001);
    struct pv_charge_rec b = make_charge("ch_2", "cus_A", "funds", "top_1", 50000, 1700000002);
    struct pv_charge_rec c = make_charge("ch_3", "cus_B", "purchase", "ind_2", 730, 1700000003);
    struct pv_charge_rec got, bad;
    int64_t n = -1;

    b.test = 1;
    COPY(b.payment_method_id, "");
    OK(pv_store_charge_insert(st, &a));
    OK(pv_store_charge_insert(st, &b));
    OK(pv_store_charge_insert(st, &c));
    assert_int_equal(pv_store_charge_insert(st, &a), PV_EEXIST);
    bad = make_charge("ch_9", "cus_A", "purchase", "ind_9", 0, 1);
    assert_int_equal(pv_store_charge_insert(st, &bad), PV_EINVAL);
    bad.amount = PV_MILLS_MAX + 1;
    assert_int_equal(pv_store_charge_insert(st, &bad), PV_EOVERFLOW);

    OK(pv_store_charge_find(st, "purchase", "ind_1", &got));
    assert_string_equal(got.id, "ch_1");
    assert_string_equal(got.customer_id, "cus_A");
    assert_int_equal(got.test, 0);
    assert_string_equal(got.purpose, "purchase");
    assert_string_equal(got.ref, "ind_1");
    assert_string_equal(got.payment_method_id, "pm_1");
    assert_string_equal(got.brand, "visa");
    assert_string_equal(got.last4, "4242");
    assert_int_equal(got.amount, 1000);
    assert_int_equal(got.refunded, 0);
    assert_int_equal(got.created, 1700000001);
    OK(pv_store_charge_find(st, "funds", "top_1", &got));
    assert_int_equal(got.test, 1);
    assert_string_equal(got.payment_method_id, "");
    assert_int_equal(pv_store_charge_find(st, "funds", "ind_1", &got), PV_ENOTFOUND);
    assert_string_equal(got.id, "");

    /* Refunds add up to the charge, never past it. */
    OK(pv_store_charge_add_refund(st, "ch_1", 300));
    assert_int_equal(pv_store_charge_add_refund(st, "ch_1", 701), PV_EOVERFLOW);
    OK(pv_store_charge_find(st, "purchase", "ind_1", &got));
    assert_int_equal(got.refunded, 300);
    OK(pv_store_charge_add_refund(st, "ch_1", 700));
    assert_int_equal(pv_store_charge_add_refund(st, "ch_1", 1), PV_EOVERFLOW);
    OK(pv_store_charge_find(st, "purchase", "ind_1", &got));
    assert_int_equal(got.refunded, 1000);
    assert_int_equal(pv_store_charge_add_refund(st, "ch_nope", 1), PV_ENOTFOUND);
    assert_int_equal(pv_store_charge_add_refund(st, "ch_2", -1), PV_EINVAL);

    /* Inside a transaction a refused refund leaves the transaction usable. */
    OK(pv_store_begin(st));
    assert_int_equal(pv_store_charge_add_refund(st, "ch_3", 731), PV_EOVERFLOW);
    assert_int_equal(pv_store_charge_add_refund(st, "ch_nope", 1), PV_ENOTFOUND);
    OK(pv_store_charge_add_refund(st, "ch_3", 730));
    OK(pv_store_commit(st));
    OK(pv_store_charge_find(st, "purchase", "ind_2", &got));
    assert_int_equal(got.refunded, 730);

    OK(pv_store_charge_count(st, "cus_A", "", &n));
    assert_int_equal(n, 2);
    OK(pv_store_charge_count(st, "cus_A", "purchase", &n));
    assert_int_equal(n, 1);
    OK(pv_store_charge_count(st, "cus_A", "auto_refill", &n));
    assert_int_equal(n, 0);
    OK(pv_store_charge_count(st, "cus_nope", "", &n));
    assert_int_equal(n, 0);
}

static void test_autorefill(void **state)
{
    struct pv_store *st = *state;
    struct pv_autorefill_rec r, got;

    assert_int_equal(pv_store_autorefill_get(st, "cus_A", 0, &got), PV_ENOTFOUND);
    memset(&r, 0, sizeof r);
    COPY(r.customer_id, "cus_A");
    r.enabled = 1;
    r.trigger = 5000;
    r.amount = 20000;
    COPY(r.payment_method_id, "pm_1");
    r.updated = 1700000001;
    OK(pv_store_autorefill_put(st, &r));
    r.test = 1;
    r.enabled = 0;
    r.trigger = 1;
    r.amount = 2;
    COPY(r.payment_method_id, "pm_t");
    OK(pv_store_autorefill_put(st, &r));

    OK(pv_store_autorefill_get(st, "cus_A", 0, &got));
    assert_string_equal(got.customer_id, "cus_A");
    assert_int_equal(got.test, 0);
    assert_int_equal(got.enabled, 1);
    assert_int_equal(got.trigger, 5000);
    assert_int_equal(got.amount, 20000);
    assert_string_equal(got.payment_method_id, "pm_1");
    assert_int_equal(got.updated, 1700000001);
    OK(pv_store_autorefill_get(st, "cus_A", 1, &got));
    assert_int_equal(got.test, 1);
    assert_int_equal(got.enabled, 0);
    assert_string_equal(got.payment_method_id, "pm_t");

    /* put replaces. */
    r.test = 0;
    r.enabled = 0;
    r.trigger = 100;
    r.amount = 10000;
    COPY(r.payment_method_id, "pm_2");
    r.updated = 1700000009;
    OK(pv_store_autorefill_put(st, &r));
    OK(pv_store_autorefill_get(st, "cus_A", 0, &got));
    assert_int_equal(got.enabled, 0);
    assert_int_equal(got.trigger, 100);
    assert_int_equal(got.amount, 10000);
    assert_string_equal(got.payment_method_id, "pm_2");
    assert_int_equal(got.updated, 1700000009);
    assert_int_equal(pv_store_autorefill_get(st, "cus_B", 0, &got), PV_ENOTFOUND);

    r.amount = -1;
    assert_int_equal(pv_store_autorefill_put(st, &r), PV_EINVAL);
}

static struct pv_refund_rec make_refund(const char *id, const char *indicium, int status,
                                        int64_t requested_at)
{
    struct pv_refund_rec r;

    memset(&r, 0, sizeof r);
    COPY(r.id, id);
    COPY(r.indicium_id, indicium);
    COPY(r.customer_id, "cus_A");
    r.status = status;
    COPY(r.reason, status == PV_REFUND_DENIED ? "already_scanned" : "");
    r.amount = 730;
    COPY(r.destination, status == PV_REFUND_APPROVED ? "balance" : "");
    r.requested_at = requested_at;
    r.decided_at = status == PV_REFUND_REQUESTED ? 0 : requested_at + 1;
    return r;
}

static void test_refunds(void **state)
{
    struct pv_store *st = *state;
    struct pv_indicium_rec ind;
    struct pv_refund_rec r, got;

    seed_for_indicia(st);
    make_indicium(&ind, "ind_0001", "cus_A", 1, 1, "");
    OK(pv_store_indicium_insert(st, &ind));
    make_indicium(&ind, "ind_0002", "cus_A", 1, 2, "");
    OK(pv_store_indicium_insert(st, &ind));

    assert_int_equal(pv_store_refund_latest(st, "ind_0001", &got), PV_ENOTFOUND);
    r = make_refund("rfd_1", "ind_0001", PV_REFUND_DENIED, 1700000001);
    OK(pv_store_refund_insert(st, &r));
    assert_int_equal(pv_store_refund_insert(st, &r), PV_EEXIST);
    OK(pv_store_refund_latest(st, "ind_0001", &got));
    assert_string_equal(got.id, "rfd_1");
    assert_string_equal(got.indicium_id, "ind_0001");
    assert_string_equal(got.customer_id, "cus_A");
    assert_int_equal(got.status, PV_REFUND_DENIED);
    assert_string_equal(got.reason, "already_scanned");
    assert_int_equal(got.amount, 730);
    assert_string_equal(got.destination, "");
    assert_int_equal(got.requested_at, 1700000001);
    assert_int_equal(got.decided_at, 1700000002);

    /* One approved refund per indicium (the partial unique index); others any number. */
    r = make_refund("rfd_2", "ind_0001", PV_REFUND_APPROVED, 1700000010);
    OK(pv_store_refund_insert(st, &r));
    OK(pv_store_refund_latest(st, "ind_0001", &got));
    assert_string_equal(got.id, "rfd_2");
    assert_int_equal(got.status, PV_REFUND_APPROVED);
    assert_string_equal(got.destination, "balance");
    r = make_refund("rfd_3", "ind_0001", PV_REFUND_APPROVED, 1700000020);
    assert_int_equal(pv_store_refund_insert(st, &r), PV_EEXIST);
    OK(pv_store_refund_latest(st, "ind_0001", &got));
    assert_string_equal(got.id, "rfd_2");
    r = make_refund("rfd_4", "ind_0001", PV_REFUND_DENIED, 1700000030);
    OK(pv_store_refund_insert(st, &r));
    OK(pv_store_refund_latest(st, "ind_0001", &got));
    assert_string_equal(got.id, "rfd_4");
    /* Another indicium has its own. */
    r = make_refund("rfd_5", "ind_0002", PV_REFUND_APPROVED, 1700000040);
    OK(pv_store_refund_insert(st, &r));
    assert_int_equal(pv_store_refund_latest(st, "ind_nope", &got), PV_ENOTFOUND);

    /* Inside a transaction the duplicate can be rolled back to a savepoint. */
    OK(pv_store_begin(st));
    OK(pv_store_savepoint(st));
    r = make_refund("rfd_6", "ind_0002", PV_REFUND_APPROVED, 1700000050);
    assert_int_equal(pv_store_refund_insert(st, &r), PV_EEXIST);
    OK(pv_store_rollback_to(st));
    r = make_refund("rfd_6", "ind_0002", PV_REFUND_REQUESTED, 1700000050);
    OK(pv_store_refund_insert(st, &r));
    OK(pv_store_commit(st));
    OK(pv_store_refund_latest(st, "ind_0002", &got));
    assert_string_equal(got.id, "rfd_6");
    assert_int_equal(got.status, PV_REFUND_REQUESTED);
    assert_int_equal(got.decided_at, 0);

    r = make_refund("rfd_7", "ind_0001", 3, 1700000060);
    assert_int_equal(pv_store_refund_insert(st, &r), PV_EINVAL);
    /* A refund of an indicium that does not exist is refused by the schema. */
    r = make_refund("rfd_8", "ind_nope", PV_REFUND_REQUESTED, 1700000070);
    assert_true(pv_store_refund_insert(st, &r) < 0);
}

static void test_account_lines(void **state)
{
    struct pv_store *st = *state;
    struct pv_ledger_line l[4];
    struct pv_txn_rec *page = NULL;
    int64_t cursor;
    size_t n = 99;

    OK(pv_store_account_lines(st, "customer:cus_A", 0, 10, &page, &n));
    assert_null(page);
    assert_int_equal(n, 0);

    line(&l[0], "card:clearing", -50000);
    line(&l[1], "customer:cus_A", 50000);
    OK(pv_store_journal_post(st, "card_charge", "ch_1", l, 2, 1700000001));
    /* Two lines of cus_A in one entry come back as one row. */
    line(&l[0], "customer:cus_A", -700);
    line(&l[1], "customer:cus_A", -30);
    line(&l[2], "postage:sold", 700);
    line(&l[3], "revenue:fees", 30);
    OK(pv_store_journal_post(st, "postage_sale", "ind_1", l, 4, 1700000002));
    line(&l[0], "card:clearing", -10);
    line(&l[1], "customer:cus_B", 10);
    OK(pv_store_journal_post(st, "card_charge", "ch_2", l, 2, 1700000003));
    line(&l[0], "customer:cus_A", 730);
    line(&l[1], "postage:sold", -730);
    OK(pv_store_journal_post(st, "refund", "rfd_1", l, 2, 1700000004));

    OK(pv_store_account_lines(st, "customer:cus_A", 0, 2, &page, &n));
    assert_int_equal(n, 2);
    assert_string_equal(page[0].kind, "refund");
    assert_string_equal(page[0].ref, "rfd_1");
    assert_int_equal(page[0].amount, 730);
    assert_int_equal(page[0].at, 1700000004);
    assert_string_equal(page[1].kind, "postage_sale");
    assert_string_equal(page[1].ref, "ind_1");
    assert_int_equal(page[1].amount, -730);
    assert_int_equal(page[1].at, 1700000002);
    assert_true(page[0].journal_id > page[1].journal_id);
    cursor = page[1].journal_id;
    free(page);

    OK(pv_store_account_lines(st, "customer:cus_A", cursor, 2, &page, &n));
    assert_int_equal(n, 1);
    assert_string_equal(page[0].kind, "card_charge");
    assert_string_equal(page[0].ref, "ch_1");
    assert_int_equal(page[0].amount, 50000);
    assert_true(page[0].journal_id < cursor);
    cursor = page[0].journal_id;
    free(page);

    page = (struct pv_txn_rec *) &n;
    OK(pv_store_account_lines(st, "customer:cus_A", cursor, 2, &page, &n));
    assert_null(page);
    assert_int_equal(n, 0);
    OK(pv_store_account_lines(st, "customer:cus_A", 0, 0, &page, &n));
    assert_int_equal(n, 0);

    OK(pv_store_account_lines(st, "customer:cus_B", 0, 10, &page, &n));
    assert_int_equal(n, 1);
    assert_int_equal(page[0].amount, 10);
    free(page);
    OK(pv_store_account_lines(st, "customer:cus_nope", 0, 10, &page, &n));
    assert_int_equal(n, 0);
}

/* ---- media (schema v5) -------------------------------------------------------------------- */

/* Customers, an affiliate of each kind, a serial secret and one indicium to point labels at. */
static void seed_media(struct pv_store *st)
{
    struct pv_affiliate_rec a;
    struct pv_media_key_rec k;
    struct pv_indicium_rec *r = calloc(1, sizeof *r);
    size_t i;

    assert_non_null(r);
    seed_for_indicia(st);
    memset(&k, 0, sizeof k);
    k.key_id = 1;
    for (i = 0; i < sizeof k.secret; i++)
        k.secret[i] = (uint8_t) i;
    k.created = 1700000000;
    OK(pv_store_media_key_insert(st, &k));
    memset(&a, 0, sizeof a);
    COPY(a.id, "aff_R");
    COPY(a.name, "Reseller");
    a.group_no = 1;
    a.threshold_labels = 10;
    a.resupply_sheets = 5;
    a.created = 1700000001;
    OK(pv_store_affiliate_insert(st, &a));
    COPY(a.id, "aff_S");
    COPY(a.name, "Own");
    COPY(a.customer_id, "cus_A");
    a.group_no = 2;
    a.created = 1700000002;
    OK(pv_store_affiliate_insert(st, &a));
    make_indicium(r, "ind_0001", "cus_A", 1, 1, "");
    OK(pv_store_indicium_insert(st, r));
    make_indicium(r, "ind_0002", "cus_B", 1, 2, "");
    OK(pv_store_indicium_insert(st, r));
    free(r);
}

static struct pv_media_batch_rec make_batch(const char *affiliate, uint32_t sheets, int payment)
{
    struct pv_media_batch_rec b;

    memset(&b, 0, sizeof b);
    b.product = 1;
    b.group_no = 1;
    b.key_id = 1;
    COPY(b.affiliate_id, affiliate);
    b.sheets = sheets;
    b.labels_per_sheet = 30;
    b.payment = payment;
    b.price = 1500;
    b.distributed = 1700000100;
    return b;
}

static void test_media_records(void **state)
{
    struct pv_store *st = *state;
    struct pv_media_key_rec k, *keys;
    struct pv_affiliate_rec a, *affs;
    struct pv_media_batch_rec b = make_batch("aff_R", 3, PV_MEDIA_UNPAID), b2, got;
    struct pv_media_sheet_rec sh;
    size_t n, i;

    seed_media(st);
    /* Secrets: 32 bytes each, key ids 0..15, listed in order. */
    memset(&k, 0, sizeof k);
    k.key_id = 16;
    assert_int_equal(pv_store_media_key_insert(st, &k), PV_EINVAL);
    k.key_id = 1;
    assert_int_equal(pv_store_media_key_insert(st, &k), PV_EEXIST);
    k.key_id = 0;
    memset(k.secret, 0xa5, sizeof k.secret);
    OK(pv_store_media_key_insert(st, &k));
    OK(pv_store_media_key_list(st, &keys, &n));
    assert_int_equal(n, 2);
    assert_int_equal(keys[0].key_id, 0);
    assert_int_equal(keys[0].secret[31], 0xa5);
    assert_int_equal(keys[1].key_id, 1);
    for (i = 0; i < sizeof keys[1].secret; i++)
        assert_int_equal(keys[1].secret[i], i);
    free(keys);

    /* Affiliates: a group is one affiliate's; a customer's own has its id. */
    OK(pv_store_affiliate_get(st, "aff_S", &a));
    assert_string_equal(a.customer_id, "cus_A");
    assert_int_equal(a.group_no, 2);
    OK(pv_store_affiliate_get(st, "aff_R", &a));
    assert_string_equal(a.customer_id, "");
    assert_int_equal(a.threshold_labels, 10);
    assert_int_equal(pv_store_affiliate_get(st, "aff_X", &a), PV_ENOTFOUND);
    OK(pv_store_affiliate_get(st, "aff_R", &a));
    COPY(a.id, "aff_T");
    assert_int_equal(pv_store_affiliate_insert(st, &a), PV_EEXIST); /* group 1 is taken */
    OK(pv_store_affiliate_list(st, &affs, &n));
    assert_int_equal(n, 2);
    assert_string_equal(affs[0].id, "aff_R");
    assert_string_equal(affs[1].name, "Own");
    free(affs);

    /* Batches are numbered 1, 2, ... and come with one sheet row per sheet. */
    OK(pv_store_media_batch_insert(st, &b));
    assert_int_equal(b.batch, 1);
    b2 = make_batch("aff_S", 1, PV_MEDIA_FREE);
    COPY(b2.order_id, "rso_1");
    OK(pv_store_media_batch_insert(st, &b2));
    assert_int_equal(b2.batch, 2);
    OK(pv_store_media_batch_get(st, 2, &got));
    assert_string_equal(got.affiliate_id, "aff_S");
    assert_string_equal(got.order_id, "rso_1");
    assert_int_equal(got.payment, PV_MEDIA_FREE);
    assert_int_equal(got.price, 1500);
    assert_int_equal(pv_store_media_batch_get(st, 3, &got), PV_ENOTFOUND);
    b2 = make_batch("aff_X", 1, PV_MEDIA_FREE);
    assert_int_not_equal(pv_store_media_batch_insert(st, &b2), PV_OK); /* no such affiliate */
    OK(pv_store_media_sheet_get(st, 1, 3, &sh));
    assert_int_equal(sh.payment, PV_MEDIA_UNPAID);
    assert_int_equal(sh.labels_used, 0);
    assert_int_equal(pv_store_media_sheet_get(st, 1, 4, &sh), PV_ENOTFOUND);
    assert_int_equal(pv_store_media_sheet_get(st, 1, 0, &sh), PV_ENOTFOUND);
    OK(pv_store_media_sheet_get(st, 2, 1, &sh));
    assert_int_equal(sh.payment, PV_MEDIA_FREE);

    /* Sheet updates: payment and counters. */
    OK(pv_store_media_sheet_get(st, 1, 2, &sh));
    sh.payment = PV_MEDIA_PAID;
    COPY(sh.paid_by, "cus_B");
    sh.paid_at = 1700000200;
    sh.labels_used = 2;
    sh.first_use = 1700000201;
    sh.last_use = 1700000202;
    OK(pv_store_media_sheet_update(st, &sh));
    memset(&sh, 0, sizeof sh);
    OK(pv_store_media_sheet_get(st, 1, 2, &sh));
    assert_int_equal(sh.payment, PV_MEDIA_PAID);
    assert_string_equal(sh.paid_by, "cus_B");
    assert_int_equal(sh.labels_used, 2);
    assert_int_equal(sh.last_use, 1700000202);
    sh.sheet = 9;
    assert_int_equal(pv_store_media_sheet_update(st, &sh), PV_ENOTFOUND);
}

static void test_media_labels_and_usage(void **state)
{
    struct pv_store *st = *state;
    struct pv_media_batch_rec b = make_batch("aff_R", 2, PV_MEDIA_PAID);
    struct pv_media_label_rec l, *list;
    int64_t total, used, recent;
    size_t n;

    seed_media(st);
    OK(pv_store_media_batch_insert(st, &b));
    memset(&l, 0, sizeof l);
    l.batch = 1;
    l.sheet = 1;
    l.position = 7;
    COPY(l.indicium_id, "ind_0001");
    COPY(l.customer_id, "cus_A");
    l.used_at = 1700000300;
    OK(pv_store_media_label_insert(st, &l));
    /* A label prints once, whoever asks. */
    COPY(l.indicium_id, "ind_0002");
    COPY(l.customer_id, "cus_B");
    assert_int_equal(pv_store_media_label_insert(st, &l), PV_EEXIST);
    l.position = 3;
    l.used_at = 1700000400;
    OK(pv_store_media_label_insert(st, &l));
    l.position = 100;
    assert_int_not_equal(pv_store_media_label_insert(st, &l), PV_OK);
    OK(pv_store_media_label_list(st, 1, 1, &list, &n));
    assert_int_equal(n, 2);
    assert_int_equal(list[0].position, 3);
    assert_string_equal(list[0].customer_id, "cus_B");
    assert_int_equal(list[1].position, 7);
    assert_string_equal(list[1].indicium_id, "ind_0001");
    free(list);
    OK(pv_store_media_label_list(st, 1, 2, &list, &n));
    assert_int_equal(n, 0);
    free(list);

    /* Usage counts the sheets' counters and the labels printed since a time. */
    OK(pv_store_media_usage(st, "aff_R", 1700000350, &total, &used, &recent));
    assert_int_equal(total, 60);
    assert_int_equal(used, 0); /* counters are the caller's to keep (media.c) */
    assert_int_equal(recent, 1);
    OK(pv_store_media_usage(st, "aff_S", 0, &total, &used, &recent));
    assert_int_equal(total + used + recent, 0);
}

/* An intent row of kind "purchase": its key, attempt, state and times; the rest zero. */
static void intent_of(struct pv_intent_rec *it, const char *id, const char *owner,
                      const char *customer, const char *key, int attempt, const char *state,
                      int64_t at)
{
    memset(it, 0, sizeof *it);
    COPY(it->id, id);
    COPY(it->kind, "purchase");
    COPY(it->owner, owner);
    COPY(it->customer_id, customer);
    COPY(it->client_key, key);
    it->attempt = attempt;
    snprintf(it->gateway_key, sizeof it->gateway_key, "purchase:%s:%s:%d", owner, key, attempt);
    COPY(it->state, state);
    it->created = it->updated = at;
}

/* card_heads (issue 15, session 14): what card_head reads of each card, in order, in one
 * statement on PostgreSQL; a card repeated, another kind's intent not read. */
static void card_heads_as_one(struct pv_store *st)
{
    const char *own[] = {"cus_H", "test:cus_H", "cus_H", "cus_H"};
    const char *keys[] = {"k1", "k1", "k2", "k1"};
    const char *cus[] = {"cus_H", "cus_H", "cus_H", "cus_H"};
    struct pv_card_head many[4], one;
    uint64_t ran;
    size_t i;

    assert_int_equal(pv_store_card_heads(st, "purchase", own, keys, NULL, 4, many), PV_EINVAL);
    ran = pv_store_statements(st);
    OK(pv_store_card_heads(st, "purchase", own, keys, cus, 4, many));
    if (strcmp(pv_store_backend_name(st), "postgres") == 0)
        assert_int_equal(pv_store_statements(st) - ran, 1);
    for (i = 0; i < 4; i++) {
        OK(pv_store_card_head(st, "purchase", own[i], keys[i], cus[i], &one));
        assert_int_equal(many[i].replay, one.replay);
        assert_int_equal(many[i].on_hold, one.on_hold);
        assert_int_equal(many[i].found, one.found);
        assert_string_equal(many[i].latest.id, one.latest.id);
        assert_string_equal(many[i].latest.state, one.latest.state);
        assert_string_equal(many[i].latest.gateway_key, one.latest.gateway_key);
        assert_int_equal(many[i].latest.attempt, one.latest.attempt);
        assert_int_equal(many[i].latest.amount, one.latest.amount);
    }
    assert_int_equal(many[0].replay + many[0].found, 2); /* k1: used, two attempts */
    assert_string_equal(many[0].latest.id, "pi_h2");
    assert_int_equal(many[1].found + many[2].found, 0);
    assert_string_equal(many[3].latest.id, "pi_h2");
    OK(pv_store_card_heads(st, "purchase", own, keys, cus, 0, many));
}

/* A new card's reads in one statement (issue 15, session 9): the key's use, the customer's
 * standing hold and the key's latest intent, as idem_get, hold_standing and intent_latest
 * read them one by one. */
static void test_card_head(void **state)
{
    struct pv_store *st = *state;
    struct pv_customer_rec c = make_customer("cus_H", "h@example.com");
    struct pv_card_head h;
    struct pv_hold_rec hold;
    struct pv_intent_rec it;
    uint64_t ran;

    OK(pv_store_customer_insert(st, &c));
    assert_int_equal(pv_store_card_head(st, "purchase", NULL, "k", "cus_H", &h), PV_EINVAL);
    ran = pv_store_statements(st);
    OK(pv_store_card_head(st, "purchase", "cus_H", "k1", "cus_H", &h));
    assert_int_equal(pv_store_statements(st) - ran, 1);
    assert_int_equal(h.replay + h.on_hold + h.found, 0);
    assert_string_equal(h.latest.id, "");
    /* Two attempts of k1: the latest is read whole. */
    intent_of(&it, "pi_h1", "cus_H", "cus_H", "k1", 1, "voided", 1000);
    COPY(it.req_hash, HASH_A);
    it.amount = 740;
    COPY(it.charge_id, "ch_h1");
    OK(pv_store_intent_insert(st, &it));
    intent_of(&it, "pi_h2", "cus_H", "cus_H", "k1", 2, "pending", 1100);
    COPY(it.req_hash, HASH_A);
    it.amount = 740;
    OK(pv_store_intent_insert(st, &it));
    OK(pv_store_card_head(st, "purchase", "cus_H", "k1", "cus_H", &h));
    assert_int_equal(h.found, 1);
    assert_int_equal(h.replay + h.on_hold, 0);
    assert_string_equal(h.latest.id, "pi_h2");
    assert_int_equal(h.latest.attempt, 2);
    assert_string_equal(h.latest.state, "pending");
    assert_string_equal(h.latest.req_hash, HASH_A);
    assert_string_equal(h.latest.gateway_key, "purchase:cus_H:k1:2");
    assert_int_equal(h.latest.amount, 740);
    assert_int_equal(h.latest.updated, 1100);
    OK(pv_store_card_head(st, "funds", "cus_H", "k1", "cus_H", &h)); /* another kind */
    assert_int_equal(h.found, 0);
    OK(pv_store_card_head(st, "purchase", "test:cus_H", "k1", "cus_H", &h)); /* another owner */
    assert_int_equal(h.found, 0);
    /* The key used; a hold placed, then lifted. */
    OK(pv_store_idem_put(st, "cus_H", "k1", HASH_A, "ind_h", 1200));
    memset(&hold, 0, sizeof hold);
    COPY(hold.id, "hld_h");
    COPY(hold.customer_id, "cus_H");
    COPY(hold.reason, "claims");
    COPY(hold.placed_by, "pa_1");
    hold.placed_at = 1200;
    hold.serial = -1;
    OK(pv_store_hold_insert(st, &hold));
    OK(pv_store_card_head(st, "purchase", "cus_H", "k1", "cus_H", &h));
    assert_int_equal(h.replay, 1);
    assert_int_equal(h.on_hold, 1);
    assert_int_equal(h.found, 1);
    OK(pv_store_card_head(st, "purchase", "cus_H", "k2", "cus_H", &h)); /* another key */
    assert_int_equal(h.replay + h.found, 0);
    assert_int_equal(h.on_hold, 1);
    OK(pv_store_hold_lift(st, "hld_h", "pa_1", "paid", 1300));
    OK(pv_store_card_head(st, "purchase", "cus_H", "k2", "cus_H", &h));
    assert_int_equal(h.on_hold, 0);
    card_heads_as_one(st);
}

/* A purchase's key (issue 15, sessions 25-26): its idempotency row, else its card's intent that
 * committed with its indicium - not one given up (declined) or of another kind or owner. Where
 * one transaction writes at a time (SQLite) also one still on its way under the key (pending, or
 * claimed by a batch whose indicium is not written yet), read with its request's hash and no
 * indicium; not on PostgreSQL. A card's record (card_key_put) is that intent alone on SQLite, a
 * row as well where writers go side by side (PostgreSQL), and only inside a transaction. */
static void test_purchase_key(void **state)
{
    struct pv_store *st = *state;
    char hash[PV_HASH_HEX], ind[PV_ID_MAX];
    struct pv_indicium_rec a;
    struct pv_intent_rec it;
    int parallel = pv_store_writers_parallel(st);

    seed_for_indicia(st);
    make_indicium(&a, "ind_0001", "cus_A", 1, 8, "");
    OK(pv_store_indicium_insert(st, &a));
    assert_int_equal(pv_store_purchase_key(st, "cus_A", "k9", hash, ind), PV_ENOTFOUND);
    intent_of(&it, "pi_k1", "cus_A", "cus_A", "k9", 1, "pending", 1000);
    COPY(it.req_hash, HASH_A);
    it.amount = 740;
    OK(pv_store_intent_insert(st, &it));
    /* On its way: on SQLite the key in use by HASH_A's request, no indicium yet. */
    assert_int_equal(pv_store_purchase_key(st, "cus_A", "k9", hash, ind),
                     parallel ? PV_ENOTFOUND : PV_OK);
    assert_string_equal(hash, parallel ? "" : HASH_A);
    assert_string_equal(ind, "");
    /* Claimed by a batch: settling, naming an indicium not written yet. */
    OK(pv_store_begin(st));
    OK(pv_store_intent_move(st, "pi_k1", "pending", "settling", "ch_k1", "ind_0009", "srv", 0,
                            1100));
    assert_int_equal(pv_store_purchase_key(st, "cus_A", "k9", hash, ind),
                     parallel ? PV_ENOTFOUND : PV_OK);
    assert_string_equal(hash, parallel ? "" : HASH_A);
    assert_string_equal(ind, "");
    OK(pv_store_rollback(st));
    /* Authorized (an adopted hold): on SQLite the key in use; declined, voiding, voided: not. */
    {
        static const char *const states[] = {"authorized", "declined", "voiding", "voided"};

        for (size_t k = 0; k < 4; k++) {
            char id[16], key[8];

            snprintf(id, sizeof id, "pi_s%zu", k);
            snprintf(key, sizeof key, "s%zu", k);
            intent_of(&it, id, "cus_A", "cus_A", key, 1, states[k], 1000);
            COPY(it.req_hash, HASH_B);
            it.amount = 740;
            OK(pv_store_intent_insert(st, &it));
            assert_int_equal(pv_store_purchase_key(st, "cus_A", key, hash, ind),
                             k == 0 && !parallel ? PV_OK : PV_ENOTFOUND);
            assert_string_equal(hash, k == 0 && !parallel ? HASH_B : "");
            assert_string_equal(ind, "");
        }
    }
    /* Committed with its indicium. */
    OK(pv_store_begin(st));
    OK(pv_store_intent_move(st, "pi_k1", "pending", "settling", "ch_k1", "ind_0001", "srv", 0,
                            1100));
    OK(pv_store_card_key_put(st, "cus_A", "k9", HASH_A, "ind_0001", 1100));
    OK(pv_store_commit(st));
    OK(pv_store_purchase_key(st, "cus_A", "k9", hash, ind));
    assert_string_equal(hash, HASH_A);
    assert_string_equal(ind, "ind_0001");
    assert_int_equal(pv_store_idem_get(st, "cus_A", "k9", hash, ind),
                     parallel ? PV_OK : PV_ENOTFOUND);
    OK(pv_store_intent_move(st, "pi_k1", "settling", "captured", NULL, NULL, NULL, 0, 1200));
    OK(pv_store_purchase_key(st, "cus_A", "k9", hash, ind));
    assert_string_equal(ind, "ind_0001");
    /* Another owner, another kind: not this key's purchase. */
    assert_int_equal(pv_store_purchase_key(st, "test:cus_A", "k9", hash, ind), PV_ENOTFOUND);
    intent_of(&it, "pi_k2", "cus_A", "cus_A", "k8", 1, "settling", 1000);
    COPY(it.kind, "funds");
    COPY(it.ref, "ind_0001");
    it.amount = 740;
    OK(pv_store_intent_insert(st, &it));
    assert_int_equal(pv_store_purchase_key(st, "cus_A", "k8", hash, ind), PV_ENOTFOUND);
    /* A balance purchase's row is read first. */
    OK(pv_store_idem_put(st, "cus_A", "k7", HASH_B, "ind_0001", 1300));
    OK(pv_store_purchase_key(st, "cus_A", "k7", hash, ind));
    assert_string_equal(hash, HASH_B);
    /* Only inside the transaction that moved the intent (nothing stands for the row outside). */
    assert_int_equal(pv_store_card_key_put(st, "cus_A", "k6", HASH_A, "ind_0001", 1400), PV_EINVAL);
}

/* A card round's new intents in one statement on PostgreSQL (intents_insert, issue 15,
 * session 14; SQLite: one each): each written whole, as intent_insert writes it; one whose
 * (kind, owner, key, attempt) is taken is skipped, the others written; nothing written when one
 * is refused before. */
static void test_intents_insert(void **state)
{
    struct pv_store *st = *state;
    struct pv_intent_rec its[3], got;
    uint8_t done[3];
    size_t i;

    intent_of(&its[0], "pi_m1", "cus_M", "cus_M", "m1", 1, "pending", 1000);
    COPY(its[0].source, "tok_sandbox_approved_x_1");
    COPY(its[0].brand, "visa");
    COPY(its[0].last4, "4242");
    COPY(its[0].req_hash, HASH_A);
    COPY(its[0].server_id, "proc-1");
    its[0].amount = 740;
    its[0].test = 1;
    its[1] = its[0];
    COPY(its[1].id, "pi_m2"); /* m1's first attempt again: taken by pi_m1 */
    its[2] = its[0];
    COPY(its[2].id, "pi_m3");
    COPY(its[2].client_key, "m3");
    its[2].attempt = 2;
    COPY(its[2].gateway_key, "purchase:cus_M:m3:2");
    its[2].amount = 1480;
    its[1].attempt = 0; /* refused before anything is written */
    assert_int_equal(pv_store_intents_insert(st, its, 3, done), PV_EINVAL);
    assert_int_equal(pv_store_intent_get(st, "pi_m1", &got), PV_ENOTFOUND);
    its[1].attempt = 1;
    OK(pv_store_intents_insert(st, its, 3, done));
    assert_int_equal(done[0], 1);
    assert_int_equal(done[1], 0);
    assert_int_equal(done[2], 1);
    assert_int_equal(pv_store_intent_get(st, "pi_m2", &got), PV_ENOTFOUND);
    for (i = 0; i < 3; i += 2) {
        OK(pv_store_intent_get(st, its[i].id, &got));
        assert_string_equal(got.kind, its[i].kind);
        assert_string_equal(got.owner, "cus_M");
        assert_string_equal(got.client_key, its[i].client_key);
        assert_int_equal(got.attempt, its[i].attempt);
        assert_int_equal(got.test, 1);
        assert_string_equal(got.gateway_key, its[i].gateway_key);
        assert_string_equal(got.source, "tok_sandbox_approved_x_1");
        assert_string_equal(got.brand, "visa");
        assert_string_equal(got.last4, "4242");
        assert_string_equal(got.req_hash, HASH_A);
        assert_int_equal(got.amount, its[i].amount);
        assert_string_equal(got.state, "pending");
        assert_string_equal(got.server_id, "proc-1");
        assert_int_equal(got.created, 1000);
        assert_int_equal(got.updated, 1000);
    }
    OK(pv_store_intents_insert(st, its, 0, done));
}

/* PostgreSQL: an intent another transaction holds is skipped by the claim, not waited for
 * (its job moves it itself); the others are claimed. */
static void claim_skips_locked(struct pv_store *st)
{
    struct pv_store *other = NULL;
    struct pv_intent_rec it;
    const char *ids[] = {"pi_c4", "pi_c5"};
    const char *from[] = {"authorized", "authorized"};
    const char *charge[] = {"", ""};
    const char *refs[] = {"ind_c4", "ind_c5"};
    uint8_t done[2];

    intent_of(&it, "pi_c4", "cus_C", "cus_C", "c4", 1, "authorized", 1000);
    it.amount = 740;
    COPY(it.charge_id, "ch_c4");
    OK(pv_store_intent_insert(st, &it));
    intent_of(&it, "pi_c5", "cus_C", "cus_C", "c5", 1, "authorized", 1000);
    it.amount = 740;
    COPY(it.charge_id, "ch_c5");
    OK(pv_store_intent_insert(st, &it));
    OK(pv_store_open(dsn, &other));
    OK(pv_store_begin(other)); /* pi_c4's row held by another transaction */
    OK(pv_store_intent_move(other, "pi_c4", "authorized", "authorized", NULL, NULL, NULL, 0, 1500));
    OK(pv_store_begin(st));
    OK(pv_store_intents_claim(st, ids, from, charge, refs, 2, "settling", "proc-2", 2000, done));
    assert_int_equal(done[0], 0);
    assert_int_equal(done[1], 1);
    OK(pv_store_commit(st));
    OK(pv_store_rollback(other));
    pv_store_close(other);
    OK(pv_store_intent_get(st, "pi_c4", &it));
    assert_string_equal(it.state, "authorized");
    OK(pv_store_intent_get(st, "pi_c5", &it));
    assert_string_equal(it.state, "settling");
}

/* A batch's card holds claimed in one statement on PostgreSQL (intents_claim, issue 15,
 * session 15; SQLite: one each): each intent still in the state named moves as intent_move
 * moves it - the charge id set where one is given, kept where "" - and one another moved is
 * left as it is; nothing moves when one is refused before. */
static void test_intents_claim(void **state)
{
    struct pv_store *st = *state;
    struct pv_intent_rec it, got;
    const char *ids[] = {"pi_c1", "pi_c2", "pi_c3"};
    const char *from[] = {"pending", "authorized", "authorized"};
    const char *charge[] = {"ch_c1", "", ""};
    const char *refs[] = {"ind_c1", "ind_c2", "ind_c3"};
    const char *bad[] = {"ind_c1", NULL, "ind_c3"};
    uint8_t done[3];
    uint64_t ran;

    intent_of(&it, "pi_c1", "cus_C", "cus_C", "c1", 1, "pending", 1000);
    it.amount = 740;
    OK(pv_store_intent_insert(st, &it));
    intent_of(&it, "pi_c2", "cus_C", "cus_C", "c2", 1, "authorized", 1000);
    it.amount = 740;
    COPY(it.charge_id, "ch_c2");
    OK(pv_store_intent_insert(st, &it));
    intent_of(&it, "pi_c3", "cus_C", "cus_C", "c3", 1, "voided", 1000); /* the recovery's */
    it.amount = 740;
    COPY(it.charge_id, "ch_c3");
    OK(pv_store_intent_insert(st, &it));
    assert_int_equal(
        pv_store_intents_claim(st, ids, from, charge, bad, 3, "settling", "proc-2", 2000, done),
        PV_EINVAL);
    OK(pv_store_intent_get(st, "pi_c1", &got));
    assert_string_equal(got.state, "pending");
    ran = pv_store_statements(st);
    OK(pv_store_intents_claim(st, ids, from, charge, refs, 3, "settling", "proc-2", 2000, done));
    if (strcmp(pv_store_backend_name(st), "postgres") == 0)
        assert_int_equal(pv_store_statements(st) - ran, 1);
    assert_int_equal(done[0], 1);
    assert_int_equal(done[1], 1);
    assert_int_equal(done[2], 0);
    OK(pv_store_intent_get(st, "pi_c1", &got));
    assert_string_equal(got.state, "settling");
    assert_string_equal(got.charge_id, "ch_c1");
    assert_string_equal(got.ref, "ind_c1");
    assert_string_equal(got.server_id, "proc-2");
    assert_int_equal(got.updated, 2000);
    OK(pv_store_intent_get(st, "pi_c2", &got));
    assert_string_equal(got.state, "settling");
    assert_string_equal(got.charge_id, "ch_c2");
    assert_string_equal(got.ref, "ind_c2");
    OK(pv_store_intent_get(st, "pi_c3", &got));
    assert_string_equal(got.state, "voided");
    assert_string_equal(got.ref, "");
    assert_int_equal(got.updated, 1000);
    /* Claimed already: the guard refuses them all. */
    OK(pv_store_intents_claim(st, ids, from, charge, refs, 3, "settling", "proc-2", 3000, done));
    assert_int_equal(done[0] + done[1] + done[2], 0);
    OK(pv_store_intents_claim(st, ids, from, charge, refs, 0, "settling", "proc-2", 3000, done));
    if (strcmp(pv_store_backend_name(st), "postgres") == 0)
        claim_skips_locked(st);
}

/* Payment intents (schema v7): insert, latest, guarded moves, due, active. */
static void test_intents(void **state)
{
    struct pv_store *st = *state;
    struct pv_intent_rec it, got, *list;
    size_t n;

    intent_of(&it, "pi_1", "test:cus_A", "cus_A", "k1", 1, "pending", 1000);
    it.test = 1;
    COPY(it.source, "tok_sandbox_approved_x_1");
    it.amount = 740;
    COPY(it.server_id, "proc-1");
    OK(pv_store_intent_insert(st, &it));
    assert_int_equal(pv_store_intent_insert(st, &it), PV_EEXIST);
    COPY(it.id, "pi_2"); /* another id, the same (kind, owner, key, attempt) */
    assert_int_equal(pv_store_intent_insert(st, &it), PV_EEXIST);
    it.attempt = 2;
    COPY(it.gateway_key, "purchase:test:cus_A:k1:2");
    COPY(it.state, "voided");
    it.created = it.updated = 900;
    OK(pv_store_intent_insert(st, &it));
    OK(pv_store_intent_latest(st, "purchase", "test:cus_A", "k1", &got));
    assert_string_equal(got.id, "pi_2");
    assert_int_equal(got.amount, 740);
    assert_int_equal(got.test, 1);
    assert_int_equal(pv_store_intent_latest(st, "funds", "test:cus_A", "k1", &got), PV_ENOTFOUND);
    /* Guarded moves: state and age. */
    assert_int_equal(
        pv_store_intent_move(st, "pi_1", "authorized", "settling", NULL, NULL, NULL, 0, 1100),
        PV_EPAYSTATE);
    assert_int_equal(
        pv_store_intent_move(st, "pi_1", "pending", "voiding", NULL, NULL, NULL, 1000, 1100),
        PV_EPAYSTATE);
    assert_int_equal(
        pv_store_intent_move(st, "pi_X", "pending", "voiding", NULL, NULL, NULL, 0, 1100),
        PV_ENOTFOUND);
    OK(pv_store_begin(st));
    OK(pv_store_intent_move(st, "pi_1", "pending", "authorized", "ch_1", NULL, "proc-2", 0, 1100));
    OK(pv_store_commit(st));
    OK(pv_store_intent_active(st, "purchase", "test:cus_A", &got));
    assert_string_equal(got.id, "pi_1");
    OK(pv_store_intent_move(st, "pi_1", "authorized", "settling", NULL, "ind_1", NULL, 1101, 1200));
    OK(pv_store_intent_get(st, "pi_1", &got));
    assert_string_equal(got.state, "settling");
    assert_string_equal(got.charge_id, "ch_1"); /* kept where NULL */
    assert_string_equal(got.ref, "ind_1");
    assert_string_equal(got.server_id, "proc-2");
    assert_int_equal(got.updated, 1200);
    OK(pv_store_intent_due(st, "settling", 1201, 10, &list, &n));
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, "pi_1");
    free(list);
    OK(pv_store_intent_due(st, "settling", 1200, 10, &list, &n));
    assert_int_equal(n, 0);
    free(list);
    assert_int_equal(pv_store_intent_active(st, "funds", "test:cus_A", &got), PV_ENOTFOUND);
    assert_int_equal(pv_store_intent_get(st, "pi_X", &got), PV_ENOTFOUND);
}

static void test_resupply_one_open(void **state)
{
    struct pv_store *st = *state;
    struct pv_resupply_rec o, *list;
    int opened;
    size_t n;

    seed_media(st);
    memset(&o, 0, sizeof o);
    COPY(o.id, "rso_1");
    COPY(o.affiliate_id, "aff_R");
    o.product = 1;
    o.labels_remaining = 9;
    o.created = 1700000500;
    OK(pv_store_resupply_open(st, &o, &opened));
    assert_int_equal(opened, 1);
    /* A second open order for the affiliate is the first one. */
    COPY(o.id, "rso_2");
    o.labels_remaining = 8;
    OK(pv_store_begin(st));
    OK(pv_store_savepoint(st));
    OK(pv_store_resupply_open(st, &o, &opened));
    OK(pv_store_release(st));
    OK(pv_store_commit(st));
    assert_int_equal(opened, 0);
    assert_string_equal(o.id, "rso_1");
    assert_int_equal(o.labels_remaining, 9);
    assert_int_equal(o.status, PV_RESUPPLY_OPEN);
    /* Shipped, the next one may open. */
    OK(pv_store_resupply_ship(st, "rso_1", 7, 1700000600));
    assert_int_equal(pv_store_resupply_ship(st, "rso_1", 8, 1700000601), PV_ENOTFOUND);
    assert_int_equal(pv_store_resupply_ship(st, "rso_X", 8, 1700000601), PV_ENOTFOUND);
    OK(pv_store_resupply_get(st, "rso_1", &o));
    assert_int_equal(o.status, PV_RESUPPLY_SHIPPED);
    assert_int_equal(o.batch, 7);
    assert_int_equal(o.shipped_at, 1700000600);
    memset(&o, 0, sizeof o);
    COPY(o.id, "rso_2");
    COPY(o.affiliate_id, "aff_R");
    o.created = 1700000700;
    OK(pv_store_resupply_open(st, &o, &opened));
    assert_int_equal(opened, 1);
    OK(pv_store_resupply_list(st, &list, &n));
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, "rso_2"); /* newest first */
    assert_string_equal(list[1].id, "rso_1");
    free(list);
    assert_int_equal(pv_store_resupply_get(st, "rso_X", &o), PV_ENOTFOUND);
}

/* Many transactions racing to open an affiliate's order: exactly one opens. */
#define RESUPPLIERS 6

struct resupplier {
    struct pv_store *st;
    int n, opened, errors, first_error;
};

static void *resupply_loop(void *arg)
{
    struct resupplier *w = arg;
    struct pv_store *st = w->st;
    struct pv_resupply_rec o;
    int opened, rc;

    memset(&o, 0, sizeof o);
    snprintf(o.id, sizeof o.id, "rso_w%d", w->n);
    COPY(o.affiliate_id, "aff_R");
    o.created = 1700000800;
    rc = pv_store_begin(st);
    if (rc == PV_OK)
        rc = pv_store_resupply_open(st, &o, &opened);
    if (rc == PV_OK)
        rc = pv_store_commit(st);
    else
        pv_store_rollback(st);
    if (rc != PV_OK) {
        w->errors++;
        w->first_error = rc;
    } else {
        w->opened = opened;
    }
    return NULL;
}

static void test_resupply_race(void **state)
{
    struct pv_store *st = *state;
    struct resupplier w[RESUPPLIERS];
    struct pv_resupply_rec *list;
    pthread_t t[RESUPPLIERS];
    int i, opened = 0;
    size_t n;

    seed_media(st);
    memset(w, 0, sizeof w);
    for (i = 0; i < RESUPPLIERS; i++) {
        w[i].n = i;
        OK(pv_store_open(dsn, &w[i].st));
    }
    for (i = 0; i < RESUPPLIERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, resupply_loop, &w[i]), 0);
    for (i = 0; i < RESUPPLIERS; i++)
        pthread_join(t[i], NULL);
    for (i = 0; i < RESUPPLIERS; i++)
        pv_store_close(w[i].st);
    for (i = 0; i < RESUPPLIERS; i++) {
        if (w[i].errors)
            fail_msg("resupplier %d: %s", i, pv_strerror(w[i].first_error));
        opened += w[i].opened;
    }
    assert_int_equal(opened, 1);
    OK(pv_store_resupply_list(st, &list, &n));
    assert_int_equal(n, 1);
    free(list);
}

/* ---- main --------------------------------------------------------------------------------- */

#define EMPTY(f) cmocka_unit_test_setup_teardown(f, setup_empty, teardown_store)
#define STORE(f) cmocka_unit_test_setup_teardown(f, setup_store, teardown_store)

/* ---- the postal authority (schema v8) ---------------------------------------------------- */

static void test_authority_records(void **state)
{
    struct pv_store *st = *state;
    struct pv_refill_rec r1 = make_refill(1, 0, 0, 1000, "rfl_0001", 1700000100);
    struct pv_presentation_rec pr, got;
    struct pv_deposit_credit_rec c, cg;
    struct pv_deposit_entry *page = NULL;
    struct pv_indicium_rec a;
    struct pv_principal who;
    struct pv_ledger_line l[2];
    char name[PV_POSTAL_NAME_MAX];
    size_t n = 99;

    /* Accounts: unique names; postal API keys (role 3) resolve to their principal. */
    OK(pv_store_postal_insert(st, "pa_1", "Inspector A", 1700000000));
    assert_int_equal(pv_store_postal_insert(st, "pa_2", "Inspector A", 1700000000), PV_EEXIST);
    assert_int_equal(pv_store_postal_insert(st, "pa_3", "", 1700000000), PV_EINVAL);
    OK(pv_store_postal_get(st, "pa_1", name));
    assert_string_equal(name, "Inspector A");
    assert_int_equal(pv_store_postal_get(st, "pa_9", name), PV_ENOTFOUND);
    OK(pv_store_apikey_insert(st, "key_p", HASH_A, "sk_postal_ab", PV_ROLE_POSTAL, "pa_1",
                              1700000000));
    OK(pv_store_apikey_lookup(st, HASH_A, &who));
    assert_int_equal(who.role, PV_ROLE_POSTAL);
    assert_string_equal(who.owner_id, "pa_1");
    /* A password for a postal account: its web login. */
    OK(pv_store_password_set(st, PV_ROLE_POSTAL, "pa_1", "$argon2id$x"));

    /* Presentations: one row per (piece, seq); the first comes back. */
    seed_for_indicia(st);
    make_indicium(&a, "ind_0001", "cus_A", 1, 8, "");
    OK(pv_store_indicium_insert(st, &a));
    assert_int_equal(pv_store_presentation_first(st, "ind_0001", &got), PV_ENOTFOUND);
    memset(&pr, 0, sizeof pr);
    COPY(pr.indicium_id, "ind_0001");
    COPY(pr.postal_id, "pa_1");
    COPY(pr.location, "NDC-1");
    pr.seq = 2;
    pr.presented_at = 1700000500;
    pr.recorded_at = 1700000600;
    OK(pv_store_presentation_insert(st, &pr));
    pr.seq = 1;
    pr.presented_at = 1700000400;
    OK(pv_store_presentation_insert(st, &pr));
    assert_int_equal(pv_store_presentation_insert(st, &pr), PV_EEXIST);
    OK(pv_store_presentation_first(st, "ind_0001", &got));
    assert_int_equal(got.seq, 1);
    assert_int_equal(got.presented_at, 1700000400);
    assert_string_equal(got.location, "NDC-1");
    assert_string_equal(got.postal_id, "pa_1");
    pr.seq = 0;
    assert_int_equal(pv_store_presentation_insert(st, &pr), PV_EINVAL);

    /* Credits and the deposit's history with its running balance. */
    memset(&c, 0, sizeof c);
    COPY(c.id, "dep_1");
    COPY(c.reference, "WIRE 1");
    COPY(c.credited_by, "pa_1");
    c.amount = 5000;
    c.at = 1700000050;
    OK(pv_store_deposit_credit_insert(st, &c));
    assert_int_equal(pv_store_deposit_credit_insert(st, &c), PV_EEXIST);
    OK(pv_store_deposit_credit_get(st, "dep_1", &cg));
    assert_string_equal(cg.reference, "WIRE 1");
    assert_int_equal(cg.amount, 5000);
    c.amount = 0;
    COPY(c.id, "dep_2");
    assert_int_equal(pv_store_deposit_credit_insert(st, &c), PV_EINVAL);
    line(&l[0], "postal_authority", -5000);
    line(&l[1], "postal_deposit", 5000);
    OK(pv_store_journal_post(st, "postal_deposit", "dep_1", l, 2, 1700000050));
    /* PSD 1 is seed_for_indicia's. */
    OK(pv_store_refill_insert(st, &r1));
    line(&l[0], "postal_deposit", -1000);
    line(&l[1], "psd:1", 1000);
    OK(pv_store_journal_post(st, "psd_refill", "rfl_0001", l, 2, 1700000100));
    line(&l[0], "customer:cus_A", -10);
    line(&l[1], "revenue:postage", 10);
    OK(pv_store_journal_post(st, "postage_sale", "ind_0001", l, 2, 1700000101));

    OK(pv_store_deposit_history(st, "postal_deposit", 0, 10, &page, &n));
    assert_int_equal(n, 2);
    assert_string_equal(page[0].kind, "psd_refill");
    assert_int_equal(page[0].amount, -1000);
    assert_int_equal(page[0].balance, 4000);
    assert_int_equal(page[0].psd_id, 1);
    assert_string_equal(page[0].reference, "");
    assert_string_equal(page[1].kind, "postal_deposit");
    assert_int_equal(page[1].amount, 5000);
    assert_int_equal(page[1].balance, 5000);
    assert_string_equal(page[1].reference, "WIRE 1");
    assert_int_equal(page[1].psd_id, 0);
    /* The cursor: strictly older than the journal id given. */
    {
        int64_t older = page[0].journal_id;

        free(page);
        OK(pv_store_deposit_history(st, "postal_deposit", older, 10, &page, &n));
    }
    assert_int_equal(n, 1);
    assert_string_equal(page[0].ref, "dep_1");
    free(page);
}

int main(void)
{
    /* clang-format off */
    static const struct CMUnitTest tests[] = {
        EMPTY(test_migrate),
        EMPTY(test_open_checked_refuses_unmigrated),
        EMPTY(test_open_dsn),
        EMPTY(test_migrate_concurrent),
        STORE(test_config),
        STORE(test_ledger),
        STORE(test_ledger_parts),
        STORE(test_journal_post2),
        STORE(test_journals_kept),
        STORE(test_psd),
        STORE(test_psd_invariant),
        STORE(test_refill),
        STORE(test_refill_from),
        STORE(test_reset_page),
        STORE(test_keys),
        STORE(test_key_lifecycle),
        STORE(test_principals),
        STORE(test_idempotency),
        STORE(test_indicium),
        STORE(test_indicium_list),
        STORE(test_indicium_present),
        STORE(test_savepoint),
        STORE(test_rollback),
        STORE(test_read_snapshot),
        STORE(test_log_cut_after_snapshot),
        STORE(test_read_snapshot_lost),
        STORE(test_read_snapshot_failed),
        STORE(test_two_writers),
        STORE(test_balance_locked_in_transaction),
        STORE(test_psd_locked_in_transaction),
        STORE(test_idempotency_race),
        STORE(test_savepoint_after_error),
        STORE(test_defer),
        STORE(test_prefetch),
        STORE(test_batch_rows),
        STORE(test_journal_batch),
        STORE(test_batch_balances),
        STORE(test_batch_late),
        STORE(test_batch_late_keys),
        STORE(test_batch_round_trips),
        STORE(test_batch_lock_queued_busy),
        STORE(test_batch_gate),
        STORE(test_watch),
        STORE(test_printing),
        STORE(test_indicium_texts),
        STORE(test_servers),
        STORE(test_leases),
        STORE(test_lease_race),
        STORE(test_ledger_audit),
        STORE(test_psd_test_flag),
        STORE(test_indicium_refunded),
        STORE(test_passwords),
        STORE(test_sessions),
        STORE(test_apikeys),
        STORE(test_payment_methods),
        STORE(test_charges),
        STORE(test_autorefill),
        STORE(test_refunds),
        STORE(test_account_lines),
        STORE(test_authority_records),
        STORE(test_media_records),
        STORE(test_media_labels_and_usage),
        STORE(test_resupply_one_open),
        STORE(test_intents),
        STORE(test_intents_insert),
        STORE(test_intents_claim),
        STORE(test_charges_insert),
        STORE(test_card_head),
        STORE(test_purchase_key),
        STORE(test_resupply_race),
        STORE(test_indicium_search),
        STORE(test_sales_daily),
    };
    /* clang-format on */
    char name[64];
    size_t i;
    int failed = 0, f;

    for (i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        backend = &backends[i];
        if (backend->init() != 0) {
            fprintf(stderr, "store backend %s: setup failed\n", backend->name);
            failed++;
            continue;
        }
        snprintf(name, sizeof name, "store contract (%s)", backend->name);
        f = cmocka_run_group_tests_name(name, tests, NULL, NULL);
        backend->fini(f);
        failed += f;
    }
    return failed ? 1 : 0;
}
