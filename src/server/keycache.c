/*
 * keycache.c - keycache.h: one mutex over a table of PV_KEYCACHE_SLOTS
 * slots in sets of four (a key's hash picks its set; a new key takes an
 * empty or stale slot of it, else its oldest), a generation count that
 * every change bumps, and the watching thread that bumps it.
 */
#include "server/keycache.h"

#include "domain/account.h"
#include "server/metrics.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"
#include "stampd/log.h"
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct slot {
    uint64_t gen; /* the generation it was read in; 0: empty */
    int64_t at;   /* when it was read (monotonic ms) */
    char hash[PV_HASH_HEX];
    struct pv_principal who;
};

struct pv_keycache {
    pthread_mutex_t mu;
    uint64_t gen; /* under mu; starts at 1 */
    struct slot slots[PV_KEYCACHE_SLOTS];
    _Atomic int64_t trusted_until; /* monotonic ms; 0: not trusted */
    void (*between)(void *);       /* the tests': run between a store read and its keeping */
    void *between_arg;
    /* The watching thread (none for an unwatched cache). */
    char *dsn;
    struct pv_watch *watch; /* the thread's */
    pthread_t thread;
    int running;
    atomic_int stop;
};

/* The first slot of a key's set: its hash's first 8 hex digits (a SHA-256:
 * uniform) pick one of PV_KEYCACHE_SLOTS / WAYS sets of WAYS slots. */
#define WAYS 4
static size_t set_of(const char hash[PV_HASH_HEX])
{
    uint32_t v = 0;
    int i;

    for (i = 0; i < 8; i++) {
        char c = hash[i];
        v = (v << 4) | (uint32_t) (c >= 'a' ? c - 'a' + 10 : c >= 'A' ? c - 'A' + 10 : c - '0');
    }
    return (v % (PV_KEYCACHE_SLOTS / WAYS)) * WAYS;
}

/* Under mu: the slot of the set at first that holds hash now, or NULL. */
static struct slot *find(struct pv_keycache *kc, size_t first, const char *hash, int64_t now)
{
    struct slot *s;
    size_t i;

    for (i = 0; i < WAYS; i++) {
        s = &kc->slots[first + i];
        if (s->gen == kc->gen && now - s->at < PV_KEYCACHE_AGE_MS &&
            memcmp(s->hash, hash, PV_HASH_HEX) == 0)
            return s;
    }
    return NULL;
}

/* Under mu: where a key read now goes: an empty or stale slot of its set, else its oldest. */
static struct slot *victim(struct pv_keycache *kc, size_t first)
{
    struct slot *s, *old = &kc->slots[first];
    size_t i;

    for (i = 0; i < WAYS; i++) {
        s = &kc->slots[first + i];
        if (s->gen != kc->gen)
            return s;
        if (s->at < old->at)
            old = s;
    }
    return old;
}

void pv_keycache_forget(struct pv_keycache *kc)
{
    if (!kc)
        return;
    pthread_mutex_lock(&kc->mu);
    kc->gen++;
    pthread_mutex_unlock(&kc->mu);
}

void pv_keycache_vouch(struct pv_keycache *kc, int64_t now_ms)
{
    if (kc)
        atomic_store(&kc->trusted_until, now_ms + PV_KEYCACHE_TRUST_MS);
}

int pv_keycache_on(struct pv_keycache *kc)
{
    return kc && pv_mono_ms() < atomic_load(&kc->trusted_until);
}

void pv_keycache_between(struct pv_keycache *kc, void (*fn)(void *), void *arg)
{
    kc->between = fn;
    kc->between_arg = arg;
}

/* The watch is gone: trust nothing, and nothing read so far. */
static void distrust(struct pv_keycache *kc)
{
    atomic_store(&kc->trusted_until, 0);
    pv_keycache_forget(kc);
}

int pv_keycache_lookup(struct pv_keycache *kc, struct pv_store *st, const char *key,
                       struct pv_principal *who)
{
    char hash[PV_HASH_HEX];
    struct slot *s;
    uint64_t gen = 0;
    int64_t now;
    size_t first;
    int rc, trusted;

    if (!kc)
        return pv_apikey_lookup(st, key, who);
    memset(who, 0, sizeof *who);
    if ((rc = pv_apikey_hash(key, hash)) != PV_OK)
        return rc;
    now = pv_mono_ms();
    trusted = now < atomic_load(&kc->trusted_until);
    first = set_of(hash);
    if (trusted) {
        pthread_mutex_lock(&kc->mu);
        if ((s = find(kc, first, hash, now)) != NULL) {
            *who = s->who;
            pthread_mutex_unlock(&kc->mu);
            pv_metrics_apikey(1);
            return PV_OK;
        }
        gen = kc->gen; /* read before the store: a change after it bumps it */
        pthread_mutex_unlock(&kc->mu);
    }
    rc = pv_store_apikey_lookup(st, hash, who);
    if (kc->between)
        kc->between(kc->between_arg);
    if (rc == PV_OK && trusted) {
        pthread_mutex_lock(&kc->mu);
        if (kc->gen == gen && !find(kc, first, hash, now)) {
            s = victim(kc, first);
            s->gen = gen;
            s->at = now;
            memcpy(s->hash, hash, sizeof hash);
            s->who = *who;
        }
        pthread_mutex_unlock(&kc->mu);
    }
    if (trusted)
        pv_metrics_apikey(0);
    return rc;
}

/*
 * The watching thread: a watch, waits of PV_KEYCACHE_WAIT_MS each (a
 * notification forgets everything; a wait that proved the connection alive
 * extends the trust), and on a lost connection no trust and a new watch a
 * second later. A new watch forgets everything too: changes before it were
 * not heard.
 */
static void *watch_main(void *arg)
{
    struct pv_keycache *kc = arg;
    int64_t t0;
    int rc, down = 0, i;

    while (!atomic_load(&kc->stop)) {
        if (!kc->watch) {
            rc = pv_watch_open(kc->dsn, PV_WATCH_API_KEYS, &kc->watch);
            if (rc != PV_OK) {
                if (!down)
                    pv_log(PV_LOG_WARNING,
                           "API-key cache off: cannot watch the database (%s); "
                           "every key is looked up\n",
                           pv_strerror(rc));
                down = 1;
                for (i = 0; i < 4 && !atomic_load(&kc->stop); i++) {
                    struct timespec ts = {0, 250 * 1000000L};
                    nanosleep(&ts, NULL);
                }
                continue;
            }
            if (down)
                pv_log(PV_LOG_INFO, "API-key cache on: watching the database again\n");
            down = 0;
            pv_keycache_forget(kc);
        }
        t0 = pv_mono_ms(); /* what a wait proves, it proves after its start */
        rc = pv_watch_wait(kc->watch, PV_KEYCACHE_WAIT_MS);
        if (rc < 0) {
            distrust(kc);
            pv_watch_close(kc->watch);
            kc->watch = NULL;
            pv_log(PV_LOG_WARNING, "API-key cache off: the database watch was lost; "
                                   "reconnecting\n");
            down = 1;
            continue;
        }
        if (rc == 1)
            pv_keycache_forget(kc);
        pv_keycache_vouch(kc, t0);
    }
    distrust(kc);
    pv_watch_close(kc->watch);
    kc->watch = NULL;
    return NULL;
}

static int cache_new(struct pv_keycache **out)
{
    struct pv_keycache *kc = calloc(1, sizeof *kc);

    if (!kc)
        return PV_ENOMEM;
    if (pthread_mutex_init(&kc->mu, NULL) != 0) {
        free(kc);
        return PV_EINTERNAL;
    }
    kc->gen = 1;
    atomic_init(&kc->trusted_until, 0);
    atomic_init(&kc->stop, 0);
    *out = kc;
    return PV_OK;
}

int pv_keycache_new_unwatched(struct pv_keycache **out)
{
    *out = NULL;
    return cache_new(out);
}

int pv_keycache_start(const char *dsn, struct pv_keycache **out)
{
    struct pv_keycache *kc;
    struct pv_watch *w = NULL;
    int rc;

    *out = NULL;
    (void) pv_watch_open(dsn, PV_WATCH_API_KEYS, &w); /* the thread retries */
    if ((rc = cache_new(&kc)) != PV_OK) {
        pv_watch_close(w);
        return rc;
    }
    kc->watch = w; /* NULL when the database is not there yet */
    if (!(kc->dsn = strdup(dsn))) {
        pv_keycache_stop(kc);
        return PV_ENOMEM;
    }
    if (pthread_create(&kc->thread, NULL, watch_main, kc) != 0) {
        pv_keycache_stop(kc);
        return PV_EINTERNAL;
    }
    kc->running = 1;
    *out = kc;
    return PV_OK;
}

void pv_keycache_stop(struct pv_keycache *kc)
{
    if (!kc)
        return;
    atomic_store(&kc->stop, 1);
    if (kc->running)
        pthread_join(kc->thread, NULL);
    pv_watch_close(kc->watch);
    pthread_mutex_destroy(&kc->mu);
    free(kc->dsn);
    free(kc);
}
