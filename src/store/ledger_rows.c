/*
 * ledger_rows.c - a purchase batch's kept journals written without arrays
 * (SQLite; issue 15, session 12). ledger.c keeps each job's journal and
 * lines (struct pv_jbuf) when the batch turns journal_batch on, and hands
 * them here before the commit: the accounts they move netted, eight to a
 * statement (one update an account a batch instead of one a line), then the
 * journals and their lines sixteen to a statement, with the ids the
 * journals get assigned from the largest one stored - the rowid SQLite
 * would give each, one after the other, with the database's one writer
 * inside this transaction. The accounts come first: the only statement a
 * CHECK refuses (a balance past the money bound: PV_EOVERFLOW), so nothing
 * is written past it; any failure fails the batch, which rolls back.
 */
#include "stampd/error.h"
#include "stampd/money.h"
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

/*
 * The kept lines' sum an account (struct pv_jsums, store_int.h): each account's name once
 * (the kept lines borrow it), found by its hash, so that a job's post and balance read cost
 * the same whatever the batch kept before them (they summed every kept line: a batch of n
 * jobs cost n^2 / 2 comparisons). A sum is range-checked as it moves.
 */
struct pv_jsums {
    size_t n, cap, nslot; /* accounts; room; slots (a power of two, at least 2 * cap) */
    char **name;
    pv_mills *sum;
    size_t *lines;  /* kept lines on the account: 0 once all were cut */
    uint32_t *slot; /* index + 1, or 0: free */
};

struct named {
    const char *name; /* borrowed from the sums */
    pv_mills sum;
};

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct named *) a)->name, ((const struct named *) b)->name);
}

/* The accounts the kept lines move, each by their sum as it was kept (s: range-checked as
 * the lines came and went), in name order, eight to a statement. */
static int accounts_add(struct pv_store *st, const struct pv_jsums *s)
{
    struct named *v;
    size_t n = 0, i, k;
    struct pv_q q;
    int rc = PV_OK;

    if (!s || s->n == 0)
        return PV_OK;
    if (!(v = malloc(s->n * sizeof *v)))
        return PV_ENOMEM;
    for (i = 0; i < s->n; i++)
        if (s->lines[i]) { /* an account whose every line was cut moves nothing */
            v[n].name = s->name[i];
            v[n++].sum = s->sum[i];
        }
    qsort(v, n, sizeof *v, by_name);
    for (i = 0; i < n && rc == PV_OK; i += 8) {
        pv_q_start(&q, st, S_ACCOUNTS_ADD8);
        for (k = i; k < i + 8; k++) {
            pv_q_text(&q, k < n ? v[k].name : NULL);
            pv_q_int(&q, k < n ? v[k].sum : 0);
        }
        if ((rc = pv_q_exec(&q)) == PV_ESTORE && st->fault == PV_FAULT_CHECK)
            rc = PV_EOVERFLOW;
    }
    free(v);
    return rc;
}

int pv_jbuf_write_rows(struct pv_store *st, size_t nj, char **kind, char **ref, const int64_t *at,
                       size_t nl, const int64_t *jord, const int64_t *line, char **acct,
                       const int64_t *amount, const struct pv_jsums *sums)
{
    int64_t last = 0;
    struct pv_q q;
    size_t i, k;
    int rc;

    if (nj == 0)
        return PV_OK;
    /* Still the batch's transaction? (SQLite may have rolled it back on its own: the
     * statements below would then run on their own, outside BEGIN IMMEDIATE.) */
    if ((rc = st->drv->tx(st, PV_TX_CHECK)) != PV_OK)
        return rc;
    if ((rc = accounts_add(st, sums)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_JOURNAL_LAST);
    if ((rc = pv_q_int64(&q, &last)) != PV_OK)
        return rc;
    for (i = 0; i < nj && rc == PV_OK; i += 16) {
        pv_q_start(&q, st, S_JOURNALS_ROWS16);
        for (k = i; k < i + 16; k++) {
            if (k < nj)
                pv_q_int(&q, last + 1 + (int64_t) k);
            else
                pv_q_text(&q, NULL);
            pv_q_text(&q, k < nj ? kind[k] : NULL);
            pv_q_text(&q, k < nj ? ref[k] : NULL);
            pv_q_int(&q, k < nj ? at[k] : 0);
        }
        rc = pv_q_exec(&q);
    }
    for (i = 0; i < nl && rc == PV_OK; i += 16) {
        pv_q_start(&q, st, S_LINES_ROWS16);
        for (k = i; k < i + 16; k++) {
            if (k < nl)
                pv_q_int(&q, last + jord[k]); /* jord counts the batch's journals from 1 */
            else
                pv_q_text(&q, NULL);
            pv_q_int(&q, k < nl ? line[k] : 0);
            pv_q_text(&q, k < nl ? acct[k] : NULL);
            pv_q_int(&q, k < nl ? amount[k] : 0);
        }
        rc = pv_q_exec(&q);
    }
    return rc;
}

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;

    while (*s)
        h = (h ^ (unsigned char) *s++) * 16777619u;
    return h;
}

/* Where account is, or -1. */
static long jsums_find(const struct pv_jsums *s, const char *account)
{
    size_t i;

    if (!s || s->n == 0)
        return -1;
    for (i = name_hash(account) & (s->nslot - 1); s->slot[i]; i = (i + 1) & (s->nslot - 1))
        if (strcmp(s->name[s->slot[i] - 1], account) == 0)
            return (long) s->slot[i] - 1;
    return -1;
}

static void jsums_index(struct pv_jsums *s)
{
    size_t k, i;

    memset(s->slot, 0, s->nslot * sizeof *s->slot);
    for (k = 0; k < s->n; k++) {
        for (i = name_hash(s->name[k]) & (s->nslot - 1); s->slot[i]; i = (i + 1) & (s->nslot - 1))
            ;
        s->slot[i] = (uint32_t) k + 1;
    }
}

/* Room for one more account. */
static int jsums_room(struct pv_jsums *s)
{
    size_t cap = s->cap ? 2 * s->cap : 64;
    void *p;

    if (s->n < s->cap)
        return PV_OK;
    if (!(p = realloc(s->name, cap * sizeof *s->name)))
        return PV_ENOMEM;
    s->name = p;
    if (!(p = realloc(s->sum, cap * sizeof *s->sum)))
        return PV_ENOMEM;
    s->sum = p;
    if (!(p = realloc(s->lines, cap * sizeof *s->lines)))
        return PV_ENOMEM;
    s->lines = p;
    if (!(p = calloc(2 * cap, sizeof *s->slot)))
        return PV_ENOMEM;
    free(s->slot);
    s->slot = p;
    s->nslot = 2 * cap;
    s->cap = cap;
    jsums_index(s);
    return PV_OK;
}

int pv_jsums_add(struct pv_jsums **sp, const char *account, pv_mills amount, char **name)
{
    struct pv_jsums *s = *sp;
    pv_mills sum;
    long k;
    size_t i;

    if (!s && !(s = *sp = calloc(1, sizeof *s)))
        return PV_ENOMEM;
    if ((k = jsums_find(s, account)) < 0) {
        if (jsums_room(s) != PV_OK || !(s->name[s->n] = strdup(account)))
            return PV_ENOMEM;
        s->sum[s->n] = 0;
        s->lines[s->n] = 0;
        for (i = name_hash(account) & (s->nslot - 1); s->slot[i]; i = (i + 1) & (s->nslot - 1))
            ;
        s->slot[i] = (uint32_t) s->n + 1;
        k = (long) s->n++;
    }
    if (pv_money_add(s->sum[k], amount, &sum) != PV_OK)
        return PV_EOVERFLOW;
    s->sum[k] = sum;
    s->lines[k]++;
    *name = s->name[k];
    return PV_OK;
}

void pv_jsums_sub(struct pv_jsums *s, const char *account, pv_mills amount)
{
    long k = jsums_find(s, account);

    if (k >= 0) { /* added with its range checked: taking it back stays in range */
        s->sum[k] -= amount;
        s->lines[k]--;
    }
}

int pv_jsums_get(const struct pv_jsums *s, const char *account, pv_mills *sum)
{
    long k = jsums_find(s, account);

    *sum = k >= 0 && s->lines[k] ? s->sum[k] : 0;
    return k >= 0 && s->lines[k] > 0;
}

void pv_jsums_reset(struct pv_jsums *s, int free_it)
{
    if (!s)
        return;
    while (s->n)
        free(s->name[--s->n]);
    if (s->slot)
        memset(s->slot, 0, s->nslot * sizeof *s->slot);
    if (!free_it)
        return;
    free(s->name);
    free(s->sum);
    free(s->lines);
    free(s->slot);
    free(s);
}
