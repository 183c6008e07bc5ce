/*
 * oom.c - the counting allocator behind oom.h: the __wrap_ functions the
 * linker sends stampd's malloc, calloc, realloc, strdup, strndup and free
 * calls to (-Wl,--wrap=...), the jansson and SQLite allocator tables that
 * lead to the same counter, and oom_loop.
 *
 * Counting is off until oom_start, so set-up code allocates normally. The
 * live set is an open-addressing table of the blocks handed out while
 * counting; a free of a block that is not in it (allocated before
 * oom_start, or inside a library) only frees it. One mutex guards the lot:
 * a test may run the store's or the gateway's threads.
 */
#include "oom.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stampd/error.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
void __wrap_free(void *p);

#define SLOTS (1u << 18)
#define TOMB  ((void *) 1)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int counting, paused, sticky_fail, failed;
static long seen, fail_at, live;
static void *set[SLOTS];
static size_t sizes[SLOTS];

static size_t slot_of(const void *p)
{
    uintptr_t h = (uintptr_t) p;

    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15u;
    return (size_t) (h >> 7) & (SLOTS - 1);
}

/* Caller holds mu. */
static void set_add(void *p, size_t n)
{
    size_t i = slot_of(p), k;

    for (k = 0; k < SLOTS; k++, i = (i + 1) & (SLOTS - 1)) {
        if (set[i] == NULL || set[i] == TOMB) {
            set[i] = p;
            sizes[i] = n;
            live++;
            return;
        }
    }
    fprintf(stderr, "oom: live set full\n");
    abort();
}

/* Caller holds mu. Whether p was in the set (it is removed). */
static int set_del(const void *p)
{
    size_t i = slot_of(p), k;

    for (k = 0; k < SLOTS && set[i] != NULL; k++, i = (i + 1) & (SLOTS - 1)) {
        if (set[i] == p) {
            set[i] = TOMB;
            live--;
            return 1;
        }
    }
    return 0;
}

/* Counts one allocation; whether it must fail. */
static int should_fail(void)
{
    int f = 0;

    pthread_mutex_lock(&mu);
    if (counting && !paused) {
        seen++;
        if (fail_at > 0 && (seen == fail_at || (sticky_fail && seen > fail_at))) {
            f = 1;
            failed = 1;
        }
    }
    pthread_mutex_unlock(&mu);
    return f;
}

static void track(void *p, size_t n)
{
    if (!p)
        return;
    pthread_mutex_lock(&mu);
    if (counting && !paused)
        set_add(p, n);
    pthread_mutex_unlock(&mu);
}

static void untrack(const void *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&mu);
    set_del(p);
    pthread_mutex_unlock(&mu);
}

void *__wrap_malloc(size_t n)
{
    void *p;

    if (should_fail())
        return NULL;
    p = __real_malloc(n);
    track(p, n);
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    void *p;

    if (should_fail())
        return NULL;
    p = __real_calloc(n, size);
    track(p, n * size);
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    void *q;

    /* A failed realloc leaves p as it was, which is the case to test. */
    if (should_fail())
        return NULL;
    q = __real_realloc(p, n);
    if (q) {
        untrack(p);
        track(q, n);
    }
    return q;
}

char *__wrap_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = __wrap_malloc(n);

    if (p)
        memcpy(p, s, n);
    return p;
}

char *__wrap_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = __wrap_malloc(len + 1);

    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

void __wrap_free(void *p)
{
    untrack(p);
    __real_free(p);
}

/* SQLite's allocator: counted, and failed when its turn comes, but not
 * tracked, since SQLite keeps its page cache and statements from one
 * operation to the next. SQLite needs each block's size, kept in a header
 * of 16 bytes so that the block stays 8-byte aligned. */
static void *sq_malloc(int n)
{
    size_t *p;

    if (should_fail() || !(p = __real_malloc((size_t) n + 16)))
        return NULL;
    *p = (size_t) n;
    return (char *) p + 16;
}

static void sq_free(void *p)
{
    if (p)
        __real_free((char *) p - 16);
}

static void *sq_realloc(void *p, int n)
{
    size_t *q;

    if (!p)
        return sq_malloc(n);
    if (should_fail() || !(q = __real_realloc((char *) p - 16, (size_t) n + 16)))
        return NULL;
    *q = (size_t) n;
    return (char *) q + 16;
}

static int sq_size(void *p)
{
    return p ? (int) *(size_t *) ((char *) p - 16) : 0;
}

static int sq_roundup(int n)
{
    return (n + 7) & ~7;
}

static int sq_init(void *unused)
{
    return SQLITE_OK;
}

static void sq_shutdown(void *unused)
{
}

static const sqlite3_mem_methods sq_methods = {
    sq_malloc, sq_free, sq_realloc, sq_size, sq_roundup, sq_init, sq_shutdown, NULL,
};

static void *json_malloc(size_t n)
{
    return __wrap_malloc(n);
}

static void json_free(void *p)
{
    __wrap_free(p);
}

void oom_init(int sqlite)
{
    json_set_alloc_funcs(json_malloc, json_free);
    if (sqlite) {
        /* No lookaside: its slots would hide allocations from the count. */
        if (sqlite3_config(SQLITE_CONFIG_MALLOC, &sq_methods) != SQLITE_OK ||
            sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0) != SQLITE_OK) {
            fprintf(stderr, "oom: sqlite3_config failed (SQLite already in use?)\n");
            abort();
        }
    }
}

void oom_start(long n, int sticky)
{
    pthread_mutex_lock(&mu);
    memset(set, 0, sizeof set);
    live = 0;
    seen = 0;
    failed = 0;
    fail_at = n;
    sticky_fail = sticky;
    paused = 0;
    counting = 1;
    pthread_mutex_unlock(&mu);
}

void oom_pause(int on)
{
    pthread_mutex_lock(&mu);
    paused = on;
    pthread_mutex_unlock(&mu);
}

long oom_stop(void)
{
    long n;

    pthread_mutex_lock(&mu);
    counting = 0;
    fail_at = 0;
    n = seen;
    pthread_mutex_unlock(&mu);
    return n;
}

void oom_result(int *failed_one, long *live_blocks)
{
    pthread_mutex_lock(&mu);
    *failed_one = failed;
    *live_blocks = live;
    pthread_mutex_unlock(&mu);
}

void oom_dump_live(void)
{
    size_t i;
    int shown = 0;

    pthread_mutex_lock(&mu);
    for (i = 0; i < SLOTS && shown < 10; i++) {
        if (set[i] != NULL && set[i] != TOMB) {
            fprintf(stderr, "oom:   live block of %zu bytes at %p\n", sizes[i], set[i]);
            shown++;
        }
    }
    pthread_mutex_unlock(&mu);
}

static int allowed(int rc, const int *also)
{
    if (rc == PV_ENOMEM)
        return 1;
    for (; also && *also; also++)
        if (rc == *also)
            return 1;
    return 0;
}

long oom_loop(const char *what, int (*op)(void *), void (*check)(void *), void *arg,
              const int *also, int sticky)
{
    struct timespec t0, t1;
    long n, total = 0;
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    oom_start(0, 0);
    rc = op(arg);
    total = oom_stop();
    if (rc != PV_OK) {
        fprintf(stderr, "oom: %s: first run without failures gave %s\n", what, pv_strerror(rc));
        fail();
    }
    if (check)
        check(arg);
    for (n = 1;; n++) {
        long seen_now, left;
        int f;

        oom_start(n, sticky);
        rc = op(arg);
        seen_now = oom_stop();
        oom_result(&f, &left);
        if (left != 0) {
            fprintf(stderr, "oom: %s: allocation %ld of %ld failed%s: %ld block(s) leaked\n", what,
                    n, seen_now, sticky ? " (and all after it)" : "", left);
            oom_dump_live();
            fail();
        }
        if (f && rc != PV_OK && !allowed(rc, also)) {
            fprintf(stderr, "oom: %s: allocation %ld of %ld failed%s: result %d (%s)\n", what, n,
                    seen_now, sticky ? " (and all after it)" : "", rc, pv_strerror(rc));
            fail();
        }
        if (!f && rc != PV_OK) {
            fprintf(stderr, "oom: %s: no allocation failed, yet %s\n", what, pv_strerror(rc));
            fail();
        }
        if (check)
            check(arg);
        if (!f) {
            total = seen_now;
            break;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (getenv("OOM_VERBOSE"))
        fprintf(stderr, "oom: %s: %ld allocations, each failed in turn%s (%.2f s)\n", what, total,
                sticky ? " (and all after it)" : "",
                (double) (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    return total;
}
