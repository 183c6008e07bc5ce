/*
 * pool.c - a small pool of store handles for the HTTP worker threads.
 *
 * A store handle is one connection used by one thread at a time; workers
 * borrow one per request and give it back. Handles are opened on demand
 * up to max; a worker that finds the pool empty and the limit reached
 * waits for a handle to come back.
 */
#include "server/pool.h"

#include "stampd/error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct pv_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *dsn;
    struct pv_store **free_list;
    size_t nfree, open, max;
};

int pv_pool_new(const char *dsn, size_t max, struct pv_pool **out)
{
    struct pv_pool *p = calloc(1, sizeof *p);

    if (!p)
        return PV_ENOMEM;
    p->dsn = strdup(dsn);
    p->free_list = calloc(max, sizeof *p->free_list);
    if (!p->dsn || !p->free_list) {
        free(p->dsn);
        free(p->free_list);
        free(p);
        return PV_ENOMEM;
    }
    p->max = max;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    *out = p;
    return PV_OK;
}

void pv_pool_free(struct pv_pool *p)
{
    size_t i;

    if (!p)
        return;
    for (i = 0; i < p->nfree; i++)
        pv_store_close(p->free_list[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->free_list);
    free(p->dsn);
    free(p);
}

int pv_pool_get(struct pv_pool *p, struct pv_store **st)
{
    int rc;

    pthread_mutex_lock(&p->mu);
    while (p->nfree == 0 && p->open >= p->max)
        pthread_cond_wait(&p->cv, &p->mu);
    if (p->nfree > 0) {
        *st = p->free_list[--p->nfree];
        pthread_mutex_unlock(&p->mu);
        return PV_OK;
    }
    p->open++;
    pthread_mutex_unlock(&p->mu);

    rc = pv_store_open(p->dsn, st);
    if (rc != PV_OK) {
        pthread_mutex_lock(&p->mu);
        p->open--;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    return rc;
}

void pv_pool_put(struct pv_pool *p, struct pv_store *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&p->mu);
    p->free_list[p->nfree++] = st;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}
