/*
 * ledger.c - journal entries that always balance, account names, ids.
 */
#include "domain/ledger.h"

#include "crypto/primitives.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The n lines sum to zero (n >= 2): PV_OK, PV_EINVAL or PV_EOVERFLOW. */
static int balanced(const struct pv_ledger_line *lines, size_t n)
{
    pv_mills sum = 0;
    size_t i;
    int rc;

    if (n < 2)
        return PV_EINVAL;
    for (i = 0; i < n; i++)
        if ((rc = pv_money_add(sum, lines[i].amount, &sum)) != PV_OK)
            return rc;
    return sum == 0 ? PV_OK : PV_EINVAL;
}

int pv_ledger_post(struct pv_store *st, const char *kind, const char *ref,
                   const struct pv_ledger_line *lines, size_t n, int64_t at)
{
    int rc = balanced(lines, n);

    return rc != PV_OK ? rc : pv_store_journal_post(st, kind, ref, lines, n, at);
}

int pv_ledger_post2(struct pv_store *st, const char *kind1, const struct pv_ledger_line *l1,
                    size_t n1, const char *kind2, const struct pv_ledger_line *l2, size_t n2,
                    const char *ref, int64_t at)
{
    int rc;

    if (n1 == 0)
        return pv_ledger_post(st, kind2, ref, l2, n2, at);
    if ((rc = balanced(l1, n1)) != PV_OK || (rc = balanced(l2, n2)) != PV_OK)
        return rc;
    return pv_store_journal_post2(st, kind1, l1, n1, kind2, l2, n2, ref, at);
}

void pv_account_customer(const char *customer_id, char buf[PV_ACCOUNT_MAX])
{
    pv_str_join(buf, PV_ACCOUNT_MAX, "customer:", customer_id);
}

void pv_account_mode(const char *base, int test, char buf[PV_ACCOUNT_MAX])
{
    pv_str_join(buf, PV_ACCOUNT_MAX, test ? PV_ACCT_TEST_PREFIX : "", base);
}

void pv_account_customer_mode(const char *customer_id, int test, char buf[PV_ACCOUNT_MAX])
{
    pv_str_join(buf, PV_ACCOUNT_MAX,
                test ? PV_ACCT_TEST_PREFIX "customer:" : "customer:", customer_id);
}

void pv_account_psd(uint32_t psd_id, char buf[PV_ACCOUNT_MAX])
{
    snprintf(buf, PV_ACCOUNT_MAX, "psd:%u", (unsigned) psd_id);
}

int pv_balance(struct pv_store *st, const char *account, pv_mills *out)
{
    int rc = pv_store_account_balance(st, account, out);

    if (rc == PV_ENOTFOUND) {
        *out = 0;
        return PV_OK;
    }
    return rc;
}

static const char id_alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz"; /* Crockford */

/* An id's random bytes come from a buffer of this thread's, filled from the
 * CSPRNG 256 bytes at a time: one DRBG call for about 23 ids instead of one
 * each (the writer makes an id a purchase: about 2% of its time went to
 * RAND_bytes). A forked child fills its own, so parent and child never hand
 * out the same bytes: a fork moves a generation on (pthread_atfork) and a
 * buffer filled in an earlier one is thrown away. Not getpid() an id: a system
 * call each, which cost the writer ~3% of its time on a machine whose system
 * calls take a microsecond (issue 15, session 20). Tokens (secrets) still
 * draw straight from pv_random. */
static atomic_uint id_fork_gen = 1;
static pthread_once_t id_fork_once = PTHREAD_ONCE_INIT;
static int id_fork_watched; /* set once, under id_fork_once: else getpid() an id, as before */

static void id_forked(void)
{
    atomic_fetch_add_explicit(&id_fork_gen, 1, memory_order_relaxed);
}

static void id_fork_watch(void)
{
    id_fork_watched = pthread_atfork(NULL, NULL, id_forked) == 0;
}

static int id_random(uint8_t *out, size_t n)
{
    static _Thread_local uint8_t buf[256];
    static _Thread_local size_t left;
    static _Thread_local unsigned filled_in; /* 0: never filled */
    static _Thread_local pid_t owner;
    unsigned gen;

    if (n > sizeof buf)
        return pv_random(out, n);
    pthread_once(&id_fork_once, id_fork_watch);
    gen = atomic_load_explicit(&id_fork_gen, memory_order_relaxed);
    if (left < n || filled_in != gen || (!id_fork_watched && owner != getpid())) {
        if (pv_random(buf, sizeof buf) != PV_OK)
            return PV_ECRYPTO;
        left = sizeof buf;
        filled_in = gen;
        owner = id_fork_watched ? 0 : getpid();
    }
    memcpy(out, buf + sizeof buf - left, n);
    memset(buf + sizeof buf - left, 0, n); /* each byte used once */
    left -= n;
    return PV_OK;
}

void pv_id_tail(int64_t ms, const uint8_t rnd[PV_ID_CHARS - PV_ID_TIME_CHARS],
                char tail[PV_ID_CHARS + 1])
{
    uint64_t t = ms > 0 ? (uint64_t) ms : 0;
    size_t i;

    /* The time first, most significant character first, so that ids made
     * later sort later and a new id lands at the end of an index on it. */
    for (i = PV_ID_TIME_CHARS; i-- > 0; t >>= 5)
        tail[i] = id_alphabet[t & 31];
    for (i = PV_ID_TIME_CHARS; i < PV_ID_CHARS; i++)
        tail[i] = id_alphabet[rnd[i - PV_ID_TIME_CHARS] & 31];
    tail[PV_ID_CHARS] = '\0';
}

int pv_new_id(const char *prefix, char out[PV_ID_MAX])
{
    uint8_t rnd[PV_ID_CHARS - PV_ID_TIME_CHARS];
    char tail[PV_ID_CHARS + 2] = "_"; /* "_" and the tail: prefix_tail */

    if (id_random(rnd, sizeof rnd) != PV_OK)
        return PV_ECRYPTO;
    pv_id_tail(pv_now_ms(), rnd, tail + 1);
    pv_str_join(out, PV_ID_MAX, prefix, tail);
    return PV_OK;
}

int pv_new_token(const char *prefix, char out[PV_ID_MAX])
{
    uint8_t rnd[PV_ID_CHARS];
    char tail[PV_ID_CHARS + 1];
    size_t i;

    if (pv_random(rnd, sizeof rnd) != PV_OK)
        return PV_ECRYPTO;
    for (i = 0; i < sizeof rnd; i++)
        tail[i] = id_alphabet[rnd[i] & 31];
    tail[PV_ID_CHARS] = '\0';
    snprintf(out, PV_ID_MAX, "%s_%s", prefix, tail);
    return PV_OK;
}

static int add_issue(struct pv_ledger_report *rep, int kind, const char *name, pv_mills recorded,
                     pv_mills computed)
{
    struct pv_ledger_issue *grown = realloc(rep->issues, (rep->n + 1) * sizeof *grown);

    if (!grown)
        return PV_ENOMEM;
    rep->issues = grown;
    memset(&grown[rep->n], 0, sizeof grown[rep->n]);
    grown[rep->n].kind = kind;
    pv_str_copy(grown[rep->n].name, sizeof grown[rep->n].name, name);
    grown[rep->n].recorded = recorded;
    grown[rep->n].computed = computed;
    rep->n++;
    return PV_OK;
}

/* What the accepted refund claims paid into the deposit, by the claim
 * accounts: -refund_claims - authority_receivable - refund_claims_rejected. */
static int claims_accepted(struct pv_store *st, int test, pv_mills *out)
{
    static const char *const names[] = {PV_ACCT_CLAIMED, PV_ACCT_RECEIVABLE, PV_ACCT_CLAIM_LOSS};
    char acct[PV_ACCOUNT_MAX];
    pv_mills bal, sum = 0;
    size_t i;
    int rc;

    for (i = 0; i < 3; i++) {
        pv_account_mode(names[i], test, acct);
        if ((rc = pv_balance(st, acct, &bal)) != PV_OK || (rc = pv_money_sub(sum, bal, &sum)))
            return rc;
    }
    *out = sum;
    return PV_OK;
}

/* The claim accounts against the claims (claims.h): what the authority
 * owes is the pending claims, the loss the rejected ones, and
 * -refund_claims every claim. */
static int check_claims(struct pv_store *st, struct pv_ledger_report *rep)
{
    struct pv_claim_totals t;
    pv_mills bal, all = 0, want[3];
    const char *names[3] = {PV_ACCT_RECEIVABLE, PV_ACCT_CLAIM_LOSS, PV_ACCT_CLAIMED};
    size_t i;
    int rc;

    if ((rc = pv_store_claim_totals(st, &t)) != PV_OK)
        return rc;
    for (i = 0; i < 3; i++)
        if ((rc = pv_money_add(all, t.amount[i], &all)) != PV_OK)
            return rc;
    want[0] = t.amount[PV_CLAIM_PENDING];
    want[1] = t.amount[PV_CLAIM_REJECTED];
    want[2] = -all;
    for (i = 0; i < 3; i++) {
        if ((rc = pv_balance(st, names[i], &bal)) != PV_OK)
            return rc;
        if (bal != want[i] &&
            (rc = add_issue(rep, PV_LEDGER_TOTALS_MISMATCH, names[i], bal, want[i])) != PV_OK)
            return rc;
    }
    return PV_OK;
}

/* The totals of one side of the books: live PSDs or test PSDs (test 0/1). */
static int check_totals(struct pv_store *st, const struct pv_psd_rec *psds, size_t npsds, int test,
                        struct pv_ledger_report *rep)
{
    char acct[PV_ACCOUNT_MAX], dispensed[PV_ACCOUNT_MAX], authority_acct[PV_ACCOUNT_MAX],
        deposit_acct[PV_ACCOUNT_MAX];
    pv_mills bal, asc = 0, ctl = 0, want, authority, deposit, holds, accepted;
    size_t i;
    int rc, withdrawn;

    for (i = 0; i < npsds; i++) {
        if (psds[i].test != test)
            continue;
        /* A withdrawn PSD's registers are frozen as read, but what its
         * descending register held went back to the deposit (psd_withdrawal,
         * lifecycle.h): its account holds nothing and only what it dispensed
         * left the deposit for good. */
        withdrawn = psds[i].status == PV_PSD_RETIRED;
        pv_account_psd(psds[i].id, acct);
        if ((rc = pv_balance(st, acct, &bal)) != PV_OK)
            return rc;
        holds = withdrawn ? 0 : psds[i].descending;
        if (bal != holds &&
            (rc = add_issue(rep, PV_LEDGER_PSD_MISMATCH, acct, bal, holds)) != PV_OK)
            return rc;
        if ((rc = pv_money_add(asc, psds[i].ascending, &asc)) != PV_OK ||
            (rc = pv_money_add(ctl, withdrawn ? psds[i].ascending : psds[i].control_total, &ctl)) !=
                PV_OK)
            return rc;
    }
    pv_account_mode(PV_ACCT_DISPENSED, test, dispensed);
    pv_account_mode(PV_ACCT_AUTHORITY, test, authority_acct);
    pv_account_mode(PV_ACCT_DEPOSIT, test, deposit_acct);
    if ((rc = pv_balance(st, dispensed, &bal)) != PV_OK)
        return rc;
    if (bal != asc &&
        (rc = add_issue(rep, PV_LEDGER_TOTALS_MISMATCH, dispensed, bal, asc)) != PV_OK)
        return rc;
    /* What the authority paid in, and paid back on accepted refund claims
     * (claims.h: every claim less those pending and those rejected), sits
     * in the deposit or has been moved into PSDs. */
    if ((rc = pv_balance(st, authority_acct, &authority)) != PV_OK ||
        (rc = pv_balance(st, deposit_acct, &deposit)) != PV_OK ||
        (rc = claims_accepted(st, test, &accepted)) != PV_OK ||
        (rc = pv_money_sub(0, authority, &want)) != PV_OK ||
        (rc = pv_money_add(want, accepted, &want)) != PV_OK ||
        (rc = pv_money_sub(want, ctl, &want)))
        return rc;
    if (deposit != want &&
        (rc = add_issue(rep, PV_LEDGER_TOTALS_MISMATCH, deposit_acct, deposit, want)) != PV_OK)
        return rc;
    return PV_OK;
}

int pv_ledger_check(struct pv_store *st, struct pv_ledger_report *rep)
{
    struct pv_psd_rec *psds = NULL;
    size_t npsds = 0;
    int rc;

    memset(rep, 0, sizeof *rep);
    /* One snapshot for every read: a purchase that commits between two of them (the
     * accounts, then the PSDs' registers, then the totals) would make them disagree, and
     * operators stop sales on what this says (found in session 33). */
    if ((rc = pv_store_begin_read(st)) != PV_OK)
        return rc;
    if ((rc = pv_store_ledger_audit(st, &rep->journals, &rep->accounts, &rep->issues, &rep->n)) !=
            PV_OK ||
        (rc = pv_store_psd_list(st, &psds, &npsds)) != PV_OK)
        goto out;
    if ((rc = check_totals(st, psds, npsds, 0, rep)) != PV_OK ||
        (rc = check_totals(st, psds, npsds, 1, rep)) != PV_OK ||
        (rc = check_claims(st, rep)) != PV_OK)
        goto out;
    rc = PV_OK;
out:
    if (pv_store_end_read(st) != PV_OK && rc == PV_OK)
        rc = PV_ESTORE;
    free(psds);
    if (rc != PV_OK)
        pv_ledger_report_clear(rep);
    return rc;
}

void pv_ledger_report_clear(struct pv_ledger_report *rep)
{
    free(rep->issues);
    memset(rep, 0, sizeof *rep);
}
