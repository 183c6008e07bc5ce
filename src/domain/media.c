/*
 * media.c - label media with identifier codes (docs/media.md): which
 * product is which layout, the vendor's serial secrets, batches, the checks
 * and writes of a purchase on a medium, buying a medium, and resupplying
 * affiliates that run low.
 *
 * The purchase path calls pv_media_check() before the PSD moves and
 * pv_media_record() after the indicium is written, both inside the job's
 * savepoint: a refused medium leaves nothing behind.
 */
#include "domain/media.h"

#include "crypto/primitives.h"
#include "domain/ledger.h"
#include "domain/purchase_types.h"
#include "stampd/card.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/rates.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALL_CLASSES                                                                                \
    ((1u << PV_MC_FIRST_CLASS_LETTER) | (1u << PV_MC_POSTCARD) | (1u << PV_MC_LARGE_ENVELOPE))
#define DAY          86400
#define RATE_WINDOW  30 /* days: the usage rate that days of supply are measured at */
#define MAX_KEYS     (PV_SERIAL_MAX_KEY_ID + 1)
#define MAX_GROUP_NO PV_SERIAL_MAX_GROUP

/* Codes are forever: they are printed on media in circulation. */
static const struct pv_media_product products[] = {
    {1, "avery-5160", 30, ALL_CLASSES, 1500, 3},
    {2, "netstamps-sheet", 20, ALL_CLASSES, 1000, 4},
    {3, "stamp-1x2", 1, ALL_CLASSES, 100, 1},
    /* A #10 envelope is a letter: no postcard, no flat. */
    {4, "envelope-10", 1, 1u << PV_MC_FIRST_CLASS_LETTER, 250, 1},
};

#define NPRODUCTS (sizeof products / sizeof products[0])

const struct pv_media_product *pv_media_product_find(unsigned code)
{
    size_t i;

    for (i = 0; i < NPRODUCTS; i++)
        if (products[i].code == code)
            return &products[i];
    return NULL;
}

const struct pv_media_product *pv_media_product_by_name(const char *name)
{
    uint64_t code;
    size_t i;

    if (!name)
        return NULL;
    for (i = 0; i < NPRODUCTS; i++)
        if (strcmp(products[i].name, name) == 0)
            return &products[i];
    if (pv_parse_u64(name, 0, PV_SERIAL_MAX_PRODUCT, &code) == PV_OK)
        return pv_media_product_find((unsigned) code);
    return NULL;
}

size_t pv_media_product_count(void)
{
    return NPRODUCTS;
}

const struct pv_media_product *pv_media_product_at(size_t i)
{
    return i < NPRODUCTS ? &products[i] : NULL;
}

const char *pv_media_payment_name(int payment)
{
    switch (payment) {
    case PV_MEDIA_PAID:
        return "paid";
    case PV_MEDIA_FREE:
        return "free";
    default:
        return "unpaid";
    }
}

/* ---- serial secrets ----------------------------------------------------------------------- */

int pv_media_verify(const struct pv_media_key_rec *keys, size_t n, const char *text,
                    struct pv_serial *out)
{
    struct pv_serial_key ring[MAX_KEYS];
    size_t i, m = 0;
    int rc;

    for (i = 0; i < n && m < MAX_KEYS; i++) {
        ring[m].key_id = keys[i].key_id;
        ring[m].secret = keys[i].secret;
        ring[m].secret_len = sizeof keys[i].secret;
        m++;
    }
    rc = pv_serial_verify(text, ring, m, out);
    if (rc == PV_OK || rc == PV_EUNKNOWNKEY)
        return rc;
    return PV_EMEDIUMINVALID;
}

int pv_media_keyring_init(struct pv_media_keyring *kr, struct pv_store *st, int64_t reload_ms)
{
    int rc;

    memset(kr, 0, sizeof *kr);
    if (pthread_mutex_init(&kr->mu, NULL) != 0)
        return PV_ENOMEM;
    kr->reload_ms = reload_ms;
    rc = pv_media_keys_load(st, kr->keys, MAX_KEYS, &kr->n);
    if (rc == PV_OK)
        kr->loaded_ms = pv_now_ms();
    return rc;
}

void pv_media_keyring_clear(struct pv_media_keyring *kr)
{
    pv_card_wipe(kr->keys, sizeof kr->keys);
    kr->n = 0;
    pthread_mutex_destroy(&kr->mu);
}

void pv_media_keyring_stale(struct pv_media_keyring *kr)
{
    pthread_mutex_lock(&kr->mu);
    kr->loaded_ms = 0;
    pthread_mutex_unlock(&kr->mu);
}

int pv_media_authenticate(struct pv_media_keyring *kr, struct pv_store *st, const char *text,
                          struct pv_serial *out)
{
    int64_t now = pv_now_ms();
    int rc;

    pthread_mutex_lock(&kr->mu);
    rc = pv_media_verify(kr->keys, kr->n, text, out);
    if (rc == PV_EUNKNOWNKEY && st && (!kr->loaded_ms || now - kr->loaded_ms >= kr->reload_ms)) {
        kr->loaded_ms = now;
        if (pv_media_keys_load(st, kr->keys, MAX_KEYS, &kr->n) == PV_OK)
            rc = pv_media_verify(kr->keys, kr->n, text, out);
    }
    pthread_mutex_unlock(&kr->mu);
    return rc == PV_OK ? PV_OK : PV_EMEDIUMINVALID;
}

int pv_media_keys_load(struct pv_store *st, struct pv_media_key_rec *keys, size_t cap, size_t *n)
{
    struct pv_media_key_rec *all = NULL;
    size_t total = 0;
    int rc;

    *n = 0;
    if ((rc = pv_store_media_key_list(st, &all, &total)) != PV_OK)
        return rc;
    *n = total < cap ? total : cap;
    if (*n)
        memcpy(keys, all, *n * sizeof *keys);
    free(all);
    return PV_OK;
}

/* The current secret: the highest key id. PV_ECONFIG when there is none. */
static int current_key(struct pv_store *st, struct pv_media_key_rec *key)
{
    struct pv_media_key_rec keys[MAX_KEYS];
    size_t n, i;
    int rc;

    if ((rc = pv_media_keys_load(st, keys, MAX_KEYS, &n)) != PV_OK)
        return rc;
    if (n == 0)
        return PV_ECONFIG;
    *key = keys[0];
    for (i = 1; i < n; i++)
        if (keys[i].key_id > key->key_id)
            *key = keys[i];
    return PV_OK;
}

static int key_by_id(struct pv_store *st, uint32_t key_id, struct pv_media_key_rec *key)
{
    struct pv_media_key_rec keys[MAX_KEYS];
    size_t n, i;
    int rc;

    if ((rc = pv_media_keys_load(st, keys, MAX_KEYS, &n)) != PV_OK)
        return rc;
    for (i = 0; i < n; i++) {
        if (keys[i].key_id == key_id) {
            *key = keys[i];
            return PV_OK;
        }
    }
    return PV_ECONFIG;
}

int pv_media_secret_create(struct pv_store *st, int64_t now, uint32_t *key_id)
{
    struct pv_media_key_rec cur, rec;
    int rc = current_key(st, &cur);

    memset(&rec, 0, sizeof rec);
    if (rc == PV_OK) {
        if (cur.key_id >= PV_SERIAL_MAX_KEY_ID)
            return PV_EOVERFLOW;
        rec.key_id = cur.key_id + 1;
    } else if (rc != PV_ECONFIG) {
        return rc;
    }
    if ((rc = pv_random(rec.secret, sizeof rec.secret)) != PV_OK)
        return rc;
    rec.created = now;
    rc = pv_store_media_key_insert(st, &rec);
    if (rc == PV_OK && key_id)
        *key_id = rec.key_id;
    pv_card_wipe(rec.secret, sizeof rec.secret);
    return rc;
}

int pv_media_secret_ensure(struct pv_store *st, int64_t now, int *created)
{
    struct pv_media_key_rec cur;
    int rc = current_key(st, &cur);

    pv_card_wipe(cur.secret, sizeof cur.secret);
    if (created)
        *created = 0;
    if (rc != PV_ECONFIG)
        return rc;
    if (created)
        *created = 1;
    return pv_media_secret_create(st, now, NULL);
}

/* ---- rotation, affiliates and batches ------------------------------------------------------ */

/*
 * Run fn(st, arg) in one transaction of its own under the writer lock every
 * ledger writer takes (the purchase batches' lock order, so no deadlock with
 * them on PostgreSQL); commit on PV_OK, else roll back.
 */
static int in_writer_tx(struct pv_store *st, int (*fn)(struct pv_store *, void *), void *arg)
{
    int rc;

    if ((rc = pv_store_begin(st)) != PV_OK)
        return rc;
    if ((rc = pv_store_lock_writer(st)) == PV_OK && (rc = fn(st, arg)) == PV_OK)
        return pv_store_commit(st);
    pv_store_rollback(st);
    return rc;
}

struct rotate {
    int64_t now;
    uint32_t *key_id;
};

static int rotate(struct pv_store *st, void *arg)
{
    const struct rotate *a = arg;

    return pv_media_secret_create(st, a->now, a->key_id);
}

int pv_media_secret_rotate(struct pv_store *st, int64_t now, uint32_t *key_id)
{
    struct rotate a = {now, key_id};

    return in_writer_tx(st, rotate, &a);
}

static int affiliate_create(struct pv_store *st, void *arg)
{
    struct pv_affiliate_rec *rec = arg;
    struct pv_affiliate_rec *all = NULL;
    struct pv_customer_rec c;
    size_t n = 0, i;
    uint32_t group = 0;
    int rc;

    if (rec->threshold_labels < 0 || rec->target_days < 0 || rec->resupply_sheets < 1 ||
        rec->resupply_sheets > PV_SERIAL_MAX_SHEET || !rec->name[0])
        return PV_EINVAL;
    if (rec->customer_id[0] && (rc = pv_store_customer_get(st, rec->customer_id, &c)) != PV_OK)
        return rc;
    if ((rc = pv_store_affiliate_list(st, &all, &n)) != PV_OK)
        return rc;
    for (i = 0; i < n; i++)
        if (all[i].group_no > group)
            group = all[i].group_no;
    free(all);
    if (group >= MAX_GROUP_NO)
        return PV_EOVERFLOW;
    rec->group_no = group + 1;
    if ((rc = pv_new_id("aff", rec->id)) != PV_OK)
        return rc;
    return pv_store_affiliate_insert(st, rec);
}

int pv_affiliate_create(struct pv_store *st, struct pv_affiliate_rec *rec)
{
    return in_writer_tx(st, affiliate_create, rec);
}

/* Inside the caller's transaction: pv_media_batch_create. */
static int batch_create(struct pv_store *st, void *arg)
{
    struct pv_media_batch_rec *rec = arg;
    const struct pv_media_product *p = pv_media_product_find(rec->product);
    struct pv_affiliate_rec aff;
    struct pv_media_key_rec key;
    int rc;

    if (!p || rec->sheets < 1 || rec->sheets > PV_SERIAL_MAX_SHEET ||
        (rec->payment != PV_MEDIA_UNPAID && rec->payment != PV_MEDIA_PAID &&
         rec->payment != PV_MEDIA_FREE) ||
        rec->price < 0 || rec->price > PV_MILLS_MAX)
        return PV_EINVAL;
    if ((rc = pv_store_affiliate_get(st, rec->affiliate_id, &aff)) != PV_OK)
        return rc;
    if ((rc = current_key(st, &key)) != PV_OK)
        return rc;
    pv_card_wipe(key.secret, sizeof key.secret);
    rec->group_no = aff.group_no;
    rec->key_id = key.key_id;
    rec->labels_per_sheet = p->labels;
    return pv_store_media_batch_insert(st, rec);
}

int pv_media_batch_create(struct pv_store *st, struct pv_media_batch_rec *rec)
{
    return in_writer_tx(st, batch_create, rec);
}

int pv_media_batch_serials(struct pv_store *st, const struct pv_media_batch_rec *b,
                           char (**out)[PV_SERIAL_TEXT_SIZE], size_t *n)
{
    char(*arr)[PV_SERIAL_TEXT_SIZE] = NULL;
    struct pv_media_key_rec key;
    struct pv_serial f;
    size_t i = 0, per = (size_t) b->labels_per_sheet + 1;
    uint32_t s, pos;
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = key_by_id(st, b->key_id, &key)) != PV_OK)
        return rc;
    arr = calloc((size_t) b->sheets * per, sizeof *arr);
    if (!arr) {
        rc = PV_ENOMEM;
        goto out;
    }
    memset(&f, 0, sizeof f);
    f.version = PV_SERIAL_VERSION;
    f.key_id = b->key_id;
    f.batch = b->batch;
    f.product = b->product;
    f.group = b->group_no;
    for (s = 1; s <= b->sheets; s++) {
        for (pos = 0; pos <= b->labels_per_sheet; pos++) {
            f.sheet = s;
            f.position = pos;
            if ((rc = pv_serial_encode(&f, key.secret, sizeof key.secret, arr[i++],
                                       PV_SERIAL_TEXT_SIZE)) != PV_OK)
                goto out;
        }
    }
    *out = arr;
    *n = i;
    arr = NULL;
out:
    pv_card_wipe(key.secret, sizeof key.secret);
    free(arr);
    return rc;
}

/* pv_media_place_of - see media.h. */
int pv_media_place_of(const struct pv_indicium_rec *rec, struct pv_media_place *out)
{
    struct pv_serial f;
    uint32_t label;

    memset(out, 0, sizeof *out);
    if (!rec->ind.medium_serial[0])
        return PV_ENOTFOUND;
    if (pv_serial_parse(rec->ind.medium_serial, &f) != PV_OK ||
        !(out->product = pv_media_product_find(f.product)))
        return PV_EINVAL;
    label = rec->medium_label ? rec->medium_label : f.position;
    if (label < 1 || label > out->product->labels || out->product->cols < 1)
        return PV_EINVAL;
    out->label = label;
    out->row = (label - 1) / out->product->cols + 1;
    out->col = (label - 1) % out->product->cols + 1;
    return PV_OK;
}

/* ---- a purchase on a medium --------------------------------------------------------------- */

/* The batch and sheet a parsed serial names, checked against the batch's
 * own record (a genuine serial of another vendor database is unknown here). */
static int find_sheet(struct pv_store *st, const struct pv_serial *f, struct pv_media_batch_rec *b,
                      struct pv_media_sheet_rec *sh)
{
    int rc = pv_store_media_batch_get(st, f->batch, b);

    if (rc == PV_ENOTFOUND)
        return PV_EMEDIUMUNKNOWN;
    if (rc != PV_OK)
        return rc;
    if (b->product != f->product || b->group_no != f->group || b->key_id != f->key_id ||
        f->sheet < 1 || f->sheet > b->sheets || f->position > b->labels_per_sheet)
        return PV_EMEDIUMUNKNOWN;
    rc = pv_store_media_sheet_get(st, f->batch, f->sheet, sh);
    return rc == PV_ENOTFOUND ? PV_EMEDIUMUNKNOWN : rc;
}

/* May customer_id use media of this batch? (Own-affiliate media are its own.) */
static int group_allows(struct pv_store *st, const struct pv_media_batch_rec *b,
                        const char *customer_id, struct pv_affiliate_rec *aff)
{
    int rc = pv_store_affiliate_get(st, b->affiliate_id, aff);

    if (rc != PV_OK)
        return rc;
    if (aff->customer_id[0] && strcmp(aff->customer_id, customer_id) != 0)
        return PV_EMEDIUMGROUP;
    return PV_OK;
}

/* The label's serial: canonical text, re-encoded for a label chosen on a sheet. */
static int label_serial(struct pv_store *st, const struct pv_serial *f, uint32_t position,
                        const char *given, char out[PV_SERIAL_TEXT_SIZE])
{
    struct pv_media_key_rec key;
    struct pv_serial lf = *f;
    int rc;

    if (f->position == position)
        return pv_serial_normalize(given, out, PV_SERIAL_TEXT_SIZE);
    if ((rc = key_by_id(st, f->key_id, &key)) != PV_OK)
        return rc;
    lf.position = position;
    rc = pv_serial_encode(&lf, key.secret, sizeof key.secret, out, PV_SERIAL_TEXT_SIZE);
    pv_card_wipe(key.secret, sizeof key.secret);
    return rc;
}

int pv_media_check(struct pv_store *st, const struct pv_purchase_req *q, struct pv_media_use *use)
{
    const struct pv_media_product *p;
    struct pv_media_label_rec *labels = NULL;
    struct pv_media_batch_rec b;
    struct pv_media_sheet_rec sh;
    struct pv_affiliate_rec aff;
    struct pv_serial f;
    size_t n = 0, i;
    uint32_t pos;
    int rc;

    memset(use, 0, sizeof *use);
    if (pv_serial_parse(q->medium_serial, &f) != PV_OK)
        return PV_EMEDIUMINVALID;
    if ((rc = find_sheet(st, &f, &b, &sh)) != PV_OK)
        return rc;

    /* Which label: the one named, or the sheet's lowest free one. */
    if ((rc = pv_store_media_label_list(st, f.batch, f.sheet, &labels, &n)) != PV_OK)
        return rc;
    pos = f.position;
    if (pos == 0) {
        for (pos = 1, i = 0; i < n && labels[i].position == pos; i++)
            pos++;
    } else {
        for (i = 0; i < n && labels[i].position != pos; i++)
            ;
        if (i < n)
            pos = b.labels_per_sheet + 1;
    }
    free(labels);
    if (pos > b.labels_per_sheet)
        return PV_EMEDIUMUSED;

    /* An unpaid sheet priced at 0 needs no payment: its first use marks it paid. */
    if (sh.payment == PV_MEDIA_UNPAID && b.price > 0) {
        if (!q->commit_medium) {
            use->price_due = b.price;
            return PV_EMEDIUMPAYMENT;
        }
        use->price = b.price;
    }

    if ((rc = group_allows(st, &b, q->customer_id, &aff)) != PV_OK)
        return rc;
    p = pv_media_product_find(b.product);
    if (!p || q->mail_class < 0 || q->mail_class > 31 || !(p->classes & (1u << q->mail_class)))
        return PV_EMEDIUMGROUP;

    use->batch = f.batch;
    use->sheet = f.sheet;
    use->position = pos;
    use->own_affiliate = aff.customer_id[0] != '\0';
    pv_str_copy(use->affiliate_id, sizeof use->affiliate_id, aff.id);
    use->sheet_rec = sh;
    use->affiliate = aff;
    use->product = b.product;
    if ((rc = label_serial(st, &f, 0, q->medium_serial, use->sheet_serial)) != PV_OK)
        return rc;
    return label_serial(st, &f, pos, q->medium_serial, use->serial);
}

/* Post the sale of a sheet to a customer: one journal "medium_sale". */
static int post_sale(struct pv_store *st, const char *customer_id, int test, pv_mills price,
                     const char *ref, int64_t now)
{
    struct pv_ledger_line lines[2];

    memset(lines, 0, sizeof lines);
    pv_account_customer_mode(customer_id, test, lines[0].account);
    lines[0].amount = -price;
    pv_account_mode(PV_ACCT_MEDIA, test, lines[1].account);
    lines[1].amount = price;
    return pv_ledger_post(st, "medium_sale", ref, lines, 2, now);
}

/*
 * Does the affiliate need more media? Fewer labels left than its threshold,
 * or fewer days of supply than its target at the last 30 days' rate. If so,
 * open an order (at most one is open per affiliate: the store's index).
 */
static int maybe_resupply(struct pv_store *st, const struct pv_affiliate_rec *aff, uint32_t product,
                          int64_t now, struct pv_resupply_rec *order, int *open)
{
    int64_t total, used, recent, remaining;
    int opened, rc;

    *open = 0;
    if ((rc = pv_store_media_usage(st, aff->id, now - (int64_t) RATE_WINDOW * DAY, &total, &used,
                                   &recent)) != PV_OK)
        return rc;
    remaining = total > used ? total - used : 0;
    if (!((aff->threshold_labels > 0 && remaining < aff->threshold_labels) ||
          (aff->target_days > 0 && recent > 0 &&
           remaining * RATE_WINDOW < aff->target_days * recent)))
        return PV_OK;
    memset(order, 0, sizeof *order);
    if ((rc = pv_new_id("rso", order->id)) != PV_OK)
        return rc;
    pv_str_copy(order->affiliate_id, sizeof order->affiliate_id, aff->id);
    order->product = product;
    order->labels_remaining = remaining;
    order->created = now;
    if ((rc = pv_store_resupply_open(st, order, &opened)) != PV_OK)
        return rc;
    /* An order already open keeps its own count; tell the customer today's. */
    order->labels_remaining = remaining;
    *open = 1;
    return PV_OK;
}

int pv_media_record(struct pv_store *st, const struct pv_purchase_req *q,
                    struct pv_purchase_res *res, int64_t now)
{
    struct pv_media_use *use = &res->medium;
    struct pv_media_label_rec label;
    struct pv_media_sheet_rec sh = use->sheet_rec;
    struct pv_resupply_rec order;
    int open, rc;

    /*
     * A test piece (sk_test_ key) went through every check but leaves the
     * real media alone: no label used, no sheet paid, no supply counted. A
     * committed price is paid in test money, so the flow can be tried out.
     */
    if (q->test) {
        if (use->price > 0 &&
            ((rc = post_sale(st, q->customer_id, 1, use->price, use->serial, now)) != PV_OK ||
             (rc = pv_money_sub(res->balance_after, use->price, &res->balance_after)) != PV_OK))
            return rc;
        return PV_OK;
    }
    memset(&label, 0, sizeof label);
    label.batch = use->batch;
    label.sheet = use->sheet;
    label.position = use->position;
    pv_str_copy(label.indicium_id, sizeof label.indicium_id, res->rec.id);
    pv_str_copy(label.customer_id, sizeof label.customer_id, q->customer_id);
    label.used_at = now;
    rc = pv_store_media_label_insert(st, &label);
    if (rc == PV_EEXIST)
        return PV_EMEDIUMUSED;
    if (rc != PV_OK)
        return rc;

    sh.labels_used++;
    if (!sh.first_use)
        sh.first_use = now;
    sh.last_use = now;
    if (sh.payment == PV_MEDIA_UNPAID) {
        sh.payment = PV_MEDIA_PAID;
        pv_str_copy(sh.paid_by, sizeof sh.paid_by, q->customer_id);
        sh.paid_at = now;
        if (use->price > 0 &&
            ((rc = post_sale(st, q->customer_id, 0, use->price, use->serial, now)) != PV_OK ||
             (rc = pv_money_sub(res->balance_after, use->price, &res->balance_after)) != PV_OK))
            return rc;
    }
    if ((rc = pv_store_media_sheet_update(st, &sh)) != PV_OK)
        return rc;

    if ((rc = maybe_resupply(st, &use->affiliate, use->product, now, &order, &open)) != PV_OK)
        return rc;
    if (open && use->own_affiliate) {
        pv_str_copy(use->order_id, sizeof use->order_id, order.id);
        use->labels_remaining = order.labels_remaining;
    }
    return PV_OK;
}

struct pay {
    const char *customer_id;
    const struct pv_serial *s;
    const char *serial_text;
    int64_t now;
    pv_mills *price, *balance_after;
};

static int pay(struct pv_store *st, void *arg)
{
    const struct pay *a = arg;
    const char *customer_id = a->customer_id;
    int64_t now = a->now;
    struct pv_media_batch_rec b;
    struct pv_media_sheet_rec sh;
    struct pv_affiliate_rec aff;
    char acct[PV_ACCOUNT_MAX], ref[PV_SERIAL_TEXT_SIZE];
    pv_mills balance;
    int rc;

    if ((rc = find_sheet(st, a->s, &b, &sh)) != PV_OK)
        return rc;
    if (sh.payment != PV_MEDIA_UNPAID)
        return PV_EEXIST;
    if ((rc = group_allows(st, &b, customer_id, &aff)) != PV_OK)
        return rc;
    pv_account_customer(customer_id, acct);
    if ((rc = pv_balance(st, acct, &balance)) != PV_OK)
        return rc;
    if (balance < b.price)
        return PV_EFUNDS;
    if ((rc = pv_serial_normalize(a->serial_text, ref, sizeof ref)) != PV_OK ||
        (b.price > 0 && (rc = post_sale(st, customer_id, 0, b.price, ref, now)) != PV_OK))
        return rc;
    sh.payment = PV_MEDIA_PAID;
    pv_str_copy(sh.paid_by, sizeof sh.paid_by, customer_id);
    sh.paid_at = now;
    if ((rc = pv_store_media_sheet_update(st, &sh)) != PV_OK)
        return rc;
    *a->price = b.price;
    return pv_money_sub(balance, b.price, a->balance_after);
}

int pv_media_pay(struct pv_store *st, const char *customer_id, const struct pv_serial *s,
                 const char *serial_text, int64_t now, pv_mills *price, pv_mills *balance_after)
{
    struct pay a = {customer_id, s, serial_text, now, price, balance_after};
    int rc = in_writer_tx(st, pay, &a);

    if (rc != PV_OK)
        *price = *balance_after = 0;
    return rc;
}

struct ship {
    const char *id;
    uint32_t sheets;
    int64_t now;
    struct pv_resupply_rec *order;
    struct pv_media_batch_rec *batch;
};

static int ship(struct pv_store *st, void *arg)
{
    const struct ship *a = arg;
    const char *id = a->id;
    struct pv_resupply_rec *order = a->order;
    struct pv_media_batch_rec *batch = a->batch;
    struct pv_affiliate_rec aff;
    int rc;

    memset(batch, 0, sizeof *batch);
    if ((rc = pv_store_resupply_get(st, id, order)) != PV_OK)
        return rc;
    if (order->status != PV_RESUPPLY_OPEN)
        return PV_EEXIST;
    if ((rc = pv_store_affiliate_get(st, order->affiliate_id, &aff)) != PV_OK)
        return rc;
    batch->product = order->product;
    batch->sheets = a->sheets ? a->sheets : aff.resupply_sheets;
    batch->payment = PV_MEDIA_PAID;
    batch->distributed = a->now;
    pv_str_copy(batch->affiliate_id, sizeof batch->affiliate_id, aff.id);
    pv_str_copy(batch->order_id, sizeof batch->order_id, order->id);
    if ((rc = batch_create(st, batch)) != PV_OK ||
        (rc = pv_store_resupply_ship(st, id, batch->batch, a->now)) != PV_OK)
        return rc;
    return pv_store_resupply_get(st, id, order);
}

int pv_resupply_ship(struct pv_store *st, const char *id, uint32_t sheets, int64_t now,
                     struct pv_resupply_rec *order, struct pv_media_batch_rec *batch)
{
    struct ship a = {id, sheets, now, order, batch};

    return in_writer_tx(st, ship, &a);
}
