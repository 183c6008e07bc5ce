/*
 * signpool.c - a batch's signatures on several threads (signpool.h).
 *
 * One run at a time: pv_sign_pool_start publishes the batch under the pool's
 * mutex with a new generation number and wakes the threads; every thread
 * takes the next unsigned request by an atomic counter until none is left,
 * and so does the caller once it calls pv_sign_pool_finish, which then waits
 * until the requests taken by the others are done (pv_sign_pool_run is the
 * two at once). A thread that wakes late finds nothing left
 * and goes back to sleep; the batch stays the caller's, so nothing outlives
 * the run.
 */
#include "crypto/signpool.h"

#include "crypto/crypto.h"
#include "stampd/error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/prctl.h>

struct pv_sign_pool {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a new batch, or stop */
    pthread_cond_t done; /* the last request of a batch is made */
    unsigned long gen;   /* batches published; under mu */
    int stop;
    /* The batch of the current generation (under mu; read by the threads
     * that joined it, which the caller waits for). */
    struct pv_crypto *cm;
    struct pv_sign_req *reqs;
    size_t n;
    atomic_size_t next; /* the next request to take */
    size_t left;        /* requests not yet made; under mu */
    unsigned busy;      /* threads inside the current batch; under mu */
    unsigned nthreads;
    pthread_t threads[];
};

/* Take and sign requests until none is left; returns how many this thread made. */
static size_t drain(struct pv_sign_pool *p, struct pv_crypto *cm, struct pv_sign_req *reqs,
                    size_t n)
{
    size_t i, made = 0;

    while ((i = atomic_fetch_add(&p->next, 1)) < n) {
        reqs[i].rc = pv_crypto_sign(cm, reqs[i].key_ref, reqs[i].msg, reqs[i].len, reqs[i].sig);
        made++;
    }
    return made;
}

static void *worker(void *arg)
{
    struct pv_sign_pool *p = arg;
    unsigned long seen = 0;
    struct pv_crypto *cm;
    struct pv_sign_req *reqs;
    size_t n, made;

    prctl(PR_SET_NAME, "stampd-sign", 0, 0, 0); /* for `top -H` */
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == seen && !p->stop)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop)
            break;
        seen = p->gen;
        if (p->left == 0)
            continue; /* woke after the batch was finished */
        cm = p->cm;
        reqs = p->reqs;
        n = p->n;
        p->busy++;
        pthread_mutex_unlock(&p->mu);
        made = drain(p, cm, reqs, n);
        pthread_mutex_lock(&p->mu);
        p->busy--;
        p->left -= made;
        if (p->left == 0 || p->busy == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int pv_sign_pool_new(unsigned threads, struct pv_sign_pool **out)
{
    struct pv_sign_pool *p;
    unsigned i;

    if (!out || threads > 256)
        return PV_EINVAL;
    *out = NULL;
    p = calloc(1, sizeof *p + threads * sizeof p->threads[0]);
    if (!p)
        return PV_ENOMEM;
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        goto fail_mu;
    if (pthread_cond_init(&p->work, NULL) != 0)
        goto fail_work;
    if (pthread_cond_init(&p->done, NULL) != 0)
        goto fail_done;
    atomic_init(&p->next, 0);
    for (i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
            break;
        p->nthreads++;
    }
    if (p->nthreads < threads) {
        pv_sign_pool_free(p);
        return PV_EINTERNAL;
    }
    *out = p;
    return PV_OK;

fail_done:
    pthread_cond_destroy(&p->work);
fail_work:
    pthread_mutex_destroy(&p->mu);
fail_mu:
    free(p);
    return PV_ENOMEM;
}

void pv_sign_pool_free(struct pv_sign_pool *p)
{
    unsigned i;

    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

unsigned pv_sign_pool_threads(const struct pv_sign_pool *p)
{
    return p ? p->nthreads : 0;
}

/* With threads and two requests or more, the run is the pool's (start published it). */
static int pooled(const struct pv_sign_pool *p, size_t n)
{
    return p && p->nthreads > 0 && n >= 2;
}

void pv_sign_pool_start(struct pv_sign_pool *p, struct pv_crypto *cm, struct pv_sign_req *reqs,
                        size_t n)
{
    if (!pooled(p, n))
        return; /* finish signs them */
    pthread_mutex_lock(&p->mu);
    p->cm = cm;
    p->reqs = reqs;
    p->n = n;
    p->left = n;
    atomic_store(&p->next, 0);
    p->gen++;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
}

void pv_sign_pool_finish(struct pv_sign_pool *p, struct pv_crypto *cm, struct pv_sign_req *reqs,
                         size_t n)
{
    size_t i, made;

    if (!pooled(p, n)) {
        for (i = 0; i < n; i++)
            reqs[i].rc = pv_crypto_sign(cm, reqs[i].key_ref, reqs[i].msg, reqs[i].len, reqs[i].sig);
        return;
    }
    made = drain(p, cm, reqs, n);

    pthread_mutex_lock(&p->mu);
    p->left -= made;
    /* Every request is taken; wait for those still being signed, and for
     * every thread to leave the batch before reqs goes back to the caller. */
    while (p->left > 0 || p->busy > 0)
        pthread_cond_wait(&p->done, &p->mu);
    p->reqs = NULL;
    p->n = 0;
    pthread_mutex_unlock(&p->mu);
}

void pv_sign_pool_cancel(struct pv_sign_pool *p, size_t n)
{
    size_t taken;

    if (!pooled(p, n))
        return; /* start published nothing */
    pthread_mutex_lock(&p->mu);
    taken = atomic_exchange(&p->next, n); /* nobody takes one more */
    p->left -= n - (taken < n ? taken : n);
    while (p->left > 0 || p->busy > 0)
        pthread_cond_wait(&p->done, &p->mu);
    p->reqs = NULL;
    p->n = 0;
    pthread_mutex_unlock(&p->mu);
}

void pv_sign_pool_run(struct pv_sign_pool *p, struct pv_crypto *cm, struct pv_sign_req *reqs,
                      size_t n)
{
    pv_sign_pool_start(p, cm, reqs, n);
    pv_sign_pool_finish(p, cm, reqs, n);
}
