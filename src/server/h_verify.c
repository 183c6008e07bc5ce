/*
 * h_verify.c - checking a printed indicium (POST /v1/verify) and the
 * published verification keys (GET /v1/keys).
 */
#include "server/h_verify.h"

#include "server/app.h"
#include "server/views.h"
#include "crypto/crypto.h"
#include "domain/indicium_view.h"

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
    struct pv_store *st = c->st;
    const struct pv_principal *who = c->who;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    struct pv_key_rec *keys = NULL;
    struct pv_indicium_rec rec;
    struct pv_indicium ind;
    const char *text, *reason = NULL;
    uint8_t *data = NULL;
    size_t len = 0, nkeys = 0, i;
    int64_t before = 0;
    int sig_ok = 0, known = 0, test, refunded, rc;
    json_t *root;

    if (!(root = pv_body_object(rq, verify_fields, rp)))
        return;
    if (pv_body_string(root, "data", 1, 4 * PV_INDICIUM_MAX, PV_ETRAILING, &text, rp) != PV_OK)
        goto out;
    if ((rc = pv_base64_decode(text, strlen(text), &data, &len)) != PV_OK) {
        pv_reply_error(rp, rc, "data", NULL);
        goto out;
    }
    if ((rc = pv_indicium_decode(data, len, &ind, NULL)) != PV_OK) {
        pv_reply_error(rp, rc, "data", NULL);
        goto out;
    }
    if ((rc = pv_store_key_list(st, &keys, &nkeys)) != PV_OK) {
        pv_reply_error(rp, rc, NULL, NULL);
        goto out;
    }
    for (i = 0; i < nkeys; i++)
        if (keys[i].key_id == ind.key_id)
            break;
    if (i == nkeys) {
        reason = pv_error_code(PV_EUNKNOWNKEY);
    } else if ((rc = pv_indicium_verify(data, len, keys[i].public_pem, &ind)) != PV_OK) {
        reason = pv_error_code(rc);
    } else if (strcmp(ind.license, app->license) != 0) {
        sig_ok = 1;
        reason = "license_mismatch";
    } else {
        sig_ok = 1;
        rc = pv_store_indicium_find(st, ind.device_id, ind.serial, &rec);
        /* The same piece is the same signed body: the signature may come in
         * its other valid form (r, n - s), see docs/indicium.md. */
        if (rc == PV_OK && rec.data_len == len && memcmp(rec.data, data, len - PV_SIG_LEN) == 0) {
            known = 1;
            /* The postal authority's duplicate check counts presentations;
             * anyone else (a customer, a sorting room) only reads the count,
             * so nobody holding a copy can make a stamp look used. */
            before = rec.presentations;
            if (who->role != PV_ROLE_OPERATOR)
                rc = PV_OK;
            else if ((rc = pv_store_begin(st)) == PV_OK) {
                /* Under the writer lock, like refunds: a piece is scanned or
                 * refunded, never both at once. */
                rc = pv_store_lock_writer(st);
                if (rc == PV_OK)
                    rc = pv_store_indicium_present(st, rec.id, pv_now(), &before);
                rc = rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
            }
            if (rc != PV_OK) {
                pv_reply_error(rp, rc, NULL, NULL);
                goto out;
            }
        } else if (rc == PV_OK || rc == PV_ENOTFOUND) {
            reason = "not_issued";
        } else {
            pv_reply_error(rp, rc, NULL, NULL);
            goto out;
        }
    }
    /* A test piece or a refunded one is never valid postage, whatever its signature. */
    test = sig_ok && (ind.flags & PV_IND_FLAG_TEST);
    refunded = known && rec.refunded_at != 0;
    if (test)
        reason = "test_piece";
    else if (refunded)
        reason = "refunded";
    pv_reply_json(rp, 200,
                  json_pack("{s:b, s:b, s:b, s:b, s:I, s:s, s:o, s:b, s:b, s:o}", "valid",
                            sig_ok && known && !test && !refunded, "signature_valid", sig_ok,
                            "known", known, "duplicate", before > 0, "presented_before",
                            (json_int_t) before, "status",
                            !(sig_ok && known) ? "invalid"
                            : test             ? "test"
                            : refunded         ? "refunded"
                            : before > 0       ? "duplicate"
                                               : "valid",
                            "reason", reason ? json_string(reason) : json_null(), "test", test,
                            "refunded", refunded, "fields", pv_indicium_fields_json(&ind)));
out:
    free(keys);
    free(data);
    json_decref(root);
}
