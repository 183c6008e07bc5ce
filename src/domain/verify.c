/*
 * verify.c - is this indicium genuine, issued here, used before (verify.h)?
 *
 * One decision in two settings: the vendor's server with its store, and a
 * third party holding only the published keys. The signature is checked
 * with pv_indicium_verify in both; what only the store can know (the
 * record, presentations, refunds) is added online.
 */
#include "domain/verify.h"

#include "domain/mode.h"
#include "stampd/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pv_verify_input_error(int rc)
{
    return rc == PV_ETRUNCATED || rc == PV_ETRAILING || rc == PV_EVERSION || rc == PV_EALGORITHM ||
           rc == PV_EMALFORMED || rc == PV_EBASE64;
}

int pv_keyset_find(const struct pv_keyset *ks, const struct pv_indicium *ind,
                   const struct pv_pubkey **out)
{
    size_t i;

    *out = NULL;
    if (!ks->license) {
        if (ks->n == 0 || !ks->keys[0].public_pem)
            return PV_KEY_NONE;
        *out = &ks->keys[0];
        return PV_KEY_FOUND;
    }
    if (strcmp(ks->license, ind->license) != 0)
        return PV_KEY_LICENSE;
    for (i = 0; i < ks->n; i++) {
        if (ks->keys[i].key_id != ind->key_id)
            continue;
        *out = &ks->keys[i];
        if (ks->keys[i].algorithm && strcmp(ks->keys[i].algorithm, PV_VERIFY_ALGORITHM) != 0)
            return PV_KEY_ALGORITHM;
        if (!ks->keys[i].public_pem)
            break;
        return PV_KEY_FOUND;
    }
    *out = NULL;
    return PV_KEY_NONE;
}

static void verdict_init(struct pv_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->status = "invalid";
}

int pv_verify_offline(const uint8_t *data, size_t len, const struct pv_keyset *ks,
                      struct pv_verdict *v)
{
    int rc;

    verdict_init(v);
    if ((rc = pv_indicium_decode(data, len, &v->ind, NULL)) != PV_OK)
        return rc;
    v->decoded = 1;
    v->miss = pv_keyset_find(ks, &v->ind, &v->key);
    if (v->miss != PV_KEY_FOUND) {
        v->reason = pv_error_code(PV_EUNKNOWNKEY);
        return PV_EUNKNOWNKEY;
    }
    if ((rc = pv_indicium_verify(data, len, v->key->public_pem, NULL)) != PV_OK) {
        v->reason = pv_error_code(rc);
        return rc;
    }
    v->sig_ok = v->valid = 1;
    v->test = (v->ind.flags & PV_IND_FLAG_TEST) != 0;
    v->status = v->test ? "test" : "valid";
    return PV_OK;
}

/* Inside the caller's transaction: one more presentation of rec by *by,
 * recorded with when and where, and the first one read back. */
static int present(struct pv_store *st, const struct pv_presenter *by, int64_t now,
                   const struct pv_indicium_rec *rec, struct pv_verdict *v)
{
    struct pv_presentation_rec p;
    int rc;

    if ((rc = pv_store_lock_writer(st)) != PV_OK ||
        (rc = pv_store_indicium_present(st, rec->id, now, &v->presented_before)) != PV_OK)
        return rc;
    memset(&p, 0, sizeof p);
    snprintf(p.indicium_id, sizeof p.indicium_id, "%s", rec->id);
    p.seq = v->presented_before + 1;
    snprintf(p.postal_id, sizeof p.postal_id, "%s", by->postal_id);
    p.presented_at = by->presented_at ? by->presented_at : now;
    snprintf(p.location, sizeof p.location, "%s", by->location ? by->location : "");
    p.recorded_at = now;
    if ((rc = pv_store_presentation_insert(st, &p)) != PV_OK)
        return rc;
    v->counted = 1;
    v->presentations = p.seq;
    /* Pieces counted before presentations were recorded (schema v8) have no first. */
    rc = pv_store_presentation_first(st, rec->id, &v->first);
    if (rc == PV_OK)
        v->first_known = 1;
    return rc == PV_ENOTFOUND ? PV_OK : rc;
}

/* The stored record of exactly these bytes, and its presentations counted
 * when asked by the postal authority (by) scanning a piece of its mode test. */
static int lookup(struct pv_store *st, const uint8_t *data, size_t len,
                  const struct pv_presenter *by, int test, int64_t now, struct pv_indicium_rec *rec,
                  struct pv_verdict *v)
{
    int rc = pv_store_indicium_find(st, v->ind.device_id, v->ind.serial, rec);

    /* The same piece is the same signed body: the signature may come in
     * its other valid form (r, n - s), see docs/indicium.md. */
    if (rc == PV_OK && rec->data_len == len && memcmp(rec->data, data, len - PV_SIG_LEN) == 0) {
        v->known = 1;
        v->presented_before = v->presentations = rec->presentations;
        if (!by || !pv_mode_sees(test, pv_indicium_mode(rec)))
            return PV_OK;
        if ((rc = pv_store_begin(st)) != PV_OK)
            return rc;
        rc = present(st, by, now, rec, v);
        if (rc == PV_OK && (rc = pv_store_commit(st)) == PV_OK)
            return PV_OK;
        pv_store_rollback(st);
        v->counted = v->first_known = 0;
        return rc;
    }
    if (rc == PV_OK || rc == PV_ENOTFOUND) {
        v->reason = "not_issued";
        return PV_OK;
    }
    return rc;
}

int pv_verify_online(struct pv_store *st, const char *license, const uint8_t *data, size_t len,
                     const struct pv_presenter *by, int test, int64_t now, struct pv_verdict *v)
{
    struct pv_key_rec *keys = NULL;
    struct pv_indicium_rec *rec = NULL;
    size_t nkeys = 0, i;
    int rc;

    verdict_init(v);
    if ((rc = pv_indicium_decode(data, len, &v->ind, NULL)) != PV_OK)
        return rc;
    v->decoded = 1;
    if ((rc = pv_store_key_list(st, &keys, &nkeys)) != PV_OK)
        goto out;
    if (!(rec = malloc(sizeof *rec))) {
        rc = PV_ENOMEM;
        goto out;
    }
    for (i = 0; i < nkeys && keys[i].key_id != v->ind.key_id; i++)
        ;
    if (i == nkeys) {
        v->reason = pv_error_code(PV_EUNKNOWNKEY);
    } else if ((rc = pv_indicium_verify(data, len, keys[i].public_pem, &v->ind)) != PV_OK) {
        v->reason = pv_error_code(rc);
        rc = PV_OK;
    } else if (strcmp(v->ind.license, license) != 0) {
        v->sig_ok = 1;
        v->reason = "license_mismatch";
    } else {
        v->sig_ok = 1;
        if ((rc = lookup(st, data, len, by, test, now, rec, v)) != PV_OK)
            goto out;
    }
    /* A test piece or a refunded one is never valid postage, whatever its signature. */
    v->test = v->sig_ok && (v->ind.flags & PV_IND_FLAG_TEST);
    v->refunded = v->known && rec->refunded_at != 0;
    if (v->test)
        v->reason = "test_piece";
    else if (v->refunded)
        v->reason = "refunded";
    v->valid = v->sig_ok && v->known && !v->test && !v->refunded;
    v->status = !(v->sig_ok && v->known)  ? "invalid"
                : v->test                 ? "test"
                : v->refunded             ? "refunded"
                : v->presented_before > 0 ? "duplicate"
                                          : "valid";
out:
    free(rec);
    free(keys);
    return rc;
}
