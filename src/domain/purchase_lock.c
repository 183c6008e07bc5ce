/*
 * purchase_lock.c - what a purchase batch locks before it writes anything
 * (pv_purchase_lock, purchase.h; docs/internals/purchase-path.md).
 *
 * Batches of several processors run at once on PostgreSQL. Each takes the
 * writer lock shared - funds, refunds, holds and the other lock_writer
 * holders still exclude every batch, as before - and then (after its card
 * round, pv_purchase_lock_first, when it has one), in one
 * statement, the balance rows of all its customers in name order: two
 * batches that share customers wait for each other in one direction only,
 * never in a circle, whatever order their jobs came in. Everything else a
 * batch locks afterwards is its own (its PSDs through their lease, their
 * psd: accounts, its part of the shared totals) or its customers' (their
 * sheets, idempotency keys) - but the postal deposit rows of PSD refills,
 * which two batches could still take in opposite orders (docs/performance.md).
 * Every customer has its balance row from the moment it is made (schema v22),
 * so a customer's first card purchase finds its row here too.
 * A batch with a job in test mode or on a medium, or whose card round checks
 * one (lease.h, lock_whole), would also lock rows every processor shares (the
 * test PSD, which is never leased; a sheet; the media sales account): it
 * takes the writer lock whole, excluding the other batches, as before.
 * SQLite's write lock is the whole database's. Then one read tells each job
 * whether its key is stored, a hold stands on its customer, it has an
 * auto-refill rule or its customer a webhook endpoint (pv_purchase_facts): a
 * job reads for itself only what is. The PSD rows its first jobs lock travel
 * with that read (PostgreSQL): after the customers' rows of a batch locking
 * first, as before; a batch locking late takes them before the gate, which
 * no other batch waits on for them: a live PSD is read ahead only while its
 * lease is surely this processor's (renewed less than half a lease ago), and
 * the test PSD only a batch locking first uses. Every batch plans its
 * statements with lookups by key (pv_store_plan_by_key).
 */
#include "domain/ledger.h"
#include "domain/purchase.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/money.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pv_purchase_lock_whole(const struct pv_purchase_req *reqs, const struct pv_purchase_res *res,
                           size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (res[i].pre_err == PV_OK && (reqs[i].test || reqs[i].medium_serial[0]))
            return 1;
    return 0;
}

/* The customers' accounts of the jobs of reqs not refused before the batch, into *m of them
 * (owned; NULL with *m 0 when none), or PV_ENOMEM. */
static int customers(const struct pv_purchase_req *reqs, const struct pv_purchase_res *res,
                     size_t n, char (**acct)[PV_ACCOUNT_MAX], size_t *m)
{
    *acct = NULL;
    *m = 0;
    if (n && !(*acct = calloc(n, sizeof **acct)))
        return PV_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (res[i].pre_err == PV_OK)
            pv_account_customer_mode(reqs[i].customer_id, reqs[i].test, (*acct)[(*m)++]);
    return PV_OK;
}

int pv_purchase_lock(struct pv_store *st, const struct pv_purchase_req *reqs,
                     const struct pv_purchase_res *res, size_t n, int whole, int late)
{
    int rc;

    /* A plan kept from when a table was small reads it whole (store-driver.md). */
    if ((rc = pv_store_plan_by_key(st)) != PV_OK)
        return rc;
    if (whole || pv_purchase_lock_whole(reqs, res, n))
        return pv_store_lock_writer(st);
    if (late)
        return pv_store_lock_batch(st, NULL, 0); /* the customers at the end: pv_purchase_late */
    return pv_purchase_lock_first(st, reqs, res, n);
}

int pv_purchase_lock_first(struct pv_store *st, const struct pv_purchase_req *reqs,
                           const struct pv_purchase_res *res, size_t n)
{
    char(*acct)[PV_ACCOUNT_MAX] = NULL;
    size_t m = 0;
    int rc;

    if ((rc = customers(reqs, res, n, &acct, &m)) != PV_OK)
        return rc;
    rc = pv_store_lock_batch(st, (const char(*)[PV_ACCOUNT_MAX]) acct, m);
    free(acct);
    return rc;
}

int pv_purchase_late(struct pv_store *st, const struct pv_purchase_req *reqs,
                     const struct pv_purchase_res *res, size_t n, int *late)
{
    char(*acct)[PV_ACCOUNT_MAX] = NULL;
    size_t m = 0;
    int rc;

    *late = 0;
    if ((rc = customers(reqs, res, n, &acct, &m)) != PV_OK)
        return rc;
    rc = pv_store_batch_late(st, (const char(*)[PV_ACCOUNT_MAX]) acct, m, late);
    free(acct);
    return rc;
}

/*
 * Whether what each job decided against the balance read without a lock still holds against
 * the balance locked now, d = now - was apart. Nobody but purchase batches moves a customer's
 * balance while this batch holds the writer lock shared (funds, refunds, holds take it whole),
 * and their balance purchases only take money out (a card purchase adds its charge and takes
 * it out again). So d > 0 is unexpected (moved); d < 0 is another batch's purchases, committed
 * first, and every job of this batch stands as if it came after them when its balance still
 * covers it: its balance after, d lower, not below zero - the rule it was decided by
 * (balance >= due). A refusal for funds stands too (less money). A customer with an
 * auto-refill rule is decided against the exact balance (its trigger): moved when d != 0.
 */
int pv_purchase_late_settle(struct pv_store *st, const struct pv_purchase_req *reqs,
                            struct pv_purchase_res *res, size_t n, const uint8_t *facts,
                            pv_mills *shift, int *moved)
{
    char(*acct)[PV_ACCOUNT_MAX] = NULL;
    pv_mills *was = NULL, *now = NULL, after;
    size_t i, j, m = 0;
    int rc;

    *moved = 0;
    if ((rc = customers(reqs, res, n, &acct, &m)) != PV_OK)
        return rc;
    if (m && (!(was = calloc(m, sizeof *was)) || !(now = calloc(m, sizeof *now)))) {
        rc = PV_ENOMEM;
        goto out;
    }
    if ((rc = pv_store_batch_settle(st, (const char(*)[PV_ACCOUNT_MAX]) acct, m, was, now,
                                    moved)) != PV_OK)
        goto out;
    for (i = 0, j = 0; i < n; i++) {
        pv_mills d;

        shift[i] = 0;
        if (res[i].pre_err != PV_OK)
            continue;
        if (pv_money_sub(now[j], was[j], &d) != PV_OK || d > 0 ||
            (d < 0 && (facts[i] & PV_FACT_RULE)))
            *moved = 1;
        else if (d < 0 && res[i].err == PV_OK && !res[i].replayed &&
                 reqs[i].pay.method == PV_PAY_BALANCE &&
                 (pv_money_add(res[i].balance_after, d, &after) != PV_OK || after < 0))
            *moved = 1;
        shift[i] = d;
        j++;
    }
    /* Each job's answer: the balance after it in the order of the commits. */
    for (i = 0; i < n && !*moved; i++)
        if (res[i].err == PV_OK &&
            pv_money_add(res[i].balance_after, shift[i], &res[i].balance_after) != PV_OK)
            *moved = 1; /* cannot happen: both in range; then locking first decides */
out:
    free(acct);
    free(was);
    free(now);
    return rc;
}

/* What the jobs' own reads may find (pv_store_batch_facts) into facts[n]: every bit set
 * (read it) for a job refused before the batch, for every job of a batch that uses a key
 * twice (the second must find the first's), and for all when memory is short. */
static int facts_read(struct pv_store *st, const struct pv_purchase_req *reqs,
                      const struct pv_purchase_res *res, size_t n, int repeats, uint8_t *facts)
{
    const char **cus = calloc(n ? n : 1, sizeof *cus), **keys = calloc(n ? n : 1, sizeof *keys);
    char(*owners)[PV_ID_MAX] = calloc(n ? n : 1, sizeof *owners);
    const char **own = calloc(n ? n : 1, sizeof *own);
    int64_t *tests = calloc(n ? n : 1, sizeof *tests);
    size_t i, m = 0;
    uint8_t *got = malloc(n ? n : 1);
    int rc = PV_OK;

    memset(facts, PV_FACT_ALL, n);
    if (cus && keys && owners && own && tests && got && !repeats) {
        for (i = 0; i < n; i++) {
            if (res[i].pre_err != PV_OK)
                continue;
            pv_idem_owner(reqs[i].customer_id, reqs[i].test, owners[m]);
            cus[m] = reqs[i].customer_id;
            tests[m] = reqs[i].test != 0;
            own[m] = owners[m];
            keys[m++] = reqs[i].idem_key;
        }
        if ((rc = pv_store_batch_facts(st, cus, tests, own, keys, m, got)) == PV_OK)
            for (i = 0, m = 0; i < n; i++)
                if (res[i].pre_err == PV_OK)
                    facts[i] = got[m++];
    }
    free(cus);
    free(keys);
    free(owners);
    free(own);
    free(tests);
    free(got);
    return rc;
}

/* The PSD rows the batch's first jobs read (select_psd: the current live one, the test one),
 * queued ahead of the facts into ids[*k] (PostgreSQL: they travel with its round trip). A
 * queueing that fails is left to the job, which reads the row itself. */
static void psds_ahead(struct pv_store *st, const struct pv_processor_ctx *ctx,
                       const struct pv_purchase_req *reqs, const struct pv_purchase_res *res,
                       size_t n, uint32_t ids[2], size_t *k)
{
    int live = 0, test = 0;
    size_t i;

    for (i = 0; i < n; i++)
        if (res[i].pre_err == PV_OK)
            *(reqs[i].test ? &test : &live) = 1;
    *k = 0;
    /* Surely still this processor's lease: no other processor's batch waits for that row
     * (a stale "held" while a lease changes hands could close a circle with the gate). */
    if (live && ctx->current < ctx->npsds && ctx->psds[ctx->current].held &&
        !ctx->psds[ctx->current].overdue && pv_now_ms() < ctx->renewed_ms + ctx->lease_ms / 2)
        ids[(*k)++] = ctx->psds[ctx->current].psd_id;
    if (test && ctx->test_psd.held)
        ids[(*k)++] = ctx->test_psd.psd_id;
    for (i = 0; i < *k; i++)
        if (pv_store_prefetch_psd(st, ids[i]) != PV_OK)
            *k = i;
}

int pv_purchase_facts(struct pv_store *st, struct pv_processor_ctx *ctx,
                      const struct pv_purchase_req *reqs, const struct pv_purchase_res *res,
                      size_t n, int repeats, uint8_t *facts)
{
    struct pv_psd_rec row;
    uint32_t ids[2];
    size_t i, k;
    int rc, queued;

    psds_ahead(st, ctx, reqs, res, n, ids, &k);
    rc = facts_read(st, reqs, res, n, repeats, facts);
    /* A queued statement that failed first (a lock's PV_EBUSY): its own code. */
    if (rc == PV_ESTORE && (queued = pv_store_defer(st, 0)) != PV_OK)
        rc = queued;
    if (rc != PV_OK)
        return rc;
    /* Into the batch's rows now, before anything writes (a write drops what was read ahead). */
    for (i = 0; i < k; i++)
        if ((rc = pv_psd_batch_get(st, &ctx->psdb, ids[i], &row)) != PV_OK && rc != PV_ENOTFOUND)
            return rc;
    return PV_OK;
}

/* 1 when a key is used twice in reqs: the second is a replay of the first,
 * which reads the first's indicium, so the first must be stored whole. */
static int same_key(const struct pv_purchase_req *a, const struct pv_purchase_req *b)
{
    return a->test == b->test && strcmp(a->idem_key, b->idem_key) == 0 &&
           strcmp(a->customer_id, b->customer_id) == 0;
}

/* A big batch's keys through a hash table (half full at most): compared pair by pair, a
 * batch of 2,048 card jobs took 1.5 % of the writer's time (issue 15, session 19). */
int pv_purchase_repeats(const struct pv_purchase_req *reqs, size_t n)
{
    size_t i, j, cap = 16;
    uint32_t *slot;
    int found = 0;

    if (n <= UINT32_MAX / 4)
        while (cap < 2 * n)
            cap *= 2;
    if (n <= 8 || n > UINT32_MAX / 4 || !(slot = calloc(cap, sizeof *slot))) {
        for (i = 1; i < n; i++) /* few, or no memory for the table: pair by pair */
            for (j = 0; j < i; j++)
                if (same_key(&reqs[i], &reqs[j]))
                    return 1;
        return 0;
    }
    for (i = 0; i < n && !found; i++) {
        uint64_t h = pv_fnv1a64(reqs[i].idem_key) * 31 + pv_fnv1a64(reqs[i].customer_id);

        for (j = (size_t) (h ^ (h >> 29)) & (cap - 1); slot[j] && !found; j = (j + 1) & (cap - 1))
            found = same_key(&reqs[i], &reqs[slot[j] - 1]);
        slot[j] = (uint32_t) i + 1;
    }
    free(slot);
    return found;
}

void pv_idem_owner(const char *customer_id, int test, char out[PV_ID_MAX])
{
    if (snprintf(out, PV_ID_MAX, "%s%s", test ? "test:" : "", customer_id) >= PV_ID_MAX)
        out[0] = '\0'; /* cannot happen: customer ids are 24 characters */
}
