/*
 * lease.c - a processor's PSD pool: load it, and keep its leases and fair
 * share up to date on every tick (lease.h).
 *
 * The PSD row is the authority: lease_acquire succeeds for a free or expired
 * lease or the holder's own (a renewal), atomically, so two processors never
 * both hold one PSD. A tick renews what this processor holds (the PSD in
 * use first) up to its share, releases the rest, then takes free or expired
 * PSDs up to the share; the purchase path checks the row's holder and
 * expiry again before it moves registers.
 *
 * Binding (issue 14): a PSD is bound to the crypto module that holds its key
 * (keys.module_id, the module's identity). A processor's pool holds only the
 * PSDs bound to its own module, and its fair share is counted among the live
 * servers of that module: processors on one token share its PSDs, and a
 * processor never leases a PSD it cannot sign for.
 */
#include "domain/lease.h"

#include "domain/config.h"
#include "domain/reset_auth.h"
#include "stampd/codec.h"
#include "stampd/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The identity of the module that holds k into out: its module_id, or for a
 * key from before schema v6 (only file modules made those) "openssl:" and
 * the directory of its key_ref, which is what that module's identity is.
 */
static void key_module(const struct pv_key_rec *k, char *out, size_t n)
{
    const char *slash = strrchr(k->key_ref, '/');

    if (k->module_id[0] || strcmp(k->module, "openssl") != 0 || !slash) {
        pv_str_copy(out, n, k->module_id);
        return;
    }
    snprintf(out, n, "openssl:%.*s", (int) (slash - k->key_ref), k->key_ref);
}

int pv_key_bound(const struct pv_key_rec *k, const struct pv_crypto *cm)
{
    char id[PV_MODULE_ID_MAX + 16];

    key_module(k, id, sizeof id);
    return strcmp(id, cm->id) == 0;
}

/* 1 when key k is bound to the processor's module (any, without a module). */
static int bound_here(const struct pv_processor_ctx *ctx, const struct pv_key_rec *k)
{
    return !ctx->cm || pv_key_bound(k, ctx->cm);
}

int pv_psd_key_follow(struct pv_store *st, const struct pv_processor_ctx *ctx, struct pv_psd_key *k,
                      uint32_t key_id)
{
    struct pv_key_rec *keys = NULL;
    size_t n = 0, i;
    int rc;

    if ((rc = pv_store_key_list(st, &keys, &n)) != PV_OK)
        return rc;
    for (i = 0; i < n && keys[i].key_id != key_id; i++)
        ;
    if (i == n)
        rc = PV_ECONFIG;
    else if (keys[i].revoked_at)
        rc = PV_ENOPSD; /* a revoked key never signs again */
    else if (!bound_here(ctx, &keys[i]))
        rc = PV_EKEYMODULE;
    else {
        k->key_id = key_id;
        pv_str_copy(k->key_ref, sizeof k->key_ref, keys[i].key_ref);
    }
    free(keys);
    return rc;
}

static int cmp_psd(const void *a, const void *b)
{
    const struct pv_psd_rec *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

int pv_processor_load(struct pv_store *st, struct pv_processor_ctx *ctx)
{
    struct pv_psd_rec *psds = NULL;
    struct pv_key_rec *keys = NULL;
    size_t npsds = 0, nkeys = 0, i, j;
    char *val = NULL;
    uint64_t policy;
    int rc;

    pv_processor_ctx_clear(ctx);
    ctx->lease_ms = PV_LEASE_MS_DEFAULT;
    ctx->live_ms = PV_LIVE_MS_DEFAULT;
    ctx->sharing = 1;
    if ((rc = pv_store_config_get(st, PV_CFG_LICENSE, &val)) != PV_OK)
        goto out;
    pv_str_copy(ctx->license, sizeof ctx->license, val);
    free(val);
    val = NULL;
    if ((rc = pv_store_config_get(st, PV_CFG_REFILL, &val)) != PV_OK)
        goto out;
    if (pv_parse_u64(val, 0, (uint64_t) PV_MILLS_MAX, &policy) != PV_OK) {
        rc = PV_ECONFIG;
        goto out;
    }
    ctx->refill_policy = (pv_mills) policy;
    /* The authority's reset signer: without one a reset is refused, nothing else. */
    rc = pv_reset_signer_open(st, &ctx->signer);
    if (rc != PV_OK && rc != PV_ENOTFOUND)
        goto out;

    if ((rc = pv_store_psd_list(st, &psds, &npsds)) != PV_OK)
        goto out;
    if ((rc = pv_store_key_list(st, &keys, &nkeys)) != PV_OK)
        goto out;
    qsort(psds, npsds, sizeof *psds, cmp_psd);
    ctx->psds = calloc(npsds ? npsds : 1, sizeof *ctx->psds);
    if (!ctx->psds) {
        rc = PV_ENOMEM;
        goto out;
    }
    /* Room in a batch for every PSD of the pool and the test PSD (psd_batch.h). */
    if ((rc = pv_psd_batch_init(&ctx->psdb, npsds + 1)) != PV_OK)
        goto out;
    for (i = 0; i < npsds; i++) {
        struct pv_psd_key *k;

        /* A suspended PSD stays in the pool (it may be resumed; the tick does
         * not lease it and the purchase path reads its status); a withdrawn
         * one never signs again. */
        if (psds[i].status == PV_PSD_RETIRED || (psds[i].test && ctx->test_psd.held))
            continue;
        for (j = 0; j < nkeys; j++)
            if (keys[j].key_id == psds[i].key_id)
                break;
        if (j == nkeys) {
            rc = PV_ECONFIG;
            goto out;
        }
        if (!bound_here(ctx, &keys[j]))
            continue; /* another module's PSD: this processor cannot sign for it */
        if (keys[j].revoked_at)
            continue; /* a revoked key never signs again (certs.h), whatever the PSD's status */
        k = psds[i].test ? &ctx->test_psd : &ctx->psds[ctx->npsds++];
        k->psd_id = psds[i].id;
        k->key_id = keys[j].key_id;
        pv_str_copy(k->key_ref, sizeof k->key_ref, keys[j].key_ref);
        k->held = psds[i].test; /* a test PSD needs no lease */
    }
    /* "Current" starts at the last device so the first refill lands on the first. */
    ctx->current = ctx->npsds ? ctx->npsds - 1 : 0;
    rc = ctx->npsds ? PV_OK : PV_ENOPSD;
out:
    free(val);
    free(psds);
    free(keys);
    return rc;
}

static int cmp_server(const void *a, const void *b)
{
    return strcmp(((const struct pv_server_rec *) a)->id, ((const struct pv_server_rec *) b)->id);
}

/* This processor's fair share of its pool's npool active PSDs among the live, active servers
 * of its module. */
static size_t fair_share(const struct pv_processor_ctx *ctx, struct pv_server_rec *servers,
                         size_t n, size_t npool, int64_t now_ms)
{
    size_t i, live = 0, rank = SIZE_MAX;

    qsort(servers, n, sizeof *servers, cmp_server);
    for (i = 0; i < n; i++) {
        if (servers[i].status != PV_SERVER_ACTIVE ||
            servers[i].heartbeat_ms < now_ms - ctx->live_ms)
            continue;
        /* Only the servers of this processor's module share its PSDs ("" is a
         * server registered without one, which could use any). */
        if (ctx->cm && servers[i].module_id[0] && strcmp(servers[i].module_id, ctx->cm->id) != 0)
            continue;
        if (strcmp(servers[i].id, ctx->server_id) == 0)
            rank = live;
        live++;
    }
    if (rank == SIZE_MAX || live == 0)
        return 0;
    return npool / live + (rank < npool % live ? 1 : 0);
}

/* The live, active servers of every module (at least 1): all of them draw on one deposit. */
static size_t deposit_sharers(const struct pv_processor_ctx *ctx,
                              const struct pv_server_rec *servers, size_t n, int64_t now_ms)
{
    size_t i, live = 0;

    for (i = 0; i < n; i++)
        live += servers[i].status == PV_SERVER_ACTIVE &&
                servers[i].heartbeat_ms >= now_ms - ctx->live_ms;
    return live ? live : 1;
}

int pv_processor_tick(struct pv_store *st, struct pv_processor_ctx *ctx, int64_t now_ms,
                      int *status)
{
    struct pv_server_rec *servers = NULL;
    struct pv_psd_rec *rows = NULL;
    size_t nservers = 0, nrows = 0, i, j, idx, share, held = 0, active = 0;
    int rc, my_status = PV_SERVER_ACTIVE;

    if ((rc = pv_store_server_heartbeat(st, ctx->server_id, ctx->key_ids, now_ms, &my_status)) !=
            PV_OK ||
        (rc = pv_store_server_list(st, &servers, &nservers)) != PV_OK ||
        (rc = pv_store_psd_list(st, &rows, &nrows)) != PV_OK)
        goto out;
    /* Only active PSDs are leased: a suspended one waits in the pool. */
    for (idx = 0; idx < ctx->npsds; idx++) {
        ctx->psds[idx].usable = 0;
        for (j = 0; j < nrows; j++)
            if (rows[j].id == ctx->psds[idx].psd_id)
                ctx->psds[idx].usable = rows[j].status == PV_PSD_ACTIVE;
        active += ctx->psds[idx].usable;
    }
    share = my_status == PV_SERVER_ACTIVE ? fair_share(ctx, servers, nservers, active, now_ms) : 0;
    ctx->sharing = deposit_sharers(ctx, servers, nservers, now_ms);

    /* Renew what we hold, the PSD in use first, up to the share; release the rest. */
    for (i = 0; i < ctx->npsds; i++) {
        idx = (ctx->current + i) % ctx->npsds;
        for (j = 0; j < nrows && rows[j].id != ctx->psds[idx].psd_id; j++)
            ;
        ctx->psds[idx].held = 0;
        if (j == nrows || strcmp(rows[j].lease_holder, ctx->server_id) != 0 ||
            rows[j].lease_expires_ms <= now_ms)
            continue;
        if (held < share && ctx->psds[idx].usable &&
            pv_store_lease_acquire(st, ctx->psds[idx].psd_id, ctx->server_id, now_ms,
                                   now_ms + ctx->lease_ms) == PV_OK) {
            ctx->psds[idx].held = 1;
            held++;
        } else {
            pv_store_lease_release(st, ctx->psds[idx].psd_id, ctx->server_id, now_ms);
        }
    }
    /* Take free or expired PSDs up to the share. */
    for (idx = 0; idx < ctx->npsds && held < share; idx++) {
        if (ctx->psds[idx].held || !ctx->psds[idx].usable)
            continue;
        rc = pv_store_lease_acquire(st, ctx->psds[idx].psd_id, ctx->server_id, now_ms,
                                    now_ms + ctx->lease_ms);
        if (rc == PV_OK) {
            ctx->psds[idx].held = 1;
            held++;
        } else if (rc != PV_EBUSY) {
            goto out;
        }
    }
    rc = PV_OK;
    ctx->renewed_ms = now_ms; /* every PSD held is ours until now_ms + lease_ms at least */
out:
    /* The key ids of what we hold, for operators (servers table). */
    ctx->key_ids[0] = '\0';
    for (idx = 0; idx < ctx->npsds; idx++) {
        if (ctx->psds[idx].held) {
            size_t len = strlen(ctx->key_ids);
            snprintf(ctx->key_ids + len, sizeof ctx->key_ids - len, "%s%u", len ? "," : "",
                     (unsigned) ctx->psds[idx].key_id);
        }
    }
    if (status)
        *status = my_status;
    free(servers);
    free(rows);
    return rc;
}

void pv_processor_ctx_clear(struct pv_processor_ctx *ctx)
{
    free(ctx->psds);
    ctx->psds = NULL;
    ctx->npsds = 0;
    pv_psd_batch_clear(&ctx->psdb);
    ctx->current = 0;
    memset(&ctx->test_psd, 0, sizeof ctx->test_psd);
    pv_reset_signer_close(ctx->signer);
    ctx->signer = NULL;
}
