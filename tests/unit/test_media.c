/*
 * test_media.c - src/domain/media.c: authenticating serials without the
 * database, the product table, serial secrets and their rotation,
 * affiliates and batches (docs/media.md).
 *
 * The authentication tests run pv_media_authenticate - the function the API
 * calls before any database work for a purchase - against a real store
 * whose statements are counted (pv_store_statements): 100,000 random and
 * 100,000 one-character-altered serials are all medium_invalid and run no
 * statement beyond the initial load of the secrets. Everything runs on a
 * fresh SQLite database under $STAMPD_TEST_TMP.
 *
 * The workflows that own their transaction (pv_media_secret_rotate,
 * pv_affiliate_create, pv_media_batch_create, pv_media_pay,
 * pv_resupply_ship) run on a vendor of domain_env.h, with customers and
 * money: what each commits, and that each refusal leaves nothing behind,
 * is read through a second connection.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "domain_env.h"

#include "domain/media.h"
#include "render/render.h"
#include "stampd/error.h"
#include "stampd/rates.h"
#include "stampd/serial.h"
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OK(expr) assert_int_equal((expr), PV_OK)
#define TRIES    100000

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static int setup_db(void **state);
static int teardown_db(void **state);

/* Secret A of docs/serials.md under key id 1 (and a second one under key id 2). */
static void make_key(struct pv_media_key_rec *k, uint32_t key_id, uint8_t first)
{
    size_t i;

    memset(k, 0, sizeof *k);
    k->key_id = key_id;
    for (i = 0; i < sizeof k->secret; i++)
        k->secret[i] = (uint8_t) (first + i);
    k->created = 1700000000;
}

/* A keyring over st holding key (key id 1, secret A); loading it is one statement. */
static void keyring_with_key_a(struct pv_store *st, struct pv_media_keyring *kr,
                               struct pv_media_key_rec *key)
{
    uint64_t ran;

    make_key(key, 1, 0);
    OK(pv_store_media_key_insert(st, key));
    ran = pv_store_statements(st);
    OK(pv_media_keyring_init(kr, st, 3600 * 1000));
    assert_int_equal(pv_store_statements(st), ran + 1);
}

/* xorshift: reproducible, no libc rand() state. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t) (rng >> 16);
}

static void test_authenticate_rejects_without_the_store(void **state)
{
    struct pv_store *st = *state;
    struct pv_media_keyring kr;
    struct pv_media_key_rec key;
    struct pv_serial f;
    char text[PV_SERIAL_TEXT_SIZE], bad[PV_SERIAL_TEXT_SIZE];
    int i, k, rejected = 0;
    uint64_t ran;

    keyring_with_key_a(st, &kr, &key);
    ran = pv_store_statements(st);

    /* The vector of docs/serials.md: label 5 of sheet 17, batch 1234. */
    OK(pv_media_authenticate(&kr, st, "1209-MG70-AG02-45JA-RBYF-K6H", &f));
    assert_int_equal(f.batch, 1234);
    assert_int_equal(f.position, 5);

    /* Random text of the right shape. */
    for (i = 0; i < TRIES; i++) {
        for (k = 0; k < PV_SERIAL_SYMBOLS; k++)
            bad[k] = alphabet[next_rand() % 32];
        bad[PV_SERIAL_SYMBOLS] = '\0';
        rejected += pv_media_authenticate(&kr, st, bad, NULL) == PV_EMEDIUMINVALID;
    }
    assert_int_equal(rejected, TRIES);

    /* Genuine serials with one character changed. */
    rejected = 0;
    for (i = 0; i < TRIES; i++) {
        struct pv_serial g = {PV_SERIAL_VERSION,
                              1,
                              next_rand() % (PV_SERIAL_MAX_BATCH + 1),
                              next_rand() % 256,
                              next_rand() % 4096,
                              next_rand() % 65536,
                              next_rand() % 100};
        size_t pos;
        char c;

        OK(pv_serial_encode(&g, key.secret, sizeof key.secret, text, sizeof text));
        memcpy(bad, text, sizeof bad);
        do
            pos = next_rand() % PV_SERIAL_TEXT_LEN;
        while (bad[pos] == '-');
        do
            c = alphabet[next_rand() % 32];
        while (c == bad[pos]);
        bad[pos] = c;
        rejected += pv_media_authenticate(&kr, st, bad, NULL) == PV_EMEDIUMINVALID;
    }
    assert_int_equal(rejected, TRIES);
    /* Not one statement for all of that: the keys were read once, at start. */
    assert_int_equal(pv_store_statements(st), ran);
    pv_media_keyring_clear(&kr);
}

static void test_unknown_key_reloads_at_most_once(void **state)
{
    struct pv_store *st = *state;
    struct pv_media_keyring kr;
    struct pv_serial g = {PV_SERIAL_VERSION, 2, 1234, 7, 42, 17, 5};
    struct pv_media_key_rec key;
    char text[PV_SERIAL_TEXT_SIZE];
    uint64_t ran;
    int n;

    keyring_with_key_a(st, &kr, &key);
    /* Key 2 appears after the server started (a rotation elsewhere). */
    make_key(&key, 2, 0x20);
    OK(pv_store_media_key_insert(st, &key));
    ran = pv_store_statements(st);
    OK(pv_serial_encode(&g, key.secret, 32, text, sizeof text));
    assert_string_equal(text, "1409-MG70-AG02-452H-M2AD-KKD");
    /* Within the reload interval an unknown key id does not reach the store. */
    for (n = 0; n < 1000; n++)
        assert_int_equal(pv_media_authenticate(&kr, st, text, NULL), PV_EMEDIUMINVALID);
    assert_int_equal(pv_store_statements(st), ran);
    /* Marked stale (this server made a batch): the next miss reloads once. */
    pv_media_keyring_stale(&kr);
    OK(pv_media_authenticate(&kr, st, text, NULL));
    OK(pv_media_authenticate(&kr, st, text, NULL));
    assert_int_equal(pv_store_statements(st), ran + 1);
    /* No store at all: never a reload. */
    text[1] = '6'; /* key id 3 (the check symbol now fails anyway) */
    assert_int_equal(pv_media_authenticate(&kr, NULL, text, NULL), PV_EMEDIUMINVALID);
    pv_media_keyring_clear(&kr);
}

/* ---- products ---- */

static void test_products(void **state)
{
    size_t i, j;

    (void) state;
    assert_true(pv_media_product_count() >= 4);
    for (i = 0; i < pv_media_product_count(); i++) {
        const struct pv_media_product *p = pv_media_product_at(i);
        const struct pv_layout *l = pv_layout_find(p->name);
        assert_non_null(l);
        assert_true(p->labels >= 1 && p->labels <= l->rows * l->cols);
        assert_int_equal(p->cols, l->cols);
        assert_true(p->labels <= PV_SERIAL_MAX_POSITION);
        assert_true(p->code <= PV_SERIAL_MAX_PRODUCT);
        assert_ptr_equal(pv_media_product_find(p->code), p);
        assert_ptr_equal(pv_media_product_by_name(p->name), p);
        for (j = 0; j < i; j++)
            assert_int_not_equal(pv_media_product_at(j)->code, p->code);
    }
    assert_ptr_equal(pv_media_product_by_name("1"), pv_media_product_find(1));
    assert_null(pv_media_product_by_name("label-4x6"));
    assert_null(pv_media_product_find(200));
    /* A #10 envelope carries letters only. */
    assert_int_equal(pv_media_product_by_name("envelope-10")->classes,
                     1u << PV_MC_FIRST_CLASS_LETTER);
}

/* ---- secrets, affiliates and batches on a real store ---- */

static char dbdir[512];

static int setup_db(void **state)
{
    const char *base = getenv("STAMPD_TEST_TMP");
    static unsigned count;
    struct pv_store *st = NULL;
    char dsn[700];
    int from, to;

    if (!base || !*base)
        base = "/tmp";
    if (!dbdir[0]) {
        if (mkdir(base, 0700) != 0 && errno != EEXIST)
            return -1;
        snprintf(dbdir, sizeof dbdir, "%s/test_media.XXXXXX", base);
        if (!mkdtemp(dbdir))
            return -1;
    }
    snprintf(dsn, sizeof dsn, "sqlite:%s/m%u.db", dbdir, ++count);
    if (pv_store_open(dsn, &st) != PV_OK || pv_store_migrate(st, &from, &to) != PV_OK) {
        pv_store_close(st);
        return -1;
    }
    *state = st;
    return 0;
}

static int teardown_db(void **state)
{
    pv_store_close(*state);
    return 0;
}

static void test_secrets_rotate(void **state)
{
    struct pv_store *st = *state;
    struct pv_media_key_rec keys[16];
    uint32_t id = 99;
    size_t n;
    int created, i;

    OK(pv_media_secret_ensure(st, 1700000000, &created));
    assert_int_equal(created, 1);
    OK(pv_media_secret_ensure(st, 1700000000, &created));
    assert_int_equal(created, 0);
    OK(pv_media_keys_load(st, keys, 16, &n));
    assert_int_equal(n, 1);
    assert_int_equal(keys[0].key_id, 0);
    for (i = 1; i <= 15; i++) {
        OK(pv_media_secret_create(st, 1700000000 + i, &id));
        assert_int_equal(id, i);
    }
    assert_int_equal(pv_media_secret_create(st, 1700000100, &id), PV_EOVERFLOW);
    OK(pv_media_keys_load(st, keys, 16, &n));
    assert_int_equal(n, 16);
    assert_memory_not_equal(keys[0].secret, keys[1].secret, sizeof keys[0].secret);
}

static void test_batches_survive_rotation(void **state)
{
    struct pv_store *st = *state;
    struct pv_customer_rec c = {"cus_A", "a@example.com", 1700000000};
    struct pv_affiliate_rec a, b;
    struct pv_media_batch_rec one, two;
    struct pv_media_keyring kr;
    char(*serials)[PV_SERIAL_TEXT_SIZE] = NULL;
    struct pv_serial f;
    size_t n, i;

    OK(pv_media_secret_ensure(st, 1700000000, NULL));
    OK(pv_store_customer_insert(st, &c));
    memset(&a, 0, sizeof a);
    snprintf(a.name, sizeof a.name, "Reseller");
    a.resupply_sheets = 5;
    OK(pv_affiliate_create(st, &a));
    assert_int_equal(a.group_no, 1);
    b = a;
    snprintf(b.customer_id, sizeof b.customer_id, "cus_A");
    OK(pv_affiliate_create(st, &b));
    assert_int_equal(b.group_no, 2);
    snprintf(b.customer_id, sizeof b.customer_id, "cus_X");
    assert_int_equal(pv_affiliate_create(st, &b), PV_ENOTFOUND);

    memset(&one, 0, sizeof one);
    one.product = 1;
    one.sheets = 2;
    one.payment = PV_MEDIA_PAID;
    snprintf(one.affiliate_id, sizeof one.affiliate_id, "%s", a.id);
    OK(pv_media_batch_create(st, &one));
    assert_int_equal(one.key_id, 0);
    assert_int_equal(one.labels_per_sheet, 30);
    assert_int_equal(one.group_no, 1);
    OK(pv_media_secret_create(st, 1700000100, NULL));
    two = one;
    OK(pv_media_batch_create(st, &two));
    assert_int_equal(two.key_id, 1);
    assert_int_equal(two.batch, one.batch + 1);
    two.product = 77;
    assert_int_equal(pv_media_batch_create(st, &two), PV_EINVAL);

    /* Old and new batches both verify after the rotation. */
    OK(pv_media_keyring_init(&kr, st, PV_MEDIA_RELOAD_MS));
    OK(pv_media_batch_serials(st, &one, &serials, &n));
    assert_int_equal(n, 2 * 31);
    for (i = 0; i < n; i++) {
        OK(pv_media_authenticate(&kr, NULL, serials[i], &f));
        assert_int_equal(f.batch, one.batch);
        assert_int_equal(f.sheet, i / 31 + 1);
        assert_int_equal(f.position, i % 31);
        assert_int_equal(f.key_id, 0);
    }
    free(serials);
    OK(pv_media_batch_serials(st, &two, &serials, &n));
    OK(pv_media_authenticate(&kr, NULL, serials[n - 1], &f));
    assert_int_equal(f.key_id, 1);
    free(serials);
    pv_media_keyring_clear(&kr);
}

/* ---- the workflows that own their transaction ---- */

static int setup_vendor(void **state)
{
    *state = denv_open("media");
    return 0;
}

static int teardown_vendor(void **state)
{
    denv_close(*state);
    return 0;
}

/* A reseller (customer "") or a customer's own affiliate, created and committed. */
static void affiliate(struct denv *e, const char *customer, struct pv_affiliate_rec *a)
{
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "Reseller %s", customer);
    snprintf(a->customer_id, sizeof a->customer_id, "%s", customer);
    a->resupply_sheets = 3;
    OK(pv_affiliate_create(e->st, a));
    denv_no_tx(e->st);
}

/* A batch of one sheet of product 1 for affiliate a, in payment state payment at price. */
static void batch(struct denv *e, const struct pv_affiliate_rec *a, int payment, pv_mills price,
                  struct pv_media_batch_rec *b)
{
    memset(b, 0, sizeof *b);
    b->product = 1;
    b->sheets = 1;
    b->payment = payment;
    b->price = price;
    snprintf(b->affiliate_id, sizeof b->affiliate_id, "%s", a->id);
    OK(pv_media_batch_create(e->st, b));
    denv_no_tx(e->st);
}

/* The sheet serial of b's first sheet, as text and parsed. */
static void sheet_serial(struct denv *e, const struct pv_media_batch_rec *b,
                         char text[PV_SERIAL_TEXT_SIZE], struct pv_serial *f)
{
    char(*serials)[PV_SERIAL_TEXT_SIZE] = NULL;
    size_t n;

    OK(pv_media_batch_serials(e->st, b, &serials, &n));
    memcpy(text, serials[0], PV_SERIAL_TEXT_SIZE);
    free(serials);
    OK(pv_serial_parse(text, f));
}

/* An open resupply order for a (written directly: a purchase opens it). */
static void open_order(struct denv *e, const struct pv_affiliate_rec *a, const char *id,
                       struct pv_resupply_rec *o)
{
    int opened = 0;

    memset(o, 0, sizeof *o);
    snprintf(o->id, sizeof o->id, "%s", id);
    snprintf(o->affiliate_id, sizeof o->affiliate_id, "%s", a->id);
    o->product = 1;
    o->labels_remaining = 2;
    o->created = 100;
    OK(pv_store_resupply_open(e->st, o, &opened));
    assert_int_equal(opened, 1);
}

static pv_mills committed_balance(struct pv_store *r, const char *account)
{
    pv_mills v = -1;

    OK(pv_balance(r, account, &v));
    return v;
}

static void test_rotate_owns_its_transaction(void **state)
{
    struct denv *e = *state;
    struct pv_store *r = denv_reader(e);
    struct pv_media_key_rec keys[16];
    uint32_t id = 99;
    size_t n = 99;
    int i;

    OK(pv_media_secret_rotate(e->st, 100, &id));
    denv_no_tx(e->st);
    assert_int_equal(id, 0);
    OK(pv_media_keys_load(r, keys, 16, &n));
    assert_int_equal(n, 1);
    assert_int_equal(keys[0].key_id, 0);
    assert_int_equal(keys[0].created, 100);
    for (i = 1; i <= 15; i++) {
        OK(pv_media_secret_rotate(e->st, 100 + i, &id));
        assert_int_equal(id, i);
    }
    /* Every key id taken: refused, nothing written, no transaction left open. */
    id = 99;
    assert_int_equal(pv_media_secret_rotate(e->st, 200, &id), PV_EOVERFLOW);
    denv_no_tx(e->st);
    assert_int_equal(id, 99);
    OK(pv_media_keys_load(r, keys, 16, &n));
    assert_int_equal(n, 16);
    assert_int_equal(keys[15].key_id, 15);
    assert_int_equal(keys[15].created, 115);
    pv_store_close(r);
}

static void test_workflows_commit(void **state)
{
    struct denv *e = *state;
    struct pv_store *r = denv_reader(e);
    struct pv_affiliate_rec a, got;
    struct pv_media_batch_rec b, shipped, bgot;
    struct pv_media_sheet_rec sh;
    struct pv_resupply_rec o;
    struct pv_serial f;
    char text[PV_SERIAL_TEXT_SIZE];
    pv_mills price = -1, balance = -1;

    OK(pv_media_secret_ensure(e->st, 100, NULL));
    affiliate(e, "", &a);
    OK(pv_store_affiliate_get(r, a.id, &got));
    assert_int_equal(got.group_no, 1);
    assert_int_equal(got.resupply_sheets, 3);

    batch(e, &a, PV_MEDIA_UNPAID, 1500, &b);
    OK(pv_store_media_batch_get(r, b.batch, &bgot));
    assert_string_equal(bgot.affiliate_id, a.id);
    assert_int_equal(bgot.labels_per_sheet, 30);
    OK(pv_store_media_sheet_get(r, b.batch, 1, &sh));
    assert_int_equal(sh.payment, PV_MEDIA_UNPAID);

    /* cus_a buys the sheet from its balance: the sheet paid and the sale booked, committed. */
    sheet_serial(e, &b, text, &f);
    OK(pv_media_pay(e->st, "cus_a", &f, text, 200, &price, &balance));
    denv_no_tx(e->st);
    assert_int_equal(price, 1500);
    assert_int_equal(balance, 10000 - 1500);
    OK(pv_store_media_sheet_get(r, b.batch, 1, &sh));
    assert_int_equal(sh.payment, PV_MEDIA_PAID);
    assert_string_equal(sh.paid_by, "cus_a");
    assert_int_equal(sh.paid_at, 200);
    assert_int_equal(committed_balance(r, "customer:cus_a"), 10000 - 1500);
    assert_int_equal(committed_balance(r, PV_ACCT_MEDIA), 1500);

    /* The affiliate runs low: its order ships as a new paid batch of its resupply size. */
    open_order(e, &a, "rso_one", &o);
    OK(pv_resupply_ship(e->st, "rso_one", 0, 300, &o, &shipped));
    denv_no_tx(e->st);
    assert_int_equal(o.status, PV_RESUPPLY_SHIPPED);
    assert_int_equal(o.batch, shipped.batch);
    assert_int_equal(shipped.batch, b.batch + 1);
    OK(pv_store_resupply_get(r, "rso_one", &o));
    assert_int_equal(o.status, PV_RESUPPLY_SHIPPED);
    assert_int_equal(o.shipped_at, 300);
    assert_int_equal(o.batch, shipped.batch);
    OK(pv_store_media_batch_get(r, shipped.batch, &bgot));
    assert_int_equal(bgot.sheets, 3);
    assert_int_equal(bgot.payment, PV_MEDIA_PAID);
    assert_string_equal(bgot.order_id, "rso_one");
    assert_int_equal(bgot.distributed, 300);
    OK(pv_store_media_sheet_get(r, shipped.batch, 3, &sh));
    assert_int_equal(sh.payment, PV_MEDIA_PAID);
    pv_store_close(r);
    denv_books(e);
}

static void test_refusals_leave_nothing(void **state)
{
    struct denv *e = *state;
    struct pv_store *r = denv_reader(e);
    struct pv_affiliate_rec a, own, bad, *all = NULL;
    struct pv_media_batch_rec b, paid, mine, next;
    struct pv_media_sheet_rec sh;
    struct pv_resupply_rec o;
    struct pv_serial f;
    char text[PV_SERIAL_TEXT_SIZE];
    pv_mills price = -1, balance = -1;
    size_t n = 9;

    /* Affiliates: an unknown customer, no name. */
    memset(&bad, 0, sizeof bad);
    snprintf(bad.name, sizeof bad.name, "Nobody");
    snprintf(bad.customer_id, sizeof bad.customer_id, "cus_X");
    bad.resupply_sheets = 3;
    assert_int_equal(pv_affiliate_create(e->st, &bad), PV_ENOTFOUND);
    denv_no_tx(e->st);
    bad.customer_id[0] = bad.name[0] = '\0';
    assert_int_equal(pv_affiliate_create(e->st, &bad), PV_EINVAL);
    denv_no_tx(e->st);
    OK(pv_store_affiliate_list(r, &all, &n));
    assert_int_equal(n, 0);
    free(all);

    /* Batches: no serial secret yet, an unknown affiliate, an unknown product. */
    affiliate(e, "", &a);
    memset(&b, 0, sizeof b);
    b.product = 1;
    b.sheets = 1;
    snprintf(b.affiliate_id, sizeof b.affiliate_id, "%s", a.id);
    assert_int_equal(pv_media_batch_create(e->st, &b), PV_ECONFIG);
    denv_no_tx(e->st);
    OK(pv_media_secret_ensure(e->st, 100, NULL));
    snprintf(b.affiliate_id, sizeof b.affiliate_id, "aff_nope");
    assert_int_equal(pv_media_batch_create(e->st, &b), PV_ENOTFOUND);
    snprintf(b.affiliate_id, sizeof b.affiliate_id, "%s", a.id);
    b.product = 77;
    assert_int_equal(pv_media_batch_create(e->st, &b), PV_EINVAL);
    denv_no_tx(e->st);
    assert_int_equal(pv_store_media_batch_get(r, 1, &next), PV_ENOTFOUND);

    /* Paying: a paid sheet, too little money, another customer's own media. */
    batch(e, &a, PV_MEDIA_PAID, 1500, &paid);
    assert_int_equal(paid.batch, 1);
    sheet_serial(e, &paid, text, &f);
    assert_int_equal(pv_media_pay(e->st, "cus_a", &f, text, 200, &price, &balance), PV_EEXIST);
    denv_no_tx(e->st);
    assert_int_equal(price, 0);
    assert_int_equal(balance, 0);
    batch(e, &a, PV_MEDIA_UNPAID, 1500, &b);
    sheet_serial(e, &b, text, &f);
    assert_int_equal(pv_media_pay(e->st, "cus_b", &f, text, 200, &price, &balance), PV_EFUNDS);
    denv_no_tx(e->st);
    affiliate(e, "cus_a", &own);
    batch(e, &own, PV_MEDIA_UNPAID, 100, &mine);
    sheet_serial(e, &mine, text, &f);
    assert_int_equal(pv_media_pay(e->st, "cus_b", &f, text, 200, &price, &balance),
                     PV_EMEDIUMGROUP);
    denv_no_tx(e->st);
    f.batch = 999;
    assert_int_equal(pv_media_pay(e->st, "cus_b", &f, text, 200, &price, &balance),
                     PV_EMEDIUMUNKNOWN);
    denv_no_tx(e->st);
    OK(pv_store_media_sheet_get(r, b.batch, 1, &sh));
    assert_int_equal(sh.payment, PV_MEDIA_UNPAID);
    OK(pv_store_media_sheet_get(r, mine.batch, 1, &sh));
    assert_int_equal(sh.payment, PV_MEDIA_UNPAID);
    assert_int_equal(committed_balance(r, "customer:cus_b"), 500);

    /* Shipping: an unknown order, too many sheets, an order shipped already. */
    assert_int_equal(pv_resupply_ship(e->st, "rso_nope", 0, 300, &o, &next), PV_ENOTFOUND);
    denv_no_tx(e->st);
    open_order(e, &a, "rso_one", &o);
    assert_int_equal(pv_resupply_ship(e->st, "rso_one", PV_SERIAL_MAX_SHEET + 1, 300, &o, &next),
                     PV_EINVAL);
    denv_no_tx(e->st);
    OK(pv_store_resupply_get(r, "rso_one", &o));
    assert_int_equal(o.status, PV_RESUPPLY_OPEN);
    assert_int_equal(pv_store_media_batch_get(r, mine.batch + 1, &next), PV_ENOTFOUND);
    OK(pv_resupply_ship(e->st, "rso_one", 2, 300, &o, &next));
    assert_int_equal(next.batch, mine.batch + 1);
    assert_int_equal(pv_resupply_ship(e->st, "rso_one", 2, 400, &o, &next), PV_EEXIST);
    denv_no_tx(e->st);
    assert_int_equal(pv_store_media_batch_get(r, mine.batch + 2, &next), PV_ENOTFOUND);
    OK(pv_store_resupply_get(r, "rso_one", &o));
    assert_int_equal(o.shipped_at, 300);
    pv_store_close(r);
    denv_books(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_authenticate_rejects_without_the_store, setup_db,
                                        teardown_db),
        cmocka_unit_test_setup_teardown(test_unknown_key_reloads_at_most_once, setup_db,
                                        teardown_db),
        cmocka_unit_test(test_products),
        cmocka_unit_test_setup_teardown(test_secrets_rotate, setup_db, teardown_db),
        cmocka_unit_test_setup_teardown(test_batches_survive_rotation, setup_db, teardown_db),
        cmocka_unit_test_setup_teardown(test_rotate_owns_its_transaction, setup_vendor,
                                        teardown_vendor),
        cmocka_unit_test_setup_teardown(test_workflows_commit, setup_vendor, teardown_vendor),
        cmocka_unit_test_setup_teardown(test_refusals_leave_nothing, setup_vendor, teardown_vendor),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
