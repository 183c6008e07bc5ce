/*
 * media.h - label media with identifier codes: products, the vendor serial
 * secrets, batches and their CRM records, the medium checks and writes of a
 * purchase, payment for media, and affiliate resupply. docs/media.md is the
 * description; include/stampd/serial.h the serial format.
 *
 * Everything that reads or writes the store runs inside the caller's
 * transaction unless it says otherwise. The workflows an operator or
 * customer starts on their own (pv_media_secret_rotate, pv_affiliate_create,
 * pv_media_batch_create, pv_media_pay, pv_resupply_ship) say so: each is one
 * transaction of its own under the writer lock, committed when it succeeds.
 */
#ifndef STAMPD_MEDIA_H
#define STAMPD_MEDIA_H

#include "stampd/serial.h"
#include "store/store.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct pv_purchase_req;
struct pv_purchase_res;

/* A product (label stock): its serial code, the layout it is printed on,
 * labels per sheet, and the mail classes its labels may carry. */
struct pv_media_product {
    unsigned code;    /* the product field of its serials */
    const char *name; /* "avery-5160": also the layout name */
    unsigned labels;  /* labels per sheet, 1..99 */
    unsigned classes; /* bit (1 << mail class) for each allowed class */
    pv_mills price;   /* default price of an unpaid sheet */
    unsigned cols;    /* columns of its layout's grid: label n is row (n-1)/cols+1 */
};

/* pv_media_product_find - by code; NULL when unknown. Static data. */
const struct pv_media_product *pv_media_product_find(unsigned code);
/* pv_media_product_by_name - by name ("avery-5160") or code ("1"); NULL when unknown. */
const struct pv_media_product *pv_media_product_by_name(const char *name);
size_t pv_media_product_count(void);
const struct pv_media_product *pv_media_product_at(size_t i);

/* Where a piece bought on a medium goes: its product (layout) and label. */
struct pv_media_place {
    const struct pv_media_product *product; /* its layout is product->name */
    uint32_t label;                         /* label number on the sheet, 1.. */
    uint32_t row, col;                      /* the label's cell in the layout's grid, 1-based */
};

/*
 * pv_media_place_of - where the piece of rec (borrowed) goes on its medium:
 * the label recorded with it (schema v15), or for a piece bought before,
 * the position in its signed label serial. Pure (no store, no secret).
 * PV_ENOTFOUND when the piece was not bought on a medium, PV_EINVAL for a
 * label serial or label number that does not fit its product.
 */
int pv_media_place_of(const struct pv_indicium_rec *rec, struct pv_media_place *out);

/* The payment state's name: "unpaid", "paid", "free". */
const char *pv_media_payment_name(int payment);

/*
 * pv_media_verify - is text an authentic serial under one of keys[0..n)
 * (borrowed)? Pure: no store, no allocation, thread-safe; the API runs it
 * before any database work for the purchase. *out (may be NULL) gets the
 * fields on PV_OK. Returns PV_OK, PV_EUNKNOWNKEY (well-formed, but its key id
 * is not among keys: the caller may reload the keys once and retry), or
 * PV_EMEDIUMINVALID for everything else.
 */
int pv_media_verify(const struct pv_media_key_rec *keys, size_t n, const char *text,
                    struct pv_serial *out);

/*
 * The serial secrets a server holds in memory, so that a purchase's serial
 * is authenticated before any database work. Thread-safe.
 */
struct pv_media_keyring {
    pthread_mutex_t mu;
    struct pv_media_key_rec keys[PV_SERIAL_MAX_KEY_ID + 1];
    size_t n;
    int64_t loaded_ms; /* when the keys were read (unix ms); 0 = reload on next miss */
    int64_t reload_ms; /* least time between reloads caused by an unknown key id */
};

#define PV_MEDIA_RELOAD_MS 10000

/*
 * pv_media_keyring_init - the lock, and every secret read from st
 * (borrowed). reload_ms as in the struct. PV_OK, PV_ENOMEM, store errors.
 * pv_media_keyring_clear - wipes the secrets and ends the lock.
 */
int pv_media_keyring_init(struct pv_media_keyring *kr, struct pv_store *st, int64_t reload_ms);
void pv_media_keyring_clear(struct pv_media_keyring *kr);

/* pv_media_keyring_stale - reload on the next unknown key id, whenever it comes
 * (after this server made a batch: a rotation elsewhere may have added a key). */
void pv_media_keyring_stale(struct pv_media_keyring *kr);

/*
 * pv_media_authenticate - pv_media_verify under the keyring. Only a serial
 * whose key id the ring lacks reads the keys from st again (borrowed; may be
 * NULL), and then at most once per kr->reload_ms: forged serials cannot turn
 * into a database query each. PV_OK (fields into *out, may be NULL) or
 * PV_EMEDIUMINVALID.
 */
int pv_media_authenticate(struct pv_media_keyring *kr, struct pv_store *st, const char *text,
                          struct pv_serial *out);

/*
 * pv_media_keys_load - every serial secret, oldest first, into keys (cap
 * entries, caller's array); *n the count. PV_OK or a store error.
 */
int pv_media_keys_load(struct pv_store *st, struct pv_media_key_rec *keys, size_t cap, size_t *n);

/*
 * pv_media_secret_create - a new random serial secret with the next key id
 * (0 for the first); it becomes current for new batches and the older ones
 * keep verifying. *key_id (may be NULL) gets its id. Run inside a
 * transaction. PV_EOVERFLOW when key id 15 is taken, PV_ECRYPTO, store errors.
 */
int pv_media_secret_create(struct pv_store *st, int64_t now, uint32_t *key_id);

/*
 * pv_media_secret_rotate - stampd media rotate-secret: pv_media_secret_create
 * in one transaction of its own under the writer lock, committed when it
 * succeeds. Its errors.
 */
int pv_media_secret_rotate(struct pv_store *st, int64_t now, uint32_t *key_id);

/*
 * pv_media_secret_ensure - pv_media_secret_create unless a secret exists
 * (stampd init and migrate). *created (may be NULL) says which.
 */
int pv_media_secret_ensure(struct pv_store *st, int64_t now, int *created);

/*
 * pv_affiliate_create - insert rec (borrowed; id and group_no are assigned
 * here: the next free group, 1..4095), in a transaction of its own.
 * rec->customer_id, when set, must be a customer (PV_ENOTFOUND otherwise).
 * PV_EOVERFLOW when every group is taken.
 */
int pv_affiliate_create(struct pv_store *st, struct pv_affiliate_rec *rec);

/*
 * pv_media_batch_create - a batch of rec->sheets sheets of rec->product
 * for rec->affiliate_id, made with the current serial secret, in a
 * transaction of its own: fills
 * rec->batch, group_no, key_id and labels_per_sheet. PV_ENOTFOUND (no such
 * affiliate), PV_EINVAL (unknown product, sheets out of 1..65535, payment or
 * price out of range), PV_ECONFIG (no serial secret), PV_EOVERFLOW (batch
 * numbers exhausted), store errors.
 */
int pv_media_batch_create(struct pv_store *st, struct pv_media_batch_rec *rec);

/*
 * pv_media_batch_serials - every serial of a batch: for each sheet its
 * sheet serial then its labels' serials, (labels_per_sheet + 1) * sheets
 * strings of PV_SERIAL_TEXT_SIZE. *out owned (free()). PV_ECONFIG when the
 * batch's secret is gone, PV_ENOMEM.
 */
int pv_media_batch_serials(struct pv_store *st, const struct pv_media_batch_rec *b,
                           char (**out)[PV_SERIAL_TEXT_SIZE], size_t *n);

/* What a purchase did with its medium (in struct pv_purchase_res). */
struct pv_media_use {
    char serial[PV_SERIAL_TEXT_SIZE]; /* the label used (for a sheet serial: the one chosen) */
    char sheet_serial[PV_SERIAL_TEXT_SIZE]; /* its sheet's serial (position 0) */
    uint32_t batch, sheet, position;
    char affiliate_id[PV_ID_MAX];
    int own_affiliate;        /* the customer is the medium's affiliate */
    pv_mills price;           /* medium price charged with this purchase, else 0 */
    pv_mills price_due;       /* on PV_EMEDIUMPAYMENT: what the sheet costs */
    char order_id[PV_ID_MAX]; /* an open resupply order (own affiliate only), else "" */
    int64_t labels_remaining;
    /* What pv_media_check read (the sheet's row locked), for pv_media_record
     * in the same savepoint, so it does not read them again. Not sent to fronts. */
    struct pv_media_sheet_rec sheet_rec;
    struct pv_affiliate_rec affiliate;
    uint32_t product;
};

/*
 * pv_media_check - the checks of a purchase with q->medium_serial, in the
 * documented order, before anything is written: unknown (PV_EMEDIUMUNKNOWN),
 * label printed already (PV_EMEDIUMUSED), sheet not paid for and no
 * commitment (PV_EMEDIUMPAYMENT, use->price_due set), affiliate or mail class
 * not allowed (PV_EMEDIUMGROUP). use->price is what a committed unpaid
 * sheet adds to the purchase; the caller checks the money. Locks the
 * sheet's row. A sheet serial (position 0) takes the lowest free label of
 * the sheet. The serial was authenticated by the API.
 */
int pv_media_check(struct pv_store *st, const struct pv_purchase_req *q, struct pv_media_use *use);

/*
 * pv_media_record - after the indicium res->rec is written: mark the label
 * used, count it on the sheet, post the medium's price (journal
 * "medium_sale") and lower res->balance_after by it, and open a resupply
 * order when the affiliate runs low. use is res->medium as filled by
 * pv_media_check.
 */
int pv_media_record(struct pv_store *st, const struct pv_purchase_req *q,
                    struct pv_purchase_res *res, int64_t now);

/*
 * pv_media_pay - customer_id buys the sheet of the (authenticated) serial s
 * from its prepaid balance, in a transaction of its own. *price and
 * *balance_after are set on PV_OK. PV_EMEDIUMUNKNOWN, PV_EEXIST (paid or free
 * already), PV_EMEDIUMGROUP (another customer's own media), PV_EFUNDS.
 */
int pv_media_pay(struct pv_store *st, const char *customer_id, const struct pv_serial *s,
                 const char *serial_text, int64_t now, pv_mills *price, pv_mills *balance_after);

/*
 * pv_resupply_ship - mark open order id shipped with a new batch of
 * sheets (0 = the affiliate's resupply_sheets) of its product, paid, for
 * its affiliate, in a transaction of its own. *order and *batch get the
 * results. PV_ENOTFOUND, PV_EEXIST (shipped already), and
 * pv_media_batch_create's errors.
 */
int pv_resupply_ship(struct pv_store *st, const char *id, uint32_t sheets, int64_t now,
                     struct pv_resupply_rec *order, struct pv_media_batch_rec *batch);

/* The ledger account of media sales. */
#define PV_ACCT_MEDIA "revenue:media"

#endif
