/*
 * wgate.c - the writers' gate (wgate.h): a mutex, a condition on a monotonic
 * clock (a wall-clock jump neither stalls nor rushes waiters) and a count of
 * the waiters that go first.
 */
#include "store/wgate.h"

#include <errno.h>
#include <time.h>

int pv_wgate_init(struct pv_wgate *g)
{
    pthread_condattr_t ca;
    int ok;

    g->held = g->first = g->waiting = 0;
    if (pthread_mutex_init(&g->mu, NULL) != 0)
        return -1;
    ok = pthread_condattr_init(&ca) == 0;
    if (ok) {
        ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&g->cv, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (!ok) {
        pthread_mutex_destroy(&g->mu);
        return -1;
    }
    return 0;
}

void pv_wgate_destroy(struct pv_wgate *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

int pv_wgate_enter(struct pv_wgate *g, int first, int timeout_ms)
{
    struct timespec until;
    int e = 0;

    first = first != 0;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&g->mu);
    g->first += first;
    g->waiting++;
    while ((g->held || (!first && g->first)) && e == 0)
        e = pthread_cond_timedwait(&g->cv, &g->mu, &until);
    g->waiting--;
    g->first -= first;
    if (!g->held && (first || !g->first)) {
        g->held = 1;
        e = 0;
    } else {
        e = e ? e : ETIMEDOUT;
        /* A safeguard: a first waiter gives up only while the gate is held, and its
         * holder's leave wakes the writers that waited behind it anyway. */
        if (first && !g->first)
            pthread_cond_broadcast(&g->cv);
    }
    pthread_mutex_unlock(&g->mu);
    return e;
}

void pv_wgate_leave(struct pv_wgate *g)
{
    pthread_mutex_lock(&g->mu);
    g->held = 0;
    /* One waiter is enough, unless a first one waits among writers that would take the
     * signal and wait on. */
    if (g->first)
        pthread_cond_broadcast(&g->cv);
    else
        pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

int pv_wgate_waiting(struct pv_wgate *g)
{
    int n;

    pthread_mutex_lock(&g->mu);
    n = g->waiting;
    pthread_mutex_unlock(&g->mu);
    return n;
}
