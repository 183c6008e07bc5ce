/*
 * h_authority.c - the postal authority's side of the API (docs/api.md,
 * "The postal authority"): crediting the postal deposit and reading its
 * history, and the operator's view of the same history; the authority's
 * public key that signs resets (anyone) and every reset with its signed
 * authorisation (the authority; domain/reset_auth.h).
 *
 * The route table lets only postal keys into /v1/authority/... and only
 * operator keys into /v1/admin/...; nothing here shows a customer's data.
 */
#include "server/h_authority.h"

#include "domain/authority.h"
#include "domain/deposit_low.h"
#include "domain/ledger.h"
#include "domain/reset_auth.h"
#include "server/h_payments.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/money.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CURSOR_PREFIX "dj_"
#define RESET_CURSOR  "rs_" /* a page of resets: the last one's row id */

static const char *money(pv_mills m, char buf[32])
{
    return pv_money_format(m, buf, 32);
}

/* One entry of the deposit's history. */
static json_t *entry_json(const struct pv_deposit_entry *e)
{
    char id[32], a[32], b[32], at[32];
    int credit = strcmp(e->kind, "postal_deposit") == 0;

    snprintf(id, sizeof id, CURSOR_PREFIX "%lld", (long long) e->journal_id);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:o, s:o, s:s}", "id", id, "object",
                     "deposit_entry", "type",
                     credit                                          ? "credit"
                     : strcmp(e->kind, "psd_refill") == 0            ? "draw"
                     : strcmp(e->kind, "psd_withdrawal") == 0        ? "return"
                     : strcmp(e->kind, "refund_claim_accepted") == 0 ? "refund_claim"
                                                                     : "other",
                     "ref", e->ref, "amount", money(e->amount, a), "amount_mills",
                     (json_int_t) e->amount, "balance", money(e->balance, b), "balance_mills",
                     (json_int_t) e->balance, "reference",
                     e->reference[0] ? json_string(e->reference) : json_null(), "psd_id",
                     e->psd_id ? json_integer((json_int_t) e->psd_id) : json_null(), "created",
                     pv_time_format(e->at, at, sizeof at));
}

/* GET: a page of the deposit's history, newest first, and the balance now. */
static void deposit_history_answer(struct pv_call *c)
{
    struct pv_reply *rp = c->rp;
    struct pv_deposit_entry *rows = NULL;
    struct pv_list_page pg;
    char next[32], b[32];
    uint64_t before = 0;
    pv_mills balance;
    size_t n = 0, i;
    json_t *arr, *j;
    int rc;

    if (pv_list_args(c->rq, &pg, rp) != PV_OK)
        return;
    if (pv_list_cursor_num(&pg, CURSOR_PREFIX, (uint64_t) INT64_MAX, &before, rp) != PV_OK)
        return;
    if ((rc = pv_balance(c->st, PV_ACCT_DEPOSIT, &balance)) != PV_OK ||
        (rc = pv_deposit_history(c->st, (int64_t) before, (size_t) pg.limit + 1, &rows, &n)) !=
            PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n && i < pg.limit; i++)
        pv_list_push(&arr, entry_json(&rows[i]));
    if (n > pg.limit)
        snprintf(next, sizeof next, CURSOR_PREFIX "%lld",
                 (long long) rows[pg.limit - 1].journal_id);
    free(rows);
    j = arr ? json_pack("{s:s, s:o, s:b, s:o, s:s, s:I}", "object", "list", "data", arr, "has_more",
                        n > pg.limit, "next_cursor", n > pg.limit ? json_string(next) : json_null(),
                        "balance", money(balance, b), "balance_mills", (json_int_t) balance)
            : NULL;
    pv_reply_json(rp, 200, j);
}

static const char *const credit_fields[] = {"amount", "reference", NULL};

/* POST: one credit of the deposit, once per Idempotency-Key. */
static void deposit_credit_post(struct pv_call *c)
{
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    const char *amount_text, *reference;
    char hash[PV_HASH_HEX], a[32], b[32], at[32], msg[160];
    struct pv_deposit_res res;
    pv_mills amount;
    json_t *root;
    int rc;

    if (pv_idem_key_check(rq->idempotency_key, rp) != PV_OK)
        return;
    rp->collect = 1; /* every bad field listed */
    if (!(root = pv_body_object(rq, credit_fields, rp)))
        return;
    if (pv_body_string(root, "amount", 1, 32, PV_EAMOUNT, &amount_text, rp) == PV_OK &&
        (pv_money_parse(amount_text, &amount) != PV_OK || !pv_deposit_amount_valid(amount))) {
        snprintf(msg, sizeof msg, "amount must be whole cents from 0.01 to %s (\"2500.00\")",
                 money(PV_MILLS_MAX, a));
        pv_reply_error(rp, PV_EAMOUNT, "amount", msg);
    }
    pv_body_string(root, "reference", 1, PV_DEPOSIT_REF_MAX - 1, PV_EINVAL, &reference, rp);
    if (pv_reply_failed(rp))
        goto out;
    if ((rc = pv_payments_request_hash("POST /v1/authority/deposits\n", root, hash)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    rc = pv_deposit_credit(c->st, c->who->owner_id, rq->idempotency_key, hash, amount, reference,
                           pv_now(), &res);
    if (rc != PV_OK) {
        pv_reply_error(rp, rc,
                       rc == PV_EIDEMREUSED                     ? "Idempotency-Key"
                       : rc == PV_EINVAL                        ? "reference"
                       : rc == PV_EAMOUNT || rc == PV_EOVERFLOW ? "amount"
                                                                : NULL,
                       rc == PV_EINVAL ? "reference must be 1 to 128 printable characters, no "
                                         "space at either end"
                                       : NULL);
        goto out;
    }
    pv_reply_json(rp, 201,
                  json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:I, s:s}", "id", res.credit.id,
                            "object", "deposit_credit", "amount", money(res.credit.amount, a),
                            "amount_mills", (json_int_t) res.credit.amount, "reference",
                            res.credit.reference, "credited_by", res.credit.credited_by, "balance",
                            money(res.balance, b), "balance_mills", (json_int_t) res.balance,
                            "created", pv_time_format(res.credit.at, at, sizeof at)));
    rp->replayed = res.replayed;
out:
    json_decref(root);
}

void pv_h_authority_deposits(struct pv_call *c)
{
    if (strcmp(c->rq->method, "POST") == 0)
        deposit_credit_post(c);
    else
        deposit_history_answer(c);
}

void pv_h_admin_deposit(struct pv_call *c)
{
    deposit_history_answer(c);
}

void pv_h_authority_key(struct pv_call *c)
{
    char *pem = NULL;
    int rc = pv_authority_public_key(c->st, &pem);

    if (rc != PV_OK) {
        pv_reply_error(c->rp, rc, NULL,
                       rc == PV_ENOTFOUND ? "the postal authority has no reset signer yet "
                                            "(stampd authority key)"
                                          : NULL);
        return;
    }
    pv_reply_json(c->rp, 200,
                  json_pack("{s:s, s:s, s:s, s:s}", "object", "authority_key", "algorithm",
                            "ecdsa-p256-sha256", "format", "stampd-reset/1", "public_key_pem",
                            pem));
    free(pem);
}

/* One reset: its registers, its canonical record, the signature, and whether it verifies. */
static json_t *reset_json(const struct pv_refill_rec *rf, const char *license, const char *pem)
{
    char body[PV_RESET_BODY_MAX], at[32];

    if (!pv_reset_body(license, rf, body, sizeof body))
        body[0] = '\0';
    return json_pack(
        "{s:s, s:s, s:I, s:I, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}, s:s, s:{s:s, s:o, s:b}}",
        "object", "reset", "id", rf->authorization, "psd_id", (json_int_t) rf->psd_id,
        "amount_mills", (json_int_t) rf->amount, "before", "descending_mills",
        (json_int_t) rf->desc_before, "ascending_mills", (json_int_t) rf->asc_before,
        "control_total_mills", (json_int_t) rf->ctl_before, "after", "descending_mills",
        (json_int_t) rf->desc_after, "ascending_mills", (json_int_t) rf->asc_after,
        "control_total_mills", (json_int_t) rf->ctl_after, "created",
        pv_time_format(rf->at, at, sizeof at), "authorisation", "record", body, "signature",
        rf->authority_sig[0] ? json_string(rf->authority_sig) : json_null(), "verified",
        pv_reset_verify(pem, license, rf) == PV_OK);
}

/* GET: a page of the resets, newest first (cursor RESET_CURSOR and the refill's row id). */
void pv_h_authority_resets(struct pv_call *c)
{
    struct pv_refill_rec *rfs = NULL;
    char *pem = NULL, *license = NULL, next[32];
    struct pv_list_page pg;
    uint64_t before = 0;
    size_t n = 0, i;
    json_t *arr = NULL;
    int rc;

    if (pv_list_args(c->rq, &pg, c->rp) != PV_OK ||
        pv_list_cursor_num(&pg, RESET_CURSOR, (uint64_t) INT64_MAX, &before, c->rp) != PV_OK)
        return;
    if ((rc = pv_authority_public_key(c->st, &pem)) != PV_OK ||
        (rc = pv_store_config_get(c->st, "license", &license)) != PV_OK ||
        (rc = pv_store_reset_page(c->st, (int64_t) before, (size_t) pg.limit + 1, &rfs, &n)) !=
            PV_OK) {
        free(pem);
        free(license);
        pv_reply_error(c->rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n && i < pg.limit; i++)
        pv_list_push(&arr, reset_json(&rfs[i], license, pem));
    if (n > pg.limit)
        snprintf(next, sizeof next, RESET_CURSOR "%lld", (long long) rfs[pg.limit - 1].id);
    free(rfs);
    free(pem);
    free(license);
    pv_reply_list(c->rp, arr, n > pg.limit ? next : NULL);
}

/* The deposit's low threshold and where the deposit stands against it. */
static void threshold_answer(struct pv_call *c)
{
    struct pv_deposit_status ds;
    char a[32], b[32];
    int rc;

    if ((rc = pv_deposit_status(c->st, &ds)) != PV_OK) {
        pv_reply_error(c->rp, rc, NULL, NULL);
        return;
    }
    pv_reply_json(c->rp, 200,
                  json_pack("{s:s, s:s, s:I, s:s, s:I, s:b}", "object", "deposit_threshold",
                            "threshold", money(ds.threshold, a), "threshold_mills",
                            (json_int_t) ds.threshold, "balance", money(ds.balance, b),
                            "balance_mills", (json_int_t) ds.balance, "low", ds.low));
}

static const char *const threshold_fields[] = {"threshold", NULL};

void pv_h_admin_deposit_threshold(struct pv_call *c)
{
    const char *text;
    pv_mills t;
    json_t *root;
    int rc;

    if (strcmp(c->rq->method, "PUT") == 0) {
        c->rp->collect = 1; /* every bad field listed */
        if (!(root = pv_body_object(c->rq, threshold_fields, c->rp)))
            return;
        if (pv_body_string(root, "threshold", 1, 32, PV_EAMOUNT, &text, c->rp) != PV_OK ||
            pv_reply_failed(c->rp)) {
            json_decref(root);
            return;
        }
        rc = pv_money_parse(text, &t);
        json_decref(root);
        if (rc != PV_OK || t < 0) {
            pv_reply_error(c->rp, PV_EAMOUNT, "threshold",
                           "threshold must be a dollar amount, \"0.00\" for none");
            return;
        }
        if ((rc = pv_deposit_threshold_set(c->st, t)) != PV_OK) {
            pv_reply_error(c->rp, rc, "threshold", NULL);
            return;
        }
    }
    threshold_answer(c);
}
