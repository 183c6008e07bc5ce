/*
 * indicium_view.c - JSON views of indicia and verdicts (indicium_view.h).
 *
 * The names and shapes here are the API's (docs/openapi.yaml: Indicium,
 * IndiciumFields, VerifyResult); the CLI prints the same objects.
 */
#include "domain/indicium_view.h"

#include "domain/media.h"
#include "domain/metadata.h"
#include "domain/verify.h"
#include "stampd/codec.h"
#include "stampd/error.h"
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

/* The names of the extra services bits (indicium.h PV_IND_SVC_*). */
static json_t *services_json(uint8_t services)
{
    static const char *const names[] = {"certified_mail", "return_receipt", "non_machinable"};
    json_t *a = json_array();
    size_t i;

    for (i = 0; a && i < sizeof names / sizeof names[0]; i++)
        if ((services & (1u << i)) && json_array_append_new(a, json_string(names[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/*
 * The fields only version 2 carries, into j (borrowed): null for a version
 * 1 piece, so that every answer has the same keys. Returns j, or NULL (j
 * released) when memory runs out.
 */
static json_t *add_v2_fields(json_t *j, const struct pv_indicium *ind)
{
    char hex[2 * PV_PIECE_ID_MAX + 1], pub[25];
    int v2 = ind->version == PV_INDICIUM_V2;
    size_t i;

    if (!j)
        return NULL;
    for (i = 0; i < ind->piece_id_len && i < PV_PIECE_ID_MAX; i++)
        snprintf(hex + 2 * i, 3, "%02x", ind->piece_id[i]);
    hex[2 * i] = '\0';
    if (json_object_set_new(j, "vendor_id", v2 ? json_integer(ind->vendor_id) : json_null()) ||
        json_object_set_new(j, "model_id", v2 ? json_integer(ind->model_id) : json_null()) ||
        json_object_set_new(j, "descending_mills",
                            v2 ? json_integer(ind->descending_mills) : json_null()) ||
        json_object_set_new(j, "services", v2 ? services_json(ind->services) : json_null()) ||
        json_object_set_new(j, "piece_id", v2 && i ? json_string(hex) : json_null()) ||
        json_object_set_new(j, "piece_indicium_id",
                            v2 && pv_indicium_piece_public(ind, pub) == PV_OK ? json_string(pub)
                                                                              : json_null())) {
        json_decref(j);
        return NULL;
    }
    return j;
}

json_t *pv_indicium_fields_json(const struct pv_indicium *ind)
{
    char date[16], to[11];

    pv_zip_display(ind->to_zip, to);
    return add_v2_fields(
        json_pack("{s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:f, s:s, s:s, s:o, s:s, s:b}",
                  "version", ind->version, "license", ind->license, "psd_id",
                  (json_int_t) ind->device_id, "key_id", (json_int_t) ind->key_id, "serial",
                  (json_int_t) ind->serial, "ascending_mills", (json_int_t) ind->ascending_mills,
                  "postage_mills", (json_int_t) ind->postage_mills, "mail_date",
                  pv_date_format(ind->mail_date, date, sizeof date), "mail_class", class_name(ind),
                  "weight_oz", ind->weight_tenth_oz / 10.0, "from_zip", ind->from_zip, "to_zip", to,
                  "medium_serial",
                  ind->medium_serial[0] ? json_string(ind->medium_serial) : json_null(),
                  "software_id", ind->software_id, "test", (ind->flags & PV_IND_FLAG_TEST) != 0),
        ind);
}

/* The medium position (docs/media.md): null for a piece on no medium. */
static json_t *medium_json(const struct pv_indicium_rec *r)
{
    struct pv_media_place pl;

    if (pv_media_place_of(r, &pl) != PV_OK)
        return json_null();
    return json_pack(
        "{s:s, s:o, s:s, s:I, s:I, s:I}", "serial", r->ind.medium_serial, "sheet_serial",
        r->medium_sheet[0] ? json_string(r->medium_sheet) : json_null(), "layout", pl.product->name,
        "label", (json_int_t) pl.label, "row", (json_int_t) pl.row, "column", (json_int_t) pl.col);
}

json_t *pv_price_json(const struct pv_rate_price *p)
{
    char a[32], b[32], c[32], d[32], t[32];

    return json_pack("{s:s, s:I, s:s, s:I, s:s, s:I, s:s, s:I, s:s, s:I, s:o}", "postage",
                     pv_money_format(p->postage, a, sizeof a), "postage_mills",
                     (json_int_t) p->postage, "nonmachinable_surcharge",
                     pv_money_format(p->surcharge, b, sizeof b), "nonmachinable_surcharge_mills",
                     (json_int_t) p->surcharge, "certified_mail",
                     pv_money_format(p->certified, c, sizeof c), "certified_mail_mills",
                     (json_int_t) p->certified, "return_receipt",
                     pv_money_format(p->return_receipt, d, sizeof d), "return_receipt_mills",
                     (json_int_t) p->return_receipt, "total",
                     pv_money_format(p->total, t, sizeof t), "total_mills", (json_int_t) p->total,
                     "rate_version", p->version[0] ? json_string(p->version) : json_null());
}

json_t *pv_services_json(uint8_t services)
{
    json_t *svc = json_array();

    if (!svc ||
        ((services & PV_SVC_CERTIFIED) &&
         json_array_append_new(svc, json_string(pv_service_name(PV_SVC_CERTIFIED)))) ||
        ((services & PV_SVC_RETURN_RECEIPT) &&
         json_array_append_new(svc, json_string(pv_service_name(PV_SVC_RETURN_RECEIPT))))) {
        json_decref(svc);
        return NULL;
    }
    return svc;
}

/* A stored piece's price broken down: postage_mills is the total it paid. */
static json_t *piece_price_json(const struct pv_indicium_rec *r)
{
    struct pv_rate_price p;

    memset(&p, 0, sizeof p);
    p.total = r->ind.postage_mills;
    p.surcharge = r->surcharge_mills;
    p.certified = r->certified_mills;
    p.return_receipt = r->return_receipt_mills;
    p.postage = p.total - p.surcharge - p.certified - p.return_receipt;
    memcpy(p.version, r->rate_version, sizeof p.version);
    return pv_price_json(&p);
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
         json_object_set_new(j, "medium", medium_json(r)) ||
         json_object_set_new(j, "extra_services", pv_services_json(r->services)) ||
         json_object_set_new(j, "non_machinable",
                             json_boolean((r->services & PV_SVC_NONMACHINABLE) != 0)) ||
         json_object_set_new(j, "zone", r->zone ? json_integer(r->zone) : json_null()) ||
         json_object_set_new(j, "price", piece_price_json(r)) ||
         json_object_set_new(j, "metadata", pv_metadata_json(r->metadata)))) {
        json_decref(j);
        j = NULL;
    }
    if (j && json_object_set_new(j, "version", json_integer(ind->version)) != 0) {
        json_decref(j);
        j = NULL;
    }
    return add_v2_fields(j, ind);
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
