/*
 * store_batches.h - the part of the store interface (store.h, which
 * includes it; include store.h, never this) for bulk buying (schema v18,
 * store/batches.c, domain/batch.h): a batch of purchases under one
 * Idempotency-Key and one row per item with its outcome.
 */
#ifndef STAMPD_STORE_BATCHES_H
#define STAMPD_STORE_BATCHES_H

#define PV_BATCH_ITEMS_MAX 1000 /* items in one batch */
#define PV_BATCH_REF_MAX   65   /* an item's reference: 1-64 characters */

/* An item's outcome (buy_batch_items.status). */
enum pv_batch_item_status { PV_ITEM_PENDING = 0, PV_ITEM_BOUGHT = 1, PV_ITEM_FAILED = 2 };

/* A batch, with its items counted by outcome (read by batch_get/list/find). */
struct pv_batch_rec {
    int64_t seq;        /* assigned by batch_insert; increasing with time */
    char id[PV_ID_MAX]; /* "bat_..." */
    char customer_id[PV_ID_MAX];
    int test;
    char idem_key[PV_IDEM_KEY_MAX];
    char req_hash[PV_HASH_HEX];
    uint32_t items;
    int64_t created, updated; /* updated: the last item decided, or the runner's heartbeat */
    int64_t completed;        /* when the last pending item was decided; 0 before */
    uint32_t pending, bought, failed;
    pv_mills postage; /* of the bought items */
};

/* One item of a batch and its outcome. */
struct pv_batch_item_rec {
    uint32_t n; /* its position in the request, from 0 */
    char reference[PV_BATCH_REF_MAX];
    int status; /* enum pv_batch_item_status */
    char indicium_id[PV_ID_MAX];
    pv_mills postage;
    char error_code[48];
    char error_field[48];
    char error_message[192];
    int64_t updated;
};

/*
 * batch_insert: the batch rec (seq and counts ignored) and its items
 * (rec->items of them, borrowed), in one transaction; PV_EEXIST when the
 * customer's mode already used the key. batch_find: the customer's batch of
 * that mode and key, PV_ENOTFOUND. batch_get: batch id (any owner: the
 * caller checks). batch_list: the customer's batches of the mode with seq <
 * before (0: from the newest), newest first, at most limit; *out owned.
 */
int pv_store_batch_insert(struct pv_store *st, const struct pv_batch_rec *rec,
                          const struct pv_batch_item_rec *items);
int pv_store_batch_find(struct pv_store *st, const char *customer_id, int test, const char *key,
                        struct pv_batch_rec *out);
int pv_store_batch_get(struct pv_store *st, const char *id, struct pv_batch_rec *out);
int pv_store_batch_list(struct pv_store *st, const char *customer_id, int test, int64_t before,
                        size_t limit, struct pv_batch_rec **out, size_t *n);

/*
 * batch_items: the items of batch id with n >= from, in order, at most
 * limit; status -1 for all, else only those of that status; *out owned.
 * batch_item_decide: item n of batch id, still pending, becomes status
 * (bought or failed) with its indicium id, postage and error (borrowed;
 * "" when none): PV_ENOTFOUND when it was not pending. batch_touch: the
 * batch's updated = at. batch_complete: completed = at when nothing is
 * pending and it was not completed yet: PV_OK exactly once, else
 * PV_ENOTFOUND.
 */
int pv_store_batch_items(struct pv_store *st, const char *id, uint32_t from, int status,
                         size_t limit, struct pv_batch_item_rec **out, size_t *n);
int pv_store_batch_item_decide(struct pv_store *st, const char *id,
                               const struct pv_batch_item_rec *item);
int pv_store_batch_touch(struct pv_store *st, const char *id, int64_t at);
int pv_store_batch_complete(struct pv_store *st, const char *id, int64_t at);

#endif
