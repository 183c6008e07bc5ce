/*
 * certs.c - the vendor CA in a crypto module, certificates for PSD keys,
 * key rotation and revocation (certs.h).
 *
 * Keys are made in their module before the transaction that records them
 * (a module cannot take a key back into a transaction), as provision.c
 * does; everything the store keeps for one operation is then written in one
 * transaction, so a failure leaves no half-rotated PSD or unsigned CRL.
 */
#include "domain/certs.h"

#include "crypto/x509.h"
#include "domain/config.h"
#include "domain/lease.h"
#include "domain/lifecycle.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CA_LABEL "vendor-ca"

void pv_ca_clear(struct pv_ca *ca)
{
    if (!ca)
        return;
    if (ca->owns_cm)
        pv_crypto_close(ca->cm);
    free(ca->spec);
    free(ca->key_ref);
    free(ca->cert_pem);
    free(ca->public_pem);
    memset(ca, 0, sizeof *ca);
}

/* x509.h's signer over the CA key in its module. */
static int ca_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64])
{
    const struct pv_ca *ca = ctx;

    return pv_crypto_sign(ca->cm, ca->key_ref, msg, len, sig);
}

static struct pv_x509_signer signer_of(const struct pv_ca *ca)
{
    struct pv_x509_signer s = {ca_sign, (void *) ca, ca->public_pem};
    return s;
}

/* The start of now's UTC day: certificates and the mail-date rule count days. */
static int64_t day_start(int64_t now)
{
    return now - now % PV_DAY;
}

/* A certificate's notBefore for a key made at t: PV_CERT_BACKDATE_DAYS before
 * t's day (never before 1970). */
static int64_t backdated(int64_t t)
{
    int64_t d = day_start(t) - (int64_t) PV_CERT_BACKDATE_DAYS * PV_DAY;

    return d > 0 ? d : 0;
}

int pv_ca_make(struct pv_crypto *cm, const char *spec, const char *license, int64_t now,
               struct pv_ca *ca)
{
    struct pv_x509_spec xs;
    struct pv_x509_signer sg;
    char cn[PV_X509_NAME_MAX + 1], org[PV_X509_NAME_MAX + 1];
    int rc;

    memset(ca, 0, sizeof *ca);
    if (!cm || !spec || !license || now <= 0 || strlen(license) >= sizeof ca->license)
        return PV_EINVAL;
    ca->cm = cm;
    pv_str_copy(ca->license, sizeof ca->license, license);
    if (!(ca->spec = strdup(spec))) {
        rc = PV_ENOMEM;
        goto fail;
    }
    if ((rc = pv_crypto_generate_key(cm, CA_LABEL, &ca->key_ref, &ca->public_pem)) != PV_OK)
        goto fail;
    snprintf(cn, sizeof cn, "stampd vendor CA %s", license);
    snprintf(org, sizeof org, "Postage vendor %s", license);
    memset(&xs, 0, sizeof xs);
    xs.common_name = cn;
    xs.organization = org;
    xs.serial = 0; /* random */
    xs.not_before = backdated(now);
    xs.not_after = day_start(now) + (int64_t) PV_CA_CERT_DAYS * PV_DAY;
    xs.usage = PV_X509_CA;
    sg = signer_of(ca);
    if ((rc = pv_x509_issue_by(&xs, NULL, NULL, &sg, &ca->cert_pem)) != PV_OK)
        goto fail;
    return PV_OK;
fail:
    pv_ca_clear(ca);
    return rc;
}

/* Inside a transaction: a CRL of every revoked key of st, the next number. */
static int write_crl(struct pv_store *st, const struct pv_ca *ca, int64_t now)
{
    struct pv_key_rec *keys = NULL;
    struct pv_x509_revoked *list = NULL;
    struct pv_x509_signer sg = signer_of(ca);
    char *num = NULL, *crl = NULL, buf[32];
    uint64_t number = 0;
    size_t n = 0, i, m = 0;
    int rc;

    rc = pv_store_config_get(st, PV_CFG_CA_CRL_NUMBER, &num);
    if (rc == PV_OK && pv_parse_u64(num, 0, UINT32_MAX, &number) != PV_OK)
        rc = PV_ECONFIG;
    if (rc != PV_OK && rc != PV_ENOTFOUND)
        goto out;
    if ((rc = pv_store_key_list(st, &keys, &n)) != PV_OK)
        goto out;
    if (!(list = calloc(n ? n : 1, sizeof *list))) {
        rc = PV_ENOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        if (!keys[i].revoked_at)
            continue;
        list[m].serial = keys[i].key_id;
        list[m].revoked_at = keys[i].revoked_at;
        list[m].reason = strcmp(keys[i].revoke_reason, "key_compromise") == 0           ? 1
                         : strcmp(keys[i].revoke_reason, "superseded") == 0             ? 4
                         : strcmp(keys[i].revoke_reason, "cessation_of_operation") == 0 ? 5
                                                                                        : 0;
        m++;
    }
    number++;
    if ((rc = pv_x509_crl(ca->cert_pem, list, m, now, now + (int64_t) PV_CRL_DAYS * PV_DAY, number,
                          &sg, &crl)) != PV_OK)
        goto out;
    snprintf(buf, sizeof buf, "%llu", (unsigned long long) number);
    if ((rc = pv_store_config_set(st, PV_CFG_CA_CRL, crl)) == PV_OK)
        rc = pv_store_config_set(st, PV_CFG_CA_CRL_NUMBER, buf);
out:
    free(crl);
    free(num);
    free(list);
    free(keys);
    return rc;
}

int pv_ca_save(struct pv_store *st, const struct pv_ca *ca, int64_t now)
{
    char *v = NULL;
    int rc = pv_store_config_get(st, PV_CFG_CA_CERT, &v);

    free(v);
    if (rc == PV_OK)
        return PV_EEXIST;
    if (rc != PV_ENOTFOUND)
        return rc;
    if ((rc = pv_store_config_set(st, PV_CFG_CA_MODULE, ca->spec)) != PV_OK ||
        (rc = pv_store_config_set(st, PV_CFG_CA_KEY_REF, ca->key_ref)) != PV_OK ||
        (rc = pv_store_config_set(st, PV_CFG_CA_CERT, ca->cert_pem)) != PV_OK)
        return rc;
    return write_crl(st, ca, now);
}

/* The public key of a certificate, for the signer's check. */
static int cert_public(const char *cert_pem, char **public_pem);

int pv_ca_load(struct pv_store *st, const char *have_spec, struct pv_crypto *have, const char *pin,
               struct pv_ca *ca)
{
    char *lic = NULL;
    int rc;

    memset(ca, 0, sizeof *ca);
    if ((rc = pv_store_config_get(st, PV_CFG_CA_CERT, &ca->cert_pem)) != PV_OK ||
        (rc = pv_store_config_get(st, PV_CFG_CA_MODULE, &ca->spec)) != PV_OK ||
        (rc = pv_store_config_get(st, PV_CFG_CA_KEY_REF, &ca->key_ref)) != PV_OK ||
        (rc = pv_store_config_get(st, PV_CFG_LICENSE, &lic)) != PV_OK)
        goto fail;
    pv_str_copy(ca->license, sizeof ca->license, lic);
    if ((rc = cert_public(ca->cert_pem, &ca->public_pem)) != PV_OK)
        goto fail;
    if (have && have_spec && strcmp(have_spec, ca->spec) == 0) {
        ca->cm = have;
    } else {
        if ((rc = pv_crypto_open_pin(ca->spec, pin, &ca->cm)) != PV_OK)
            goto fail;
        ca->owns_cm = 1;
    }
    free(lic);
    return PV_OK;
fail:
    free(lic);
    pv_ca_clear(ca);
    return rc;
}

int pv_ca_issue(const struct pv_ca *ca, struct pv_key_rec *k, int64_t now)
{
    struct pv_x509_spec xs;
    struct pv_x509_signer sg = signer_of(ca);
    char cn[PV_X509_NAME_MAX + 1], org[PV_X509_NAME_MAX + 1], *pem = NULL;
    int rc;

    if (!ca || !k || k->key_id == 0 || now <= 0)
        return PV_EINVAL;
    snprintf(cn, sizeof cn, "PSD %u", (unsigned) k->psd_id);
    snprintf(org, sizeof org, "Postage vendor %s", ca->license);
    memset(&xs, 0, sizeof xs);
    xs.common_name = cn;
    xs.organization = org;
    xs.serial = k->key_id; /* the indicium's key_id */
    /* From the day the key was made: a key certified after it signed pieces
     * (stampd ca init on an older database) must still vouch for them. */
    xs.not_before = backdated(k->created > 0 && k->created < now ? k->created : now);
    xs.not_after = day_start(now) + (int64_t) PV_PSD_CERT_DAYS * PV_DAY;
    xs.usage = PV_X509_SIGNING;
    if ((rc = pv_x509_issue_by(&xs, k->public_pem, ca->cert_pem, &sg, &pem)) != PV_OK)
        return rc;
    if (strlen(pem) >= sizeof k->cert_pem)
        rc = PV_ECONFIG;
    else
        pv_str_copy(k->cert_pem, sizeof k->cert_pem, pem);
    free(pem);
    return rc;
}

int pv_ca_issue_missing(struct pv_store *st, const struct pv_ca *ca, int64_t now, uint32_t *issued)
{
    struct pv_key_rec *keys = NULL;
    unsigned char *fresh = NULL;
    size_t n = 0, i;
    uint32_t count = 0;
    int rc;

    if (issued)
        *issued = 0;
    if ((rc = pv_store_key_list(st, &keys, &n)) != PV_OK)
        return rc;
    if (!(fresh = calloc(n ? n : 1, 1))) {
        rc = PV_ENOMEM;
        goto out;
    }
    /* Signed before the transaction: a token may be slow. */
    for (i = 0; i < n; i++) {
        if (keys[i].cert_pem[0])
            continue;
        if ((rc = pv_ca_issue(ca, &keys[i], now)) != PV_OK)
            goto out;
        fresh[i] = 1;
    }
    if ((rc = pv_store_begin(st)) != PV_OK)
        goto out;
    for (i = 0; i < n && rc == PV_OK; i++)
        if (fresh[i] && (rc = pv_store_key_set_cert(st, keys[i].key_id, keys[i].cert_pem)) == PV_OK)
            count++;
    if (rc == PV_OK)
        rc = write_crl(st, ca, now);
    rc = rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
    if (rc == PV_OK && issued)
        *issued = count;
out:
    free(fresh);
    free(keys);
    return rc;
}

int pv_ca_init(struct pv_store *st, struct pv_crypto *cm, const char *spec, int64_t now,
               uint32_t *issued)
{
    struct pv_ca ca;
    char *lic = NULL, *v = NULL;
    int rc;

    if (issued)
        *issued = 0;
    if ((rc = pv_store_config_get(st, PV_CFG_LICENSE, &lic)) != PV_OK)
        return rc;
    rc = pv_store_config_get(st, PV_CFG_CA_CERT, &v);
    free(v);
    if (rc != PV_ENOTFOUND) {
        free(lic);
        return rc == PV_OK ? PV_EEXIST : rc;
    }
    rc = pv_ca_make(cm, spec, lic, now, &ca);
    free(lic);
    if (rc != PV_OK)
        return rc;
    if ((rc = pv_store_begin(st)) == PV_OK) {
        rc = pv_ca_save(st, &ca, now);
        rc = rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
    }
    if (rc == PV_OK)
        rc = pv_ca_issue_missing(st, &ca, now, issued);
    pv_ca_clear(&ca);
    return rc;
}

/* Inside a transaction: ca's certificate and the CRL now in st appended to the
 * previous CAs (config PV_CFG_CA_PREVIOUS, PEM blocks in pairs). */
static int keep_previous(struct pv_store *st, const struct pv_ca *ca)
{
    char *prev = NULL, *crl = NULL, *all = NULL;
    size_t len;
    int rc = pv_store_config_get(st, PV_CFG_CA_PREVIOUS, &prev);

    if (rc != PV_OK && rc != PV_ENOTFOUND)
        return rc;
    if ((rc = pv_store_config_get(st, PV_CFG_CA_CRL, &crl)) != PV_OK)
        goto out;
    len = (prev ? strlen(prev) : 0) + strlen(ca->cert_pem) + strlen(crl) + 3;
    if (!(all = malloc(len))) {
        rc = PV_ENOMEM;
        goto out;
    }
    snprintf(all, len, "%s%s%s%s%s", prev ? prev : "", ca->cert_pem,
             ca->cert_pem[0] && ca->cert_pem[strlen(ca->cert_pem) - 1] == '\n' ? "" : "\n", crl,
             crl[0] && crl[strlen(crl) - 1] == '\n' ? "" : "\n");
    rc = pv_store_config_set(st, PV_CFG_CA_PREVIOUS, all);
out:
    free(all);
    free(crl);
    free(prev);
    return rc;
}

int pv_ca_rotate(struct pv_store *st, const struct pv_ca *old, struct pv_crypto *cm,
                 const char *spec, int64_t now, uint32_t *reissued)
{
    struct pv_key_rec *keys = NULL, *again = NULL;
    struct pv_ca nca;
    size_t n = 0, m = 0, i;
    int rc;

    if (reissued)
        *reissued = 0;
    if (!st || !old || !cm || !spec || now <= 0)
        return PV_EINVAL;
    if ((rc = pv_ca_make(cm, spec, old->license, now, &nca)) != PV_OK)
        return rc;
    if (strcmp(nca.key_ref, old->key_ref) == 0 && strcmp(nca.spec, old->spec) == 0) {
        rc = PV_EINVAL; /* a module that hands out the same key twice */
        goto out;
    }
    if ((rc = pv_store_key_list(st, &keys, &n)) != PV_OK)
        goto out;
    /* Signed before the transaction (a token may be slow): every key, revoked ones
     * too - the new CA's CRL lists those from the moment their certificate exists. */
    for (i = 0; i < n; i++) {
        keys[i].cert_pem[0] = '\0';
        if ((rc = pv_ca_issue(&nca, &keys[i], now)) != PV_OK)
            goto out;
    }
    if ((rc = pv_store_begin(st)) != PV_OK)
        goto out;
    /* A key made meanwhile (psd add) would keep the old CA's certificate: refuse. */
    if ((rc = pv_store_key_list(st, &again, &m)) == PV_OK && m != n)
        rc = PV_EBUSY;
    /* The old CA's last CRL (every revocation so far), kept with its certificate. */
    if (rc == PV_OK && (rc = write_crl(st, old, now)) == PV_OK)
        rc = keep_previous(st, old);
    if (rc == PV_OK && (rc = pv_store_config_set(st, PV_CFG_CA_MODULE, nca.spec)) == PV_OK &&
        (rc = pv_store_config_set(st, PV_CFG_CA_KEY_REF, nca.key_ref)) == PV_OK &&
        (rc = pv_store_config_set(st, PV_CFG_CA_CERT, nca.cert_pem)) == PV_OK)
        rc = pv_store_config_set(st, PV_CFG_CA_CRL_NUMBER, "0");
    for (i = 0; i < n && rc == PV_OK; i++)
        rc = pv_store_key_set_cert(st, keys[i].key_id, keys[i].cert_pem);
    if (rc == PV_OK)
        rc = write_crl(st, &nca, now);
    rc = rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
    if (rc == PV_OK && reissued)
        *reissued = (uint32_t) n;
out:
    free(again);
    free(keys);
    nca.cm = NULL; /* borrowed */
    pv_ca_clear(&nca);
    return rc;
}

/* The next free id for a key (and a PSD): one past every PSD and key id. */
static int next_id(const struct pv_psd_rec *psds, size_t np, const struct pv_key_rec *keys,
                   size_t nk, uint32_t *next)
{
    size_t i;

    *next = 1;
    for (i = 0; i < np; i++)
        if (psds[i].id >= *next)
            *next = psds[i].id + 1;
    for (i = 0; i < nk; i++)
        if (keys[i].key_id >= *next)
            *next = keys[i].key_id + 1;
    return *next == 0 || *next == UINT32_MAX ? PV_EOVERFLOW : PV_OK;
}

/* Inside the transaction: PSD psd_id's history event for a key change (lifecycle.h). */
static int history(struct pv_store *st, uint32_t psd_id, const char *event, int status_before,
                   uint32_t key_id, int64_t now)
{
    struct pv_psd_rec p;
    char ref[PV_ID_MAX];
    int rc;

    if ((rc = pv_store_psd_get(st, psd_id, &p)) != PV_OK)
        return rc;
    snprintf(ref, sizeof ref, "key:%u", (unsigned) key_id);
    return pv_psd_event_write(st, &p, event, PV_ACTOR_OPERATOR, "cli", "", status_before, ref, now);
}

int pv_key_rotate(struct pv_store *st, struct pv_crypto *cm, const struct pv_ca *ca,
                  uint32_t psd_id, int64_t now, uint32_t *key_id)
{
    struct pv_psd_rec *psds = NULL, *p = NULL;
    struct pv_key_rec *keys = NULL, *old = NULL, *k = NULL;
    char label[32], *ref = NULL, *pem = NULL;
    size_t np = 0, nk = 0, i;
    uint32_t id;
    int rc, status;

    if (key_id)
        *key_id = 0;
    if (!st || !cm)
        return PV_EINVAL;
    if (!ca)
        return PV_ENOTFOUND;
    if ((rc = pv_store_psd_list(st, &psds, &np)) != PV_OK ||
        (rc = pv_store_key_list(st, &keys, &nk)) != PV_OK)
        goto out;
    for (i = 0; i < np; i++)
        if (psds[i].id == psd_id)
            p = &psds[i];
    for (i = 0; p && i < nk; i++)
        if (keys[i].key_id == p->key_id)
            old = &keys[i];
    if (!p || !old) {
        rc = PV_ENOTFOUND;
        goto out;
    }
    if (p->status == PV_PSD_RETIRED) {
        rc = PV_EPSDSTATE; /* withdrawn: it signs nothing again (lifecycle.h) */
        goto out;
    }
    if (!pv_key_bound(old, cm)) {
        rc = PV_EKEYMODULE;
        goto out;
    }
    if ((rc = next_id(psds, np, keys, nk, &id)) != PV_OK)
        goto out;
    if (!(k = calloc(1, sizeof *k))) {
        rc = PV_ENOMEM;
        goto out;
    }
    snprintf(label, sizeof label, p->test ? "psd-%u-test-k%u" : "psd-%u-k%u", (unsigned) psd_id,
             (unsigned) id);
    if ((rc = pv_crypto_generate_key(cm, label, &ref, &pem)) != PV_OK)
        goto out;
    if (strlen(ref) >= sizeof k->key_ref || strlen(pem) >= sizeof k->public_pem) {
        rc = PV_ECONFIG;
        goto out;
    }
    k->key_id = id;
    k->psd_id = psd_id;
    pv_str_copy(k->algorithm, sizeof k->algorithm, old->algorithm);
    pv_str_copy(k->module, sizeof k->module, cm->ops->name);
    pv_str_copy(k->module_id, sizeof k->module_id, cm->id);
    pv_str_copy(k->key_ref, sizeof k->key_ref, ref);
    pv_str_copy(k->public_pem, sizeof k->public_pem, pem);
    k->created = now;
    if ((rc = pv_ca_issue(ca, k, now)) != PV_OK)
        goto out;
    /* A PSD stopped by its key's revocation (and by nobody else: an operator's
     * or the authority's suspension stays) signs again with the new key. */
    status = old->revoked_at && p->status == PV_PSD_SUSPENDED &&
                     strcmp(p->suspended_by, PV_ACTOR_SYSTEM) == 0
                 ? PV_PSD_ACTIVE
                 : p->status;
    if ((rc = pv_store_begin(st)) != PV_OK)
        goto out;
    if ((rc = pv_store_key_insert(st, k)) == PV_OK &&
        (rc = pv_store_psd_set_key(st, psd_id, id, status)) == PV_OK) {
        rc = pv_store_key_retire(st, old->key_id, now);
        if (rc == PV_ENOTFOUND)
            rc = PV_OK; /* retired already (a PSD given back an old key cannot be) */
    }
    if (rc == PV_OK && status != p->status)
        rc = pv_store_psd_set_status(st, psd_id, status, "", "");
    if (rc == PV_OK)
        rc = history(st, psd_id, "key_rotated", p->status, id, now);
    rc = rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
    if (rc == PV_OK && key_id)
        *key_id = id;
out:
    free(ref);
    free(pem);
    free(k);
    free(psds);
    free(keys);
    return rc;
}

/* 1 when r is a revocation reason stampd knows. */
static int reason_ok(const char *r)
{
    static const char *const known[] = {"unspecified", "key_compromise", "superseded",
                                        "cessation_of_operation"};
    size_t i;

    for (i = 0; r && i < sizeof known / sizeof known[0]; i++)
        if (strcmp(r, known[i]) == 0)
            return 1;
    return 0;
}

int pv_key_revoke(struct pv_store *st, const struct pv_ca *ca, uint32_t key_id, const char *reason,
                  int64_t since, int64_t now)
{
    struct pv_psd_rec *psds = NULL;
    struct pv_key_rec *keys = NULL;
    size_t np = 0, nk = 0, i;
    int rc;

    if (!st || !ca || !reason_ok(reason) || since < 0 || since > now || now <= 0)
        return PV_EINVAL;
    if (since == 0)
        since = now;
    if ((rc = pv_store_begin(st)) != PV_OK)
        return rc;
    if ((rc = pv_store_key_list(st, &keys, &nk)) != PV_OK ||
        (rc = pv_store_psd_list(st, &psds, &np)) != PV_OK)
        goto out;
    for (i = 0; i < nk && keys[i].key_id != key_id; i++)
        ;
    if (i == nk) {
        rc = PV_ENOTFOUND;
        goto out;
    }
    if (keys[i].revoked_at) {
        rc = PV_EEXIST;
        goto out;
    }
    if ((rc = pv_store_key_revoke(st, key_id, since, reason)) != PV_OK)
        goto out;
    /* The key never signs again: a PSD that signs with it stops. */
    for (i = 0; i < np && rc == PV_OK; i++) {
        if (psds[i].key_id != key_id)
            continue;
        if (psds[i].status == PV_PSD_ACTIVE &&
            (rc = pv_store_psd_set_key(st, psds[i].id, key_id, PV_PSD_SUSPENDED)) == PV_OK)
            rc = pv_store_psd_set_status(st, psds[i].id, PV_PSD_SUSPENDED, PV_ACTOR_SYSTEM,
                                         "key revoked");
        if (rc == PV_OK)
            rc = history(st, psds[i].id, "key_revoked", psds[i].status, key_id, now);
    }
    if (rc == PV_OK)
        rc = write_crl(st, ca, now);
out:
    rc = rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
    free(psds);
    free(keys);
    return rc;
}

int pv_mail_date_check(uint32_t mail_date, int64_t not_before, int64_t not_after,
                       int64_t revoked_at)
{
    if ((not_before || not_after) &&
        (mail_date < pv_date_from_unix(not_before) || mail_date > pv_date_from_unix(not_after)))
        return PV_ECERTDATE;
    if (revoked_at && mail_date >= pv_date_from_unix(revoked_at))
        return PV_EREVOKED;
    return PV_OK;
}

static int cert_public(const char *cert_pem, char **public_pem)
{
    return pv_x509_cert_public(cert_pem, public_pem);
}
