/*
 * h_rates.c - GET /v1/rates, and what purchases and quotes check alike
 * besides class, weight and date (h_indicia.c): ZIP prefixes that were
 * issued, the priced options (extra services, non-machinable), and the
 * address check with its corrections (docs/api.md, docs/rates.md).
 */
#include "server/h_rates.h"

#include "domain/address.h"
#include "domain/indicium_view.h"
#include "domain/pricing.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/indicium.h"
#include "stampd/rates.h"
#include "stampd/timeutil.h"
#include "stampd/zip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A ZIP field whose 3-digit prefix was never issued (000, 001, ...): rp set. */
int pv_check_zip_issued(const char *zip, const char *field, struct pv_reply *rp)
{
    char msg[96];

    if (pv_zip_state(zip))
        return PV_OK;
    snprintf(msg, sizeof msg, "%s: no ZIP code starting with %.3s was ever issued", field, zip);
    pv_reply_error(rp, PV_EZIP, field, msg);
    return PV_EZIP;
}

/* "extra_services" and "non_machinable" of root into q->services; rp set on error. */
int pv_parse_options(json_t *root, struct pv_purchase_req *q, struct pv_reply *rp)
{
    json_t *v = json_object_get(root, "extra_services"), *e;
    const char *name;
    size_t i;

    q->services = 0;
    if (v && !json_is_array(v)) {
        pv_reply_error(rp, PV_ETYPE, "extra_services",
                       "extra_services must be a list of \"certified_mail\", \"return_receipt\"");
        return PV_ETYPE;
    }
    json_array_foreach(v, i, e)
    {
        name = json_is_string(e) ? json_string_value(e) : "";
        if (strcmp(name, "certified_mail") == 0 && !(q->services & PV_SVC_CERTIFIED)) {
            q->services |= PV_SVC_CERTIFIED;
        } else if (strcmp(name, "return_receipt") == 0 && !(q->services & PV_SVC_RETURN_RECEIPT)) {
            q->services |= PV_SVC_RETURN_RECEIPT;
        } else {
            pv_reply_error(rp, PV_EINVAL, "extra_services",
                           "extra_services must be a list of \"certified_mail\", "
                           "\"return_receipt\", each at most once");
            return PV_EINVAL;
        }
    }
    if ((v = json_object_get(root, "non_machinable")) != NULL) {
        if (!json_is_boolean(v)) {
            pv_reply_error(rp, PV_ETYPE, "non_machinable", "non_machinable must be true or false");
            return PV_ETYPE;
        }
        if (json_is_true(v))
            q->services |= PV_SVC_NONMACHINABLE;
    }
    return PV_OK;
}

/* "address_check": "on" (the default) or "off" into *on; rp set on error. */
int pv_parse_address_check(json_t *root, int *on, struct pv_reply *rp)
{
    json_t *v = json_object_get(root, "address_check");

    *on = 1;
    if (!v)
        return PV_OK;
    if (json_is_string(v) && strcmp(json_string_value(v), "off") == 0)
        *on = 0;
    else if (!json_is_string(v) || strcmp(json_string_value(v), "on") != 0) {
        pv_reply_error(rp, PV_EINVAL, "address_check", "address_check must be \"on\" or \"off\"");
        return PV_EINVAL;
    }
    return PV_OK;
}

/* A structured address object in field name of root made the text block it
 * stands for (in root), so the rest reads a block either way; rp set on error. */
int pv_structured_address(json_t *root, const char *name, struct pv_reply *rp)
{
    json_t *v = json_object_get(root, name);
    char block[PV_ADDRESS_MAX], msg[128];
    int rc;

    if (!json_is_object(v))
        return PV_OK;
    if ((rc = pv_address_from_json(v, block, msg, sizeof msg)) != PV_OK) {
        pv_reply_error(rp, rc, name, msg);
        return rc;
    }
    return json_object_set_new(root, name, json_string(block)) == 0 ? PV_OK : PV_ENOMEM;
}

/* The address check (on unless root says "off") of q's addresses against
 * its ZIP fields, corrections applied to q and listed in fixes[0 .. *nfixes);
 * rp set on error. */
int pv_check_addresses(json_t *root, struct pv_purchase_req *q, struct pv_address_fix *fixes,
                       int *nfixes, struct pv_reply *rp)
{
    char **blocks[2] = {&q->from_address, &q->to_address}, msg[160], block[PV_ADDRESS_MAX];
    const char *zips[2] = {q->from_zip, q->to_zip}, *names[2] = {"from_address", "to_address"};
    int i, on, changed, rc;

    *nfixes = 0;
    if ((rc = pv_parse_address_check(root, &on, rp)) != PV_OK || !on)
        return rc;
    for (i = 0; i < 2; i++) {
        if (!*blocks[i] || !**blocks[i])
            continue;
        pv_str_copy(fixes[*nfixes].from, sizeof fixes[*nfixes].from, *blocks[i]);
        pv_str_copy(block, sizeof block, *blocks[i]); /* the request's bound */
        if ((rc = pv_address_check(block, zips[i], &changed, msg, sizeof msg)) != PV_OK) {
            pv_reply_error(rp, rc, names[i], msg);
            return rc;
        }
        if (changed) {
            if ((rc = pv_text_set(blocks[i], block)) != PV_OK) {
                pv_reply_error(rp, rc, NULL, NULL);
                return rc;
            }
            pv_str_copy(fixes[*nfixes].field, sizeof fixes[*nfixes].field, names[i]);
            pv_str_copy(fixes[*nfixes].to, sizeof fixes[*nfixes].to, block);
            ++*nfixes;
        }
    }
    return PV_OK;
}

int pv_check_addresses_json(json_t *root, struct pv_purchase_req *q, json_t **fixes,
                            struct pv_reply *rp)
{
    struct pv_address_fix fix[2];
    int n = 0, rc = pv_check_addresses(root, q, fix, &n, rp);

    *fixes = NULL;
    if (rc == PV_OK && n > 0 && !(*fixes = pv_fixes_json(fix, n))) {
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        rc = PV_ENOMEM;
    }
    return rc;
}

/* The corrections as the answer's "address_corrections". */
json_t *pv_fixes_json(const struct pv_address_fix *fixes, int n)
{
    json_t *a = json_array();
    int i;

    for (i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "field", fixes[i].field, "from",
                                               fixes[i].from, "to", fixes[i].to)) != 0) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

/* extra_services=certified_mail,return_receipt of the query as the JSON list it stands for. */
json_t *pv_services_arg(const char *s)
{
    json_t *a = json_array();
    const char *p = s, *comma;

    while (a && p && *p) {
        comma = strchr(p, ',');
        if (json_array_append_new(a, json_stringn(p, comma ? (size_t) (comma - p) : strlen(p)))) {
            json_decref(a);
            return NULL;
        }
        p = comma ? comma + 1 : NULL;
    }
    return a;
}

/*
 * GET /v1/rates: the rate tables in use, each with its version, effective
 * date, the date the next one takes over, its source and classes, and
 * whether it is in effect today, past or scheduled. Public like quotes.
 */
void pv_h_rates(struct pv_call *c)
{
    struct pv_rate_info *info = NULL;
    uint32_t today = pv_date_from_unix(pv_now());
    char eff[16], until[16];
    size_t n = 0, i;
    json_t *list, *cl, *one;
    int mc;

    pv_pricing_refresh(c->st, 0);
    if (pv_rates_info(&info, &n) != PV_OK || !(list = json_array())) {
        free(info);
        pv_reply_error(c->rp, PV_ENOMEM, NULL, NULL);
        return;
    }
    for (i = 0; list && i < n; i++) {
        cl = json_array();
        for (mc = 1; cl && mc <= PV_MC_COUNT; mc++)
            if ((info[i].classes & (1u << mc)) &&
                json_array_append_new(cl, json_string(pv_mail_class_name(mc))) != 0) {
                json_decref(cl);
                cl = NULL;
            }
        one = json_pack(
            "{s:s, s:s, s:s, s:o, s:s, s:o}", "object", "rate_table", "version", info[i].version,
            "effective_date", pv_date_format(info[i].effective, eff, sizeof eff), "until",
            info[i].until ? json_string(pv_date_format(info[i].until, until, sizeof until))
                          : json_null(),
            "status",
            info[i].effective > today                 ? "scheduled"
            : info[i].until && info[i].until <= today ? "past"
                                                      : "in_effect",
            "classes", cl ? cl : json_null());
        if (one)
            json_object_set_new(one, "source", json_string(info[i].source));
        if (!one || !json_object_get(one, "source") || json_array_append_new(list, one) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    free(info);
    pv_reply_json(c->rp, 200,
                  list ? json_pack("{s:s, s:o, s:b, s:n}", "object", "list", "data", list,
                                   "has_more", 0, "next_cursor")
                       : NULL);
}
