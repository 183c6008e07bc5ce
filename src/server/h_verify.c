/*
 * h_verify.c - checking a printed indicium (POST /v1/verify) and the
 * published verification keys (GET /v1/keys).
 */
#include "server/h_verify.h"

#include "server/app.h"
#include "server/views.h"
#include "domain/indicium_view.h"
#include "domain/verify.h"

#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdlib.h>
#include <string.h>

void pv_h_keys(struct pv_call *c)
{
    struct pv_app *app = c->app;
    struct pv_store *st = c->st;
    struct pv_reply *rp = c->rp;
    struct pv_key_rec *keys = NULL;
    struct pv_psd_rec *psds = NULL;
    size_t n = 0, npsds = 0, i, k;
    json_t *arr;
    int rc;

    if ((rc = pv_store_key_list(st, &keys, &n)) != PV_OK ||
        (rc = pv_store_psd_list(st, &psds, &npsds)) != PV_OK) {
        free(keys);
        pv_reply_error(rp, rc, NULL, NULL);
        return;
    }
    arr = json_array();
    for (i = 0; arr && i < n; i++) {
        /* Verifiers offline learn which key signs only test pieces. */
        for (k = 0; k < npsds && psds[k].id != keys[i].psd_id; k++)
            ;
        json_array_append_new(
            arr,
            json_pack("{s:I, s:I, s:s, s:s, s:b}", "key_id", (json_int_t) keys[i].key_id, "psd_id",
                      (json_int_t) keys[i].psd_id, "algorithm", keys[i].algorithm, "public_key_pem",
                      keys[i].public_pem, "test", k < npsds && psds[k].test));
    }
    free(keys);
    free(psds);
    pv_reply_json(rp, 200,
                  arr ? json_pack("{s:s, s:o}", "license", app->license, "keys", arr) : NULL);
}

static const char *const verify_fields[] = {"data", NULL};

void pv_h_verify(struct pv_call *c)
{
    struct pv_app *app = c->app;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    struct pv_verdict v;
    const char *text;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc;
    json_t *root;

    if (!(root = pv_body_object(rq, verify_fields, rp)))
        return;
    if (pv_body_string(root, "data", 1, 4 * PV_INDICIUM_MAX, PV_ETRAILING, &text, rp) != PV_OK)
        goto out;
    if ((rc = pv_base64_decode(text, strlen(text), &data, &len)) != PV_OK) {
        pv_reply_error(rp, rc, "data", NULL);
        goto out;
    }
    /* Only the postal authority's scan counts as a presentation, and only
     * of a piece of its own mode (live: a test piece is never counted). */
    rc = pv_verify_online(c->st, app->license, data, len, c->who->role == PV_ROLE_OPERATOR,
                          c->who->test, pv_now(), &v);
    if (rc != PV_OK) {
        pv_reply_error(rp, rc, pv_verify_input_error(rc) ? "data" : NULL, NULL);
        goto out;
    }
    pv_reply_json(rp, 200, pv_verdict_json(&v));
out:
    free(data);
    json_decref(root);
}
