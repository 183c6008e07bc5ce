/*
 * verify.c - is this indicium genuine, issued here, used before (verify.h)?
 *
 * One decision in two settings: the vendor's server with its store, and a
 * third party holding only the published keys. The signature is checked
 * with pv_indicium_verify in both; what only the store can know (the
 * record, presentations, refunds) is added online.
 */
#include "domain/verify.h"

#include "crypto/x509.h"
#include "domain/certs.h"
#include "domain/mode.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

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

/* The mail-date rule (certs.h) for v's piece, in words into v->cert_why. */
static int date_rule(struct pv_verdict *v, int64_t not_before, int64_t not_after,
                     int64_t revoked_at)
{
    char a[16], b[16], m[16];
    int rc = pv_mail_date_check(v->ind.mail_date, not_before, not_after, revoked_at);

    pv_date_format(v->ind.mail_date, m, sizeof m);
    if (rc == PV_ECERTDATE)
        snprintf(v->cert_why, sizeof v->cert_why,
                 "the mail date %s is outside key %u's certificate (valid %s to %s)", m,
                 (unsigned) v->ind.key_id,
                 pv_date_format(pv_date_from_unix(not_before), a, sizeof a),
                 pv_date_format(pv_date_from_unix(not_after), b, sizeof b));
    else if (rc == PV_EREVOKED)
        snprintf(v->cert_why, sizeof v->cert_why,
                 "key %u was revoked on %s, on or before the mail date %s",
                 (unsigned) v->ind.key_id,
                 pv_date_format(pv_date_from_unix(revoked_at), a, sizeof a), m);
    return rc;
}

/* Offline: the certificate of the key that signed v's piece, against the CA. */
static int cert_offline(const struct pv_keyset *ks, struct pv_verdict *v)
{
    struct pv_x509_info info;
    int64_t revoked_at = 0;
    char why[128];

    if (!v->key->cert_pem) {
        snprintf(v->cert_why, sizeof v->cert_why,
                 "key %u is published without a certificate from the vendor CA",
                 (unsigned) v->ind.key_id);
        return PV_ECERT;
    }
    if (pv_x509_psd_check(v->key->cert_pem, ks->ca_pem, ks->crl_pem, v->key->public_pem, &info,
                          &revoked_at, why, sizeof why) != PV_OK) {
        snprintf(v->cert_why, sizeof v->cert_why, "key %u's certificate: %s",
                 (unsigned) v->ind.key_id, why);
        return PV_ECERT;
    }
    if (info.serial != v->ind.key_id) {
        snprintf(v->cert_why, sizeof v->cert_why,
                 "key %u's certificate has serial %llu, not the key id", (unsigned) v->ind.key_id,
                 (unsigned long long) info.serial);
        return PV_ECERT;
    }
    return date_rule(v, info.not_before, info.not_after, revoked_at);
}

/* Online: the stored key's certificate dates and revocation (certs.h's rule). */
static int cert_online(const struct pv_key_rec *k, struct pv_verdict *v)
{
    struct pv_x509_info info;

    memset(&info, 0, sizeof info);
    if (k->cert_pem[0] && pv_x509_info_of(k->cert_pem, &info) != PV_OK)
        memset(&info, 0, sizeof info);
    return date_rule(v, info.not_before, info.not_after, k->revoked_at);
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
    v->sig_ok = 1;
    v->test = (v->ind.flags & PV_IND_FLAG_TEST) != 0;
    if (ks->ca_pem && (rc = cert_offline(ks, v)) != PV_OK) {
        v->reason = pv_error_code(rc);
        return rc;
    }
    v->valid = 1;
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
    pv_str_copy(p.indicium_id, sizeof p.indicium_id, rec->id);
    p.seq = v->presented_before + 1;
    pv_str_copy(p.postal_id, sizeof p.postal_id, by->postal_id);
    p.presented_at = by->presented_at ? by->presented_at : now;
    pv_str_copy(p.location, sizeof p.location, by->location ? by->location : "");
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
    size_t nkeys = 0, i = 0;
    int rc, crc;

    verdict_init(v);
    if ((rc = pv_indicium_decode(data, len, &v->ind, NULL)) != PV_OK)
        return rc;
    v->decoded = 1;
    if ((rc = pv_store_key_list(st, &keys, &nkeys)) != PV_OK)
        goto out;
    if (!(rec = calloc(1, sizeof *rec))) {
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
    /* A piece its key's certificate refuses (revoked, out of its dates) is invalid. */
    if (v->sig_ok && i < nkeys && (crc = cert_online(&keys[i], v)) != PV_OK) {
        v->reason = pv_error_code(crc);
        v->valid = 0;
        v->status = "invalid";
    }
out:
    pv_indicium_recs_free(rec, rec ? 1 : 0);
    free(keys);
    return rc;
}
