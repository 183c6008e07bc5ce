/*
 * strix.h - a hash index of 16-byte names over an array the caller owns
 * (strix.c): the index keeps element numbers, the caller says what each
 * element's name is (name(ctx, i): 16 bytes, borrowed; NULL: the element has
 * none). The first element of a name wins. Used by the sandbox gateway to find
 * charges and events by the digest of a key or by a charge id's 16 bytes (a
 * benchmark makes hundreds of thousands of them; sandbox_int.h).
 */
#ifndef STAMPD_PAYMENT_STRIX_H
#define STAMPD_PAYMENT_STRIX_H

#include <stddef.h>
#include <stdint.h>

#define PV_STRIX_NAME 16 /* bytes in a name */

struct pv_strix {
    uint32_t *slot; /* element + 1; 0 empty */
    size_t cap;
    const uint8_t *(*name)(const void *ctx, size_t i);
    const void *ctx;
};

/* pv_strix_find - the element named s (PV_STRIX_NAME bytes, borrowed), or -1. */
long pv_strix_find(const struct pv_strix *x, const uint8_t *s);

/* pv_strix_reserve - room for n elements (at most half full); when it grows
 * the index is rebuilt from elements 0..have-1. PV_OK or PV_ENOMEM. */
int pv_strix_reserve(struct pv_strix *x, size_t n, size_t have);

/* pv_strix_put - index element e (room made by pv_strix_reserve). */
void pv_strix_put(struct pv_strix *x, size_t e);

/* pv_strix_free - release the index's own memory. */
void pv_strix_free(struct pv_strix *x);

#endif
