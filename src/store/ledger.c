/*
 * ledger.c - the store's double-entry ledger: journal_post, account_balance
 * and the purchase batches' kept journals (store.h, store_batch.h); the
 * settings and the ledger's reading are in ledger_read.c.
 *
 * journal_post is on the purchase path. Where the dialect has arrays
 * (PostgreSQL) it is one statement (sql.h JOURNAL_POST): atomic on its own
 * under autocommit, one round trip, and it adds to the accounts in name
 * order, so two entries touching the same accounts take their row locks in
 * the same order; a shared line (revenue, dispensed postage, card clearing)
 * adds to the handle's part of its account instead (set_part, schema v21),
 * a row no other writer touches. Elsewhere (SQLite, one writer) it is the
 * accounts' upsert, the journal and its lines, four lines to a statement
 * (post_lines), with nothing left behind when it fails; journal_post2, a card
 * purchase's two entries, nets their accounts and writes both in three
 * statements (pair_body). Inside a purchase batch (journal_batch on) both
 * dialects keep the jobs' journals to the batch's end; SQLite's are written
 * by ledger_rows.c (issue 15, session 12).
 *
 * An account's balance is its row plus its parts. account_balance inside a
 * transaction locks the account's row until commit
 * (FOR UPDATE where the dialect has it; SQLite's single writer gives the
 * same guarantee): two processors cannot both read a customer balance or
 * the postal deposit and both spend it.
 */
#include "stampd/error.h"
#include "stampd/money.h"
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

/* Up to four lines: their accounts' adds (4 pairs), or their rows (journal, then 4 triples). */
static int post_chunk(struct pv_store *st, int64_t journal, const struct pv_ledger_line *lines,
                      size_t first, size_t n)
{
    struct pv_q q;
    size_t i;

    pv_q_start(&q, st, journal ? S_LINES_INSERT4 : S_ACCOUNTS_ADD4);
    if (journal)
        pv_q_int(&q, journal);
    for (i = first; i < first + 4; i++) {
        if (journal)
            pv_q_int(&q, (int64_t) i);
        pv_q_text(&q, i < n ? lines[i].account : NULL);
        pv_q_int(&q, i < n ? lines[i].amount : 0);
    }
    return pv_q_exec(&q);
}

/* Run body(st, arg) all or nothing: in a transaction of its own outside begin(), under an
 * inner savepoint inside one unless a purchase job's own savepoint is around it
 * (pv_store_defer); the accounts' CHECK refusing a balance is PV_EOVERFLOW. */
static int all_or_nothing(struct pv_store *st, int (*body)(struct pv_store *, const void *),
                          const void *arg)
{
    struct pv_q q;
    int rc, own, inner = 0;

    if ((rc = pv_write_enter(st, 1, &own)) != PV_OK)
        return rc;
    if (!own && !st->defer) {
        pv_q_start(&q, st, S_INNER_SAVEPOINT);
        if ((rc = pv_q_exec(&q)) != PV_OK)
            return pv_write_leave(st, own, rc);
        inner = 1;
    }
    rc = body(st, arg);
    /* The only CHECK the lines can break is the accounts' balance range. */
    if (rc == PV_ESTORE && st->fault == PV_FAULT_CHECK)
        rc = PV_EOVERFLOW;
    if (inner) {
        if (rc != PV_OK) {
            pv_q_start(&q, st, S_INNER_ROLLBACK_TO);
            pv_q_exec(&q);
        }
        pv_q_start(&q, st, S_INNER_RELEASE);
        if (pv_q_exec(&q) != PV_OK && rc == PV_OK)
            rc = PV_ESTORE;
    }
    return pv_write_leave(st, own, rc);
}

/* An entry (journal_post's arguments, or journal_post2's two) for all_or_nothing. */
struct entries {
    const char *kind[2], *ref;
    const struct pv_ledger_line *lines[2];
    size_t n[2];
    int64_t at;
};

/*
 * journal_post without arrays: the accounts (four to a statement; a shared
 * line adds to the row itself: one writer), the journal, its lines - three
 * statements for an entry of four lines, all or nothing: the accounts come
 * first, so the CHECK that refuses a balance leaves nothing written; any
 * other failure is undone by the inner savepoint or, inside a purchase job
 * (pv_store_defer), by the job's own savepoint, which the batch rolls back to.
 */
static int lines_body(struct pv_store *st, const void *arg)
{
    const struct entries *e = arg;
    int64_t journal = 0;
    struct pv_q q;
    int rc = PV_OK;
    size_t i;

    for (i = 0; i < e->n[0] && rc == PV_OK; i += 4)
        rc = post_chunk(st, 0, e->lines[0], i, e->n[0]);
    if (rc != PV_OK)
        return rc;
    pv_q_start(&q, st, S_JOURNAL_INSERT);
    pv_q_text(&q, e->kind[0]);
    pv_q_text(&q, e->ref);
    pv_q_int(&q, e->at);
    if ((rc = pv_q_int64(&q, &journal)) != PV_OK)
        return rc;
    for (i = 0; i < e->n[0] && rc == PV_OK; i += 4)
        rc = post_chunk(st, journal, e->lines[0], i, e->n[0]);
    return rc;
}

static int post_lines(struct pv_store *st, const char *kind, const char *ref,
                      const struct pv_ledger_line *lines, size_t n, int64_t at)
{
    const struct entries e = {{kind, NULL}, ref, {lines, NULL}, {n, 0}, at};

    return all_or_nothing(st, lines_body, &e);
}

/* The distinct accounts of a and b with their lines' sums (at most 8): 0, or PV_EOVERFLOW.
 * The sum is range-checked on its own: two lines of one sign on one account whose sum
 * leaves the range would be refused here though two posts might pass (a card purchase
 * has no such pair: its customer's lines are +due and -postage). */
static int net_accounts(const struct pv_ledger_line *a, size_t na, const struct pv_ledger_line *b,
                        size_t nb, const char *acct[8], pv_mills sum[8], size_t *n)
{
    size_t i, k;

    *n = 0;
    for (i = 0; i < na + nb; i++) {
        const struct pv_ledger_line *l = i < na ? &a[i] : &b[i - na];

        for (k = 0; k < *n && strcmp(acct[k], l->account) != 0; k++)
            ;
        if (k == *n) {
            acct[k] = l->account;
            sum[k] = 0;
            (*n)++;
        }
        if (pv_money_add(sum[k], l->amount, &sum[k]) != PV_OK)
            return PV_EOVERFLOW;
    }
    return PV_OK;
}

/* Two journals of one ref in one statement (SQLite): their ids into journal[] in kind1, kind2
 * order. A row inserted without an id gets one more than the table's largest rowid (SQLite's
 * rule while that is below 2^63 - 1, which journal ids counted from 1 never reach), and the
 * statement inserts its two rows in order, so the ids are the last insert's rowid and the one
 * before it - read from the handle (last_id): an INSERT ... RETURNING would buffer its rows
 * in a temporary table it builds for the statement. */
static int two_journals(struct pv_store *st, const char *kind1, const char *kind2, const char *ref,
                        int64_t at, int64_t journal[2])
{
    struct pv_q q;
    int64_t changed, last;
    int rc;

    pv_q_start(&q, st, S_JOURNAL_INSERT2);
    pv_q_text(&q, kind1);
    pv_q_text(&q, kind2);
    pv_q_text(&q, ref);
    pv_q_int(&q, at);
    if ((rc = pv_q_changed(&q, &changed)) != PV_OK)
        return rc;
    last = st->drv->last_id ? st->drv->last_id(st) : 0;
    if (changed != 2 || last < 2)
        return PV_ESTORE;
    journal[0] = last - 1;
    journal[1] = last;
    return PV_OK;
}

/*
 * journal_post2 without arrays (SQLite), eight lines at most: both entries' accounts in one
 * statement, netted (a card purchase's customer line of card_charge and of postage_sale
 * cancel when no medium is bought: its row is not rewritten), their two journals in one, their
 * lines in one - three statements instead of two entries' six, all or nothing as post_lines.
 */
static int pair_body(struct pv_store *st, const void *arg)
{
    const struct entries *e = arg;
    const size_t n1 = e->n[0];
    const char *acct[8];
    pv_mills sum[8];
    int64_t journal[2] = {0, 0};
    struct pv_q q;
    size_t i, na;
    int rc;

    if ((rc = net_accounts(e->lines[0], n1, e->lines[1], e->n[1], acct, sum, &na)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_ACCOUNTS_ADD8);
    for (i = 0; i < 8; i++) {
        pv_q_text(&q, i < na ? acct[i] : NULL);
        pv_q_int(&q, i < na ? sum[i] : 0);
    }
    if ((rc = pv_q_exec(&q)) != PV_OK ||
        (rc = two_journals(st, e->kind[0], e->kind[1], e->ref, e->at, journal)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_LINES_INSERT8);
    for (i = 0; i < 8; i++) {
        const struct pv_ledger_line *l = i < n1             ? &e->lines[0][i]
                                         : i < n1 + e->n[1] ? &e->lines[1][i - n1]
                                                            : NULL;

        pv_q_int(&q, journal[i >= n1]);
        pv_q_int(&q, (int64_t) (i < n1 ? i : i - n1));
        pv_q_text(&q, l ? l->account : NULL);
        pv_q_int(&q, l ? l->amount : 0);
    }
    return pv_q_exec(&q);
}

/*
 * A purchase batch's journals (journal_batch; SQLite too since session 12): each job's
 * journal_post keeps its journal and lines here, and the batch writes all
 * of them, and the accounts and parts they move, in one statement
 * (JOURNALS_INSERT) before its commit. Until then account_balance adds the
 * kept lines of the account to what the database holds, so a later job
 * sees an earlier one's debit. A savepoint marks how many there were, its
 * rollback_to forgets the job's. Strings are copies (owned).
 */
struct pv_jbuf {
    int on;
    size_t nj, capj, markj; /* journals */
    char **kind, **ref;
    int64_t *at;
    size_t nl, capl, markl; /* lines */
    int64_t *jord, *line, *amount, *part;
    char **acct;           /* borrowed from sums */
    struct pv_jsums *sums; /* the kept lines' sum an account (ledger_rows.c) */
    size_t nk, capk;       /* balances known from lock_batch, valid to the end of the transaction */
    char (*kname)[PV_ACCOUNT_MAX];
    pv_mills *kbal;
    int late;   /* the known balances were read without a lock (batch_late) */
    int broken; /* late, and a journal written at once moved a known account */
    /* Idempotency rows a batch locking late keeps (idem_put), written by batch_settle. */
    size_t ni, capi, marki;
    char **iown, **ikey, **ihash, **iind;
    int64_t *iat;
};

/* b->f grown to cap elements, or PV_ENOMEM from the function (b->f unchanged). */
#define GROW(b, f, cap)                                                                            \
    do {                                                                                           \
        void *grown_ = realloc((b)->f, (cap) * sizeof *(b)->f);                                    \
        if (!grown_)                                                                               \
            return PV_ENOMEM;                                                                      \
        (b)->f = grown_;                                                                           \
    } while (0)

static void idem_cut(struct pv_jbuf *b, size_t ni)
{
    while (b->ni > ni) {
        b->ni--;
        free(b->iown[b->ni]);
        free(b->ikey[b->ni]);
        free(b->ihash[b->ni]);
        free(b->iind[b->ni]);
    }
    if (b->marki > ni)
        b->marki = ni;
}

static void jbuf_cut(struct pv_jbuf *b, size_t nj, size_t nl)
{
    while (b->nj > nj) {
        b->nj--;
        free(b->kind[b->nj]);
        free(b->ref[b->nj]);
    }
    while (b->nl > nl) {
        b->nl--;
        pv_jsums_sub(b->sums, b->acct[b->nl], b->amount[b->nl]);
    }
    if (b->nl == 0)
        pv_jsums_reset(b->sums, 0);
}

void pv_jbuf_mark(struct pv_store *st)
{
    if (st->jbuf) {
        st->jbuf->markj = st->jbuf->nj;
        st->jbuf->markl = st->jbuf->nl;
        st->jbuf->marki = st->jbuf->ni;
    }
}

void pv_jbuf_undo(struct pv_store *st)
{
    if (st->jbuf) {
        jbuf_cut(st->jbuf, st->jbuf->markj, st->jbuf->markl);
        idem_cut(st->jbuf, st->jbuf->marki);
    }
}

void pv_jbuf_drop(struct pv_store *st, int free_it)
{
    struct pv_jbuf *b = st->jbuf;

    if (!b)
        return;
    jbuf_cut(b, 0, 0);
    idem_cut(b, 0);
    b->on = 0;
    b->markj = b->markl = 0;
    b->nk = 0;
    b->late = b->broken = 0;
    if (!free_it)
        return;
    free(b->kname);
    free(b->kbal);
    free(b->kind);
    free(b->ref);
    free(b->at);
    free(b->jord);
    free(b->line);
    free(b->amount);
    free(b->part);
    free(b->acct);
    free(b->iown);
    free(b->ikey);
    free(b->ihash);
    free(b->iind);
    free(b->iat);
    pv_jsums_reset(b->sums, 1);
    free(b);
    st->jbuf = NULL;
}

static long known_at(const struct pv_jbuf *b, const char *account);
static int idem_write(struct pv_store *st, int *moved);

int pv_jbuf_know(struct pv_store *st, const char *account, pv_mills balance)
{
    struct pv_jbuf *b;
    long k;

    if (!pv_fits(account, PV_ACCOUNT_MAX))
        return PV_EINVAL;
    if (!st->jbuf && !(st->jbuf = calloc(1, sizeof *st->jbuf)))
        return PV_ENOMEM;
    b = st->jbuf;
    if ((k = known_at(b, account)) >= 0) {
        b->kbal[k] = balance; /* read again (batch_settle) */
        return PV_OK;
    }
    if (b->nk == b->capk) {
        size_t cap = b->capk ? 2 * b->capk : 64;

        GROW(b, kname, cap);
        GROW(b, kbal, cap);
        b->capk = cap;
    }
    memcpy(b->kname[b->nk], account, strlen(account) + 1);
    b->kbal[b->nk++] = balance;
    return PV_OK;
}

/* Where account's known balance is, or -1. */
static long known_at(const struct pv_jbuf *b, const char *account)
{
    size_t i;

    for (i = 0; b && i < b->nk; i++)
        if (strcmp(b->kname[i], account) == 0)
            return (long) i;
    return -1;
}

int pv_jbuf_known(const struct pv_store *st, const char *account)
{
    return st && known_at(st->jbuf, account) >= 0;
}

int pv_jbuf_read(struct pv_store *st, int id, const char (*accounts)[PV_ACCOUNT_MAX], size_t n)
{
    struct pv_q q;
    int rc;

    pv_q_start(&q, st, id);
    pv_q_array(&q, PV_P_TEXT_ARRAY, accounts[0], n, sizeof accounts[0]);
    while ((rc = pv_q_row(&q)) == PV_OK) {
        char name[PV_ACCOUNT_MAX];
        struct pv_row r = pv_row_of(&q);
        pv_mills bal;

        pv_r_text(&r, name, sizeof name);
        bal = pv_r_int(&r);
        if ((rc = r.rc) != PV_OK || (rc = pv_jbuf_know(st, name, bal)) != PV_OK)
            break;
    }
    pv_q_done(&q);
    return rc == PV_ENOTFOUND ? PV_OK : rc;
}

/* The known balance of account is stale (a journal moved it in the database). */
static void jbuf_forget_one(struct pv_jbuf *b, const char *account)
{
    long k = b ? known_at(b, account) : -1;

    if (k < 0)
        return;
    b->broken |= b->late; /* what the batch decided against moved under it: batch_settle */
    if ((size_t) k != --b->nk) {
        memcpy(b->kname[k], b->kname[b->nk], sizeof b->kname[k]);
        b->kbal[k] = b->kbal[b->nk];
    }
}

/* A journal written at once moved these accounts: their known balances are stale. */
static void jbuf_forget(struct pv_jbuf *b, const struct pv_ledger_line *lines, size_t n)
{
    for (size_t i = 0; b && i < n; i++)
        jbuf_forget_one(b, lines[i].account);
}

/* Room for one more journal and n more lines. */
static int jbuf_room(struct pv_jbuf *b, size_t n)
{
    if (b->nj == b->capj) {
        size_t cap = b->capj ? 2 * b->capj : 64;

        GROW(b, kind, cap);
        GROW(b, ref, cap);
        GROW(b, at, cap);
        b->capj = cap;
    }
    while (b->nl + n > b->capl) {
        size_t cap = b->capl ? 2 * b->capl : 256;

        GROW(b, jord, cap);
        GROW(b, line, cap);
        GROW(b, amount, cap);
        GROW(b, part, cap);
        GROW(b, acct, cap);
        b->capl = cap;
    }
    return PV_OK;
}

static int jbuf_add(struct pv_jbuf *b, const char *kind, const char *ref,
                    const struct pv_ledger_line *lines, size_t n, const int64_t *parts, int64_t at)
{
    size_t i, nj = b->nj, nl = b->nl;

    if (jbuf_room(b, n) != PV_OK)
        return PV_ENOMEM;
    b->kind[nj] = strdup(kind);
    b->ref[nj] = b->kind[nj] ? strdup(ref) : NULL;
    if (!b->ref[nj]) {
        free(b->kind[nj]);
        return PV_ENOMEM;
    }
    b->at[nj] = at;
    b->nj++;
    for (i = 0; i < n; i++) {
        int rc = pv_jsums_add(&b->sums, lines[i].account, lines[i].amount, &b->acct[b->nl]);

        if (rc != PV_OK) { /* PV_ENOMEM, or PV_EOVERFLOW: two lines of one account */
            jbuf_cut(b, nj, nl);
            return rc;
        }
        b->jord[b->nl] = (int64_t) b->nj; /* WITH ORDINALITY counts from 1 */
        b->line[b->nl] = (int64_t) i;
        b->amount[b->nl] = lines[i].amount;
        b->part[b->nl] = parts[i];
        b->nl++;
    }
    return PV_OK;
}

int pv_jbuf_write(struct pv_store *st)
{
    struct pv_jbuf *b = st->jbuf;
    struct pv_q q;
    int rc, moved = 0;

    /* Keys still kept (batch_settle writes them; never left here today): written now; a
     * stored one fails the batch as busy - retried - never as a job's 409 for all. */
    if (b && b->ni && ((rc = idem_write(st, &moved)) != PV_OK || moved))
        return moved ? PV_EBUSY : rc;
    if (!b || b->nj == 0)
        return PV_OK;
    if (!pv_sql_has(st, S_JOURNALS_INSERT)) { /* SQLite: a few multi-row statements */
        rc = pv_jbuf_write_rows(st, b->nj, b->kind, b->ref, b->at, b->nl, b->jord, b->line, b->acct,
                                b->amount, b->sums);
        jbuf_cut(b, 0, 0);
        b->markj = b->markl = 0;
        return rc;
    }
    pv_q_start(&q, st, S_JOURNALS_INSERT);
    pv_q_array(&q, PV_P_TEXT_ARRAY, b->kind, b->nj, 0);
    pv_q_array(&q, PV_P_TEXT_ARRAY, b->ref, b->nj, 0);
    pv_q_array(&q, PV_P_INT_ARRAY, b->at, b->nj, sizeof *b->at);
    pv_q_array(&q, PV_P_INT_ARRAY, b->jord, b->nl, sizeof *b->jord);
    pv_q_array(&q, PV_P_INT_ARRAY, b->line, b->nl, sizeof *b->line);
    pv_q_array(&q, PV_P_TEXT_ARRAY, b->acct, b->nl, 0);
    pv_q_array(&q, PV_P_INT_ARRAY, b->amount, b->nl, sizeof *b->amount);
    pv_q_array(&q, PV_P_INT_ARRAY, b->part, b->nl, sizeof *b->part);
    /* Queued in a purchase batch (pv_store_defer); a CHECK's refusal is PV_EOVERFLOW. */
    rc = pv_q_send(&q, PV_SEND_OVERFLOW);
    /* The lines are in the database now (queued before any later read): a balance known
     * from the lock would no longer count them (review after the merge, session 9). */
    for (size_t i = 0; i < b->nl; i++)
        jbuf_forget_one(b, b->acct[i]);
    jbuf_cut(b, 0, 0);
    b->markj = b->markl = 0;
    return rc;
}

int pv_store_journal_batch(struct pv_store *st, int on)
{
    int rc;

    if (!st || !st->in_tx)
        return PV_EINVAL;
    if (!on) {
        rc = pv_jbuf_write(st);
        if (st->jbuf)
            st->jbuf->on = 0;
        return rc;
    }
    if (!pv_sql_has(st, S_JOURNALS_INSERT) && !pv_sql_has(st, S_JOURNALS_ROWS16))
        return PV_OK; /* a dialect with neither: journal_post writes its journal at once */
    if (!st->jbuf && !(st->jbuf = calloc(1, sizeof *st->jbuf)))
        return PV_ENOMEM;
    st->jbuf->on = 1;
    pv_jbuf_mark(st);
    return PV_OK;
}

/* What the kept lines add to account (struct pv_jbuf): their sum, kept in the balance range
 * as it moved (pv_jsums_add). */
static void jbuf_pending(const struct pv_jbuf *b, const char *account, pv_mills *sum)
{
    *sum = 0;
    if (b && b->on)
        pv_jsums_get(b->sums, account, sum);
}

/* journal_post keeps the entry for the batch's end (journal_batch on, a ref to file it by). */
static int kept(const struct pv_store *st, const char *ref)
{
    return st->jbuf && st->jbuf->on && st->in_tx && ref;
}

/* Each line names an account and moves an amount in range: PV_OK, PV_EINVAL, PV_EOVERFLOW. */
static int lines_ok(const struct pv_ledger_line *lines, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!PV_FITS(lines[i].account) || !lines[i].account[0])
            return PV_EINVAL;
        if (lines[i].amount < -PV_MILLS_MAX || lines[i].amount > PV_MILLS_MAX)
            return PV_EOVERFLOW;
    }
    return PV_OK;
}

int pv_store_journal_post(struct pv_store *st, const char *kind, const char *ref,
                          const struct pv_ledger_line *lines, size_t n, int64_t at)
{
    int64_t part[16], *parts = part;
    struct pv_q q;
    int rc, own;
    size_t i;

    if (!st || !kind || !lines || n == 0)
        return PV_EINVAL;
    if ((rc = lines_ok(lines, n)) != PV_OK)
        return rc;
    if (!pv_sql_has(st, S_JOURNAL_POST) && !kept(st, ref))
        return post_lines(st, kind, ref, lines, n, at);
    if (n > sizeof part / sizeof part[0] && !(parts = malloc(n * sizeof *parts)))
        return PV_ENOMEM;
    for (i = 0; i < n; i++)
        parts[i] = lines[i].shared ? st->part : 0;
    if (kept(st, ref)) {
        /* Kept; each account's kept lines together checked against the range the accounts'
         * CHECK allows as they are added (jbuf_add; its stored balance is checked when the
         * batch writes them, account_balance checks the sum it answers). */
        rc = jbuf_add(st->jbuf, kind, ref, lines, n, parts, at);
    } else if ((rc = pv_write_enter(st, 0, &own)) == PV_OK) {
        jbuf_forget(st->jbuf, lines, n);
        pv_q_start(&q, st, S_JOURNAL_POST);
        pv_q_text(&q, kind);
        pv_q_text(&q, ref);
        pv_q_int(&q, at);
        pv_q_array(&q, PV_P_TEXT_ARRAY, lines[0].account, n, sizeof lines[0]);
        pv_q_array(&q, PV_P_INT_ARRAY, &lines[0].amount, n, sizeof lines[0]);
        pv_q_array(&q, PV_P_INT_ARRAY, parts, n, sizeof parts[0]);
        /* Queued in a purchase (pv_store_defer); a CHECK's refusal is PV_EOVERFLOW. */
        rc = pv_q_send(&q, PV_SEND_OVERFLOW);
        rc = pv_write_leave(st, own, rc);
    }
    if (parts != part)
        free(parts);
    return rc;
}

int pv_store_journal_post2(struct pv_store *st, const char *kind1, const struct pv_ledger_line *l1,
                           size_t n1, const char *kind2, const struct pv_ledger_line *l2, size_t n2,
                           const char *ref, int64_t at)
{
    int rc, own;

    if (!st || !kind1 || !kind2 || !l1 || !l2 || n1 == 0 || n2 == 0)
        return PV_EINVAL;
    if (kept(st, ref) && !pv_sql_has(st, S_JOURNAL_POST)) {
        /* SQLite in a purchase batch: both kept, or neither (the first cut again). */
        size_t nj = st->jbuf->nj, nl = st->jbuf->nl;

        if ((rc = pv_store_journal_post(st, kind1, ref, l1, n1, at)) == PV_OK &&
            (rc = pv_store_journal_post(st, kind2, ref, l2, n2, at)) != PV_OK)
            jbuf_cut(st->jbuf, nj, nl);
        return rc;
    }
    if (pv_sql_has(st, S_JOURNAL_POST) || n1 + n2 > 8 || !ref) {
        /* The two posts; in a transaction of their own unless in the caller's. */
        if ((rc = pv_write_enter(st, 1, &own)) != PV_OK)
            return rc;
        if ((rc = pv_store_journal_post(st, kind1, ref, l1, n1, at)) == PV_OK)
            rc = pv_store_journal_post(st, kind2, ref, l2, n2, at);
        return pv_write_leave(st, own, rc);
    }
    if ((rc = lines_ok(l1, n1)) != PV_OK || (rc = lines_ok(l2, n2)) != PV_OK)
        return rc;
    {
        const struct entries e = {{kind1, kind2}, ref, {l1, l2}, {n1, n2}, at};

        return all_or_nothing(st, pair_body, &e);
    }
}

int pv_store_account_balance(struct pv_store *st, const char *account, pv_mills *balance)
{
    pv_mills kept;
    struct pv_q q;
    long k;
    int rc;

    if (!st || !balance)
        return PV_EINVAL;
    *balance = 0;
    if (!account)
        return PV_EINVAL;
    if ((k = known_at(st->jbuf, account)) >= 0 && st->in_tx) {
        *balance = st->jbuf->kbal[k]; /* locked by this batch since it read it (lock_batch) */
        rc = PV_OK;
    } else {
        /* A batch locking late (batch_late) waits for no account row before its customers':
         * another account (the postal deposit) only when free (PV_EBUSY: it is sent back to
         * lock first), none when a known balance was moved (batch_settle sends it back). */
        int id = pv_locking(st, S_ACCOUNT_GET, S_ACCOUNT_GET_LOCK);

        if (st->jbuf && st->jbuf->late)
            id = st->jbuf->broken ? S_ACCOUNT_GET : S_ACCOUNT_GET_LOCK_NOWAIT;
        pv_q_start(&q, st, id);
        pv_q_text(&q, account);
        rc = pv_q_int64(&q, balance);
    }
    if (!st->jbuf || !st->jbuf->on || (rc != PV_OK && rc != PV_ENOTFOUND))
        return rc;
    /* Inside a purchase batch: with what its jobs posted so far (struct pv_jbuf), which
     * makes an account that has no row yet. */
    if (rc == PV_ENOTFOUND) {
        if (!pv_jsums_get(st->jbuf->sums, account, &kept))
            return rc;
        *balance = 0;
    }
    jbuf_pending(st->jbuf, account, &kept);
    return pv_money_add(*balance, kept, balance);
}

/* ---- a batch that locks its customers late (store_batch.h; issue 15, session 10) ---- */

int pv_jbuf_idem_keep(struct pv_store *st, const char *owner_id, const char *key,
                      const char *req_hash, const char *indicium_id, int64_t at, int *kept)
{
    struct pv_jbuf *b = st->jbuf;

    *kept = 0;
    if (!b || !b->on || !b->late || !pv_sql_has(st, S_IDEM_PUT_MANY))
        return PV_OK; /* written at once */
    /* A batch locking late never uses a key twice (pv_purchase_repeats keeps such a batch
     * locking first); the statement's unique key would refuse it anyway. */
    if (b->ni == b->capi) {
        size_t cap = b->capi ? 2 * b->capi : 64;

        GROW(b, iown, cap);
        GROW(b, ikey, cap);
        GROW(b, ihash, cap);
        GROW(b, iind, cap);
        GROW(b, iat, cap);
        b->capi = cap;
    }
    b->iown[b->ni] = strdup(owner_id);
    b->ikey[b->ni] = strdup(key);
    b->ihash[b->ni] = strdup(req_hash);
    b->iind[b->ni] = strdup(indicium_id);
    b->iat[b->ni] = at;
    b->ni++;
    if (!b->iown[b->ni - 1] || !b->ikey[b->ni - 1] || !b->ihash[b->ni - 1] || !b->iind[b->ni - 1]) {
        idem_cut(b, b->ni - 1);
        return PV_ENOMEM;
    }
    *kept = 1;
    return PV_OK;
}

/* The kept idempotency rows in one statement, in key order, inside the driver's savepoint,
 * queued with its RELEASE (*sent 1): the customers' lock that follows carries them, one round
 * trip for all (session 13), and idem_end reads what the statement said. The lock runs after
 * the RELEASE, in savepoint b itself: a row lock taken in a savepoint that was then released
 * makes another batch waiting for that row wait for this whole transaction, which a
 * ROLLBACK TO b no longer frees - two processors' batches then deadlocked (test_pg_late).
 * A plain INSERT: ON CONFLICT DO NOTHING would insert every row speculatively. */
static int idem_send(struct pv_store *st, int *sent)
{
    struct pv_jbuf *b = st->jbuf;
    struct pv_q q;
    int rc;

    *sent = 0;
    if (!b || b->ni == 0)
        return PV_OK;
    if ((rc = st->drv->tx(st, PV_TX_SAVEPOINT)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_IDEM_PUT_MANY);
    pv_q_array(&q, PV_P_TEXT_ARRAY, b->iown, b->ni, 0);
    pv_q_array(&q, PV_P_TEXT_ARRAY, b->ikey, b->ni, 0);
    pv_q_array(&q, PV_P_TEXT_ARRAY, b->ihash, b->ni, 0);
    pv_q_array(&q, PV_P_TEXT_ARRAY, b->iind, b->ni, 0);
    pv_q_array(&q, PV_P_INT_ARRAY, b->iat, b->ni, sizeof *b->iat);
    rc = pv_q_queue(&q, 0);
    idem_cut(b, 0);
    *sent = rc == PV_OK;
    /* Skipped by the server when the INSERT fails: the savepoint is still there to undo. */
    return rc == PV_OK ? st->drv->tx(st, PV_TX_RELEASE) : rc;
}

/* After idem_send and the statement behind it (rc its answer): the keys' own answer. A key
 * stored meanwhile (*moved 1): its savepoint undone - the server skipped its RELEASE and the
 * statements behind it. */
static int idem_end(struct pv_store *st, int rc, int *moved)
{
    int put = st->drv->flush(st); /* what the keys' statement said: PV_OK when it stood */

    if (put == PV_EEXIST) {
        *moved = 1;
        return st->drv->tx(st, PV_TX_ROLLBACK_TO);
    }
    return put != PV_OK ? put : rc; /* a failure: the transaction is aborted, rolled back */
}

/* idem_send and idem_end with nothing behind: the keys alone, waited for. */
static int idem_write(struct pv_store *st, int *moved)
{
    int sent, rc = idem_send(st, &sent);

    return rc == PV_OK && sent ? idem_end(st, PV_OK, moved) : rc;
}

int pv_store_batch_late(struct pv_store *st, const char (*accounts)[PV_ACCOUNT_MAX], size_t n,
                        int *late)
{
    int rc;

    if (!st || !late || !st->in_tx || st->in_sp || (n && !accounts))
        return PV_EINVAL;
    *late = 0;
    if (!pv_sql_has(st, S_BATCH_SAVEPOINT))
        return PV_OK; /* SQLite: its write lock is the whole database's */
    if (!st->jbuf || !st->jbuf->on || st->jbuf->nl || st->jbuf->nj)
        return PV_EINVAL; /* after journal_batch(1), before any job */
    /* Both queued, read with the balances' read (one round trip for the three). */
    if ((rc = pv_ctl_queue(st, S_BATCH_SAVEPOINT)) != PV_OK ||
        (rc = pv_ctl_queue(st, S_GATE_LATE)) != PV_OK)
        return rc;
    st->jbuf->nk = 0;
    st->jbuf->late = 1;
    st->jbuf->broken = 0;
    *late = 1;
    if (n == 0)
        return PV_OK;
    return pv_jbuf_read(st, S_ACCOUNTS_READ, accounts, n);
}

int pv_store_batch_settle(struct pv_store *st, const char (*accounts)[PV_ACCOUNT_MAX], size_t n,
                          pv_mills *was, pv_mills *now, int *moved)
{
    struct pv_jbuf *b = st ? st->jbuf : NULL;
    size_t i;
    long k;
    int rc, sent;

    if (!st || !moved || !st->in_tx || st->in_sp || !b || !b->late ||
        (n && (!accounts || !was || !now)))
        return PV_EINVAL;
    *moved = b->broken;
    for (i = 0; i < n; i++) {
        k = known_at(b, accounts[i]);
        was[i] = now[i] = k >= 0 ? b->kbal[k] : 0; /* no row when read: 0, as a new one's */
    }
    /* Going back already (a journal written at once moved a kept account): no keys. */
    if (*moved)
        return PV_OK;
    /* The jobs' idempotency rows first, before any customer's row (the order of every batch
     * locking late; one locking first takes customers, then each key in its job, and
     * batch_gate keeps the two kinds apart, so the orders never meet). A key another batch
     * stored since batch_facts read it sends this batch back (*moved): locking first, every
     * job reads its key again (purchase.c, late_undo), and that job replays. */
    if ((rc = idem_send(st, &sent)) != PV_OK)
        return rc;
    b->late = 0; /* locked below: what is known from here on is the locked row */
    rc = n ? pv_jbuf_read(st, S_ACCOUNTS_LOCK, accounts, n) : PV_OK;
    if (sent && ((rc = idem_end(st, rc, moved)) != PV_OK || *moved))
        return rc;
    if (rc != PV_OK || n == 0)
        return rc;
    for (i = 0; i < n; i++)
        if ((k = known_at(b, accounts[i])) >= 0)
            now[i] = b->kbal[k];
    return PV_OK;
}

int pv_store_batch_undo(struct pv_store *st)
{
    struct pv_jbuf *b = st ? st->jbuf : NULL;
    struct pv_q q;
    int rc;

    if (!st || !st->in_tx || st->in_sp || st->defer || !b || !pv_sql_has(st, S_BATCH_ROLLBACK_TO))
        return PV_EINVAL;
    pv_q_start(&q, st, S_BATCH_ROLLBACK_TO);
    if ((rc = pv_q_exec(&q)) != PV_OK)
        return rc;
    /* The jobs' kept journals and the balances read are gone with what they wrote. */
    jbuf_cut(b, 0, 0);
    idem_cut(b, 0);
    b->markj = b->markl = 0;
    b->nk = 0;
    b->late = b->broken = 0;
    return PV_OK;
}
