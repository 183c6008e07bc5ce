/*
 * freelist.c - blocks of one size kept for reuse (freelist.h).
 */
#include "stampd/freelist.h"

#include <stdlib.h>
#include <string.h>

/* Under AddressSanitizer a kept block is poisoned past its link, so a job or item used after
 * it was given back fails the test build as a freed one would. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define KEPT(p, n)  ASAN_POISON_MEMORY_REGION((char *) (p) + sizeof(void *), (n) - sizeof(void *))
#define TAKEN(p, n) ASAN_UNPOISON_MEMORY_REGION((char *) (p) + sizeof(void *), (n) - sizeof(void *))
#else
#define KEPT(p, n)  ((void) (p), (void) (n))
#define TAKEN(p, n) ((void) (p), (void) (n))
#endif

/* pv_freelist_get - see freelist.h. */
void *pv_freelist_get(struct pv_freelist *fl)
{
    void *p;

    pthread_mutex_lock(&fl->mu);
    p = fl->head;
    if (p) {
        memcpy(&fl->head, p, sizeof fl->head);
        fl->n--;
    }
    pthread_mutex_unlock(&fl->mu);
    if (!p)
        return calloc(1, fl->size);
    TAKEN(p, fl->size);
    memset(p, 0, sizeof fl->head); /* the rest was zeroed when it was put */
    return p;
}

/* pv_freelist_put - see freelist.h. */
void pv_freelist_put(struct pv_freelist *fl, void *p)
{
    if (!p)
        return;
    memset(p, 0, fl->size);
    pthread_mutex_lock(&fl->mu);
    if (fl->n < fl->cap) {
        memcpy(p, &fl->head, sizeof fl->head);
        KEPT(p, fl->size);
        fl->head = p;
        fl->n++;
        p = NULL;
    }
    pthread_mutex_unlock(&fl->mu);
    free(p);
}

/* pv_freelist_drain - see freelist.h. */
void pv_freelist_drain(struct pv_freelist *fl)
{
    void *p, *next;

    pthread_mutex_lock(&fl->mu);
    p = fl->head;
    fl->head = NULL;
    fl->n = 0;
    pthread_mutex_unlock(&fl->mu);
    for (; p; p = next) {
        memcpy(&next, p, sizeof next);
        TAKEN(p, fl->size);
        free(p);
    }
}
