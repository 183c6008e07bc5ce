/*
 * freelist.c - blocks of one size kept for reuse (freelist.h).
 */
#include "stampd/freelist.h"

#include <stdlib.h>
#include <string.h>

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
        free(p);
    }
}
