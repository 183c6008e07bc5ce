/*
 * ratelimit.c - slow down, then refuse, sources that keep failing to
 * authenticate, or that spend a budget of costly attempts (sign-ups)
 * (ratelimit.h). A fixed open-addressing table of sources under
 * one mutex: a flood of new addresses recycles the stalest slots instead of
 * growing memory.
 */
#include "server/ratelimit.h"

#include "stampd/codec.h"
#include "stampd/error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4096
#define PROBE 8

struct slot {
    char source[48]; /* "" = free */
    int failures;
    int64_t first_ms; /* first failure of the current window */
    int64_t last_ms;  /* latest failure */
};

struct pv_ratelimit {
    pthread_mutex_t mu;
    int free_n, lock_n; /* failures before waiting, and before lockout */
    int64_t window_ms, lockout_ms;
    struct slot slots[SLOTS];
    uint64_t lockouts; /* sources that reached lock_n (GET /metrics) */
};

static int make(int free_n, int lock_n, int64_t window_s, int64_t lockout_s,
                struct pv_ratelimit **out)
{
    struct pv_ratelimit *rl = calloc(1, sizeof *rl);

    *out = NULL;
    if (!rl)
        return PV_ENOMEM;
    pthread_mutex_init(&rl->mu, NULL);
    rl->free_n = free_n;
    rl->lock_n = lock_n;
    rl->window_ms = window_s * 1000;
    rl->lockout_ms = lockout_s * 1000;
    *out = rl;
    return PV_OK;
}

int pv_ratelimit_new(int64_t lockout_s, struct pv_ratelimit **out)
{
    return make(PV_RL_FREE, PV_RL_LOCK, PV_RL_WINDOW_S, lockout_s, out);
}

int pv_ratelimit_new_budget(int budget, int64_t window_s, struct pv_ratelimit **out)
{
    if (budget < 1 || window_s < 1) {
        *out = NULL;
        return PV_EINVAL;
    }
    /* No slowing down: budget attempts, then refused for a window. */
    return make(budget, budget, window_s, window_s, out);
}

void pv_ratelimit_free(struct pv_ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

/* The source's slot, or (create) a free or the stalest slot in its probe run. */
static struct slot *find(struct pv_ratelimit *rl, const char *source, int create, int64_t now_ms)
{
    size_t h = (size_t) pv_fnv1a64(source), i;
    struct slot *s, *victim = NULL;

    for (i = 0; i < PROBE; i++) {
        s = &rl->slots[(h + i) % SLOTS];
        if (strcmp(s->source, source) == 0) {
            if (now_ms - s->first_ms > rl->window_ms && now_ms - s->last_ms > rl->lockout_ms) {
                s->failures = 0; /* the window passed: start again */
                s->first_ms = now_ms;
            }
            return s;
        }
        if (!victim || !s->source[0] || (victim->source[0] && s->last_ms < victim->last_ms))
            victim = s;
    }
    if (!create)
        return NULL;
    memset(victim, 0, sizeof *victim);
    strncpy(victim->source, source, sizeof victim->source - 1);
    victim->first_ms = now_ms;
    return victim;
}

/* Until when the slot's source must wait (ms); 0 or past: it may try now. */
static int64_t wait_until(const struct pv_ratelimit *rl, const struct slot *s)
{
    if (s->failures >= rl->lock_n)
        return s->last_ms + rl->lockout_ms;
    if (s->failures >= rl->free_n)
        return s->last_ms + (1000LL << (s->failures - rl->free_n));
    return 0;
}

/* Check source; when it may try and count is set, count the try as failed. */
static int attempt(struct pv_ratelimit *rl, const char *source, int64_t now_ms, int count,
                   int *retry_after)
{
    struct slot *s;
    int64_t until = 0;

    *retry_after = 0;
    if (!rl || !source)
        return PV_OK;
    pthread_mutex_lock(&rl->mu);
    s = find(rl, source, count, now_ms);
    if (s)
        until = wait_until(rl, s);
    if (s && count && until <= now_ms) {
        if (s->failures < rl->lock_n && ++s->failures == rl->lock_n)
            rl->lockouts++;
        s->last_ms = now_ms;
    }
    pthread_mutex_unlock(&rl->mu);
    if (until <= now_ms)
        return PV_OK;
    *retry_after = (int) ((until - now_ms + 999) / 1000);
    return PV_ERATELIMIT;
}

int pv_ratelimit_check(struct pv_ratelimit *rl, const char *source, int64_t now_ms,
                       int *retry_after)
{
    return attempt(rl, source, now_ms, 0, retry_after);
}

void pv_ratelimit_fail(struct pv_ratelimit *rl, const char *source, int64_t now_ms)
{
    struct slot *s;

    if (!rl || !source)
        return;
    pthread_mutex_lock(&rl->mu);
    s = find(rl, source, 1, now_ms);
    if (s->failures < rl->lock_n && ++s->failures == rl->lock_n)
        rl->lockouts++;
    s->last_ms = now_ms;
    pthread_mutex_unlock(&rl->mu);
}

int pv_ratelimit_reserve(struct pv_ratelimit *rl, const char *source, int64_t now_ms,
                         int *retry_after)
{
    /* Counted as failed until it is known not to be (pv_ratelimit_release). */
    return attempt(rl, source, now_ms, 1, retry_after);
}

void pv_ratelimit_release(struct pv_ratelimit *rl, const char *source, int64_t now_ms)
{
    struct slot *s;

    if (!rl || !source)
        return;
    pthread_mutex_lock(&rl->mu);
    s = find(rl, source, 0, now_ms);
    if (s && s->failures > 0) {
        if (s->failures == rl->lock_n && rl->lockouts > 0)
            rl->lockouts--; /* the attempt that locked it out succeeded after all */
        s->failures--;
    }
    pthread_mutex_unlock(&rl->mu);
}

uint64_t pv_ratelimit_lockouts(struct pv_ratelimit *rl)
{
    uint64_t n;

    if (!rl)
        return 0;
    pthread_mutex_lock(&rl->mu);
    n = rl->lockouts;
    pthread_mutex_unlock(&rl->mu);
    return n;
}
