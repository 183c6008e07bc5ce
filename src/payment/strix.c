/*
 * strix.c - a string hash index over a caller's array (strix.h): open
 * addressing, linear probing, FNV-1a, at most half full.
 */
#include "payment/strix.h"

#include "stampd/codec.h"
#include "stampd/error.h"

#include <stdlib.h>
#include <string.h>

long pv_strix_find(const struct pv_strix *x, const char *s)
{
    size_t i;

    if (!x->cap || !s)
        return -1;
    for (i = pv_fnv1a64(s) & (x->cap - 1); x->slot[i]; i = (i + 1) & (x->cap - 1)) {
        const char *name = x->name(x->ctx, x->slot[i] - 1);
        if (name && strcmp(name, s) == 0)
            return (long) x->slot[i] - 1;
    }
    return -1;
}

void pv_strix_put(struct pv_strix *x, size_t e)
{
    const char *s = x->name(x->ctx, e);
    size_t i;

    if (!s || !x->cap)
        return;
    for (i = pv_fnv1a64(s) & (x->cap - 1); x->slot[i]; i = (i + 1) & (x->cap - 1))
        if (strcmp(x->name(x->ctx, x->slot[i] - 1), s) == 0)
            return;
    x->slot[i] = (uint32_t) e + 1;
}

int pv_strix_reserve(struct pv_strix *x, size_t n, size_t have)
{
    size_t cap = x->cap ? x->cap : 64;
    uint32_t *slot;

    if (n >= UINT32_MAX / 4)
        return PV_ENOMEM;
    while (cap < 2 * n)
        cap *= 2;
    if (cap == x->cap)
        return PV_OK;
    if (!(slot = calloc(cap, sizeof *slot)))
        return PV_ENOMEM;
    free(x->slot);
    x->slot = slot;
    x->cap = cap;
    for (size_t e = 0; e < have; e++)
        pv_strix_put(x, e);
    return PV_OK;
}

void pv_strix_free(struct pv_strix *x)
{
    free(x->slot);
    x->slot = NULL;
    x->cap = 0;
}
