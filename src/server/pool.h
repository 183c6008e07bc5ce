/*
 * pool.h - a pool of store handles shared by the request threads (pool.c).
 */
#ifndef STAMPD_POOL_H
#define STAMPD_POOL_H

#include "store/store.h"

#include <stddef.h>

struct pv_pool;

/* pv_pool_new - pool of up to max handles on dsn (borrowed, copied). */
int pv_pool_new(const char *dsn, size_t max, struct pv_pool **out);
/* pv_pool_free - close every handle and free p (NULL: nothing); none may be borrowed. */
void pv_pool_free(struct pv_pool *p);
/* pv_pool_get - borrow a handle (opened on demand); give it back with put. */
int pv_pool_get(struct pv_pool *p, struct pv_store **st);
void pv_pool_put(struct pv_pool *p, struct pv_store *st);

#endif
