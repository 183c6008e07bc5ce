/*
 * h_verify.c - checking a printed indicium (POST /v1/verify) and the
 * published verification keys (GET /v1/keys: public keys, their
 * certificates, the vendor CA and its CRL; GET /v1/keys/crl: the CRL alone).
 */
#include "server/h_verify.h"

#include "server/app.h"
#include "server/views.h"
#include "domain/authority.h"
#include "domain/config.h"
#include "domain/indicium_view.h"
#include "domain/verify.h"

#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One published key: its public key, and (schema v10) its certificate, whether
 * a rotation retired it and whether it was revoked. */
static json_t *psd_key_json(const struct pv_key_rec *k, int test)
{
    char at[32];
    json_t *j = json_pack("{s:I, s:I, s:s, s:s, s:b, s:s}", "key_id", (json_int_t) k->key_id,
                          "psd_id", (json_int_t) k->psd_id, "algorithm", k->algorithm,
                          "public_key_pem", k->public_pem, "test", test, "status",
                          k->revoked_at   ? "revoked"
                          : k->retired_at ? "retired"
                                          : "current");

    if (j && k->cert_pem[0])
        json_object_set_new(j, "certificate_pem", json_string(k->cert_pem));
    if (j && k->revoked_at) {
        json_object_set_new(j, "revoked_at",
                            json_string(pv_time_format(k->revoked_at, at, sizeof at)));
        json_object_set_new(j, "revocation_reason", json_string(k->revoke_reason));
    }
    return j;
}

/* The PEM block of kind ("CERTIFICATE", "X509 CRL") starting at or after *p, as a
 * JSON string (NULL when there is none); *p moves past it. */
static json_t *pem_block(const char **p, const char *kind)
{
    char begin[48], end[48];
    const char *a, *b;

    snprintf(begin, sizeof begin, "-----BEGIN %s-----", kind);
    snprintf(end, sizeof end, "-----END %s-----", kind);
    if (!(a = strstr(*p, begin)) || !(b = strstr(a, end)))
        return NULL;
    b += strlen(end);
    if (*b == '\n')
        b++;
    *p = b;
    return json_stringn(a, (size_t) (b - a));
}

/* The vendor CAs before the current one (stampd ca rotate; config.h's
 * PV_CFG_CA_PREVIOUS): [{certificate_pem, crl_pem}], oldest first. */
static json_t *previous_cas(const char *text)
{
    json_t *arr = json_array(), *cert, *crl;
    const char *p = text;

    while (arr && (cert = pem_block(&p, "CERTIFICATE")) != NULL) {
        crl = pem_block(&p, "X509 CRL");
        json_array_append_new(arr, json_pack("{s:o, s:o}", "certificate_pem", cert, "crl_pem",
                                             crl ? crl : json_null()));
    }
    return arr;
}

void pv_h_keys(struct pv_call *c)
{
    struct pv_app *app = c->app;
    struct pv_store *st = c->st;
    struct pv_reply *rp = c->rp;
    struct pv_key_rec *keys = NULL;
    struct pv_psd_rec *psds = NULL;
    size_t n = 0, npsds = 0, i, k;
    char *ca = NULL, *crl = NULL, *prev = NULL;
    json_t *arr, *body = NULL;
    int rc;

    if ((rc = pv_store_config_get(st, PV_CFG_CA_PREVIOUS, &prev)) != PV_OK && rc != PV_ENOTFOUND) {
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    if ((rc = pv_store_key_list(st, &keys, &n)) != PV_OK ||
        (rc = pv_store_psd_list(st, &psds, &npsds)) != PV_OK ||
        ((rc = pv_store_config_get(st, PV_CFG_CA_CERT, &ca)) != PV_OK && rc != PV_ENOTFOUND) ||
        ((rc = pv_store_config_get(st, PV_CFG_CA_CRL, &crl)) != PV_OK && rc != PV_ENOTFOUND)) {
        free(keys);
        free(psds);
        free(ca);
        free(prev);
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n; i++) {
        /* Verifiers offline learn which key signs only test pieces. */
        for (k = 0; k < npsds && psds[k].id != keys[i].psd_id; k++)
            ;
        json_array_append_new(arr, psd_key_json(&keys[i], k < npsds && psds[k].test));
    }
    free(keys);
    free(psds);
    if (arr && (body = json_pack("{s:s, s:o}", "license", app->license, "keys", arr)) != NULL) {
        /* The vendor CA and its CRL: what `openssl verify` and stamp verify
         * --offline check a key's certificate with. */
        if (ca)
            json_object_set_new(body, "ca_certificate_pem", json_string(ca));
        if (crl)
            json_object_set_new(body, "crl_pem", json_string(crl));
        /* After stampd ca rotate: the CAs before, each with its last CRL, for
         * certificates they issued (every key has one from the current CA too). */
        if (prev)
            json_object_set_new(body, "previous_cas", previous_cas(prev));
    }
    free(ca);
    free(crl);
    free(prev);
    pv_reply_json(rp, 200, body);
}

void pv_h_keys_crl(struct pv_call *c)
{
    char *crl = NULL;
    int rc = pv_store_config_get(c->st, PV_CFG_CA_CRL, &crl);

    if (rc != PV_OK) {
        pv_reply_error(c->rp, rc, NULL, rc == PV_ENOTFOUND ? "this vendor has no CA yet" : NULL);
        return;
    }
    /* What openssl verify -CRLfile reads as it is. */
    c->rp->status = 200;
    c->rp->raw = (uint8_t *) crl;
    c->rp->raw_len = strlen(crl);
    c->rp->content_type = "application/x-pem-file";
    snprintf(c->rp->filename, sizeof c->rp->filename, "crl.pem");
}

static const char *const verify_fields[] = {"data", "presented_at", "location", NULL};

/* A facility id or place name: 1..64 printable ASCII characters. */
static int location_ok(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n >= PV_LOCATION_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] > 0x7e)
            return 0;
    return 1;
}

/*
 * The presentation the postal authority records with its scan: when
 * ("presented_at", RFC 3339 UTC, not in the future; default now) and where
 * ("location"). Only its keys count a presentation, so only they may say
 * when and where. PV_OK with *by filled, or the error answered.
 */
static int presenter(json_t *root, const struct pv_principal *who, int64_t now,
                     struct pv_presenter *by, struct pv_reply *rp)
{
    const char *at = NULL, *where = NULL;

    memset(by, 0, sizeof *by);
    /* Each field checked, so that every bad one is listed (rp->collect). */
    pv_body_string(root, "presented_at", 0, 32, PV_EINVAL, &at, rp);
    pv_body_string(root, "location", 0, 256, PV_EINVAL, &where, rp);
    if ((at || where) && who->role != PV_ROLE_POSTAL) {
        pv_reply_error(rp, PV_EINVAL, at ? "presented_at" : "location",
                       "only the postal authority's key records a presentation with when and "
                       "where");
        return PV_EINVAL;
    }
    /* A scanner's clock may run a little ahead; an hour is no scanner's. */
    if (at && (pv_time_parse_utc(at, &by->presented_at) != PV_OK || by->presented_at > now + 300))
        pv_reply_error(rp, PV_EINVAL, "presented_at",
                       "presented_at must be a UTC time \"2026-11-22T09:30:00Z\", not in the "
                       "future");
    if (where && !location_ok(where))
        pv_reply_error(rp, PV_EINVAL, "location",
                       "location must be 1 to 64 printable ASCII characters (a facility id)");
    if (pv_reply_failed(rp))
        return PV_EINVAL;
    by->postal_id = who->owner_id;
    by->location = where;
    return PV_OK;
}

void pv_h_verify(struct pv_call *c)
{
    struct pv_app *app = c->app;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    struct pv_verdict v;
    struct pv_presenter by;
    int64_t now = pv_now();
    const char *text;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc;
    json_t *root;

    rp->collect = 1; /* every bad field listed */
    if (!(root = pv_body_object(rq, verify_fields, rp)))
        return;
    pv_body_string(root, "data", 1, 4 * PV_INDICIUM_MAX, PV_ETRAILING, &text, rp);
    if (presenter(root, c->who, now, &by, rp) != PV_OK || pv_reply_failed(rp))
        goto out;
    if ((rc = pv_base64_decode(text, strlen(text), &data, &len)) != PV_OK) {
        pv_reply_error(rp, rc, "data", NULL);
        goto out;
    }
    /* Only the postal authority's scan counts as a presentation, and only
     * of a piece of its own mode (live: a test piece is never counted). */
    rc = pv_verify_online(c->st, app->license, data, len,
                          c->who->role == PV_ROLE_POSTAL ? &by : NULL, c->who->test, now, &v);
    if (rc != PV_OK) {
        pv_reply_error(rp, rc, pv_verify_input_error(rc) ? "data" : NULL, NULL);
        goto out;
    }
    pv_reply_json(rp, 200, pv_verdict_json(&v));
out:
    free(data);
    json_decref(root);
}
