/*
 * reset_auth.c - the postal authority's signature on every reset
 * (reset_auth.h, docs/authority.md "Resets").
 *
 * The signer backend here ("file") is a crypto file module in the
 * authority's own directory with one P-256 key: development-grade, since the
 * vendor's host can read it. The purchase path sees only the ops table, so
 * a backend that asks the authority's online resetting system fits in its
 * place; verification needs nothing but the published public key.
 */
#include "domain/reset_auth.h"

#include "crypto/crypto.h"
#include "crypto/primitives.h"
#include "stampd/codec.h"
#include "stampd/error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t pv_reset_body(const char *license, const struct pv_refill_rec *rf, char *out, size_t n)
{
    int len = snprintf(out, n,
                       "stampd-reset/1\nlicense=%s\npsd=%" PRIu32 "\ndesc_before=%" PRId64
                       "\nasc_before=%" PRId64 "\nctl_before=%" PRId64 "\namount=%" PRId64
                       "\nat=%" PRId64 "\nnonce=%s\n",
                       license, rf->psd_id, (int64_t) rf->desc_before, (int64_t) rf->asc_before,
                       (int64_t) rf->ctl_before, (int64_t) rf->amount, rf->at, rf->authorization);

    return len > 0 && (size_t) len < n ? (size_t) len : 0;
}

/* The file backend: a crypto module and the key's reference in it. */
struct file_signer {
    struct pv_reset_signer base;
    struct pv_crypto *cm;
    char *key_ref;
};

static int file_authorise(struct pv_reset_signer *s, const char *body, size_t len, uint8_t sig[64])
{
    struct file_signer *f = (struct file_signer *) s;

    return pv_crypto_sign(f->cm, f->key_ref, (const uint8_t *) body, len, sig);
}

static void file_close(struct pv_reset_signer *s)
{
    struct file_signer *f = (struct file_signer *) s;

    pv_crypto_close(f->cm);
    free(f->key_ref);
    free(f);
}

static const struct pv_reset_signer_ops file_ops = {"file", file_authorise, file_close};

int pv_authority_key_create(struct pv_store *st, const char *spec, int64_t now, char **public_pem)
{
    struct pv_crypto *cm = NULL;
    char *old = NULL, *key_ref = NULL, *pem = NULL, since[24];
    int rc;

    if (public_pem)
        *public_pem = NULL;
    rc = pv_store_config_get(st, PV_CFG_AUTH_PUB, &old);
    free(old);
    if (rc == PV_OK)
        return PV_EEXIST;
    if (rc != PV_ENOTFOUND)
        return rc;
    if ((rc = pv_crypto_open(spec, &cm)) != PV_OK)
        return rc;
    rc = pv_crypto_generate_key(cm, "authority-reset", &key_ref, &pem);
    pv_crypto_close(cm);
    if (rc != PV_OK)
        goto out;
    snprintf(since, sizeof since, "%" PRId64, now);
    if ((rc = pv_store_begin(st)) != PV_OK)
        goto out;
    if ((rc = pv_store_config_set(st, PV_CFG_AUTH_SPEC, spec)) != PV_OK ||
        (rc = pv_store_config_set(st, PV_CFG_AUTH_KEY, key_ref)) != PV_OK ||
        (rc = pv_store_config_set(st, PV_CFG_AUTH_PUB, pem)) != PV_OK ||
        (rc = pv_store_config_set(st, PV_CFG_AUTH_SINCE, since)) != PV_OK) {
        pv_store_rollback(st);
        goto out;
    }
    if ((rc = pv_store_commit(st)) != PV_OK)
        goto out;
    if (public_pem) {
        *public_pem = pem;
        pem = NULL;
    }
out:
    free(key_ref);
    free(pem);
    return rc;
}

int pv_authority_public_key(struct pv_store *st, char **pem)
{
    return pv_store_config_get(st, PV_CFG_AUTH_PUB, pem);
}

int pv_reset_signer_open(struct pv_store *st, struct pv_reset_signer **out)
{
    struct file_signer *f;
    char *spec = NULL;
    int rc;

    *out = NULL;
    if ((rc = pv_store_config_get(st, PV_CFG_AUTH_SPEC, &spec)) != PV_OK)
        return rc;
    if (!(f = calloc(1, sizeof *f))) {
        free(spec);
        return PV_ENOMEM;
    }
    f->base.ops = &file_ops;
    rc = pv_store_config_get(st, PV_CFG_AUTH_KEY, &f->key_ref);
    if (rc == PV_OK)
        rc = pv_crypto_open(spec, &f->cm);
    free(spec);
    if (rc != PV_OK) {
        free(f->key_ref);
        free(f);
        return rc;
    }
    *out = &f->base;
    return PV_OK;
}

void pv_reset_signer_close(struct pv_reset_signer *s)
{
    if (s)
        s->ops->close(s);
}

int pv_reset_authorise(struct pv_reset_signer *s, const char *license, struct pv_refill_rec *rf)
{
    char body[PV_RESET_BODY_MAX];
    uint8_t sig[64];
    size_t len;

    if (!s)
        return PV_ERESETAUTH;
    if (!(len = pv_reset_body(license, rf, body, sizeof body)))
        return PV_EINVAL;
    if (s->ops->authorise(s, body, len, sig) != PV_OK)
        return PV_ERESETAUTH;
    pv_hex_encode(sig, sizeof sig, rf->authority_sig);
    return PV_OK;
}

int pv_reset_verify(const char *public_pem, const char *license, const struct pv_refill_rec *rf)
{
    char body[PV_RESET_BODY_MAX];
    uint8_t sig[64];
    size_t len;

    if (strlen(rf->authority_sig) != 128 ||
        pv_hex_decode(rf->authority_sig, sig, sizeof sig) != PV_OK ||
        !(len = pv_reset_body(license, rf, body, sizeof body)))
        return PV_ESIGNATURE;
    /* The registers after must follow from those signed for. */
    if (rf->amount <= 0 || rf->desc_after != rf->desc_before + rf->amount ||
        rf->asc_after != rf->asc_before || rf->ctl_after != rf->ctl_before + rf->amount)
        return PV_ESIGNATURE;
    return pv_crypto_verify(public_pem, (const uint8_t *) body, len, sig) == PV_OK ? PV_OK
                                                                                   : PV_ESIGNATURE;
}

static int add_issue(struct pv_reset_report *rep, const struct pv_refill_rec *rf, const char *why)
{
    struct pv_reset_issue *n = realloc(rep->issues, (rep->n + 1) * sizeof *n);

    if (!n)
        return PV_ENOMEM;
    rep->issues = n;
    n[rep->n].psd_id = rf->psd_id;
    pv_str_copy(n[rep->n].authorization, sizeof n[rep->n].authorization, rf->authorization);
    n[rep->n].why = why;
    rep->n++;
    return PV_OK;
}

int pv_reset_check_all(struct pv_store *st, struct pv_reset_report *rep)
{
    struct pv_psd_rec *psds = NULL;
    struct pv_refill_rec *rfs = NULL;
    char *pem = NULL, *license = NULL, *since_s = NULL;
    size_t npsds = 0, nrfs = 0, i, j;
    int64_t since;
    int rc;

    memset(rep, 0, sizeof *rep);
    if ((rc = pv_store_config_get(st, PV_CFG_AUTH_PUB, &pem)) != PV_OK ||
        (rc = pv_store_config_get(st, PV_CFG_AUTH_SINCE, &since_s)) != PV_OK ||
        (rc = pv_store_config_get(st, "license", &license)) != PV_OK)
        goto out;
    since = strtoll(since_s, NULL, 10);
    if ((rc = pv_store_psd_list(st, &psds, &npsds)) != PV_OK)
        goto out;
    for (i = 0; i < npsds && rc == PV_OK; i++) {
        if ((rc = pv_store_refill_list(st, psds[i].id, 0, &rfs, &nrfs)) != PV_OK)
            break;
        for (j = 0; j < nrfs && rc == PV_OK; j++) {
            if (!rfs[j].authority_sig[0] && rfs[j].at < since) {
                rep->unsigned_before++;
                continue;
            }
            rep->checked++;
            if (pv_reset_verify(pem, license, &rfs[j]) != PV_OK)
                rc = add_issue(rep, &rfs[j],
                               rfs[j].authority_sig[0] ? "the authority's signature does not verify"
                                                       : "no authorisation from the authority");
        }
        free(rfs);
        rfs = NULL;
    }
out:
    free(pem);
    free(license);
    free(since_s);
    free(psds);
    if (rc != PV_OK)
        pv_reset_report_clear(rep);
    return rc;
}

void pv_reset_report_clear(struct pv_reset_report *rep)
{
    free(rep->issues);
    rep->issues = NULL;
    rep->n = 0;
}
