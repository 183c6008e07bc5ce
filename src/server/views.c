/*
 * views.c - what several handlers share beyond the domain's indicium view
 * (domain/indicium_view.h): the JSON of a ledger report, the server status
 * names, and the one ownership check that decides whether a caller may see
 * an indicium at all (its customer's and its mode's: domain/mode.h), and
 * the answer of a purchase.
 */
#include "server/views.h"

#include "domain/indicium_view.h"
#include "domain/json_text.h"
#include "domain/ledger.h"
#include "domain/refund.h"
#include "stampd/error.h"

#include <stdlib.h>

const char *const pv_view_server_status[3] = {"active", "draining", "disabled"};

int pv_view_own_indicium(struct pv_store *st, const struct pv_principal *who, const char *id,
                         struct pv_indicium_rec *rec, struct pv_reply *rp)
{
    int rc = pv_indicium_owned(st, who->role == PV_ROLE_OPERATOR ? NULL : who->owner_id, who->test,
                               id, rec);

    if (rc != PV_OK)
        pv_reply_error(rp, rc, NULL, rc == PV_ENOTFOUND ? "no such indicium" : NULL);
    return rc;
}

/* The report of pv_ledger_check as JSON; used by the API. */
json_t *pv_view_ledger(const struct pv_ledger_report *rep)
{
    static const char *const kinds[] = {"", "unbalanced_journal", "account_mismatch",
                                        "psd_mismatch", "totals_mismatch"};
    json_t *arr = json_array();
    size_t i;

    for (i = 0; arr && i < rep->n; i++) {
        const struct pv_ledger_issue *x = &rep->issues[i];
        json_array_append_new(arr,
                              json_pack("{s:s, s:s, s:I, s:I}", "kind",
                                        x->kind >= 1 && x->kind <= 4 ? kinds[x->kind] : "?", "name",
                                        x->name, "recorded_mills", (json_int_t) x->recorded,
                                        "computed_mills", (json_int_t) x->computed));
    }
    return arr ? json_pack("{s:b, s:I, s:I, s:o}", "ok", rep->n == 0, "journals",
                           (json_int_t) rep->journals, "accounts", (json_int_t) rep->accounts,
                           "issues", arr)
               : NULL;
}

/* pv_view_purchase - see views.h. Written as text (json_text.h): the same
 * bytes as the jansson tree send_reply would dump, without its hundred
 * allocations, for the answer every purchase gets. */
void pv_view_purchase(const struct pv_indicium_rec *rec, pv_mills balance, json_t *payment,
                      json_t *fixes, struct pv_reply *rp)
{
    struct pv_jtext t;
    size_t len;
    char *text;

    pv_jt_init(&t, 2048);
    pv_indicium_text(&t, rec);
    pv_jt_key(&t, "balance_mills");
    pv_jt_int(&t, balance);
    if (payment) {
        pv_jt_key(&t, "payment");
        pv_jt_json(&t, payment);
    }
    if (fixes) {
        pv_jt_key(&t, "address_corrections");
        pv_jt_json(&t, fixes);
    }
    pv_jt_close(&t, '}');
    if (!(text = pv_jt_take(&t, &len))) {
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        return;
    }
    json_decref(rp->body);
    rp->body = NULL;
    rp->status = 201;
    rp->raw = (uint8_t *) text;
    rp->raw_len = len;
    rp->content_type = "application/json";
}
