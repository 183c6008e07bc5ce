/*
 * strix.c - a hash index of 16-byte names over a caller's array (strix.h):
 * open addressing, linear probing, at most half full. A name's slot comes
 * from both of its halves mixed (a charge id's first half is its sandbox
 * instance, the same for every charge the instance makes).
 */
#include "payment/strix.h"

#include "stampd/error.h"

#include <stdlib.h>
#include <string.h>

static size_t start(const uint8_t *s, size_t cap)
{
    uint64_t a, b;

    memcpy(&a, s, 8);
    memcpy(&b, s + 8, 8);
    a ^= b * 0x9e3779b97f4a7c15u; /* splitmix64's constants */
    a ^= a >> 30;
    a *= 0xbf58476d1ce4e5b9u;
    a ^= a >> 27;
    a *= 0x94d049bb133111ebu;
    a ^= a >> 31;
    return (size_t) a & (cap - 1);
}

long pv_strix_find(const struct pv_strix *x, const uint8_t *s)
{
    size_t i;

    if (!x->cap || !s)
        return -1;
    for (i = start(s, x->cap); x->slot[i]; i = (i + 1) & (x->cap - 1)) {
        const uint8_t *name = x->name(x->ctx, x->slot[i] - 1);
        if (name && memcmp(name, s, PV_STRIX_NAME) == 0)
            return (long) x->slot[i] - 1;
    }
    return -1;
}

void pv_strix_put(struct pv_strix *x, size_t e)
{
    const uint8_t *s = x->name(x->ctx, e);
    size_t i;

    if (!s || !x->cap)
        return;
    for (i = start(s, x->cap); x->slot[i]; i = (i + 1) & (x->cap - 1))
        if (memcmp(x->name(x->ctx, x->slot[i] - 1), s, PV_STRIX_NAME) == 0)
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
