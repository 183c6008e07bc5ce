/*
 * dispatch.c - the front dispatcher (docs/internals/dispatch.md).
 *
 * A purchase job goes to a processor through one of two transports behind
 * the same two calls: in-process (pv_processor_enqueue: stampd serve and
 * stampd processor) or HTTP (pv_router_submit: stampd front, a signed POST
 * to a processor process). Both call job->on_reply with the processor's
 * answer, and this file alone decides what happens next - one policy:
 *
 * - Only what left nothing written may go elsewhere: PV_ENOPSD (the
 *   processor holds no PSD lease) and PV_EBUSY (stopping, or - over HTTP -
 *   unreachable, timed out or 5xx before it took the job). The same
 *   request keeps its idempotency key, so a retry can never stamp twice.
 * - PV_ECRYPTO (a processor's crypto module failed to sign: a token gone or
 *   broken) wrote nothing either (the job's savepoint is rolled back, its
 *   card hold voided): another processor, with another module, may sign.
 *   Like PV_EDEPOSIT below it goes to the others of the round and is the
 *   answer only when none of them sold the piece.
 * - PV_EDEPOSIT (postal_deposit_insufficient) also wrote nothing: neither
 *   that processor's PSDs nor the deposit could cover the piece, but another
 *   processor's PSDs may (docs/internals/leases.md, "Reset sizing"). It goes
 *   to the others of the round and is the answer only when none of them
 *   sold it; no further round waits for a deposit nobody can credit.
 * - PV_ERESETLOCK (resets_locked: the postal authority locked resets and
 *   that processor's PSDs cannot cover the piece) likewise wrote nothing and
 *   goes to the others of the round, whose PSDs may still hold enough.
 * - The next processor is the next of the round, round-robin from a ticket
 *   drawn when the round starts; a round tries each processor once.
 * - After a round in which nobody took the job, the HTTP transport waits a
 *   little (25 ms, doubling to 400 ms) and starts another, for up to
 *   PATIENCE_MS: while leases move between processor processes every one
 *   may be without a PSD for a moment. In-process processors share one
 *   lease table and one life, so they get no patience: one round.
 */
#include "server/dispatch.h"

#include "server/processor.h"
#include "server/router.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdatomic.h>

#define PATIENCE_MS 8000 /* how long a purchase may wait for some processor to take it */
#define PAUSE_MS    25   /* the first pause between rounds */
#define PAUSE_MAX   400

struct transport {
    /* Send job to processor pv_job_target(job, n) of its n: PV_OK, then
     * job->on_reply runs; else nothing was sent. */
    int (*send)(struct pv_app *app, struct pv_job *job);
    int64_t patience_ms;
};

static int send_inproc(struct pv_app *app, struct pv_job *job)
{
    if (app->nprocs == 0)
        return PV_EBUSY;
    return pv_processor_enqueue(app->procs, pv_job_target(job, app->nprocs), job);
}

/* The router picks the target itself, when it posts: its list is the servers table's. */
static int send_http(struct pv_app *app, struct pv_job *job)
{
    return pv_router_submit(app->router, job);
}

static const struct transport inproc = {send_inproc, 0};
static const struct transport http = {send_http, PATIENCE_MS};

static const struct transport *transport_of(const struct pv_app *app)
{
    return app->router ? &http : &inproc;
}

/* Nothing was written for these: the same request may go elsewhere. */
static int retryable(int err)
{
    return err == PV_ENOPSD || err == PV_EBUSY || err == PV_EDEPOSIT || err == PV_ECRYPTO ||
           err == PV_ERESETLOCK;
}

static void new_round(struct pv_app *app, struct pv_job *job)
{
    job->start = atomic_fetch_add(&app->next_proc, 1);
    job->attempts = 0;
}

/* On a transport's thread: one processor answered (or could not be reached). */
static void on_reply(struct pv_job *job)
{
    struct pv_app *app = job->app;
    const struct transport *t = transport_of(app);
    int64_t now;

    if (job->res.err == PV_EDEPOSIT)
        job->deposit_short = 1;
    else if (job->res.err == PV_ECRYPTO)
        job->crypto_failed = 1;
    else if (job->res.err == PV_ERESETLOCK)
        job->resets_locked = 1;
    if (!retryable(job->res.err))
        goto done;
    if (job->attempts >= job->round_n) {
        if (job->resets_locked) {
            /* Every processor was asked: no PSD holds enough and none may be reset. */
            job->res.err = PV_ERESETLOCK;
            goto done;
        }
        if (job->deposit_short) {
            /* Every processor was asked: the deposit and all PSDs fall short. */
            job->res.err = PV_EDEPOSIT;
            goto done;
        }
        if (job->crypto_failed) {
            /* Every processor was asked and none could sign: say so now. */
            job->res.err = PV_ECRYPTO;
            goto done;
        }
        /* Everybody was asked this round: another one, if patience allows. */
        now = pv_now_ms();
        if (now + job->pause_ms > job->deadline_ms)
            goto done;
        new_round(app, job);
        job->not_before_ms = now + job->pause_ms;
        job->pause_ms = job->pause_ms * 2 > PAUSE_MAX ? PAUSE_MAX : job->pause_ms * 2;
    }
    if (t->send(app, job) == PV_OK)
        return;
done:
    /* Final: this answer (or the last processor's, when nobody took the retry). */
    job->on_done(job);
}

int pv_dispatch_submit(struct pv_app *app, struct pv_job *job)
{
    const struct transport *t = transport_of(app);

    job->app = app;
    job->on_reply = on_reply;
    job->tries = 0;
    job->round_n = 0;
    job->not_before_ms = 0;
    job->pause_ms = PAUSE_MS;
    job->deposit_short = 0;
    job->crypto_failed = 0;
    job->resets_locked = 0;
    job->deadline_ms = pv_now_ms() + t->patience_ms;
    new_round(app, job);
    return t->send(app, job);
}
