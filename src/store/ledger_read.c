/*
 * ledger_read.c - the store's vendor settings (config set/get/delete) and the
 * ledger's reading: an account opened, its lines a page at a time, the audit
 * behind `stampd ledger check` (store.h). Apart from ledger.c, which posts.
 */
#include "stampd/error.h"
#include "store/store_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pv_store_config_set(struct pv_store *st, const char *key, const char *value)
{
    struct pv_q q;
    int rc, own;

    if (!st || !key || !value)
        return PV_EINVAL;
    if ((rc = pv_write_enter(st, 0, &own)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_CONFIG_SET);
    pv_q_text(&q, key);
    pv_q_text(&q, value);
    return pv_write_leave(st, own, pv_q_exec(&q));
}

static int read_strdup(struct pv_row *r, void *p)
{
    *(char **) p = pv_r_dup(r);
    return r->rc;
}

int pv_store_config_get(struct pv_store *st, const char *key, char **value)
{
    if (!st || !value)
        return PV_EINVAL;
    *value = NULL;
    return pv_get_by_text(st, S_CONFIG_GET, key, read_strdup, value, sizeof *value);
}

int pv_store_config_delete(struct pv_store *st, const char *key)
{
    struct pv_q q;

    if (!st || !key)
        return PV_EINVAL;
    pv_q_start(&q, st, S_CONFIG_DELETE);
    pv_q_text(&q, key);
    return pv_q_write_found(&q);
}

int pv_store_account_open(struct pv_store *st, const char *account)
{
    struct pv_q q;

    if (!st || !account || !account[0] || strlen(account) >= PV_ACCOUNT_MAX)
        return PV_EINVAL;
    pv_q_start(&q, st, S_ACCOUNT_OPEN);
    pv_q_text(&q, account);
    return pv_q_write(&q);
}

static int read_txn(struct pv_row *r, void *p)
{
    struct pv_txn_rec *rec = p;

    rec->journal_id = pv_r_int(r);
    pv_r_text(r, rec->kind, sizeof rec->kind);
    pv_r_text(r, rec->ref, sizeof rec->ref);
    rec->amount = pv_r_int(r);
    rec->at = pv_r_int(r);
    return r->rc;
}

int pv_account_page(struct pv_store *st, int id, const char *account, int64_t before, size_t limit,
                    size_t size, pv_reader reader, void **out, size_t *n)
{
    struct pv_q q;

    if (!st || !out || !n)
        return PV_EINVAL;
    *out = NULL;
    *n = 0;
    if (!account || before < 0)
        return PV_EINVAL;
    if (limit == 0)
        return PV_OK;
    pv_q_start(&q, st, id);
    pv_q_text(&q, account);
    pv_q_int(&q, before > 0 ? before : INT64_MAX);
    pv_q_int(&q, PV_LIMIT(limit));
    return pv_q_list(&q, size, reader, out, n);
}

int pv_jlines_listed(const char *account)
{
    return strncmp(account, "customer:", 9) == 0 || strncmp(account, "test:customer:", 14) == 0 ||
           strcmp(account, "postal_deposit") == 0;
}

int pv_store_account_lines(struct pv_store *st, const char *account, int64_t before, size_t limit,
                           struct pv_txn_rec **out, size_t *n)
{
    /* The index holds the listed accounts' lines only (v41, v42): another's in the journals'
     * order. */
    int id = st && pv_fits(account, PV_ACCOUNT_MAX) && !pv_jlines_listed(account)
                 ? S_ACCOUNT_LINES_ANY
                 : S_ACCOUNT_LINES;

    return pv_account_page(st, id, account, before, limit, sizeof **out, read_txn, (void **) out,
                           n);
}

static int read_issue(struct pv_row *r, void *p)
{
    struct pv_ledger_issue *rec = p;

    rec->kind = (int) pv_r_int(r);
    pv_r_text(r, rec->name, sizeof rec->name);
    rec->recorded = pv_r_int(r);
    rec->computed = pv_r_int(r);
    return r->rc;
}

static int read_counts(struct pv_row *r, void *p)
{
    int64_t *v = p;

    v[0] = pv_r_int(r);
    v[1] = pv_r_int(r);
    return r->rc;
}

/* SQLite (session 35; v41 did it for the accounts journal_lines_account leaves out): every line,
 * then every account, read by one statement; the lines summed here by account (pv_jsums), then
 * each account whose balance is not its sum appended to *out[*n] (grown) as it comes. Memory: a
 * sum an account, never a line. A sum past the money range (rows written by hand) fails the
 * check: PV_EOVERFLOW. */
static int account_issues(struct pv_store *st, struct pv_ledger_issue **out, size_t *n)
{
    struct pv_ledger_issue *grown;
    struct pv_jsums *sums = NULL;
    struct pv_q q;
    int rc, accounts = 0;

    pv_q_start(&q, st, S_LEDGER_SUMS);
    while ((rc = pv_q_row(&q)) == PV_OK) {
        struct pv_ledger_issue is = {.kind = PV_LEDGER_ACCOUNT_MISMATCH};
        struct pv_row r = pv_row_of(&q);
        int line = (int) pv_r_int(&r);
        char *kept;

        pv_r_text(&r, is.name, sizeof is.name);
        is.recorded = pv_r_int(&r);
        if ((rc = r.rc) != PV_OK)
            break;
        /* UNION ALL's halves in order: SQLite's practice, not its promise. */
        if (line && accounts) {
            fprintf(stderr, "store: ledger check: a line after the accounts; not checked\n");
            rc = PV_ESTORE;
            break;
        }
        if (line) {
            if ((rc = pv_jsums_add(&sums, is.name, is.recorded, &kept)) != PV_OK)
                break;
            continue;
        }
        accounts = 1;
        (void) pv_jsums_get(sums, is.name, &is.computed); /* 0: no line names it */
        if (is.recorded == is.computed)
            continue;
        if (!(grown = realloc(*out, (*n + 1) * sizeof **out))) {
            rc = PV_ENOMEM;
            break;
        }
        *out = grown;
        (*out)[(*n)++] = is;
    }
    pv_q_done(&q);
    pv_jsums_reset(sums, 1);
    return rc == PV_ENOTFOUND ? PV_OK : rc;
}

int pv_store_ledger_audit(struct pv_store *st, int64_t *journals, int64_t *accounts,
                          struct pv_ledger_issue **out, size_t *n)
{
    int64_t counts[2];
    struct pv_q q;
    int rc;

    if (!st || !journals || !accounts || !out || !n)
        return PV_EINVAL;
    *out = NULL;
    *n = 0;
    pv_q_start(&q, st, S_LEDGER_COUNTS);
    if ((rc = pv_q_get(&q, read_counts, counts, sizeof counts)) != PV_OK)
        return rc;
    *journals = counts[0];
    *accounts = counts[1];
    if ((rc = pv_list_all(st, S_LEDGER_ISSUES, sizeof **out, read_issue, (void **) out, n)) !=
        PV_OK)
        return rc;
    if (pv_sql_has(st, S_LEDGER_SUMS) && (rc = account_issues(st, out, n)) != PV_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}
