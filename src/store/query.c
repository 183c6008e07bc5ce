/*
 * query.c - running the statements of sql.h through a driver: binding,
 * reading rows into records, lists, and the write bracket that gives a
 * write outside begin() a transaction of its own. Used by every operation
 * file; see struct pv_q in store_int.h.
 */
#include "stampd/error.h"
#include "stampd/log.h"
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pv_sql_has(const struct pv_store *st, int id)
{
    return pv_sql[id].text[st->drv->dialect] != NULL;
}

int pv_locking(const struct pv_store *st, int plain, int locked)
{
    return st->in_tx && pv_sql_has(st, locked) ? locked : plain;
}

void pv_q_start(struct pv_q *q, struct pv_store *st, int id)
{
    q->st = st;
    q->id = id;
    q->n = 0;
    q->started = 0;
    q->rc = st ? PV_OK : PV_EINVAL; /* store.h: a NULL st is PV_EINVAL */
    if (st && !pv_sql_has(st, id)) {
        fprintf(stderr, "store: %s: no such statement in %s\n", pv_sql[id].name, st->drv->name);
        q->rc = PV_EINTERNAL;
    }
}

static struct pv_param *slot(struct pv_q *q, int kind)
{
    struct pv_param *p;

    if (q->rc != PV_OK)
        return NULL;
    if (q->n >= PV_MAX_PARAMS) {
        fprintf(stderr, "store: %s: too many parameters\n", pv_sql[q->id].name);
        q->rc = PV_EINTERNAL;
        return NULL;
    }
    p = &q->p[q->n++];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    return p;
}

void pv_q_int(struct pv_q *q, int64_t v)
{
    struct pv_param *p = slot(q, PV_P_INT);

    if (p)
        p->i = v;
}

void pv_q_text(struct pv_q *q, const char *v)
{
    struct pv_param *p = slot(q, v ? PV_P_TEXT : PV_P_NULL);

    if (p)
        p->p = v;
}

void pv_q_blob(struct pv_q *q, const void *v, size_t len)
{
    struct pv_param *p = slot(q, PV_P_BLOB);

    if (p) {
        p->p = v;
        p->len = len;
    }
}

void pv_q_array(struct pv_q *q, int kind, const void *first, size_t n, size_t stride)
{
    struct pv_param *p = slot(q, kind);

    if (p) {
        p->p = first;
        p->len = n;
        p->stride = stride;
    }
}

/* Hand the statement to the driver (once). */
static int start(struct pv_q *q)
{
    if (q->rc != PV_OK || q->started)
        return q->rc;
    q->st->statements++;
    q->rc = q->st->drv->run(q->st, q->id, pv_sql[q->id].text[q->st->drv->dialect], q->p, q->n);
    q->started = q->rc == PV_OK;
    return q->rc;
}

void pv_q_done(struct pv_q *q)
{
    if (q->started)
        q->st->drv->reset(q->st);
    q->started = 0;
}

int pv_q_row(struct pv_q *q)
{
    int rc;

    if (start(q) != PV_OK)
        return q->rc;
    rc = q->st->drv->step(q->st);
    if (rc != PV_OK && rc != PV_ENOTFOUND)
        q->rc = rc;
    return rc;
}

int pv_q_changed(struct pv_q *q, int64_t *changed)
{
    int rc = pv_q_row(q);

    *changed = 0;
    if (rc == PV_OK || rc == PV_ENOTFOUND) {
        rc = PV_OK;
        *changed = q->st->drv->changes(q->st);
    }
    pv_q_done(q);
    return rc;
}

int pv_q_exec(struct pv_q *q)
{
    int64_t changed;

    return pv_q_changed(q, &changed);
}

int pv_q_found(struct pv_q *q)
{
    int64_t changed;
    int rc = pv_q_changed(q, &changed);

    return rc == PV_OK && changed == 0 ? PV_ENOTFOUND : rc;
}

/* A write of one statement, in the bracket of pv_write_enter/leave. */
static int write1(struct pv_q *q, int (*exec)(struct pv_q *q))
{
    int rc, own;

    if (q->rc != PV_OK)
        return q->rc;
    if ((rc = pv_write_enter(q->st, 0, &own)) != PV_OK)
        return rc;
    return pv_write_leave(q->st, own, exec(q));
}

int pv_q_write(struct pv_q *q)
{
    return write1(q, pv_q_exec);
}

int pv_q_write_found(struct pv_q *q)
{
    return write1(q, pv_q_found);
}

int pv_q_send(struct pv_q *q, unsigned flags)
{
    struct pv_store *st = q->st;
    int rc;

    if (q->rc != PV_OK || !st)
        return q->rc;
    if (!st->in_tx || !st->defer) {
        rc = write1(q, (flags & PV_SEND_FOUND) ? pv_q_found : pv_q_exec);
        /* The mapping journal_post makes after pv_q_exec, for the callers of send. */
        if (rc == PV_ESTORE && (flags & PV_SEND_OVERFLOW) && st->fault == PV_FAULT_CHECK)
            rc = PV_EOVERFLOW;
        return rc;
    }
    if ((rc = st->drv->tx(st, PV_TX_CHECK)) != PV_OK)
        return q->rc = rc;
    st->statements++;
    st->fault = PV_FAULT_NONE;
    q->rc = st->drv->send(st, q->id, pv_sql[q->id].text[st->drv->dialect], q->p, q->n, flags);
    return q->rc;
}

int pv_q_queue(struct pv_q *q, unsigned flags)
{
    struct pv_store *st = q->st;
    int defer, rc;

    if (!st)
        return pv_q_send(q, flags); /* its PV_EINVAL */
    defer = st->defer;
    st->defer = 1;
    rc = pv_q_send(q, flags);
    st->defer = defer;
    return rc;
}

int pv_ctl_queue(struct pv_store *st, int id)
{
    struct pv_q q;

    pv_q_start(&q, st, id);
    return pv_q_queue(&q, PV_SEND_CTL);
}

int pv_q_prefetch(struct pv_q *q)
{
    struct pv_store *st = q->st;

    if (q->rc != PV_OK || !st || !st->in_tx)
        return q->rc;
    q->rc = st->drv->prefetch(st, q->id, pv_sql[q->id].text[st->drv->dialect], q->p, q->n);
    return q->rc;
}

int pv_send_now(struct pv_store *st, int id, const char *sql, const struct pv_param *p, int n,
                unsigned flags)
{
    int rc = st->drv->run(st, id, sql, p, n);

    if (rc != PV_OK)
        return rc;
    while ((rc = st->drv->step(st)) == PV_OK)
        ;
    if (rc == PV_ENOTFOUND)
        rc = (flags & PV_SEND_FOUND) && st->drv->changes(st) == 0 ? PV_ENOTFOUND : PV_OK;
    st->drv->reset(st);
    if (rc == PV_ESTORE && (flags & PV_SEND_OVERFLOW) && st->fault == PV_FAULT_CHECK)
        rc = PV_EOVERFLOW;
    return rc;
}

struct pv_row pv_row_of(struct pv_q *q)
{
    struct pv_row r = {q->st, q->id, 0, PV_OK};

    return r;
}

int pv_q_get(struct pv_q *q, pv_reader reader, void *rec, size_t size)
{
    struct pv_row r;
    int rc;

    memset(rec, 0, size);
    rc = pv_q_row(q);
    if (rc == PV_OK) {
        r = pv_row_of(q);
        rc = reader(&r, rec);
    }
    pv_q_done(q);
    if (rc != PV_OK)
        memset(rec, 0, size);
    return rc;
}

static int read_int64(struct pv_row *r, void *p)
{
    *(int64_t *) p = pv_r_int(r);
    return r->rc;
}

int pv_q_int64(struct pv_q *q, int64_t *v)
{
    return pv_q_get(q, read_int64, v, sizeof *v);
}

int pv_q_list(struct pv_q *q, size_t size, pv_reader reader, void **out, size_t *n)
{
    return pv_q_list_owned(q, size, reader, NULL, out, n);
}

int pv_q_list_owned(struct pv_q *q, size_t size, pv_reader reader, void (*release)(void *rec),
                    void **out, size_t *n)
{
    unsigned char *arr = NULL, *grown;
    size_t len = 0, cap = 0, ncap;
    struct pv_row r;
    int rc;

    *out = NULL;
    *n = 0;
    while ((rc = pv_q_row(q)) == PV_OK) {
        if (len == cap) {
            ncap = cap ? cap * 2 : 16;
            grown = ncap <= SIZE_MAX / size ? realloc(arr, ncap * size) : NULL;
            if (!grown) {
                rc = PV_ENOMEM;
                goto out;
            }
            arr = grown;
            cap = ncap;
        }
        memset(arr + len * size, 0, size);
        r = pv_row_of(q);
        if ((rc = reader(&r, arr + len * size)) != PV_OK)
            goto out;
        len++;
    }
    if (rc != PV_ENOTFOUND)
        goto out;
    rc = PV_OK;
    if (len) {
        *out = arr;
        *n = len;
        arr = NULL;
    }
out:
    for (size_t i = 0; arr && release && i < len; i++)
        release(arr + i * size);
    free(arr);
    pv_q_done(q);
    return rc;
}

int pv_get_by_text(struct pv_store *st, int id, const char *key, pv_reader reader, void *rec,
                   size_t size)
{
    struct pv_q q;

    memset(rec, 0, size);
    if (!key)
        return PV_EINVAL;
    pv_q_start(&q, st, id);
    pv_q_text(&q, key);
    return pv_q_get(&q, reader, rec, size);
}

int pv_list_all(struct pv_store *st, int id, size_t size, pv_reader reader, void **out, size_t *n)
{
    struct pv_q q;

    pv_q_start(&q, st, id);
    return pv_q_list(&q, size, reader, out, n);
}

/* ---- reading columns --------------------------------------------------------------------- */

int64_t pv_r_int(struct pv_row *r)
{
    int64_t v = 0;
    int i = r->i++, rc;

    if (r->rc != PV_OK)
        return 0;
    rc = r->st->drv->col_int(r->st, i, &v);
    if (rc != PV_OK)
        r->rc = rc;
    return v;
}

/* Bytes of column i into dst (cap bytes); NUL-terminated when text. */
static const void *bytes(struct pv_row *r, int blob, size_t *len)
{
    const void *p = NULL;
    int rc;

    *len = 0;
    if (r->rc != PV_OK) {
        r->i++;
        return NULL;
    }
    rc = r->st->drv->col_bytes(r->st, r->i++, blob, &p, len);
    if (rc != PV_OK)
        r->rc = rc;
    return rc == PV_OK ? p : NULL;
}

/* Text that would not fit its field is an error, not a truncation: inserts
 * refuse such text, so only foreign rows can hold it. */
void pv_r_text(struct pv_row *r, char *dst, size_t cap)
{
    size_t len;
    const void *p = bytes(r, 0, &len);

    dst[0] = '\0';
    if (!p)
        return;
    if (len >= cap) {
        fprintf(stderr, "store: %s: column %d holds %zu bytes, its field only %zu\n",
                pv_sql[r->id].name, r->i - 1, len, cap - 1);
        r->rc = PV_ESTORE;
        return;
    }
    memcpy(dst, p, len);
    dst[len] = '\0';
}

char *pv_r_dup(struct pv_row *r)
{
    size_t len;
    const void *p = bytes(r, 0, &len);
    char *s;

    if (r->rc != PV_OK)
        return NULL;
    if (!(s = malloc(len + 1))) {
        r->rc = PV_ENOMEM;
        return NULL;
    }
    if (len)
        memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

char *pv_r_text_opt(struct pv_row *r, size_t cap)
{
    size_t len;
    const void *p = bytes(r, 0, &len);
    char *s;

    if (!p || len == 0)
        return NULL;
    if (len >= cap) { /* as pv_r_text: only a foreign row can hold it */
        fprintf(stderr, "store: %s: column %d holds %zu bytes, its field only %zu\n",
                pv_sql[r->id].name, r->i - 1, len, cap - 1);
        r->rc = PV_ESTORE;
        return NULL;
    }
    if (!(s = malloc(len + 1))) {
        r->rc = PV_ENOMEM;
        return NULL;
    }
    memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

void pv_r_blob(struct pv_row *r, void *dst, size_t min, size_t cap, size_t *len)
{
    const void *p = bytes(r, 1, len);

    if (r->rc != PV_OK)
        return;
    if (!p || *len < min || *len > cap) {
        fprintf(stderr, "store: %s: column %d holds %zu bytes, not %zu..%zu\n", pv_sql[r->id].name,
                r->i - 1, *len, min, cap);
        r->rc = PV_ESTORE;
        *len = 0;
        return;
    }
    memcpy(dst, p, *len);
}

/* ---- writes and checks ------------------------------------------------------------------- */

int pv_write_enter(struct pv_store *st, int multi, int *own)
{
    *own = 0;
    if (st->in_read) {
        pv_log(PV_LOG_ERROR, "store: a write inside a read snapshot\n");
        return PV_EINVAL;
    }
    if (st->in_tx)
        return st->drv->tx(st, PV_TX_CHECK);
    if (!multi && (st->drv->caps & PV_CAP_AUTOCOMMIT))
        return PV_OK;
    *own = 1;
    return pv_store_begin(st);
}

int pv_write_leave(struct pv_store *st, int own, int rc)
{
    if (!own)
        return rc;
    if (rc == PV_OK)
        return pv_store_commit(st);
    pv_store_rollback(st);
    return rc;
}

int pv_fits(const char *v, size_t cap)
{
    return v && memchr(v, '\0', cap) != NULL;
}

int pv_check_mills(pv_mills v, pv_mills min)
{
    if (v < min)
        return PV_EINVAL;
    return v > PV_MILLS_MAX ? PV_EOVERFLOW : PV_OK;
}
