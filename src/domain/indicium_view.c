/*
 * indicium_view.c - JSON views of indicia and verdicts (indicium_view.h).
 *
 * The names and shapes here are the API's (docs/openapi.yaml: Indicium,
 * IndiciumFields, VerifyResult); the CLI prints the same objects.
 */
#include "domain/indicium_view.h"

#include "domain/json_text.h"
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
        pv_str_copy(out, 11, zip);
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
    if (j && (json_object_set_new(j, "prints", json_integer(r->prints)) != 0 ||
              json_object_set_new(j, "from_address",
                                  pv_text(r->from_address)[0] ? json_string(r->from_address)
                                                              : json_null()) ||
              json_object_set_new(j, "to_address",
                                  pv_text(r->to_address)[0] ? json_string(r->to_address)
                                                            : json_null()) ||
              json_object_set_new(j, "refunded", json_boolean(r->refunded_at != 0)) ||
              json_object_set_new(j, "medium", medium_json(r)) ||
              json_object_set_new(j, "extra_services", pv_services_json(r->services)) ||
              json_object_set_new(j, "non_machinable",
                                  json_boolean((r->services & PV_SVC_NONMACHINABLE) != 0)) ||
              json_object_set_new(j, "zone", r->zone ? json_integer(r->zone) : json_null()) ||
              json_object_set_new(j, "price", piece_price_json(r)) ||
              json_object_set_new(j, "metadata", pv_metadata_json(pv_text(r->metadata))))) {
        json_decref(j);
        j = NULL;
    }
    if (j && json_object_set_new(j, "version", json_integer(ind->version)) != 0) {
        json_decref(j);
        j = NULL;
    }
    return add_v2_fields(j, ind);
}

/* The price object of piece_price_json, written. */
static void price_text(struct pv_jtext *t, const struct pv_indicium_rec *r)
{
    pv_mills total = r->ind.postage_mills, sur = r->surcharge_mills, cert = r->certified_mills,
             rr = r->return_receipt_mills, postage = total - sur - cert - rr;

    pv_jt_open(t, '{');
    pv_jt_key(t, "postage");
    pv_jt_money(t, postage);
    pv_jt_key(t, "postage_mills");
    pv_jt_int(t, postage);
    pv_jt_key(t, "nonmachinable_surcharge");
    pv_jt_money(t, sur);
    pv_jt_key(t, "nonmachinable_surcharge_mills");
    pv_jt_int(t, sur);
    pv_jt_key(t, "certified_mail");
    pv_jt_money(t, cert);
    pv_jt_key(t, "certified_mail_mills");
    pv_jt_int(t, cert);
    pv_jt_key(t, "return_receipt");
    pv_jt_money(t, rr);
    pv_jt_key(t, "return_receipt_mills");
    pv_jt_int(t, rr);
    pv_jt_key(t, "total");
    pv_jt_money(t, total);
    pv_jt_key(t, "total_mills");
    pv_jt_int(t, total);
    pv_jt_key(t, "rate_version");
    /* memcpy'd whole in piece_price_json: the same bytes up to the NUL */
    pv_jt_str(t, r->rate_version[0] ? r->rate_version : NULL);
    pv_jt_close(t, '}');
}

/* The version 2 fields of add_v2_fields, written. */
static void v2_text(struct pv_jtext *t, const struct pv_indicium *ind)
{
    static const char hexd[] = "0123456789abcdef";
    static const char *const names[] = {"certified_mail", "return_receipt", "non_machinable"};
    char hex[2 * PV_PIECE_ID_MAX + 1], pub[25];
    int v2 = ind->version == PV_INDICIUM_V2;
    size_t i;

    for (i = 0; i < ind->piece_id_len && i < PV_PIECE_ID_MAX; i++) {
        hex[2 * i] = hexd[ind->piece_id[i] >> 4];
        hex[2 * i + 1] = hexd[ind->piece_id[i] & 15];
    }
    hex[2 * i] = '\0';
    pv_jt_key(t, "vendor_id");
    if (v2)
        pv_jt_int(t, ind->vendor_id);
    else
        pv_jt_null(t);
    pv_jt_key(t, "model_id");
    if (v2)
        pv_jt_int(t, ind->model_id);
    else
        pv_jt_null(t);
    pv_jt_key(t, "descending_mills");
    if (v2)
        pv_jt_int(t, ind->descending_mills);
    else
        pv_jt_null(t);
    pv_jt_key(t, "services");
    if (v2) {
        pv_jt_open(t, '[');
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            if (ind->services & (1u << k))
                pv_jt_str(t, names[k]);
        pv_jt_close(t, ']');
    } else {
        pv_jt_null(t);
    }
    pv_jt_key(t, "piece_id");
    pv_jt_str(t, v2 && i ? hex : NULL);
    pv_jt_key(t, "piece_indicium_id");
    pv_jt_str(t, v2 && pv_indicium_piece_public(ind, pub) == PV_OK ? pub : NULL);
}

/* pv_indicium_text - see indicium_view.h. The members in pv_indicium_json's order. */
void pv_indicium_text(struct pv_jtext *t, const struct pv_indicium_rec *r)
{
    const struct pv_indicium *ind = &r->ind;
    char to[11];
    char *b64 = pv_base64_encode(r->data, r->data_len);

    if (!b64) {
        t->failed = 1;
        return;
    }
    pv_zip_display(ind->to_zip, to);
    pv_jt_open(t, '{');
    pv_jt_key(t, "id");
    pv_jt_str(t, r->id);
    pv_jt_key(t, "object");
    pv_jt_str(t, "indicium");
    pv_jt_key(t, "serial");
    pv_jt_int(t, (int64_t) ind->serial);
    pv_jt_key(t, "psd_id");
    pv_jt_int(t, (int64_t) ind->device_id);
    pv_jt_key(t, "server_id");
    pv_jt_str(t, r->server_id);
    pv_jt_key(t, "license");
    pv_jt_str(t, ind->license);
    pv_jt_key(t, "key_id");
    pv_jt_int(t, (int64_t) ind->key_id);
    pv_jt_key(t, "postage_mills");
    pv_jt_int(t, ind->postage_mills);
    pv_jt_key(t, "postage");
    pv_jt_money(t, ind->postage_mills);
    pv_jt_key(t, "mail_class");
    pv_jt_str(t, class_name(ind));
    pv_jt_key(t, "weight_oz");
    pv_jt_tenths(t, ind->weight_tenth_oz);
    pv_jt_key(t, "mail_date");
    pv_jt_date(t, ind->mail_date);
    pv_jt_key(t, "from_zip");
    pv_jt_str(t, ind->from_zip);
    pv_jt_key(t, "to_zip");
    pv_jt_str(t, to);
    pv_jt_key(t, "medium_serial");
    pv_jt_str(t, ind->medium_serial[0] ? ind->medium_serial : NULL);
    pv_jt_key(t, "ascending_mills");
    pv_jt_int(t, ind->ascending_mills);
    pv_jt_key(t, "test");
    pv_jt_bool(t, (ind->flags & PV_IND_FLAG_TEST) != 0);
    pv_jt_key(t, "created");
    pv_jt_time(t, r->created);
    pv_jt_key(t, "presentations");
    pv_jt_int(t, r->presentations);
    pv_jt_key(t, "data");
    pv_jt_str(t, b64);
    free(b64);
    pv_jt_key(t, "prints");
    pv_jt_int(t, r->prints);
    pv_jt_key(t, "from_address");
    pv_jt_str(t, pv_text(r->from_address)[0] ? r->from_address : NULL);
    pv_jt_key(t, "to_address");
    pv_jt_str(t, pv_text(r->to_address)[0] ? r->to_address : NULL);
    pv_jt_key(t, "refunded");
    pv_jt_bool(t, r->refunded_at != 0);
    pv_jt_key(t, "medium");
    if (ind->medium_serial[0])
        pv_jt_json(t, medium_json(r)); /* rare: the jansson view, dumped in place */
    else
        pv_jt_null(t);
    pv_jt_key(t, "extra_services");
    pv_jt_open(t, '[');
    if (r->services & PV_SVC_CERTIFIED)
        pv_jt_str(t, pv_service_name(PV_SVC_CERTIFIED));
    if (r->services & PV_SVC_RETURN_RECEIPT)
        pv_jt_str(t, pv_service_name(PV_SVC_RETURN_RECEIPT));
    pv_jt_close(t, ']');
    pv_jt_key(t, "non_machinable");
    pv_jt_bool(t, (r->services & PV_SVC_NONMACHINABLE) != 0);
    pv_jt_key(t, "zone");
    if (r->zone)
        pv_jt_int(t, r->zone);
    else
        pv_jt_null(t);
    pv_jt_key(t, "price");
    price_text(t, r);
    pv_jt_key(t, "metadata");
    if (pv_text(r->metadata)[0]) {
        pv_jt_json(t, pv_metadata_json(r->metadata));
    } else {
        pv_jt_open(t, '{');
        pv_jt_close(t, '}');
    }
    pv_jt_key(t, "version");
    pv_jt_int(t, ind->version);
    v2_text(t, ind);
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
