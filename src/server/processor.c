/*
 * processor.c - processing servers inside `stampd serve`.
 *
 * Each processor owns a store handle, a crypto module and a share of the
 * PSDs, and one writer thread. Requests queue jobs; the writer takes every
 * queued job (up to BATCH_MAX) and runs them as one batch in one
 * transaction (pv_purchase_batch), so concurrent purchases share a single
 * durable commit, then hands each job to the processor's answer thread, which
 * calls its on_reply (issue 15, session 13: waking a connection is a write to
 * libmicrohttpd's event fd, which the writer, the one thread every purchase
 * waits for, no longer makes). Nobody blocks waiting: the HTTP front suspends
 * the connection and resumes it from on_done.
 *
 * Card payments (docs/internals/purchase-path.md): a card job goes first to
 * the processor's card payments (cardpay.c), which hold the card under a
 * payment intent committed before the gateway is called - the intents
 * written inside the writer's batch transactions, the gateway's calls
 * asynchronous - and then queue it for the writer; after its batch commits,
 * the writer hands every held card back to them: a purchase committed is
 * answered and its hold captured after (the intent "settling" in that commit
 * says so to the recovery), any other job's hold is voided before its answer.
 * So a gateway's round trip never holds the writer nor a thread, a card costs
 * no commit of its own, and every card job can be in flight at once.
 * The recovery of payment intents (pv_intent_recover) runs at start and
 * every RECOVER_MS between batches.
 *
 * Daily reports and the watchdog (domain/report.h) run there too, every
 * REPORT_MS: for each PSD it holds, the processor signs the report of every
 * completed day not yet reported (at most REPORT_LIMIT per run), which
 * renews the PSD's last contact, then checks the PSD against its deadline:
 * an overdue PSD is not selected for sales until it reports again. The
 * PSDs of the pool it does not hold get their state too, so one taken up
 * on a later tick (failover) is never sold from before its check.
 */
#include "server/processor.h"

#include "server/cardpay.h"
#include "server/metrics.h"

#include "crypto/signpool.h"
#include "domain/config.h"
#include "domain/intent.h"
#include "domain/pricing.h"
#include "domain/report.h"
#include "payment/gateway.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define BATCH_MAX          256
#define WRITER_CACHE_BYTES (16u << 20)
#define TICK_MS            1000
#define RECOVER_MS         5000
#define RECOVER_LIMIT      100
#define REPORT_MS          5000
#define REPORT_LIMIT       16
#define REPORT_RETRY       60000 /* after a report failed: try again this much later (ms) */

/* A batch: up to BATCH_MAX queued jobs, and the held cards of its round beside them, in a
 * room of their own (cardpay.h): none recorded apart and queued for want of room. */
#define BATCH_ROOM (BATCH_MAX + PV_CARDPAY_GROUP_MAX)

/* pv_job.pay_stage */
enum { PAY_NONE = 0, PAY_AUTHORIZE, PAY_HELD, PAY_SETTLE };

struct pv_processor {
    struct pv_processor_ctx ctx;
    struct pv_store *st;
    struct pv_store *sst; /* the card end states' own connection, until the settler takes it */
    struct pv_crypto *cm;
    struct pv_sign_pool *signers; /* owned: ctx.sign_pool */
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pv_job *head, *tail;
    int stopping;
    atomic_uint_fast64_t served;
    int64_t next_tick_ms;
    int64_t next_recover_ms;
    int64_t next_report_ms;
    int64_t reports_after_ms; /* no report before (a failure waits REPORT_RETRY) */
    int no_reports;
    int64_t recovery_ms;          /* stale bound for payment intents */
    int recovered_once;           /* the recovery at start is done */
    struct pv_purchase_req *reqs; /* BATCH_ROOM scratch */
    struct pv_purchase_res *res;
    /* The card payments (cardpay.h); card jobs being held are counted in
     * pending_auth (under mu) until the writer has them. */
    struct pv_cardpay *cp;
    size_t pending_auth;
    /* Jobs done, for the answer thread (finish): under amu. */
    pthread_t answerer;
    int answering; /* the thread runs: finish queues; else it answers at once */
    pthread_mutex_t amu;
    pthread_cond_t acv;
    struct pv_job *done_head, *done_tail;
    int done_stop;
};

/* Queue job for the writer; p->mu held. */
static void writer_push(struct pv_processor *p, struct pv_job *job)
{
    job->next = NULL;
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    pthread_cond_signal(&p->cv);
}

/* A job is done here: count it and have it answered (any thread). */
static void finish(struct pv_processor *p, struct pv_job *job)
{
    job->pay_stage = PAY_NONE; /* a retry elsewhere starts over */
    job->pay_key[0] = job->pay_charge[0] = '\0';
    if (job->res.err == PV_OK && !job->res.replayed)
        atomic_fetch_add(&p->served, 1);
    if (!p->answering) {
        job->on_reply(job);
        return;
    }
    job->next = NULL;
    pthread_mutex_lock(&p->amu);
    if (p->done_tail)
        p->done_tail->next = job;
    else
        p->done_head = job;
    p->done_tail = job;
    pthread_cond_signal(&p->acv);
    pthread_mutex_unlock(&p->amu);
}

/* The answer thread: every job finish queued, answered in order (on_reply may send it to
 * another processor, which links it anew: its next is read first). Leaves once told to
 * stop and nothing is left. */
static void *answerer(void *arg)
{
    struct pv_processor *p = arg;
    struct pv_job *job, *next;

    prctl(PR_SET_NAME, "stampd-answer", 0, 0, 0); /* for `top -H` */
    pthread_mutex_lock(&p->amu);
    for (;;) {
        while (!p->done_head && !p->done_stop)
            pthread_cond_wait(&p->acv, &p->amu);
        if (!p->done_head)
            break;
        job = p->done_head;
        p->done_head = p->done_tail = NULL;
        pthread_mutex_unlock(&p->amu);
        for (; job; job = next) {
            next = job->next;
            job->on_reply(job);
        }
        pthread_mutex_lock(&p->amu);
    }
    pthread_mutex_unlock(&p->amu);
    return NULL;
}

/* The card payments' hooks (cardpay.h): a card held (or refused) goes to the writer. */
static void card_held(void *owner, struct pv_job *job)
{
    struct pv_processor *p = owner;

    pthread_mutex_lock(&p->mu);
    job->pay_stage = PAY_HELD;
    writer_push(p, job);
    p->pending_auth--;
    pthread_mutex_unlock(&p->mu);
}

/* ... and a card purchase committed, or a card's hold voided, is answered. */
static void card_settled(void *owner, struct pv_job *job)
{
    finish(owner, job);
}

/* ... and work waits for the writer's next round. */
static void card_wake(void *owner)
{
    struct pv_processor *p = owner;

    pthread_mutex_lock(&p->mu);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Finish the card payments crashes and lost answers left (intent.h). */
static void recover(struct pv_processor *p, int64_t now)
{
    size_t acted = 0;
    int rc;

    p->next_recover_ms = now + RECOVER_MS;
    /* At start everything decided is finished; later only what the settle step left. */
    rc = pv_intent_recover_after(p->st, &p->ctx.gws, p->ctx.server_id, p->recovery_ms,
                                 p->recovered_once ? PV_INTENT_SETTLE_GRACE_MS : 0, now,
                                 RECOVER_LIMIT, &acted);
    if (rc == PV_OK)
        p->recovered_once = 1; /* a later failed run keeps the grace: calls are in flight */
    if (rc != PV_OK)
        pv_log(PV_LOG_ERROR, "%s: payment recovery: %s\n", p->ctx.server_id, pv_strerror(rc));
    else if (acted > 0)
        pv_log(PV_LOG_INFO, "%s: payment recovery finished %zu card payment(s)\n", p->ctx.server_id,
               acted);
}

/* Reports for the held PSDs' completed days, then the watchdog (report.h). */
static void report_and_watch(struct pv_processor *p, int64_t now_ms)
{
    struct pv_report_signer sg;
    int64_t now = pv_report_clock(), days;
    size_t i, made = 0;
    uint32_t day;
    int rc, overdue, failed = 0;

    p->next_report_ms = now_ms + REPORT_MS;
    if ((rc = pv_contact_deadline_days(p->st, &days)) != PV_OK) {
        pv_log(PV_LOG_WARNING, "%s: watchdog deadline: %s\n", p->ctx.server_id, pv_strerror(rc));
        days = PV_CONTACT_DAYS_DEFAULT;
    }
    for (i = 0; i < p->ctx.npsds; i++) {
        struct pv_psd_key *k = &p->ctx.psds[i];
        struct pv_contact_view v;
        if (!k->held) {
            /* Not ours now, but it may be on the next tick: know its state already. */
            if (pv_contact_view(p->st, k->psd_id, days, now, &v) == PV_OK)
                k->overdue = v.overdue;
            continue;
        }
        while (!p->no_reports && !failed && now_ms >= p->reports_after_ms && made < REPORT_LIMIT &&
               pv_report_next_day(p->st, k->psd_id, now, &day) == PV_OK) {
            sg.cm = p->cm;
            sg.key_ref = k->key_ref;
            sg.key_id = k->key_id;
            rc = pv_report_make(p->st, &sg, p->ctx.license, k->psd_id, day, p->ctx.server_id, now,
                                NULL);
            if (rc != PV_OK && rc != PV_EEXIST) {
                pv_log(PV_LOG_WARNING, "%s: report of PSD %u for %u: %s (again in %d s)\n",
                       p->ctx.server_id, (unsigned) k->psd_id, (unsigned) day, pv_strerror(rc),
                       REPORT_RETRY / 1000);
                failed = 1;
                p->reports_after_ms = now_ms + REPORT_RETRY;
                break;
            }
            made++;
        }
        if ((rc = pv_watchdog_check(p->st, k->psd_id, days, now, p->ctx.server_id, &overdue)) !=
            PV_OK)
            pv_log(PV_LOG_WARNING, "%s: watchdog: %s\n", p->ctx.server_id, pv_strerror(rc));
        else
            k->overdue = overdue;
    }
    if (made == REPORT_LIMIT)
        p->next_report_ms = now_ms; /* more to catch up: on the next tick */
}

/* Heartbeat, lease upkeep and payment recovery, on the writer thread between batches. */
static void tick(struct pv_processor *p)
{
    int64_t now = pv_now_ms();
    int rc, status;

    if (now < p->next_tick_ms)
        return;
    /* Renew well before a lease can run out: at least three ticks per lease. */
    p->next_tick_ms = now + (p->ctx.lease_ms / 3 < TICK_MS ? p->ctx.lease_ms / 3 : TICK_MS);
    rc = pv_processor_tick(p->st, &p->ctx, now, &status);
    if (rc != PV_OK)
        pv_log(PV_LOG_ERROR, "%s: heartbeat: %s\n", p->ctx.server_id, pv_strerror(rc));
    /* A rate table loaded meanwhile is priced with from now on (pricing.h). */
    if ((rc = pv_pricing_refresh(p->st, 0)) != PV_OK)
        pv_log(PV_LOG_ERROR, "%s: rate tables: %s\n", p->ctx.server_id, pv_strerror(rc));
    if (now >= p->next_recover_ms)
        recover(p, now);
    if (now >= p->next_report_ms)
        report_and_watch(p, now);
}

static void *writer(void *arg)
{
    struct pv_processor *p = arg;
    struct pv_job *batch[BATCH_ROOM];
    struct pv_job *deferred = NULL, *deferred_tail = NULL;
    struct timespec until;
    size_t n, i, k, waiting;
    uint64_t retries;
    int rc, ready;

    /* Named, so that `top -H` and bench/run.sh can tell it from the others. */
    prctl(PR_SET_NAME, "stampd-writer", 0, 0, 0);
    for (;;) {
        tick(p);
        pthread_mutex_lock(&p->mu);
        /* Stopping, the writer still waits for the cards being held or settled. */
        while (!p->head && !(ready = pv_cardpay_ready(p->cp)) &&
               (!p->stopping || p->pending_auth > 0 || pv_cardpay_busy(p->cp))) {
            int64_t due = p->next_tick_ms;
            until.tv_sec = (time_t) (due / 1000);
            until.tv_nsec = (long) (due % 1000) * 1000000L;
            if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT)
                break;
        }
        ready = pv_cardpay_ready(p->cp);
        if (!p->head && !ready && p->stopping && p->pending_auth == 0 && !pv_cardpay_busy(p->cp)) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        if (!p->head && !ready) {
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        for (n = 0; n < BATCH_MAX && p->head; n++) {
            batch[n] = p->head;
            p->head = p->head->next;
        }
        if (!p->head)
            p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        /* The card round; the cards whose holds were answered are bought in this batch. */
        if ((k = pv_cardpay_take(p->cp, batch + n, p->res + n, BATCH_ROOM - n)) > 0) {
            pthread_mutex_lock(&p->mu);
            p->pending_auth -= k;
            pthread_mutex_unlock(&p->mu);
            for (i = n; i < n + k; i++)
                batch[i]->pay_stage = PAY_HELD;
        }

        for (i = 0; i < n + k; i++) {
            p->reqs[i] = batch[i]->req;
            /* Zero, what a deferred job carries, or its held card (the round's: its hold's
             * answer, written into it by pv_cardpay_write). */
            p->res[i] = batch[i]->res;
            if (i < n && batch[i]->pay_stage != PAY_HELD)
                pv_purchase_authorize(p->st, &p->ctx, &p->reqs[i], &p->res[i], pv_now_ms() / 1000);
        }
        /* With the card payments' round inside (ctx.in_batch), then acted on. */
        p->ctx.lock_whole = pv_cardpay_round_shared_rows(p->cp);
        n += k;
        retries = p->ctx.late_retries;
        rc = pv_purchase_batch(p->st, &p->ctx, p->reqs, p->res, n, PV_NOW_AT_LOCK);
        if (p->ctx.late_retries != retries)
            pv_metrics_batch_retries(p->ctx.late_retries - retries);
        pv_cardpay_after(p->cp, p->st, rc);
        if (n > 0)
            pv_metrics_batch(n);
        if (!p->cp)
            pv_purchase_settle(p->st, &p->ctx, p->res, n);
        pv_purchase_refill(p->st, &p->ctx, p->reqs, p->res, n);
        waiting = 0;
        for (i = 0; i < n; i++) {
            batch[i]->res = p->res[i];
            if (p->res[i].refill.deferred) {
                /* Run again after its (or another job's) auto-refill, or once its held
                 * card's intent is free (pv_purchase_book_hold), its hold kept. */
                batch[i]->next = NULL;
                if (deferred_tail)
                    deferred_tail->next = batch[i];
                else
                    deferred = batch[i];
                deferred_tail = batch[i];
                waiting += !p->res[i].refill.intent_id[0];
                continue;
            }
            if (batch[i]->pay_stage == PAY_HELD && pv_purchase_res_settles(&p->res[i])) {
                /* Committed: answered, and captured off the writer; else voided off the
                 * writer, then answered (a replay's claimed hold: given up in the batch). */
                batch[i]->pay_stage = PAY_SETTLE;
                pv_cardpay_settle(p->cp, batch[i], rc == PV_OK);
                continue;
            }
            finish(p, batch[i]);
        }
        if (deferred) {
            pthread_mutex_lock(&p->mu);
            deferred_tail->next = p->head;
            p->head = deferred;
            if (!p->tail)
                p->tail = deferred_tail;
            pthread_mutex_unlock(&p->mu);
            deferred = deferred_tail = NULL;
            /* Only jobs waiting for another processor's refill or another transaction's
             * intent row: do not spin. */
            if (waiting == n)
                nanosleep(&(struct timespec){0, 5000000L}, NULL);
        }
    }
    return NULL;
}

/* --sign-threads, or one less than the cores online. */
static unsigned sign_threads(const struct pv_processor_opts *o)
{
    long cores;

    if (o->sign_threads >= 0)
        return (unsigned) o->sign_threads;
    cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores <= 1)
        return 0;
    return cores - 1 > PV_SIGN_THREADS_MAX ? PV_SIGN_THREADS_MAX : (unsigned) (cores - 1);
}

static int open_one(struct pv_processor *p, const struct pv_processor_opts *o, size_t slot)
{
    struct pv_server_rec reg;
    const char *dsn = o->dsn;
    char *spec = NULL;
    size_t i;
    int rc;

    if (o->id)
        pv_str_copy(p->ctx.server_id, sizeof p->ctx.server_id, o->id);
    else
        snprintf(p->ctx.server_id, sizeof p->ctx.server_id, "proc-%zu", slot + 1);
    p->reqs = calloc(BATCH_ROOM, sizeof *p->reqs);
    p->res = calloc(BATCH_ROOM, sizeof *p->res);
    if (!p->reqs || !p->res)
        return PV_ENOMEM;
    if ((rc = pv_store_open_checked(dsn, &p->st)) != PV_OK)
        return rc;
    /* The writer touches every index of every purchase: keep their pages. */
    pv_store_cache(p->st, WRITER_CACHE_BYTES);
    /* Its own part of the shared ledger totals: no other processor's batch waits for it. */
    pv_store_set_part(p->st, pv_store_part_of(p->ctx.server_id));
    if (o->crypto_spec)
        spec = strdup(o->crypto_spec);
    else if ((rc = pv_store_config_get(p->st, PV_CFG_CRYPTO, &spec)) != PV_OK)
        return rc == PV_ENOTFOUND ? PV_ECONFIG : rc;
    if (!spec)
        return PV_ENOMEM;
    rc = pv_crypto_open_pin(spec, o->crypto_pin, &p->cm);
    free(spec);
    if (rc != PV_OK)
        return rc;
    p->ctx.cm = p->cm;
    if ((rc = pv_processor_load(p->st, &p->ctx)) != PV_OK) {
        if (rc == PV_ENOPSD)
            pv_log(PV_LOG_ERROR,
                   "%s: no active PSD is bound to crypto module %s "
                   "(stampd psd add --crypto SPEC makes some)\n",
                   p->ctx.server_id, p->cm->id);
        return rc;
    }
    if (o->lease_ms > 0)
        p->ctx.lease_ms = o->lease_ms;
    if (o->gws)
        p->ctx.gws = *o->gws;
    /* Writers side by side (PostgreSQL): the card payments' end states on a connection of their
     * own, off the writer's backend (cardpay_end.c). */
    if (o->gws && pv_store_writers_parallel(p->st) &&
        (rc = pv_store_open_checked(dsn, &p->sst)) != PV_OK)
        return rc;
    p->recovery_ms = o->recovery_ms > 0 ? o->recovery_ms : PV_INTENT_STALE_MS;
    /* A gateway without asynchronous calls: this many in flight at once (gateway.h). */
    pv_gateway_sync_threads(o->payment_threads ? o->payment_threads : PV_PAYMENT_THREADS_DEFAULT);
    p->no_reports = o->no_reports;
    if ((rc = pv_sign_pool_new(sign_threads(o), &p->signers)) != PV_OK)
        return rc;
    p->ctx.sign_pool = p->signers;

    /* Refuse to start with a key that cannot sign, rather than fail purchases later. */
    for (i = 0; i < p->ctx.npsds; i++) {
        uint8_t sig[64];
        if ((rc = pv_crypto_sign(p->cm, p->ctx.psds[i].key_ref, (const uint8_t *) "probe", 5,
                                 sig)) != PV_OK) {
            pv_log(PV_LOG_ERROR, "%s: PSD %u: key %s: %s\n", p->ctx.server_id,
                   (unsigned) p->ctx.psds[i].psd_id, p->ctx.psds[i].key_ref,
                   rc == PV_ENOTFOUND ? "not in this crypto module" : pv_strerror(rc));
            return rc == PV_ENOTFOUND ? PV_EKEYMODULE : PV_ECRYPTO;
        }
    }
    memset(&reg, 0, sizeof reg);
    pv_str_copy(reg.id, sizeof reg.id, p->ctx.server_id);
    pv_str_copy(reg.address, sizeof reg.address, o->address ? o->address : "inproc");
    pv_str_copy(reg.crypto_module, sizeof reg.crypto_module, p->cm->ops->name);
    pv_str_copy(reg.module_id, sizeof reg.module_id, p->cm->id);
    reg.started_ms = reg.heartbeat_ms = pv_now_ms();
    return pv_store_server_register(p->st, &reg);
}

static int start_one(struct pv_processor *p)
{
    struct pv_cardpay_hooks hooks = {card_held, card_settled, card_wake, p};
    int rc;

    /* Take a share of the leases before the first purchase arrives. */
    tick(p);
    /* The answers first: the card payments' threads finish jobs too. */
    if (pthread_create(&p->answerer, NULL, answerer, p) != 0)
        return PV_EINTERNAL;
    p->answering = 1;
    if ((rc = pv_cardpay_start(&p->ctx, &hooks, &p->cp)) != PV_OK)
        return rc;
    if (p->sst) {
        rc = pv_cardpay_settler(p->cp, p->sst);
        p->sst = NULL; /* taken, even when it failed */
        if (rc != PV_OK)
            return rc;
    }
    p->ctx.in_batch = pv_cardpay_write;
    p->ctx.in_batch_arg = p->cp;
    if (pthread_create(&p->thread, NULL, writer, p) != 0)
        return PV_EINTERNAL;
    p->started = 1;
    return PV_OK;
}

int pv_processors_start(const struct pv_processor_opts *o, struct pv_processor **out)
{
    size_t n = o->n;
    struct pv_processor *procs = calloc(n, sizeof *procs);
    size_t i;
    int rc = PV_OK;

    if (!procs)
        return PV_ENOMEM;
    /* Every processor's lock exists before any can fail, so stop() may use them all. */
    for (i = 0; i < n; i++) {
        pthread_mutex_init(&procs[i].mu, NULL);
        pthread_cond_init(&procs[i].cv, NULL);
        pthread_mutex_init(&procs[i].amu, NULL);
        pthread_cond_init(&procs[i].acv, NULL);
    }
    /* Everyone registers before anyone takes leases, so the first shares are fair. */
    for (i = 0; i < n && rc == PV_OK; i++)
        rc = open_one(&procs[i], o, i);
    for (i = 0; i < n && rc == PV_OK; i++)
        rc = start_one(&procs[i]);
    if (rc != PV_OK) {
        pv_log(PV_LOG_ERROR, "processors: %s\n", pv_strerror(rc));
        pv_processors_stop(procs, n);
        return rc;
    }
    *out = procs;
    return PV_OK;
}

void pv_processors_drain(struct pv_processor *procs, size_t n)
{
    size_t i;

    for (i = 0; procs && i < n; i++) {
        struct pv_processor *p = &procs[i];
        pthread_mutex_lock(&p->mu);
        p->stopping = 1;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (p->started) {
            pthread_join(p->thread, NULL);
            p->started = 0;
        }
        /* The writer is done, and so are the card payments it waited for. */
        pv_cardpay_stop(p->cp);
        p->cp = NULL;
        /* Then every job they finished is answered. */
        if (p->answering) {
            pthread_mutex_lock(&p->amu);
            p->done_stop = 1;
            pthread_cond_signal(&p->acv);
            pthread_mutex_unlock(&p->amu);
            pthread_join(p->answerer, NULL);
            p->answering = 0;
        }
    }
}

void pv_processors_stop(struct pv_processor *procs, size_t n)
{
    size_t i;

    if (!procs)
        return;
    pv_processors_drain(procs, n);
    for (i = 0; i < n; i++) {
        struct pv_processor *p = &procs[i];
        pv_processor_ctx_clear(&p->ctx);
        pv_sign_pool_free(p->signers);
        pv_crypto_close(p->cm);
        pv_store_close(p->st);
        pv_store_close(p->sst);
        free(p->reqs);
        free(p->res);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->amu);
        pthread_cond_destroy(&p->acv);
    }
    free(procs);
}

int pv_processor_enqueue(struct pv_processor *procs, size_t i, struct pv_job *job)
{
    struct pv_processor *p = &procs[i];

    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        pthread_mutex_unlock(&p->mu);
        return PV_EBUSY;
    }
    job->pay_stage = PAY_NONE;
    if (job->req.pay.method == PV_PAY_CARD && p->cp) {
        /* The card is held first (cardpay.c, the writer's next round), then bought in a batch. */
        job->pay_stage = PAY_AUTHORIZE;
        p->pending_auth++;
        pthread_mutex_unlock(&p->mu);
        if (pv_cardpay_hold(p->cp, job) == PV_OK)
            return PV_OK;
        pthread_mutex_lock(&p->mu); /* no memory for it: the writer holds it */
        p->pending_auth--;
        job->pay_stage = PAY_NONE;
    }
    writer_push(p, job);
    pthread_mutex_unlock(&p->mu);
    return PV_OK;
}

const char *pv_processor_id(struct pv_processor *procs, size_t i)
{
    return procs[i].ctx.server_id;
}

uint64_t pv_processor_served(struct pv_processor *procs, size_t i)
{
    return atomic_load(&procs[i].served);
}
