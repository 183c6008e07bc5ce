/*
 * claims.c - refunds of unused postage claimed back from the postal
 * authority, and its holds on a customer (claims.h).
 */
#include "domain/claims.h"

#include "domain/ledger.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/log.h"
#include "stampd/indicium.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *pv_claim_status_name(int status)
{
    static const char *const names[] = {"pending", "accepted", "rejected"};

    return status >= PV_CLAIM_PENDING && status <= PV_CLAIM_REJECTED ? names[status] : "unknown";
}

int pv_claim_status_parse(const char *name, int *status)
{
    int i;

    for (i = PV_CLAIM_PENDING; name && i <= PV_CLAIM_REJECTED; i++)
        if (strcmp(name, pv_claim_status_name(i)) == 0) {
            *status = i;
            return PV_OK;
        }
    return PV_EINVAL;
}

int pv_reason_valid(const char *text)
{
    size_t n, i;

    if (!text || (n = strlen(text)) == 0 || n >= PV_CLAIM_REASON_MAX || text[0] == ' ' ||
        text[n - 1] == ' ')
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char) text[i] < 0x20 || text[i] == 0x7f)
            return 0;
    return 1;
}

/* One journal entry of two lines: amount from -> to. */
static int post(struct pv_store *st, const char *kind, const char *ref, const char *from,
                const char *to, pv_mills amount, int64_t at)
{
    struct pv_ledger_line lines[2];

    memset(lines, 0, sizeof lines);
    pv_str_copy(lines[0].account, sizeof lines[0].account, from);
    lines[0].amount = -amount;
    pv_str_copy(lines[1].account, sizeof lines[1].account, to);
    lines[1].amount = amount;
    return pv_ledger_post(st, kind, ref, lines, 2, at);
}

int pv_claim_open_in(struct pv_store *st, const struct pv_refund_rec *r,
                     const struct pv_indicium_rec *rec, int64_t now)
{
    struct pv_claim_rec c;
    int rc;

    if ((rec->ind.flags & PV_IND_FLAG_TEST) || r->amount <= 0)
        return PV_OK; /* play money, or nothing to claim */
    if (strncmp(r->id, "rfd_", 4) != 0)
        return PV_EINVAL;
    memset(&c, 0, sizeof c);
    snprintf(c.id, sizeof c.id, "rcl_%s", r->id + 4);
    pv_str_copy(c.refund_id, sizeof c.refund_id, r->id);
    pv_str_copy(c.indicium_id, sizeof c.indicium_id, rec->id);
    c.psd_id = rec->ind.device_id;
    c.serial = rec->ind.serial;
    c.amount = r->amount;
    c.status = PV_CLAIM_PENDING;
    c.created = now;
    if ((rc = pv_store_claim_insert(st, &c)) != PV_OK)
        return rc;
    return post(st, "refund_claim", c.id, PV_ACCT_CLAIMED, PV_ACCT_RECEIVABLE, c.amount, now);
}

int pv_claim_decide(struct pv_store *st, const char *postal_id, const char *id, int accept,
                    const char *reason, int64_t now, struct pv_claim_rec *out, int *replayed)
{
    int rc;

    memset(out, 0, sizeof *out);
    *replayed = 0;
    if (!postal_id || !postal_id[0] || !id || !reason || (reason[0] && !pv_reason_valid(reason)) ||
        (!accept && !reason[0]))
        return PV_EINVAL;
    if (strlen(id) >= PV_ID_MAX)
        return PV_ENOTFOUND;
    if ((rc = pv_store_begin(st)) != PV_OK)
        return rc;
    /* Under the writer lock: the deposit it credits is the purchases'. */
    if ((rc = pv_store_lock_writer(st)) != PV_OK || (rc = pv_store_claim_get(st, id, out)) != PV_OK)
        goto out;
    if (out->status != PV_CLAIM_PENDING) {
        *replayed = 1;
        pv_store_rollback(st);
        return PV_OK;
    }
    if ((rc = pv_store_claim_decide(st, id, accept ? PV_CLAIM_ACCEPTED : PV_CLAIM_REJECTED, reason,
                                    postal_id, now)) != PV_OK)
        goto out;
    rc = accept ? post(st, "refund_claim_accepted", id, PV_ACCT_RECEIVABLE, PV_ACCT_DEPOSIT,
                       out->amount, now)
                : post(st, "refund_claim_rejected", id, PV_ACCT_RECEIVABLE, PV_ACCT_CLAIM_LOSS,
                       out->amount, now);
    if (rc == PV_OK && (rc = pv_store_commit(st)) == PV_OK) {
        pv_log(PV_LOG_INFO, "postal authority %s %s refund claim %s (%lld mills)%s%s\n", postal_id,
               accept ? "accepted" : "rejected", id, (long long) out->amount, reason[0] ? ": " : "",
               reason);
        return pv_store_claim_get(st, id, out);
    }
out:
    pv_store_rollback(st);
    return rc;
}

int pv_claims_owed(struct pv_store *st, pv_mills *owed)
{
    return pv_balance(st, PV_ACCT_RECEIVABLE, owed);
}

int pv_piece_customer(struct pv_store *st, uint32_t psd_id, uint32_t serial,
                      char customer_id[PV_ID_MAX], uint32_t *psd_out)
{
    struct pv_indicium_rec *rec = calloc(1, sizeof *rec);
    struct pv_psd_rec *psds = NULL;
    size_t n = 0, i, found = 0;
    int rc;

    customer_id[0] = '\0';
    *psd_out = 0;
    if (!rec)
        return PV_ENOMEM;
    if ((rc = pv_store_psd_list(st, &psds, &n)) != PV_OK)
        goto out;
    for (i = 0; i < n; i++) {
        if (psds[i].test || (psd_id && psds[i].id != psd_id))
            continue;
        pv_indicium_rec_clear(rec); /* the last one's */
        rc = pv_store_indicium_find(st, psds[i].id, serial, rec);
        if (rc == PV_ENOTFOUND || (rc == PV_OK && (rec->ind.flags & PV_IND_FLAG_TEST)))
            continue;
        if (rc != PV_OK)
            goto out;
        if (found++ == 0) {
            pv_str_copy(customer_id, PV_ID_MAX, rec->customer_id);
            *psd_out = psds[i].id;
        }
    }
    rc = found == 0 ? PV_ENOTFOUND : found > 1 ? PV_EINVAL : PV_OK;
out:
    if (rc != PV_OK) {
        customer_id[0] = '\0';
        *psd_out = 0;
    }
    free(psds);
    pv_indicium_recs_free(rec, 1);
    return rc;
}

int pv_hold_place(struct pv_store *st, const char *postal_id, const char *customer_id,
                  uint32_t psd_id, int64_t serial, const char *reason, int64_t now,
                  struct pv_hold_rec *out)
{
    struct pv_customer_rec cus;
    int rc;

    memset(out, 0, sizeof *out);
    if (!postal_id || !postal_id[0] || !customer_id || !pv_reason_valid(reason))
        return PV_EINVAL;
    if (strlen(customer_id) >= PV_ID_MAX)
        return PV_ENOTFOUND;
    if ((rc = pv_new_id("hld", out->id)) != PV_OK)
        return rc;
    pv_str_copy(out->customer_id, sizeof out->customer_id, customer_id);
    pv_str_copy(out->reason, sizeof out->reason, reason);
    pv_str_copy(out->placed_by, sizeof out->placed_by, postal_id);
    out->placed_at = now;
    out->psd_id = serial >= 0 ? psd_id : 0;
    out->serial = serial >= 0 ? serial : -1;
    if ((rc = pv_store_begin(st)) != PV_OK)
        return rc;
    /* Under the writer lock: a batch sees the hold, or committed before it. */
    if ((rc = pv_store_lock_writer(st)) != PV_OK ||
        (rc = pv_store_customer_get(st, customer_id, &cus)) != PV_OK ||
        (rc = pv_store_hold_insert(st, out)) != PV_OK || (rc = pv_store_commit(st)) != PV_OK) {
        pv_store_rollback(st);
        memset(out, 0, sizeof *out);
        return rc;
    }
    pv_log(PV_LOG_INFO, "postal authority %s placed hold %s on customer %s: %s\n", postal_id,
           out->id, customer_id, reason);
    return PV_OK;
}

int pv_hold_lift(struct pv_store *st, const char *postal_id, const char *id, const char *reason,
                 int64_t now, struct pv_hold_rec *out, int *replayed)
{
    int rc;

    memset(out, 0, sizeof *out);
    *replayed = 0;
    if (!postal_id || !postal_id[0] || !id || !reason || (reason[0] && !pv_reason_valid(reason)))
        return PV_EINVAL;
    if (strlen(id) >= PV_ID_MAX)
        return PV_ENOTFOUND;
    if ((rc = pv_store_begin(st)) != PV_OK)
        return rc;
    if ((rc = pv_store_lock_writer(st)) != PV_OK || (rc = pv_store_hold_get(st, id, out)) != PV_OK)
        goto out;
    if (out->lifted_at) {
        *replayed = 1;
        pv_store_rollback(st);
        return PV_OK;
    }
    if ((rc = pv_store_hold_lift(st, id, postal_id, reason, now)) != PV_OK ||
        (rc = pv_store_commit(st)) != PV_OK)
        goto out;
    pv_log(PV_LOG_INFO, "postal authority %s lifted hold %s on customer %s%s%s\n", postal_id, id,
           out->customer_id, reason[0] ? ": " : "", reason);
    return pv_store_hold_get(st, id, out);
out:
    pv_store_rollback(st);
    if (rc != PV_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

int pv_hold_check(struct pv_store *st, const char *customer_id)
{
    struct pv_hold_rec h;
    int rc = pv_store_hold_standing(st, customer_id, &h);

    return rc == PV_ENOTFOUND ? PV_OK : rc == PV_OK ? PV_EONHOLD : rc;
}
