/*
 * pg_util.c - the parts of the PostgreSQL driver that need no libpq: its
 * parameters as libpq takes them (decimal text, binary blobs and arrays -
 * journal_post's accounts and amounts), a read-ahead's key, and its log
 * line folding, what an error's SQLSTATE means to the store. Kept apart so postgres.c
 * stays one readable file.
 */
#include "stampd/error.h"
#include "store/store_int.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Type OIDs (pg_type.h, stable since forever) for the binary arrays of journal_post. */
#define BYTEAOID 17
#define INT8OID  20
#define TEXTOID  25

static unsigned char *put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
    return p + 4;
}

#define ARRAY_HEADER 20

/* Element i of array parameter p: its bytes and length (text: NUL-terminated, from a char[]
 * field every stride bytes or, with stride 0, from an array of const char *). */
static const void *element(const struct pv_param *p, size_t i, size_t *n)
{
    const unsigned char *e = p->p;
    const char *t;

    if (p->kind == PV_P_INT_ARRAY) {
        *n = 8;
        return e + i * p->stride;
    }
    if (p->kind == PV_P_BLOB_ARRAY) {
        const struct pv_blob_ref *b = (const struct pv_blob_ref *) p->p + i;
        *n = b->len;
        return b->p;
    }
    t = p->stride ? (const char *) (e + i * p->stride) : ((const char *const *) p->p)[i];
    *n = strlen(t);
    return t;
}

/*
 * A one-dimensional array parameter in PostgreSQL's binary format: int8
 * elements, text elements (see element) or bytea elements. Owned (free())
 * in *out; NULL when out of memory or too big.
 */
unsigned char *pv_pg_array(const struct pv_param *p, int *len)
{
    size_t i, n, total = ARRAY_HEADER;
    const void *e;
    unsigned char *buf, *w;
    int64_t v;

    for (i = 0; i < p->len; i++) {
        element(p, i, &n);
        if (n > INT_MAX / 2 || total > (size_t) INT_MAX / 2 - n)
            return NULL;
        total += 4 + n;
    }
    if (!(buf = malloc(total)))
        return NULL;
    w = put32(buf, 1); /* dimensions */
    w = put32(w, 0);   /* no NULLs */
    w = put32(w, p->kind == PV_P_INT_ARRAY    ? INT8OID
                 : p->kind == PV_P_BLOB_ARRAY ? BYTEAOID
                                              : TEXTOID);
    w = put32(w, (uint32_t) p->len); /* length of the dimension */
    w = put32(w, 1);                 /* its lower bound */
    for (i = 0; i < p->len; i++) {
        e = element(p, i, &n);
        if (p->kind == PV_P_INT_ARRAY) {
            memcpy(&v, e, sizeof v);
            w = put32(w, 8);
            w = put32(w, (uint32_t) ((uint64_t) v >> 32));
            w = put32(w, (uint32_t) (uint64_t) v);
        } else {
            w = put32(w, (uint32_t) n);
            if (n)
                memcpy(w, e, n);
            w += n;
        }
    }
    *len = (int) total;
    return buf;
}

/* libpq's own messages span lines ("FATAL: ...\nserver closed the connection\n\t..."):
 * fold one into buf as a single line for the log. */
const char *pv_pg_one_line(const char *m, char *buf, size_t cap)
{
    size_t n = 0;
    int space = 0;

    for (; m && *m && n + 1 < cap; m++) {
        if (*m == '\n' || *m == '\t' || *m == ' ' || *m == '\r') {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < cap)
            buf[n++] = ' ';
        space = 0;
        buf[n++] = *m;
    }
    buf[n] = '\0';
    return buf;
}

static int state_in(const char *state, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(state, *list) == 0)
            return 1;
    return 0;
}

int pv_pg_state_code(const char *state, const char *what, int *answer, int *check)
{
    static const char *const busy[] = {"40001", "40P01", "55P03", "57014", NULL};
    static const char *const checks[] = {"23514", "22003", NULL};
    static const char *const encoding[] = {"22021", "22P05", NULL};

    *answer = *check = 0;
    if (strcmp(state, "23505") == 0) { /* unique_violation */
        *answer = 1;
        return PV_EEXIST;
    }
    if (strcmp(state, "55P03") == 0 && what && strstr(what, "_NOWAIT")) {
        *answer = 1; /* a lock taken only when free (a statement named so) */
        return PV_EBUSY;
    }
    *check = state_in(state, checks); /* check_violation, numeric_value_out_of_range */
    if (state_in(state, busy))
        return PV_EBUSY; /* serialization, deadlock, lock_timeout, statement_timeout */
    if (strcmp(state, "53200") == 0)
        return PV_ENOMEM; /* out_of_memory */
    if (state_in(state, encoding))
        return PV_EINVAL; /* text the database encoding cannot hold */
    return PV_ESTORE;
}

void pv_pg_copy_field(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;

    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

int pv_pg_bind(const struct pv_param *p, int n, const char **val, int *len, int *fmt,
               char (*num)[24], unsigned char **owned)
{
    int i, rc = PV_OK;

    for (i = 0; i < n && rc == PV_OK; i++) {
        val[i] = p[i].p;
        len[i] = 0;
        fmt[i] = 0;
        if (p[i].kind == PV_P_INT) {
            snprintf(num[i], sizeof num[i], "%lld", (long long) p[i].i);
            val[i] = num[i];
        } else if (p[i].kind == PV_P_BLOB) {
            fmt[i] = 1;
            len[i] = (int) p[i].len;
            if (p[i].len > INT_MAX)
                rc = PV_EINVAL;
        } else if (p[i].kind == PV_P_TEXT_ARRAY || p[i].kind == PV_P_INT_ARRAY ||
                   p[i].kind == PV_P_BLOB_ARRAY) {
            fmt[i] = 1;
            val[i] = (const char *) (owned[i] = pv_pg_array(&p[i], &len[i]));
            if (!owned[i])
                rc = PV_ENOMEM;
        }
    }
    return rc;
}

int pv_pg_key(int id, const struct pv_param *p, int n, char *key, size_t cap)
{
    size_t used;
    int i, w;

    w = snprintf(key, cap, "%d", id);
    for (i = 0, used = (size_t) w; i < n && w >= 0 && used < cap; i++, used += (size_t) w) {
        if (p[i].kind == PV_P_INT)
            w = snprintf(key + used, cap - used, "|i%lld", (long long) p[i].i);
        else if (p[i].kind == PV_P_TEXT && !strchr(p[i].p, '|'))
            w = snprintf(key + used, cap - used, "|t%s", (const char *) p[i].p);
        else
            return -1; /* blobs, arrays, NULL, a '|' in text: not read ahead */
    }
    return w >= 0 && used < cap ? 0 : -1;
}

int64_t pv_pg_int_be(const void *p, int len)
{
    const unsigned char *b = p;
    uint64_t u = 0;
    int k;

    for (k = 0; k < len; k++)
        u = u << 8 | b[k];
    if (len > 0 && len < 8 && (b[0] & 0x80))
        u |= ~(uint64_t) 0 << (8 * len); /* sign-extend */
    return (int64_t) u;
}
