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

struct named {
    const char *name; /* borrowed from the kept lines */
    pv_mills amount;
};

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct named *) a)->name, ((const struct named *) b)->name);
}

/* The accounts of the nl lines, netted (name order), eight to a statement. */
static int accounts_add(struct pv_store *st, size_t nl, char **acct, const int64_t *amount)
{
    struct named *v = malloc(nl * sizeof *v);
    size_t i = 0, j, k;
    struct pv_q q;
    int rc = PV_OK;

    if (!v)
        return PV_ENOMEM;
    for (j = 0; j < nl; j++) {
        v[j].name = acct[j];
        v[j].amount = amount[j];
    }
    qsort(v, nl, sizeof *v, by_name);
    while (i < nl && rc == PV_OK) {
        pv_q_start(&q, st, S_ACCOUNTS_ADD8);
        for (k = 0; k < 8; k++) {
            pv_mills sum = 0;

            for (j = i; j < nl && strcmp(v[j].name, v[i].name) == 0; j++)
                if (pv_money_add(sum, v[j].amount, &sum) != PV_OK)
                    rc = PV_EOVERFLOW;
            pv_q_text(&q, i < nl ? v[i].name : NULL);
            pv_q_int(&q, i < nl ? sum : 0);
            i = j;
        }
        if (rc == PV_OK && (rc = pv_q_exec(&q)) == PV_ESTORE && st->fault == PV_FAULT_CHECK)
            rc = PV_EOVERFLOW;
    }
    free(v);
    return rc;
}

int pv_jbuf_write_rows(struct pv_store *st, size_t nj, char **kind, char **ref, const int64_t *at,
                       size_t nl, const int64_t *jord, const int64_t *line, char **acct,
                       const int64_t *amount)
{
    int64_t last = 0;
    struct pv_q q;
    size_t i, k;
    int rc;

    if (nj == 0)
        return PV_OK;
    if ((rc = accounts_add(st, nl, acct, amount)) != PV_OK)
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
