/*
 * pg_array.c - PostgreSQL's binary array format, for the postgres driver's
 * array parameters (journal_post's accounts and amounts). Kept apart from
 * postgres.c so the driver stays one readable file; it needs no libpq.
 */
#include "store/store_int.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Type OIDs (pg_type.h, stable since forever) for the binary arrays of journal_post. */
#define INT8OID 20
#define TEXTOID 25

static unsigned char *put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
    return p + 4;
}

#define ARRAY_HEADER 20

/*
 * A one-dimensional array parameter in PostgreSQL's binary format: int8
 * elements, or text elements from char[] fields (NUL-terminated). Owned
 * (free()) in *out; NULL when out of memory or too big.
 */
unsigned char *pv_pg_array(const struct pv_param *p, int *len)
{
    const unsigned char *e = p->p;
    size_t i, n, total = ARRAY_HEADER;
    unsigned char *buf, *w;
    int64_t v;

    for (i = 0; i < p->len; i++) {
        n = p->kind == PV_P_INT_ARRAY ? 8 : strlen((const char *) (e + i * p->stride));
        if (n > INT_MAX / 2 || total > (size_t) INT_MAX / 2 - n)
            return NULL;
        total += 4 + n;
    }
    if (!(buf = malloc(total)))
        return NULL;
    w = put32(buf, 1); /* dimensions */
    w = put32(w, 0);   /* no NULLs */
    w = put32(w, p->kind == PV_P_INT_ARRAY ? INT8OID : TEXTOID);
    w = put32(w, (uint32_t) p->len); /* length of the dimension */
    w = put32(w, 1);                 /* its lower bound */
    for (i = 0; i < p->len; i++, e += p->stride) {
        if (p->kind == PV_P_INT_ARRAY) {
            memcpy(&v, e, sizeof v);
            w = put32(w, 8);
            w = put32(w, (uint32_t) ((uint64_t) v >> 32));
            w = put32(w, (uint32_t) (uint64_t) v);
        } else {
            n = strlen((const char *) e);
            w = put32(w, (uint32_t) n);
            memcpy(w, e, n);
            w += n;
        }
    }
    *len = (int) total;
    return buf;
}
