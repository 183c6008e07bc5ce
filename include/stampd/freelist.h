/*
 * freelist.h - blocks of one size kept for reuse instead of returned to malloc.
 *
 * A purchase in flight allocates a few blocks of a kilobyte or more (its job, its card's
 * round items). glibc serves no block that size from a thread's cache: each one takes its
 * arena's lock and first folds every small freed chunk back into the heap
 * (malloc_consolidate), which took ~4 % of an HTTP worker under card load (issue 15,
 * session 21). A freelist keeps up to cap freed blocks on a list behind a mutex; any thread
 * may take or return one. A block is zeroed when it is returned - it may have held a card's
 * token - so a kept block holds nothing of its last owner.
 */
#ifndef STAMPD_FREELIST_H
#define STAMPD_FREELIST_H

#include <pthread.h>
#include <stddef.h>

struct pv_freelist {
    pthread_mutex_t mu;
    size_t size; /* bytes of a block: at least sizeof(void *) */
    size_t cap;  /* blocks kept at most; more are freed */
    size_t n;    /* blocks kept now */
    void *head;  /* the first kept block; its first bytes point to the next */
};

/* A static list of blocks of SIZE bytes (at least a pointer's, a multiple of 8) keeping CAP at
 * most. */
#define PV_FREELIST_INIT(SIZE, CAP)                                                                \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, (SIZE), (CAP), 0, NULL                                          \
    }

/*
 * pv_freelist_get - a zeroed block of fl->size bytes, owned by the caller (give it back with
 * pv_freelist_put, or free()), or NULL out of memory. fl is borrowed.
 */
void *pv_freelist_get(struct pv_freelist *fl);

/*
 * pv_freelist_put - takes p (a block of fl->size bytes from malloc, calloc or
 * pv_freelist_get; NULL: no-op), zeroes it, and keeps it for the next pv_freelist_get, or
 * frees it when cap are kept.
 */
void pv_freelist_put(struct pv_freelist *fl, void *p);

/* pv_freelist_drain - frees every kept block (at a process's or a test's end). */
void pv_freelist_drain(struct pv_freelist *fl);

#endif
