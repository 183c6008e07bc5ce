/*
 * indicium_view.c - JSON views of indicia and verdicts (indicium_view.h).
 *
 * The names and shapes here are the API's (docs/openapi.yaml: Indicium,
 * IndiciumFields, VerifyResult); the CLI prints the same objects.
 */
#include "domain/indicium_view.h"

#include "domain/metadata.h"
#include "domain/verify.h"
#include "stampd/codec.h"
#include "stampd/money.h"
#include "stampd/rates.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pv_zip_display(const char *zip, char out[11])
{
    if (strlen(zip) == 9)
        snprintf(out, 11, "%.5s-%.4s", zip, zip + 5);
    else
        snprintf(out, 11, "%s", zip);
}

static const char *class_name(const struct pv_indicium *ind)
{
    const char *cls = pv_mail_class_name(ind->mail_class);

    return cls ? cls : "unknown";
}

json_t *pv_indicium_fields_json(const struct pv_indicium *ind)
{
    char date[16], to[11];

    pv_zip_display(ind->to_zip, to);
    return json_pack("{s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:f, s:s, s:s, s:o, s:s, s:b}",
                     "version", ind->version, "license", ind->license, "psd_id",
                     (json_int_t) ind->device_id, "key_id", (json_int_t) ind->key_id, "serial",
                     (json_int_t) ind->serial, "ascending_mills", (json_int_t) ind->ascending_mills,
                     "postage_mills", (json_int_t) ind->postage_mills, "mail_date",
                     pv_date_format(ind->mail_date, date, sizeof date), "mail_class",
                     class_name(ind), "weight_oz", ind->weight_tenth_oz / 10.0, "from_zip",
                     ind->from_zip, "to_zip", to, "medium_serial",
                     ind->medium_serial[0] ? json_string(ind->medium_serial) : json_null(),
                     "software_id", ind->software_id, "test", (ind->flags & PV_IND_FLAG_TEST) != 0);
}

json_t *pv_indicium_json(const struct pv_indicium_rec *r)
{
    const struct pv_indicium *ind = &r->ind;
    char date[16], created[32], postage[32], to[11];
    char *b64 = pv_base64_encode(r->data, r->data_len);
    json_t *j;

    if (!b64)
        return NULL;
    pv_zip_display(ind->to_zip, to);
    j = json_pack(
        "{s:s, s:s, s:I, s:I, s:s, s:s, s:I, s:I, s:s, s:s, s:f, s:s, s:s, s:s,"
        " s:o, s:I, s:b, s:s, s:I, s:s}",
        "id", r->id, "object", "indicium", "serial", (json_int_t) ind->serial, "psd_id",
        (json_int_t) ind->device_id, "server_id", r->server_id, "license", ind->license, "key_id",
        (json_int_t) ind->key_id, "postage_mills", (json_int_t) ind->postage_mills, "postage",
        pv_money_format(ind->postage_mills, postage, sizeof postage), "mail_class", class_name(ind),
        "weight_oz", ind->weight_tenth_oz / 10.0, "mail_date",
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
         json_object_set_new(j, "refunded", json_boolean(r->refunded_at != 0)) ||
         json_object_set_new(j, "metadata", pv_metadata_json(r->metadata)))) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* Where and when a piece was first presented: only the authority that counts sees it. */
static json_t *first_json(const struct pv_verdict *v)
{
    char at[32], rec[32];

    if (!v->first_known)
        return json_null();
    return json_pack("{s:s, s:o, s:s}", "presented_at",
                     pv_time_format(v->first.presented_at, at, sizeof at), "location",
                     v->first.location[0] ? json_string(v->first.location) : json_null(),
                     "recorded_at", pv_time_format(v->first.recorded_at, rec, sizeof rec));
}

json_t *pv_verdict_json(const struct pv_verdict *v)
{
    return json_pack("{s:b, s:b, s:b, s:b, s:I, s:I, s:b, s:o, s:s, s:o, s:b, s:b, s:o}", "valid",
                     v->valid, "signature_valid", v->sig_ok, "known", v->known, "duplicate",
                     v->presented_before > 0, "presented_before", (json_int_t) v->presented_before,
                     "presentations", (json_int_t) v->presentations, "counted", v->counted,
                     "first_presentation", first_json(v), "status", v->status, "reason",
                     v->reason ? json_string(v->reason) : json_null(), "test", v->test, "refunded",
                     v->refunded, "fields", pv_indicium_fields_json(&v->ind));
}
