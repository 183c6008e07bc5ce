/*
 * lease.h - a processor's pool of PSDs: which PSDs and keys it may use,
 * and the leases that let exactly one processor at a time move a PSD's
 * registers (docs/internals/leases.md).
 *
 * Every live processor heartbeats into the servers table and holds a fair
 * share of the active live PSDs: floor(P/E), plus one for the first P mod E
 * of the E live, active servers in id order. A lease runs for lease_ms and
 * is renewed on every tick; a processor that stops ticking loses its PSDs
 * when their leases expire, and the others take them up (failover). The
 * test PSD is never leased: its row lock orders its writers. A PSD is bound
 * to the crypto module that holds its key: a processor's pool and its share
 * count only the PSDs and the servers of its own module (cm->id). Which held
 * PSD a purchase uses, and when one is refilled, is the purchase path's
 * choice (purchase.c).
 */
#ifndef STAMPD_LEASE_H
#define STAMPD_LEASE_H

#include "crypto/crypto.h"
#include "domain/payment.h"
#include "domain/psd_batch.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/* A PSD the processor may use and the key that signs for it. */
struct pv_psd_key {
    uint32_t psd_id;
    uint32_t key_id;
    char key_ref[512];
    int held;    /* this processor holds the PSD's lease (see pv_processor_tick) */
    int usable;  /* its row was active at the last tick (a suspended PSD is not leased) */
    int overdue; /* the watchdog locked it: no report within its deadline (report.h) */
};

/* A processor's state for the write path; owned by the processor. */
struct pv_reset_signer;
struct pv_sign_pool;

struct pv_processor_ctx {
    char server_id[PV_ID_MAX];
    char license[PV_LICENSE_LEN + 1];
    pv_mills refill_policy;  /* amount moved from the deposit on a refill */
    struct pv_crypto *cm;    /* borrowed */
    struct pv_gateways gws;  /* borrowed gateways for card payments */
    struct pv_psd_key *psds; /* owned array of npsds: every active live PSD and its key */
    size_t npsds;
    struct pv_psd_key test_psd;     /* the test device (never leased); held = 0 when none */
    size_t current;                 /* index of the PSD in use (selection policy state) */
    int64_t lease_ms;               /* lease length; renewed on every tick */
    int64_t renewed_ms;             /* the last tick that renewed every lease held (0: none yet) */
    int64_t live_ms;                /* a server is live when its heartbeat is this recent */
    char key_ids[128];              /* "1,3": the keys of the held PSDs, for the servers table */
    struct pv_reset_signer *signer; /* owned: the authority's reset signer; NULL when none */
    struct pv_sign_pool *sign_pool; /* borrowed: signs a batch's indicia on several threads
                                     * (signpool.h); NULL: each on the writer's thread */
    size_t sharing; /* live, active processors of every module (this one too): they share the
                     * postal deposit, so one reset takes at most 1/sharing of it; >= 1 */
    struct pv_psd_batch psdb; /* owned: the PSD rows of the batch in hand (psd_batch.h) */
    /* Run inside every batch's transaction once the writer lock is held, before its jobs
     * (the processor's card payment round, cardpay.h): its error fails the batch. NULL: none. */
    int (*in_batch)(void *arg, struct pv_store *st);
    void *in_batch_arg;
    /* Set before a batch whose card round locks rows every processor may lock
     * (pv_cardpay_round_shared_rows): the batch takes the writer lock whole. */
    int lock_whole;
    /* The batch in hand locks its customers late (pv_purchase_late): a refill whose postal
     * deposit another batch holds sets late_moved and sends the batch back to lock first.
     * late_retries counts the batches sent back (/metrics). */
    int late, late_moved;
    uint64_t late_retries;
};

#define PV_LEASE_MS_DEFAULT 5000
#define PV_LIVE_MS_DEFAULT  3000

/*
 * pv_psd_key_follow - the PSD of k (owned by ctx, borrowed) signs with key
 * key_id now (stampd psd rotate-key changed the PSD row): k takes that
 * key's id and reference from st. PV_OK; PV_ENOPSD (the key is revoked);
 * PV_EKEYMODULE (bound to another module than ctx->cm); PV_ECONFIG (no
 * such key); store errors.
 */
int pv_psd_key_follow(struct pv_store *st, const struct pv_processor_ctx *ctx, struct pv_psd_key *k,
                      uint32_t key_id);

/*
 * pv_processor_load - fill ctx->psds from the store: every active live PSD
 * bound to ctx->cm's module (every one when ctx->cm is NULL) with its key,
 * none held yet, and ctx->test_psd with the first active test PSD bound to
 * it (held = 1 when there is one; test PSDs need no lease). Also reads the license and refill
 * policy and sets the lease defaults. Returns PV_OK, PV_ENOPSD when there is no active PSD,
 * PV_ECONFIG (a PSD without its key), or a store error. PV_ENOPSD also when
 * PSDs exist but none is bound to this module.
 */
int pv_processor_load(struct pv_store *st, struct pv_processor_ctx *ctx);

/*
 * pv_processor_tick - heartbeat and lease upkeep; call about every second
 * outside a batch, on the thread that runs the batches. The processor must
 * be registered (server_register) with its module's identity. Its fair
 * share of the P active PSDs of its pool is floor(P/E), plus one for the
 * first P mod E of the E live, active servers of its module in id order; it renews that many of its
 * leases (preferring the one in use), releases the rest, and takes free or expired PSDs up to its
 * share. A draining or disabled server holds none. *status (may be NULL) gets the operator's
 * status. Returns PV_OK or a store error.
 */
int pv_processor_tick(struct pv_store *st, struct pv_processor_ctx *ctx, int64_t now_ms,
                      int *status);

/*
 * pv_key_bound - 1 when the key k (borrowed) is bound to module cm
 * (borrowed): its module_id is cm->id, or it is a key from before schema v6
 * in cm's keys directory. 0 otherwise.
 */
int pv_key_bound(const struct pv_key_rec *k, const struct pv_crypto *cm);

/* pv_processor_ctx_clear - free what pv_processor_load allocated. */
void pv_processor_ctx_clear(struct pv_processor_ctx *ctx);

#endif
