/*
 * h_batches.c - bulk buying (docs/api.md "Batches"): POST /v1/batches
 * buys up to 1,000 pieces, each item a purchase body with its own
 * reference; GET /v1/batches/{id} reports the batch and its items,
 * GET /v1/batches lists them, GET /v1/batches/{id}/labels prints the
 * pieces bought as one file.
 *
 * The answer is quick and asynchronous: every item is validated and priced
 * here by the code of POST /v1/indicia (pv_indicia_parse, the payment's
 * pv_payments_parse), the batch and its items are written in one
 * transaction - an invalid item as failed, with its error, never sent and
 * never charged - and 202 answers while the runner (batch.c) buys the rest
 * through the normal purchase path. The same request again with the same
 * Idempotency-Key answers the same batch; one a restart interrupted is
 * resumed by it (its pending items sent again under their own keys, which
 * replay what was bought already).
 */
#include "server/h_batches.h"

#include "server/batch.h"
#include "server/h_indicia.h"
#include "server/h_media.h"
#include "server/h_payments.h"
#include "server/h_print.h"
#include "server/views.h"
#include "crypto/primitives.h"
#include "domain/ledger.h"

#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/money.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ITEMS_DEFAULT 100 /* items on a page of GET /v1/batches/{id} */
#define ITEM_CURSOR   "item_"
#define BATCH_CURSOR  "bs_"

static const char *const buy_batch_fields[] = {"items", NULL};

static json_t *batch_item_json(const struct pv_batch_item_rec *it)
{
    static const char *const names[] = {"pending", "bought", "failed"};
    char m[32];
    json_t *j = json_pack("{s:i, s:s, s:s}", "index", (int) it->n, "reference", it->reference,
                          "status", names[it->status]);

    if (!j)
        return NULL;
    json_object_set_new(j, "indicium_id",
                        it->indicium_id[0] ? json_string(it->indicium_id) : json_null());
    if (it->status == PV_ITEM_BOUGHT) {
        json_object_set_new(j, "postage_mills", json_integer(it->postage));
        json_object_set_new(j, "postage", json_string(pv_money_format(it->postage, m, sizeof m)));
    } else {
        json_object_set_new(j, "postage_mills", json_null());
        json_object_set_new(j, "postage", json_null());
    }
    json_object_set_new(
        j, "error",
        it->status == PV_ITEM_FAILED
            ? json_pack("{s:s, s:s, s:o}", "code", it->error_code, "message", it->error_message,
                        "field", it->error_field[0] ? json_string(it->error_field) : json_null())
            : json_null());
    return j;
}

/* ?limit= (1..PV_BATCH_ITEMS_MAX), ?cursor= and ?status= of the item page. */
static int item_args(const struct pv_request *rq, uint64_t *limit, uint64_t *from, int *status,
                     struct pv_reply *rp)
{
    const char *l = pv_query_arg(rq, "limit"), *c = pv_query_arg(rq, "cursor");
    const char *s = pv_query_arg(rq, "status");

    *limit = ITEMS_DEFAULT;
    *from = 0;
    *status = -1;
    if (l && pv_parse_u64(l, 1, PV_BATCH_ITEMS_MAX, limit) != PV_OK) {
        pv_reply_error(rp, PV_ELIMIT, "limit", "limit must be an integer from 1 to 1000");
        return PV_ELIMIT;
    }
    if (c && (strncmp(c, ITEM_CURSOR, strlen(ITEM_CURSOR)) != 0 ||
              pv_parse_u64(c + strlen(ITEM_CURSOR), 1, PV_BATCH_ITEMS_MAX, from) != PV_OK)) {
        pv_reply_error(rp, PV_ECURSOR, "cursor", NULL);
        return PV_ECURSOR;
    }
    if (s) {
        if (strcmp(s, "pending") == 0)
            *status = PV_ITEM_PENDING;
        else if (strcmp(s, "bought") == 0)
            *status = PV_ITEM_BOUGHT;
        else if (strcmp(s, "failed") == 0)
            *status = PV_ITEM_FAILED;
        else {
            pv_reply_error(rp, PV_EINVAL, "status", "status must be pending, bought or failed");
            return PV_EINVAL;
        }
    }
    return PV_OK;
}

/* Answer status with the batch id and a page of its items. */
static void answer_batch(struct pv_call *c, const char *id, int status)
{
    struct pv_batch_item_rec *items = NULL;
    struct pv_batch_rec b;
    uint64_t limit, from;
    char next[32];
    size_t n = 0, i;
    json_t *j, *arr;
    int rc, which;

    if (item_args(c->rq, &limit, &from, &which, c->rp) != PV_OK)
        return;
    if ((rc = pv_store_batch_get(c->st, id, &b)) != PV_OK ||
        (rc = pv_store_batch_items(c->st, id, (uint32_t) from, which, (size_t) limit + 1, &items,
                                   &n)) != PV_OK) {
        pv_reply_error(c->rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n && i < limit; i++)
        pv_list_push(&arr, batch_item_json(&items[i]));
    if (n > limit)
        snprintf(next, sizeof next, ITEM_CURSOR "%u", (unsigned) items[limit].n);
    free(items);
    j = pv_batch_view_json(c->app, &b);
    if (j && arr)
        json_object_set_new(j, "items",
                            json_pack("{s:s, s:o, s:b, s:o}", "object", "list", "data", arr,
                                      "has_more", n > limit, "next_cursor",
                                      n > limit ? json_string(next) : json_null()));
    else
        json_decref(arr);
    pv_reply_json(c->rp, status, arr ? j : (json_decref(j), NULL));
}

/* The error rp (a scratch reply) holds into the failed item it. */
static void item_failed(struct pv_reply *er, struct pv_batch_item_rec *it)
{
    json_t *e = json_object_get(er->body, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *field = json_string_value(json_object_get(e, "field"));

    it->status = PV_ITEM_FAILED;
    pv_str_copy(it->error_code, sizeof it->error_code, code ? code : "internal_error");
    pv_str_copy(it->error_message, sizeof it->error_message, msg ? msg : "internal error");
    pv_str_copy(it->error_field, sizeof it->error_field, field ? field : "");
}

/* The item's own idempotency key: the batch's and the reference, hashed. */
static void item_key(const char *batch_key, const char *ref, char out[PV_IDEM_KEY_MAX])
{
    size_t kn = strlen(batch_key), rn = strlen(ref);
    uint8_t d[32];
    char hex[65];
    char *buf = malloc(kn + rn + 2);

    if (!buf) {
        out[0] = '\0';
        return;
    }
    memcpy(buf, batch_key, kn);
    buf[kn] = '\n';
    memcpy(buf + kn + 1, ref, rn);
    pv_sha256(buf, kn + rn + 1, d);
    free(buf);
    snprintf(out, PV_IDEM_KEY_MAX, "batch:%s", pv_hex_encode(d, sizeof d, hex));
}

/*
 * Item item (borrowed; an object with a valid reference) into it and, when
 * it is a valid purchase, job (*ok 1). An invalid one is it's error.
 * PV_OK, or PV_ENOMEM.
 */
static int prepare_item(struct pv_call *c, const char *batch_key, json_t *item,
                        struct pv_batch_item_rec *it, struct pv_batch_job *job, int *ok)
{
    const struct pv_principal *who = c->who;
    const char *const *fields = pv_indicia_fields();
    struct pv_reply er;
    json_t *body = json_copy(item), *v, *pay;
    const char *k;
    size_t i;
    int rc = PV_OK;

    *ok = 0;
    memset(&er, 0, sizeof er);
    memset(job, 0, sizeof *job); /* a slot holds no texts (cleared when its item failed) */
    if (!body)
        return PV_ENOMEM;
    json_object_del(body, "reference");
    json_object_foreach(body, k, v)
    {
        for (i = 0; fields[i]; i++)
            if (strcmp(k, fields[i]) == 0)
                break;
        if (!fields[i]) {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown field \"%.100s\"", k);
            pv_reply_error(&er, PV_EUNKNOWNFIELD, k, msg);
            goto failed;
        }
    }
    pay = json_object_get(body, "payment");
    if (json_is_object(pay) && json_object_get(pay, "card")) {
        pv_reply_error(&er, PV_EINVAL, "payment.card",
                       "a batch pays from the balance or with a saved card "
                       "(payment_method_id), never with a card number");
        goto failed;
    }
    if (pv_medium_check(c->app, c->st, body, &er) != PV_OK ||
        pv_indicia_parse(body, &job->req, &er) != PV_OK ||
        pv_payments_parse(c->app, c->st, who, pay, 1, &job->req.pay, &er) != PV_OK)
        goto failed;
    if ((rc = pv_payments_request_hash("POST /v1/indicia\n", body, job->req.req_hash)) != PV_OK)
        goto out;
    item_key(batch_key, it->reference, job->req.idem_key);
    if (!job->req.idem_key[0]) {
        rc = PV_ENOMEM;
        goto out;
    }
    job->n = it->n;
    job->req.test = who->test;
    job->req.flags = who->test ? PV_IND_FLAG_TEST : 0;
    pv_str_copy(job->req.customer_id, sizeof job->req.customer_id, who->owner_id);
    *ok = 1;
    goto out;
failed:
    if (er.status == 500)
        rc = PV_ENOMEM;
    else
        item_failed(&er, it);
out:
    if (!*ok) /* its slot takes the next item: nothing of this one kept */
        pv_purchase_req_clear(&job->req);
    json_decref(er.body);
    json_decref(body);
    return rc;
}

/* The references of items (borrowed; an array of 1..1000) into refs:
 * each an object with a reference of 1-64 printable characters, no two
 * alike. PV_OK, or rp set. */
static int check_refs(json_t *items, struct pv_batch_item_rec *refs, struct pv_reply *rp)
{
    char field[48], msg[128];
    size_t i, j, n = json_array_size(items);

    for (i = 0; i < n; i++) {
        json_t *it = json_array_get(items, i), *r = json_object_get(it, "reference");
        const char *s = json_string_value(r);
        size_t len = s ? strlen(s) : 0;
        snprintf(field, sizeof field, "items[%zu].reference", i);
        if (!json_is_object(it)) {
            snprintf(field, sizeof field, "items[%zu]", i);
            pv_reply_error(rp, PV_ETYPE, field, "each item is a purchase object");
            return PV_ETYPE;
        }
        if (!r) {
            pv_reply_error(rp, PV_EMISSING, field, "each item needs its reference");
            return PV_EMISSING;
        }
        for (j = 0; j < len; j++)
            if ((unsigned char) s[j] < 0x20 || s[j] == 0x7f)
                break;
        if (!s || len == 0 || len >= PV_BATCH_REF_MAX || j < len) {
            pv_reply_error(rp, s ? PV_EINVAL : PV_ETYPE, field,
                           "reference is 1-64 printable characters (the shop's order id)");
            return PV_EINVAL;
        }
        memset(&refs[i], 0, sizeof refs[i]);
        refs[i].n = (uint32_t) i;
        memcpy(refs[i].reference, s, len + 1);
    }
    for (i = 0; i < n; i++)
        for (j = i + 1; j < n; j++)
            if (strcmp(refs[i].reference, refs[j].reference) == 0) {
                snprintf(field, sizeof field, "items[%zu].reference", j);
                snprintf(msg, sizeof msg, "reference \"%.64s\" is also item %zu's",
                         refs[j].reference, i);
                pv_reply_error(rp, PV_EINVAL, field, msg);
                return PV_EINVAL;
            }
    return PV_OK;
}

/* Prepare items whose rows (it, n of them) are pending, into jobs (owned,
 * *njobs of them); invalid ones become failed in it. PV_OK or PV_ENOMEM. */
static int prepare_all(struct pv_call *c, const char *key, json_t *items,
                       struct pv_batch_item_rec *it, size_t n, struct pv_batch_job **jobs,
                       size_t *njobs)
{
    size_t i;
    int ok, rc;

    *njobs = 0;
    *jobs = n ? calloc(n, sizeof **jobs) : NULL;
    if (n && !*jobs)
        return PV_ENOMEM;
    for (i = 0; i < n; i++) {
        if (it[i].status != PV_ITEM_PENDING)
            continue;
        rc = prepare_item(c, key, json_array_get(items, it[i].n), &it[i], &(*jobs)[*njobs], &ok);
        if (rc != PV_OK) {
            pv_batch_jobs_free(*jobs, *njobs);
            *jobs = NULL;
            *njobs = 0;
            return rc;
        }
        if (ok)
            (*njobs)++;
    }
    return PV_OK;
}

/* The same batch again: answer it, resuming it when nobody here runs it. */
static void resume(struct pv_call *c, const char *key, json_t *items, const struct pv_batch_rec *b)
{
    struct pv_batch_item_rec *it = NULL;
    struct pv_batch_job *jobs = NULL;
    size_t n = 0, njobs = 0, i;
    int rc = PV_OK;

    if (!b->completed && !pv_batches_active(c->app->batches, b->id)) {
        rc = pv_store_batch_items(c->st, b->id, 0, PV_ITEM_PENDING, PV_BATCH_ITEMS_MAX, &it, &n);
        if (rc == PV_OK)
            rc = prepare_all(c, key, items, it, n, &jobs, &njobs);
        /* Items no longer valid (a mail date past) are decided now. */
        for (i = 0; rc == PV_OK && i < n; i++)
            if (it[i].status == PV_ITEM_FAILED) {
                it[i].updated = pv_now();
                (void) pv_store_batch_item_decide(c->st, b->id, &it[i]);
            }
        free(it);
        if (rc == PV_OK) {
            rc = pv_batches_run(c->app->batches, b, jobs, njobs); /* takes jobs */
            if (rc == PV_EEXIST)
                rc = PV_OK; /* another request resumed it meanwhile */
        } else {
            pv_batch_jobs_free(jobs, njobs);
        }
        if (rc != PV_OK) {
            pv_reply_error(c->rp, rc, NULL, NULL);
            return;
        }
    }
    answer_batch(c, b->id, b->completed ? 200 : 202);
    if (c->rp->status < 300)
        c->rp->replayed = 1;
}

void pv_h_batches_post(struct pv_call *c)
{
    const struct pv_principal *who = c->who;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    struct pv_batch_item_rec *it = NULL;
    struct pv_batch_job *jobs = NULL;
    struct pv_batch_rec b;
    size_t n, njobs = 0, i;
    char hash[PV_HASH_HEX];
    json_t *root, *items;
    int rc;

    if (pv_idem_key_check(rq->idempotency_key, rp) != PV_OK)
        return;
    if (!(root = pv_body_object(rq, buy_batch_fields, rp)))
        return;
    items = json_object_get(root, "items");
    n = json_is_array(items) ? json_array_size(items) : 0;
    if (!items || !json_is_array(items) || n == 0 || n > PV_BATCH_ITEMS_MAX) {
        pv_reply_error(rp,
                       !items                 ? PV_EMISSING
                       : json_is_array(items) ? PV_EINVAL
                                              : PV_ETYPE,
                       "items", "items must be an array of 1 to 1000 purchases");
        goto out;
    }
    if ((rc = pv_payments_request_hash("POST /v1/batches\n", root, hash)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    rc = pv_store_batch_find(c->st, who->owner_id, who->test, rq->idempotency_key, &b);
    if (rc == PV_OK) {
        if (strcmp(hash, b.req_hash) != 0)
            pv_reply_error(rp, PV_EIDEMREUSED, "Idempotency-Key", NULL);
        else
            resume(c, rq->idempotency_key, items, &b);
        goto out;
    }
    if (rc != PV_ENOTFOUND) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    memset(&b, 0, sizeof b);
    memcpy(b.req_hash, hash, sizeof hash);
    if (pv_batches_customer_running(c->app->batches, who->owner_id) >= PV_BATCH_PER_CUSTOMER) {
        pv_reply_error(rp, PV_EBUSY, NULL,
                       "4 batches of this account are running; send this one when one is done");
        rp->retry_after = 5;
        goto out;
    }
    if (!(it = calloc(n, sizeof *it))) {
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        goto out;
    }
    if (check_refs(items, it, rp) != PV_OK)
        goto out;
    if ((rc = prepare_all(c, rq->idempotency_key, items, it, n, &jobs, &njobs)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    b.items = (uint32_t) n;
    b.test = who->test;
    b.created = b.updated = pv_now();
    for (i = 0; i < n; i++)
        it[i].updated = b.created;
    pv_str_copy(b.customer_id, sizeof b.customer_id, who->owner_id);
    pv_str_copy(b.idem_key, sizeof b.idem_key, rq->idempotency_key);
    if ((rc = pv_new_id("bat", b.id)) != PV_OK ||
        (rc = pv_store_batch_insert(c->st, &b, it)) != PV_OK) {
        /* Another request with this key won the race: answer its batch. */
        if (rc == PV_EEXIST &&
            pv_store_batch_find(c->st, who->owner_id, who->test, rq->idempotency_key, &b) == PV_OK)
            answer_batch(c, b.id, 202);
        else
            pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    rc = pv_batches_run(c->app->batches, &b, jobs, njobs); /* takes jobs */
    jobs = NULL;
    if (rc != PV_OK) {
        /* Written, not started (stopping): a retry with the key resumes it. */
        pv_reply_error(rp, rc, NULL, "the batch is saved but could not start; retry it");
        goto out;
    }
    answer_batch(c, b.id, 202);
out:
    pv_batch_jobs_free(jobs, njobs);
    free(it);
    json_decref(root);
}

void pv_h_batch_get(struct pv_call *c)
{
    struct pv_batch_rec b;
    int rc = pv_store_batch_get(c->st, c->id, &b);

    /* Another customer's batch, or the other mode's, is not there. */
    if (rc == PV_OK && (strcmp(b.customer_id, c->who->owner_id) != 0 || b.test != c->who->test))
        rc = PV_ENOTFOUND;
    if (rc != PV_OK) {
        pv_reply_error(c->rp, rc, rc == PV_ENOTFOUND ? "id" : NULL,
                       rc == PV_ENOTFOUND ? "no such batch" : NULL);
        return;
    }
    answer_batch(c, b.id, 200);
}

void pv_h_batches_list(struct pv_call *c)
{
    struct pv_batch_rec *rows = NULL;
    struct pv_list_page pg;
    uint64_t before = 0;
    char next[32];
    size_t n = 0, i;
    json_t *arr;
    int rc;

    if (pv_list_args(c->rq, &pg, c->rp) != PV_OK ||
        pv_list_cursor_num(&pg, BATCH_CURSOR, (uint64_t) INT64_MAX, &before, c->rp) != PV_OK)
        return;
    rc = pv_store_batch_list(c->st, c->who->owner_id, c->who->test, (int64_t) before,
                             (size_t) pg.limit + 1, &rows, &n);
    if (rc != PV_OK) {
        pv_reply_error(c->rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n && i < pg.limit; i++)
        pv_list_push(&arr, pv_batch_view_json(c->app, &rows[i]));
    if (n > pg.limit)
        snprintf(next, sizeof next, BATCH_CURSOR "%lld", (long long) rows[pg.limit - 1].seq);
    free(rows);
    pv_reply_list(c->rp, arr, n > pg.limit ? next : NULL);
}

void pv_h_batch_labels(struct pv_call *c)
{
    struct pv_batch_item_rec *items = NULL;
    struct pv_indicium_rec *recs = NULL;
    struct pv_batch_rec b;
    size_t n = 0, i;
    int rc = pv_store_batch_get(c->st, c->id, &b);

    if (rc == PV_OK && (strcmp(b.customer_id, c->who->owner_id) != 0 || b.test != c->who->test))
        rc = PV_ENOTFOUND;
    if (rc == PV_OK)
        rc = pv_store_batch_items(c->st, b.id, 0, PV_ITEM_BOUGHT, PV_BATCH_ITEMS_MAX, &items, &n);
    if (rc != PV_OK) {
        pv_reply_error(c->rp, rc, rc == PV_ENOTFOUND ? "id" : NULL,
                       rc == PV_ENOTFOUND ? "no such batch" : NULL);
        return;
    }
    if (n == 0) {
        pv_reply_error(c->rp, PV_ENOTFOUND, NULL, "no piece of this batch is bought (yet)");
        goto out;
    }
    if (!(recs = calloc(n, sizeof *recs))) {
        pv_reply_error(c->rp, PV_ENOMEM, NULL, NULL);
        goto out;
    }
    for (i = 0; i < n; i++)
        if (pv_view_own_indicium(c->st, c->who, items[i].indicium_id, &recs[i], c->rp) != PV_OK)
            goto out;
    pv_print_indicia(c, recs, n, b.id);
out:
    pv_indicium_recs_free(recs, recs ? n : 0);
    free(items);
}
