/*
 * h_claims.c - the postal authority's orders over the API (h_claims.h):
 * refunds of unused postage claimed back from it, which it accepts or
 * rejects; holds that stop a customer's purchases; and the pieces it has
 * seen, duplicates first among what it asks for.
 *
 * The route table lets only postal keys into /v1/authority/... and only
 * operator keys into /v1/admin/...; nothing here shows a customer's data
 * beyond the customer id a hold names.
 */
#include "server/h_claims.h"

#include "domain/claims.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/money.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRES_CURSOR "prs_"

static const char *money(pv_mills m, char buf[32])
{
    return pv_money_format(m, buf, 32);
}

/* A time, or null for 0. */
static json_t *time_or_null(int64_t t)
{
    char buf[32];

    return t ? json_string(pv_time_format(t, buf, sizeof buf)) : json_null();
}

static json_t *text_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

/*
 * The optional field "reason" of root into *out (borrowed from root; ""
 * when absent): PV_OK, or rp set - 400 missing_field when required and
 * absent, invalid_request when not 1..256 characters with no control
 * character and no space at either end (pv_reason_valid).
 */
static int body_reason(json_t *root, int required, const char **out, struct pv_reply *rp)
{
    int rc = pv_body_string(root, "reason", 0, PV_CLAIM_REASON_MAX - 1, PV_EINVAL, out, rp);

    if (rc != PV_OK)
        return rc;
    if (!*out) {
        *out = "";
        if (required) {
            pv_reply_error(rp, PV_EMISSING, "reason", NULL);
            return PV_EMISSING;
        }
        return PV_OK;
    }
    if (!pv_reason_valid(*out)) {
        pv_reply_error(rp, PV_EINVAL, "reason",
                       "reason must be 1 to 256 characters, no control character and no space "
                       "at either end");
        return PV_EINVAL;
    }
    return PV_OK;
}

static json_t *claim_json(const struct pv_claim_rec *cl)
{
    char a[32];

    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:s, s:o, s:o, s:o, s:o, s:I}", "id",
                     cl->id, "object", "refund_claim", "refund_id", cl->refund_id, "indicium_id",
                     cl->indicium_id, "psd_id", (json_int_t) cl->psd_id, "serial",
                     (json_int_t) cl->serial, "amount", money(cl->amount, a), "amount_mills",
                     (json_int_t) cl->amount, "status", pv_claim_status_name(cl->status), "reason",
                     text_or_null(cl->reason), "decided_by", text_or_null(cl->decided_by),
                     "created", time_or_null(cl->created), "decided_at",
                     time_or_null(cl->decided_at), "presentations", (json_int_t) cl->presentations);
}

/* A page of the claims, newest first, with what the authority owes now. */
static void claims_answer(struct pv_call *c)
{
    const char *status_text = pv_query_arg(c->rq, "status");
    struct pv_claim_rec *rows = NULL, probe;
    struct pv_list_page pg;
    int status = -1, rc;
    char o[32];
    pv_mills owed;
    size_t n = 0, i;
    json_t *arr;

    if (pv_list_args(c->rq, &pg, c->rp) != PV_OK)
        return;
    if (status_text && pv_claim_status_parse(status_text, &status) != PV_OK) {
        pv_reply_error(c->rp, PV_EINVAL, "status", "status must be pending, accepted or rejected");
        return;
    }
    if (pg.cursor && pv_store_claim_get(c->st, pg.cursor, &probe) != PV_OK) {
        pv_reply_error(c->rp, PV_ECURSOR, "cursor", NULL);
        return;
    }
    if ((rc = pv_claims_owed(c->st, &owed)) != PV_OK ||
        (rc = pv_store_claim_list(c->st, status, pg.cursor ? pg.cursor : "", (size_t) pg.limit + 1,
                                  &rows, &n)) != PV_OK) {
        pv_reply_error(c->rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n && i < pg.limit; i++)
        pv_list_push(&arr, claim_json(&rows[i]));
    pv_reply_json(c->rp, 200,
                  arr ? json_pack("{s:s, s:o, s:b, s:o, s:s, s:I}", "object", "list", "data", arr,
                                  "has_more", n > pg.limit, "next_cursor",
                                  n > pg.limit ? json_string(rows[pg.limit - 1].id) : json_null(),
                                  "owed", money(owed, o), "owed_mills", (json_int_t) owed)
                      : NULL);
    free(rows);
}

void pv_h_authority_claims(struct pv_call *c)
{
    claims_answer(c);
}

void pv_h_admin_claims(struct pv_call *c)
{
    claims_answer(c);
}

static const char *const decision_fields[] = {"decision", "reason", NULL};

void pv_h_authority_claim(struct pv_call *c)
{
    const char *decision, *reason;
    struct pv_claim_rec cl;
    int rc, replayed = 0, accept;
    json_t *root;

    if (strcmp(c->rq->method, "GET") == 0) {
        rc = pv_store_claim_get(c->st, c->id, &cl);
        if (rc != PV_OK)
            pv_reply_error(c->rp, rc, NULL, NULL);
        else
            pv_reply_json(c->rp, 200, claim_json(&cl));
        return;
    }
    c->rp->collect = 1; /* every bad field listed */
    if (!(root = pv_body_object(c->rq, decision_fields, c->rp)))
        return;
    if (pv_body_string(root, "decision", 1, 16, PV_EINVAL, &decision, c->rp) == PV_OK &&
        strcmp(decision, "accept") != 0 && strcmp(decision, "reject") != 0)
        pv_reply_error(c->rp, PV_EINVAL, "decision", "decision must be accept or reject");
    accept = decision && decision[0] == 'a';
    /* A rejection says why (with no decision, the reason is checked as optional). */
    body_reason(root, decision && !accept, &reason, c->rp);
    if (pv_reply_failed(c->rp))
        goto out;
    rc = pv_claim_decide(c->st, c->who->owner_id, c->id, accept, reason, pv_now(), &cl, &replayed);
    if (rc != PV_OK) {
        pv_reply_error(c->rp, rc, NULL, NULL);
        goto out;
    }
    /* Decided before: the first decision stands and is the answer. */
    pv_reply_json(c->rp, 200, claim_json(&cl));
    c->rp->replayed = replayed;
out:
    json_decref(root);
}

static json_t *hold_json(const struct pv_hold_rec *h)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:b, s:o, s:o, s:o}", "id", h->id,
                     "object", "hold", "customer_id", h->customer_id, "reason", h->reason,
                     "placed_by", h->placed_by, "placed_at", time_or_null(h->placed_at), "psd_id",
                     h->serial >= 0 ? json_integer((json_int_t) h->psd_id) : json_null(), "serial",
                     h->serial >= 0 ? json_integer((json_int_t) h->serial) : json_null(),
                     "standing", h->lifted_at == 0, "lifted_at", time_or_null(h->lifted_at),
                     "lifted_by", text_or_null(h->lifted_by), "lift_reason",
                     text_or_null(h->lift_reason));
}

static void holds_answer(struct pv_call *c)
{
    const char *standing = pv_query_arg(c->rq, "standing");
    struct pv_hold_rec *rows = NULL, probe;
    struct pv_list_page pg;
    size_t n = 0, i;
    json_t *arr;
    int rc;

    if (pv_list_args(c->rq, &pg, c->rp) != PV_OK)
        return;
    if (standing && strcmp(standing, "true") != 0 && strcmp(standing, "false") != 0) {
        pv_reply_error(c->rp, PV_EINVAL, "standing", "standing must be true or false");
        return;
    }
    if (pg.cursor && pv_store_hold_get(c->st, pg.cursor, &probe) != PV_OK) {
        pv_reply_error(c->rp, PV_ECURSOR, "cursor", NULL);
        return;
    }
    if ((rc = pv_store_hold_list(c->st, standing && standing[0] == 't', pg.cursor ? pg.cursor : "",
                                 (size_t) pg.limit + 1, &rows, &n)) != PV_OK) {
        pv_reply_error(c->rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n && i < pg.limit; i++)
        pv_list_push(&arr, hold_json(&rows[i]));
    pv_reply_list(c->rp, arr, n > pg.limit ? rows[pg.limit - 1].id : NULL);
    free(rows);
}

/* An integer field 0..max of root into *out (-1 when absent); PV_OK or rp set. */
static int body_uint(json_t *root, const char *name, json_int_t max, int64_t *out,
                     struct pv_reply *rp)
{
    json_t *v = json_object_get(root, name);
    char msg[96];

    *out = -1;
    if (!v || json_is_null(v))
        return PV_OK;
    if (!json_is_integer(v)) {
        pv_reply_error(rp, PV_ETYPE, name, NULL);
        return PV_ETYPE;
    }
    if (json_integer_value(v) < 0 || json_integer_value(v) > max) {
        snprintf(msg, sizeof msg, "%s must be an integer from 0 to %lld", name, (long long) max);
        pv_reply_error(rp, PV_EINVAL, name, msg);
        return PV_EINVAL;
    }
    *out = (int64_t) json_integer_value(v);
    return PV_OK;
}

static const char *const hold_fields[] = {"customer_id", "serial", "psd_id", "reason", NULL};

static void hold_post(struct pv_call *c)
{
    const char *customer_id, *reason;
    char found[PV_ID_MAX], msg[160];
    struct pv_hold_rec h;
    int64_t serial, psd;
    uint32_t psd_found = 0;
    json_t *root;
    int rc;

    c->rp->collect = 1; /* every bad field listed */
    if (!(root = pv_body_object(c->rq, hold_fields, c->rp)))
        return;
    pv_body_string(root, "customer_id", 0, PV_ID_MAX - 1, PV_EINVAL, &customer_id, c->rp);
    body_uint(root, "serial", UINT32_MAX, &serial, c->rp);
    body_uint(root, "psd_id", UINT32_MAX, &psd, c->rp);
    body_reason(root, 1, &reason, c->rp);
    if (pv_reply_failed(c->rp))
        goto out;
    if ((customer_id != NULL) == (serial >= 0) || (psd >= 0 && serial < 0)) {
        pv_reply_error(c->rp, customer_id || serial >= 0 || psd >= 0 ? PV_EINVAL : PV_EMISSING,
                       customer_id && serial >= 0 ? "serial"
                       : psd >= 0 && serial < 0   ? "psd_id"
                                                  : "customer_id",
                       "name the customer by customer_id, or by a piece's serial (and psd_id "
                       "when several PSDs have that serial), not both");
        goto out;
    }
    if (serial >= 0) {
        rc = pv_piece_customer(c->st, psd > 0 ? (uint32_t) psd : 0, (uint32_t) serial, found,
                               &psd_found);
        if (rc != PV_OK) {
            snprintf(msg, sizeof msg,
                     rc == PV_EINVAL ? "pieces of several PSDs have serial %lld: give psd_id"
                                     : "no live piece has serial %lld",
                     (long long) serial);
            pv_reply_error(c->rp, rc, rc == PV_EINVAL ? "psd_id" : "serial",
                           rc == PV_EINVAL || rc == PV_ENOTFOUND ? msg : NULL);
            goto out;
        }
        customer_id = found;
    }
    rc = pv_hold_place(c->st, c->who->owner_id, customer_id, psd_found, serial, reason, pv_now(),
                       &h);
    if (rc != PV_OK) {
        pv_reply_error(c->rp, rc, rc == PV_ENOTFOUND ? "customer_id" : NULL,
                       rc == PV_ENOTFOUND ? "no such customer" : NULL);
        goto out;
    }
    pv_reply_json(c->rp, 201, hold_json(&h));
out:
    json_decref(root);
}

void pv_h_authority_holds(struct pv_call *c)
{
    if (strcmp(c->rq->method, "POST") == 0)
        hold_post(c);
    else
        holds_answer(c);
}

static const char *const lift_fields[] = {"reason", NULL};

void pv_h_authority_hold_lift(struct pv_call *c)
{
    struct pv_hold_rec h;
    const char *reason = NULL;
    json_t *root = NULL;
    int rc, replayed = 0;

    /* The body is optional: {} or none lifts without a reason. */
    if (c->rq->body_len > 0) {
        c->rp->collect = 1; /* every bad field listed */
        if (!(root = pv_body_object(c->rq, lift_fields, c->rp)))
            return;
        if (body_reason(root, 0, &reason, c->rp) != PV_OK || pv_reply_failed(c->rp))
            goto out;
    }
    rc =
        pv_hold_lift(c->st, c->who->owner_id, c->id, reason ? reason : "", pv_now(), &h, &replayed);
    if (rc != PV_OK) {
        pv_reply_error(c->rp, rc, NULL, NULL);
        goto out;
    }
    pv_reply_json(c->rp, 200, hold_json(&h));
    c->rp->replayed = replayed;
out:
    json_decref(root);
}

static json_t *presented_json(const struct pv_presented_rec *p)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:b, s:o, s:o, s:o, s:o}", "object", "presentation",
                     "psd_id", (json_int_t) p->psd_id, "serial", (json_int_t) p->serial,
                     "presentations", (json_int_t) p->presentations, "duplicate",
                     p->presentations > 1, "first_presented_at",
                     p->has_first ? time_or_null(p->first_at) : json_null(), "first_location",
                     p->has_first ? text_or_null(p->first_location) : json_null(),
                     "last_presented_at", p->has_last ? time_or_null(p->last_at) : json_null(),
                     "last_location", p->has_last ? text_or_null(p->last_location) : json_null());
}

void pv_h_authority_presentations(struct pv_call *c)
{
    const char *dup = pv_query_arg(c->rq, "duplicates");
    struct pv_presented_rec *rows = NULL;
    struct pv_list_page pg;
    char next[32];
    uint64_t before = 0;
    size_t n = 0, i;
    json_t *arr;
    int rc;

    if (pv_list_args(c->rq, &pg, c->rp) != PV_OK)
        return;
    if (dup && strcmp(dup, "true") != 0 && strcmp(dup, "false") != 0) {
        pv_reply_error(c->rp, PV_EINVAL, "duplicates", "duplicates must be true or false");
        return;
    }
    if (pv_list_cursor_num(&pg, PRES_CURSOR, (uint64_t) INT64_MAX, &before, c->rp) != PV_OK)
        return;
    if ((rc = pv_store_presented_list(c->st, dup && dup[0] == 't' ? 2 : 1, (int64_t) before,
                                      (size_t) pg.limit + 1, &rows, &n)) != PV_OK) {
        pv_reply_error(c->rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n && i < pg.limit; i++)
        pv_list_push(&arr, presented_json(&rows[i]));
    if (n > pg.limit)
        snprintf(next, sizeof next, PRES_CURSOR "%lld", (long long) rows[pg.limit - 1].seq);
    free(rows);
    pv_reply_list(c->rp, arr, n > pg.limit ? next : NULL);
}
