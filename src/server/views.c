/*
 * views.c - the JSON views several handlers answer with: an indicium, its
 * signed fields, a ledger report; and the one ownership check that decides
 * whether a caller may see an indicium at all.
 */
#include "server/views.h"

#include "domain/ledger.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/rates.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const pv_view_server_status[3] = {"active", "draining", "disabled"};

static void zip_display(const char *zip, char out[11])
{
    if (strlen(zip) == 9)
        snprintf(out, 11, "%.5s-%.4s", zip, zip + 5);
    else
        snprintf(out, 11, "%s", zip);
}

json_t *pv_view_indicium(const struct pv_indicium_rec *r)
{
    const struct pv_indicium *ind = &r->ind;
    char date[16], created[32], postage[32], to[11];
    char *b64 = pv_base64_encode(r->data, r->data_len);
    const char *cls = pv_mail_class_name(ind->mail_class);
    json_t *j;

    if (!b64)
        return NULL;
    zip_display(ind->to_zip, to);
    j = json_pack(
        "{s:s, s:s, s:I, s:I, s:s, s:s, s:I, s:I, s:s, s:s, s:f, s:s, s:s, s:s,"
        " s:o, s:I, s:b, s:s, s:I, s:s}",
        "id", r->id, "object", "indicium", "serial", (json_int_t) ind->serial, "psd_id",
        (json_int_t) ind->device_id, "server_id", r->server_id, "license", ind->license, "key_id",
        (json_int_t) ind->key_id, "postage_mills", (json_int_t) ind->postage_mills, "postage",
        pv_money_format(ind->postage_mills, postage, sizeof postage), "mail_class",
        cls ? cls : "unknown", "weight_oz", ind->weight_tenth_oz / 10.0, "mail_date",
        pv_date_format(ind->mail_date, date, sizeof date), "from_zip", ind->from_zip, "to_zip", to,
        "medium_serial", ind->medium_serial[0] ? json_string(ind->medium_serial) : json_null(),
        "ascending_mills", (json_int_t) ind->ascending_mills, "test",
        (ind->flags & PV_IND_FLAG_TEST) != 0, "created",
        pv_time_format(r->created, created, sizeof created), "presentations",
        (json_int_t) r->presentations, "data", b64);
    free(b64);
    if (j &&
        (json_object_set_new(j, "prints", json_integer(r->prints)) != 0 ||
         json_object_set_new(j, "from_address",
                             r->from_address[0] ? json_string(r->from_address) : json_null()) ||
         json_object_set_new(j, "to_address",
                             r->to_address[0] ? json_string(r->to_address) : json_null()) ||
         json_object_set_new(j, "refunded", json_boolean(r->refunded_at != 0)))) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

json_t *pv_view_fields(const struct pv_indicium *ind)
{
    char date[16], to[11];
    const char *cls = pv_mail_class_name(ind->mail_class);

    zip_display(ind->to_zip, to);
    return json_pack("{s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:f, s:s, s:s, s:o, s:s, s:b}",
                     "version", ind->version, "license", ind->license, "psd_id",
                     (json_int_t) ind->device_id, "key_id", (json_int_t) ind->key_id, "serial",
                     (json_int_t) ind->serial, "ascending_mills", (json_int_t) ind->ascending_mills,
                     "postage_mills", (json_int_t) ind->postage_mills, "mail_date",
                     pv_date_format(ind->mail_date, date, sizeof date), "mail_class",
                     cls ? cls : "unknown", "weight_oz", ind->weight_tenth_oz / 10.0, "from_zip",
                     ind->from_zip, "to_zip", to, "medium_serial",
                     ind->medium_serial[0] ? json_string(ind->medium_serial) : json_null(),
                     "software_id", ind->software_id, "test", (ind->flags & PV_IND_FLAG_TEST) != 0);
}

int pv_view_own_indicium(struct pv_store *st, const struct pv_principal *who, const char *id,
                         struct pv_indicium_rec *rec, struct pv_reply *rp)
{
    int rc;

    if (strlen(id) >= PV_ID_MAX || (rc = pv_store_indicium_get(st, id, rec)) == PV_ENOTFOUND) {
        pv_reply_error(rp, PV_ENOTFOUND, NULL, "no such indicium");
        return PV_ENOTFOUND;
    }
    if (rc != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        return rc;
    }
    /* Another customer's indicium does not exist, as far as this key knows. */
    if (who->role != PV_ROLE_OPERATOR && strcmp(rec->customer_id, who->owner_id) != 0) {
        pv_reply_error(rp, PV_ENOTFOUND, NULL, "no such indicium");
        return PV_ENOTFOUND;
    }
    return PV_OK;
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
