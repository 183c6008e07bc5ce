/*
 * test_certs.c - the vendor CA and PSD key certificates (src/domain/certs.c
 * over src/crypto/x509.c), with a real store and file crypto module
 * (domain_env.h): the CA made in the module and its certificate signed
 * through the module's sign function; each key's certificate read back
 * with OpenSSL (serial = key id, subject, day-aligned validity,
 * digitalSignature only, CA:FALSE, signed by the CA); rotation (the
 * processor follows the PSD's new key, old and new pieces verify online
 * and offline with the chain); revocation (CRL signed by the CA listing
 * the key, the PSD suspended, pieces refused online and offline with
 * key_revoked); offline chain failures; the mail-date rule.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "domain_env.h"

#include "crypto/x509.h"
#include "domain/certs.h"
#include "domain/config.h"
#include "domain/verify.h"
#include "stampd/timeutil.h"

/* Only to read certificates back independently. */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static int setup(void **state)
{
    *state = denv_open("certs");
    return 0;
}

static int teardown(void **state)
{
    denv_close(*state);
    return 0;
}

static X509 *pem_cert(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

    BIO_free(b);
    assert_non_null(x);
    return x;
}

static char *config(struct pv_store *st, const char *key)
{
    char *v = NULL;

    assert_int_equal(pv_store_config_get(st, key, &v), PV_OK);
    return v;
}

static struct pv_key_rec *key_of(struct pv_key_rec *keys, size_t n, uint32_t id)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (keys[i].key_id == id)
            return &keys[i];
    fail_msg("no key %u", (unsigned) id);
    return NULL;
}

static void ca_init(struct denv *e)
{
    uint32_t issued = 0;

    assert_int_equal(pv_ca_init(e->st, e->cm, e->cm->id, pv_now(), &issued), PV_OK);
    assert_int_equal(issued, 3);
}

static void test_ca_and_key_certificates(void **state)
{
    struct denv *e = *state;
    struct pv_key_rec *keys = NULL;
    size_t n = 0, i;
    char *ca_pem, *crl_pem, name[128];
    X509 *ca, *x;
    int64_t day = pv_now() - pv_now() % PV_DAY;
    int d = 0, s = 0;
    ASN1_TIME *t = ASN1_TIME_new();

    ca_init(e);
    assert_int_equal(pv_ca_init(e->st, e->cm, e->cm->id, pv_now(), NULL), PV_EEXIST);
    ca_pem = config(e->st, PV_CFG_CA_CERT);
    crl_pem = config(e->st, PV_CFG_CA_CRL);
    ca = pem_cert(ca_pem);
    /* Self-signed through the module, a CA that signs certificates and CRLs. */
    assert_int_equal(X509_verify(ca, X509_get0_pubkey(ca)), 1);
    assert_int_equal(X509_check_ca(ca), 1);
    assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
    assert_true(X509_get_key_usage(ca) & KU_CRL_SIGN);
    X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, name, sizeof name);
    assert_string_equal(name, "stampd vendor CA " DENV_LICENSE);

    assert_int_equal(pv_store_key_list(e->st, &keys, &n), PV_OK);
    assert_int_equal(n, 3);
    for (i = 0; i < n; i++) {
        uint64_t serial = 0;
        char want[32];

        assert_true(keys[i].cert_pem[0] != '\0');
        x = pem_cert(keys[i].cert_pem);
        assert_int_equal(ASN1_INTEGER_get_uint64(&serial, X509_get0_serialNumber(x)), 1);
        assert_int_equal(serial, keys[i].key_id);
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, name, sizeof name);
        snprintf(want, sizeof want, "PSD %u", (unsigned) keys[i].psd_id);
        assert_string_equal(name, want);
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_organizationName, name,
                                  sizeof name);
        assert_string_equal(name, "Postage vendor " DENV_LICENSE);
        assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)), 0);
        /* Signed by the CA key, for the key it names, for signing only. */
        assert_int_equal(X509_verify(x, X509_get0_pubkey(ca)), 1);
        assert_int_equal(X509_check_ca(x), 0);
        assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
        assert_int_equal(X509_get_extension_flags(x) & EXFLAG_XKUSAGE, 0);
        /* From the start of the oldest mail date a key made today signs (two
         * days back) to PV_PSD_CERT_DAYS days after today. */
        ASN1_TIME_set(t, (time_t) (day - PV_CERT_BACKDATE_DAYS * PV_DAY));
        assert_int_equal(ASN1_TIME_compare(X509_get0_notBefore(x), t), 0);
        assert_int_equal(ASN1_TIME_diff(&d, &s, X509_get0_notBefore(x), X509_get0_notAfter(x)), 1);
        assert_int_equal(d, PV_PSD_CERT_DAYS + PV_CERT_BACKDATE_DAYS);
        assert_int_equal(s, 0);
        /* What offline verification checks. */
        assert_int_equal(pv_x509_psd_check(keys[i].cert_pem, ca_pem, crl_pem, keys[i].public_pem,
                                           NULL, NULL, name, sizeof name),
                         PV_OK);
        X509_free(x);
    }
    ASN1_TIME_free(t);
    X509_free(ca);
    free(ca_pem);
    free(crl_pem);
    free(keys);
}

/* The keyset a verifier builds from GET /v1/keys: every key with its
 * certificate, the CA and the CRL (borrowed from keys, ca, crl). */
static void keyset(struct pv_key_rec *keys, size_t n, struct pv_pubkey *pub, const char *ca,
                   const char *crl, struct pv_keyset *ks)
{
    size_t i;

    for (i = 0; i < n; i++) {
        memset(&pub[i], 0, sizeof pub[i]);
        pub[i].key_id = keys[i].key_id;
        pub[i].psd_id = keys[i].psd_id;
        pub[i].algorithm = keys[i].algorithm;
        pub[i].public_pem = keys[i].public_pem;
        pub[i].cert_pem = keys[i].cert_pem[0] ? keys[i].cert_pem : NULL;
    }
    memset(ks, 0, sizeof *ks);
    ks->license = DENV_LICENSE;
    ks->keys = pub;
    ks->n = n;
    ks->ca_pem = ca;
    ks->crl_pem = crl;
}

static void test_rotate(void **state)
{
    struct denv *e = *state;
    struct pv_indicium_rec before, after;
    struct pv_key_rec *keys = NULL;
    struct pv_psd_rec p;
    struct pv_pubkey pub[8];
    struct pv_keyset ks;
    struct pv_verdict v;
    struct pv_ca ca;
    uint32_t id = 0;
    size_t n = 0;
    char *ca_pem, *crl_pem;

    ca_init(e);
    denv_buy(e, "cus_a", 0, &before);
    assert_int_equal(pv_ca_load(e->st, e->cm->id, e->cm, NULL, &ca), PV_OK);
    assert_int_equal(pv_key_rotate(e->st, e->cm, &ca, before.ind.device_id, pv_now(), &id), PV_OK);
    assert_int_equal(id, 4);
    assert_int_equal(pv_store_psd_get(e->st, before.ind.device_id, &p), PV_OK);
    assert_int_equal(p.key_id, 4);
    assert_int_equal(p.status, PV_PSD_ACTIVE);
    /* The running processor follows the PSD row to the new key. */
    denv_buy(e, "cus_a", 0, &after);
    assert_int_equal(after.ind.device_id, before.ind.device_id);
    assert_int_equal(after.ind.key_id, 4);

    assert_int_equal(pv_store_key_list(e->st, &keys, &n), PV_OK);
    assert_int_equal(n, 4);
    assert_true(key_of(keys, n, before.ind.key_id)->retired_at > 0);
    assert_int_equal(key_of(keys, n, 4)->retired_at, 0);
    assert_true(key_of(keys, n, 4)->cert_pem[0] != '\0');
    ca_pem = config(e->st, PV_CFG_CA_CERT);
    crl_pem = config(e->st, PV_CFG_CA_CRL);
    keyset(keys, n, pub, ca_pem, crl_pem, &ks);
    /* Old and new pieces verify, offline with the chain and online. */
    assert_int_equal(pv_verify_offline(before.data, before.data_len, &ks, &v), PV_OK);
    assert_true(v.valid);
    assert_int_equal(pv_verify_offline(after.data, after.data_len, &ks, &v), PV_OK);
    assert_true(v.valid);
    assert_int_equal(
        pv_verify_online(e->st, DENV_LICENSE, before.data, before.data_len, NULL, 0, pv_now(), &v),
        PV_OK);
    assert_true(v.valid);
    assert_int_equal(
        pv_verify_online(e->st, DENV_LICENSE, after.data, after.data_len, NULL, 0, pv_now(), &v),
        PV_OK);
    assert_true(v.valid);
    /* A PSD that does not exist. */
    assert_int_equal(pv_key_rotate(e->st, e->cm, &ca, 99, pv_now(), &id), PV_ENOTFOUND);
    pv_ca_clear(&ca);
    free(ca_pem);
    free(crl_pem);
    free(keys);
}

static void test_revoke(void **state)
{
    struct denv *e = *state;
    struct pv_indicium_rec rec;
    struct pv_key_rec *keys = NULL;
    struct pv_psd_rec p;
    struct pv_pubkey pub[8];
    struct pv_keyset ks;
    struct pv_verdict v;
    struct pv_ca ca;
    size_t n = 0;
    int64_t revoked_at = 0;
    char *ca_pem, *crl_pem, why[128];
    uint32_t key;

    ca_init(e);
    denv_buy(e, "cus_a", 0, &rec);
    key = rec.ind.key_id;
    assert_int_equal(pv_ca_load(e->st, NULL, NULL, NULL, &ca), PV_OK);
    assert_int_equal(pv_key_revoke(e->st, &ca, key, "bogus", 0, pv_now()), PV_EINVAL);
    assert_int_equal(pv_key_revoke(e->st, &ca, 77, "key_compromise", 0, pv_now()), PV_ENOTFOUND);
    assert_int_equal(pv_key_revoke(e->st, &ca, key, "key_compromise", pv_now() - 60, pv_now()),
                     PV_OK);
    assert_int_equal(pv_key_revoke(e->st, &ca, key, "key_compromise", 0, pv_now()), PV_EEXIST);
    /* The PSD that signed with it stops. */
    assert_int_equal(pv_store_psd_get(e->st, rec.ind.device_id, &p), PV_OK);
    assert_int_equal(p.status, PV_PSD_SUSPENDED);

    assert_int_equal(pv_store_key_list(e->st, &keys, &n), PV_OK);
    ca_pem = config(e->st, PV_CFG_CA_CERT);
    crl_pem = config(e->st, PV_CFG_CA_CRL);
    /* The CRL is the CA's and lists the key. */
    assert_int_equal(pv_x509_psd_check(key_of(keys, n, key)->cert_pem, ca_pem, crl_pem, NULL, NULL,
                                       &revoked_at, why, sizeof why),
                     PV_OK);
    assert_int_equal(revoked_at, key_of(keys, n, key)->revoked_at);
    assert_true(revoked_at > 0);
    keyset(keys, n, pub, ca_pem, crl_pem, &ks);
    assert_int_equal(pv_verify_offline(rec.data, rec.data_len, &ks, &v), PV_EREVOKED);
    assert_false(v.valid);
    assert_true(v.sig_ok);
    assert_string_equal(v.reason, "key_revoked");
    assert_non_null(strstr(v.cert_why, "revoked"));
    assert_int_equal(
        pv_verify_online(e->st, DENV_LICENSE, rec.data, rec.data_len, NULL, 0, pv_now(), &v),
        PV_OK);
    assert_false(v.valid);
    assert_string_equal(v.reason, "key_revoked");
    assert_string_equal(v.status, "invalid");

    /* Even made active by hand, a PSD whose key is revoked is not loaded to sign. */
    {
        struct pv_processor_ctx ctx;
        size_t j;

        assert_int_equal(pv_store_psd_set_key(e->st, rec.ind.device_id, key, PV_PSD_ACTIVE), PV_OK);
        memset(&ctx, 0, sizeof ctx);
        ctx.cm = e->cm;
        snprintf(ctx.server_id, sizeof ctx.server_id, "proc-2");
        assert_int_equal(pv_processor_load(e->st, &ctx), PV_OK);
        for (j = 0; j < ctx.npsds; j++)
            assert_int_not_equal(ctx.psds[j].key_id, key);
        pv_processor_ctx_clear(&ctx);
    }
    /* A rotation gives the PSD a new key and it signs again. */
    assert_int_equal(pv_key_rotate(e->st, e->cm, &ca, rec.ind.device_id, pv_now(), NULL), PV_OK);
    assert_int_equal(pv_store_psd_get(e->st, rec.ind.device_id, &p), PV_OK);
    assert_int_equal(p.status, PV_PSD_ACTIVE);
    assert_true(p.key_id != key);
    pv_ca_clear(&ca);
    free(ca_pem);
    free(crl_pem);
    free(keys);
}

static int other_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64])
{
    const struct pv_ca *ca = ctx;

    return pv_crypto_sign(ca->cm, ca->key_ref, msg, len, sig);
}

/* An empty CRL of ca (owned). */
static char *other_crl(const struct pv_ca *ca)
{
    struct pv_x509_signer sg = {other_sign, (void *) ca, ca->public_pem};
    char *crl = NULL;

    assert_int_equal(pv_x509_crl(ca->cert_pem, NULL, 0, pv_now(), pv_now() + 86400, 1, &sg, &crl),
                     PV_OK);
    return crl;
}

static void test_offline_chain_refused(void **state)
{
    struct denv *e = *state;
    struct pv_indicium_rec rec;
    struct pv_key_rec *keys = NULL;
    struct pv_pubkey pub[8];
    struct pv_keyset ks;
    struct pv_verdict v;
    struct pv_ca other;
    size_t n = 0;
    char *ca_pem, *crl_pem;

    ca_init(e);
    denv_buy(e, "cus_a", 0, &rec);
    assert_int_equal(pv_store_key_list(e->st, &keys, &n), PV_OK);
    ca_pem = config(e->st, PV_CFG_CA_CERT);
    crl_pem = config(e->st, PV_CFG_CA_CRL);
    keyset(keys, n, pub, ca_pem, crl_pem, &ks);
    assert_int_equal(pv_verify_offline(rec.data, rec.data_len, &ks, &v), PV_OK);
    /* Another CA (a forger's) vouching for the key. */
    assert_int_equal(pv_ca_make(e->cm, e->cm->id, DENV_LICENSE, pv_now(), &other), PV_OK);
    ks.ca_pem = other.cert_pem;
    ks.crl_pem = NULL;
    assert_int_equal(pv_verify_offline(rec.data, rec.data_len, &ks, &v), PV_ECERT);
    assert_string_equal(v.reason, "certificate_invalid");
    /* A CRL of another CA. */
    ks.ca_pem = ca_pem;
    {
        char *forged = NULL;
        forged = other_crl(&other);
        ks.crl_pem = forged;
        assert_int_equal(pv_verify_offline(rec.data, rec.data_len, &ks, &v), PV_ECERT);
        assert_non_null(strstr(v.cert_why, "revocation list"));
        free(forged);
    }
    /* Another key's certificate under this key. */
    ks.crl_pem = crl_pem;
    pub[rec.ind.key_id - 1].cert_pem = key_of(keys, n, rec.ind.key_id == 1 ? 2 : 1)->cert_pem;
    assert_int_equal(pv_verify_offline(rec.data, rec.data_len, &ks, &v), PV_ECERT);
    /* No certificate at all, while the list has a CA. */
    pub[rec.ind.key_id - 1].cert_pem = NULL;
    assert_int_equal(pv_verify_offline(rec.data, rec.data_len, &ks, &v), PV_ECERT);
    /* A list without a CA (from before issue 14): the signature alone. */
    ks.ca_pem = NULL;
    assert_int_equal(pv_verify_offline(rec.data, rec.data_len, &ks, &v), PV_OK);
    pv_ca_clear(&other);
    free(ca_pem);
    free(crl_pem);
    free(keys);
}

/* A module that signs with another key than the CA's issues nothing. */
static void test_wrong_signer_issues_nothing(void **state)
{
    struct denv *e = *state;
    struct pv_ca a, b;
    struct pv_key_rec *keys = NULL;
    struct pv_x509_signer sg;
    struct pv_x509_spec xs;
    char *pem = (char *) "x";
    size_t n = 0;

    assert_int_equal(pv_ca_make(e->cm, e->cm->id, DENV_LICENSE, pv_now(), &a), PV_OK);
    assert_int_equal(pv_ca_make(e->cm, e->cm->id, DENV_LICENSE, pv_now(), &b), PV_OK);
    assert_int_equal(pv_store_key_list(e->st, &keys, &n), PV_OK);
    /* b's key signs, a's public key and certificate are claimed. */
    sg.sign = other_sign;
    sg.ctx = &b;
    sg.public_pem = a.public_pem;
    memset(&xs, 0, sizeof xs);
    xs.common_name = "PSD 1";
    xs.serial = 1;
    xs.not_before = 0;
    xs.not_after = 86400;
    xs.usage = PV_X509_SIGNING;
    assert_int_equal(pv_x509_issue_by(&xs, keys[0].public_pem, a.cert_pem, &sg, &pem), PV_ECRYPTO);
    assert_null(pem);
    pem = (char *) "x";
    assert_int_equal(pv_x509_crl(a.cert_pem, NULL, 0, 1, 2, 1, &sg, &pem), PV_ECRYPTO);
    assert_null(pem);
    /* The signer's key is not the issuer certificate's. */
    sg.ctx = &b;
    sg.public_pem = b.public_pem;
    assert_int_equal(pv_x509_issue_by(&xs, keys[0].public_pem, a.cert_pem, &sg, &pem), PV_ECRYPTO);
    pv_ca_clear(&a);
    pv_ca_clear(&b);
    free(keys);
}

/* A key certified after it signed pieces (stampd ca init on an older
 * database) vouches for them: its certificate starts the day the key was made. */
static void test_late_certificate_covers_older_pieces(void **state)
{
    struct denv *e = *state;
    struct pv_key_rec *keys = NULL, k;
    struct pv_x509_info info;
    struct pv_ca ca;
    int64_t now = pv_now(), made = now - 40 * PV_DAY;
    size_t n = 0;

    ca_init(e);
    assert_int_equal(pv_ca_load(e->st, NULL, NULL, NULL, &ca), PV_OK);
    assert_int_equal(pv_store_key_list(e->st, &keys, &n), PV_OK);
    k = keys[0];
    k.created = made;
    k.cert_pem[0] = '\0';
    assert_int_equal(pv_ca_issue(&ca, &k, now), PV_OK);
    assert_int_equal(pv_x509_info_of(k.cert_pem, &info), PV_OK);
    assert_int_equal(info.not_before, made - made % PV_DAY - PV_CERT_BACKDATE_DAYS * PV_DAY);
    assert_int_equal(info.not_after, now - now % PV_DAY + (int64_t) PV_PSD_CERT_DAYS * PV_DAY);
    assert_int_equal(
        pv_mail_date_check(pv_date_from_unix(made + 86400), info.not_before, info.not_after, 0),
        PV_OK);
    /* A key made today signs pieces mail-dated yesterday (and a day more for
     * clocks): its certificate covers them. */
    k.created = now;
    k.cert_pem[0] = '\0';
    assert_int_equal(pv_ca_issue(&ca, &k, now), PV_OK);
    assert_int_equal(pv_x509_info_of(k.cert_pem, &info), PV_OK);
    assert_int_equal(
        pv_mail_date_check(pv_date_from_unix(now - 2 * PV_DAY), info.not_before, info.not_after, 0),
        PV_OK);
    assert_int_equal(
        pv_mail_date_check(pv_date_from_unix(now - 3 * PV_DAY), info.not_before, info.not_after, 0),
        PV_ECERTDATE);
    pv_ca_clear(&ca);
    free(keys);
}

/* stampd ca rotate: a new CA certifies every key (revoked ones too, listed in
 * its CRL); the old CA's certificate and last CRL are kept. */
static void test_ca_rotate(void **state)
{
    struct denv *e = *state;
    struct pv_indicium_rec rec;
    struct pv_key_rec *keys = NULL;
    struct pv_pubkey pub[8];
    struct pv_keyset ks;
    struct pv_verdict v;
    struct pv_ca ca;
    size_t n = 0, i;
    int64_t revoked_at = 0;
    uint32_t reissued = 0, key;
    char *old_ca, *old_crl, *ca_pem, *crl_pem, *prev, *num, why[128];

    ca_init(e);
    denv_buy(e, "cus_a", 0, &rec);
    key = rec.ind.key_id;
    assert_int_equal(pv_ca_load(e->st, NULL, NULL, NULL, &ca), PV_OK);
    assert_int_equal(pv_key_revoke(e->st, &ca, 3, "superseded", 0, pv_now()), PV_OK);
    old_ca = config(e->st, PV_CFG_CA_CERT);
    assert_int_equal(pv_store_config_get(e->st, PV_CFG_CA_PREVIOUS, &prev), PV_ENOTFOUND);
    assert_int_equal(pv_ca_rotate(e->st, NULL, e->cm, e->cm->id, pv_now(), NULL), PV_EINVAL);
    assert_int_equal(pv_ca_rotate(e->st, &ca, e->cm, e->cm->id, pv_now(), &reissued), PV_OK);
    assert_int_equal(reissued, 3);
    pv_ca_clear(&ca);

    ca_pem = config(e->st, PV_CFG_CA_CERT);
    crl_pem = config(e->st, PV_CFG_CA_CRL);
    prev = config(e->st, PV_CFG_CA_PREVIOUS);
    num = config(e->st, PV_CFG_CA_CRL_NUMBER);
    assert_string_not_equal(ca_pem, old_ca);
    assert_string_equal(num, "1"); /* the new CA's first CRL */
    /* The old CA's certificate, then its last CRL: it lists key 3 too. */
    assert_true(strncmp(prev, old_ca, strlen(old_ca)) == 0);
    old_crl = strstr(prev, "-----BEGIN X509 CRL-----");
    assert_non_null(old_crl);
    assert_int_equal(pv_store_key_list(e->st, &keys, &n), PV_OK);
    assert_int_equal(n, 3);
    for (i = 0; i < n; i++) {
        revoked_at = 0;
        /* Every key's certificate is the new CA's, and the new CRL lists the revoked one. */
        assert_int_equal(pv_x509_psd_check(keys[i].cert_pem, ca_pem, crl_pem, keys[i].public_pem,
                                           NULL, &revoked_at, why, sizeof why),
                         PV_OK);
        assert_int_equal(revoked_at != 0, keys[i].key_id == 3);
        assert_int_not_equal(
            pv_x509_psd_check(keys[i].cert_pem, old_ca, NULL, NULL, NULL, NULL, why, sizeof why),
            PV_OK);
    }
    /* The old CA's CRL is its own (refused under the new CA). */
    assert_int_not_equal(
        pv_x509_psd_check(keys[0].cert_pem, ca_pem, old_crl, NULL, NULL, NULL, why, sizeof why),
        PV_OK);
    /* A piece from before the rotation verifies offline with the new chain. */
    keyset(keys, n, pub, ca_pem, crl_pem, &ks);
    assert_int_equal(key_of(keys, n, key)->revoked_at, 0);
    assert_int_equal(pv_verify_offline(rec.data, rec.data_len, &ks, &v), PV_OK);
    assert_true(v.valid);
    /* A second rotation appends: two previous CAs. */
    assert_int_equal(pv_ca_load(e->st, NULL, NULL, NULL, &ca), PV_OK);
    assert_int_equal(pv_ca_rotate(e->st, &ca, e->cm, e->cm->id, pv_now(), NULL), PV_OK);
    pv_ca_clear(&ca);
    free(prev);
    prev = config(e->st, PV_CFG_CA_PREVIOUS);
    assert_non_null(strstr(prev, ca_pem));
    assert_non_null(strstr(strstr(prev, ca_pem), "-----BEGIN X509 CRL-----"));
    free(num);
    free(prev);
    free(crl_pem);
    free(ca_pem);
    free(old_ca);
    free(keys);
}

static void test_mail_date_rule(void **state)
{
    int64_t nb = pv_date_to_unix(20261204), na = pv_date_to_unix(20311204);

    (void) state;
    assert_int_equal(pv_mail_date_check(20261204, nb, na, 0), PV_OK);
    assert_int_equal(pv_mail_date_check(20311204, nb, na, 0), PV_OK);
    assert_int_equal(pv_mail_date_check(20261203, nb, na, 0), PV_ECERTDATE);
    assert_int_equal(pv_mail_date_check(20311205, nb, na, 0), PV_ECERTDATE);
    /* Revoked at 15:00 on 2027-03-10: that day and later are refused. */
    assert_int_equal(pv_mail_date_check(20270309, nb, na, pv_date_to_unix(20270310) + 54000),
                     PV_OK);
    assert_int_equal(pv_mail_date_check(20270310, nb, na, pv_date_to_unix(20270310) + 54000),
                     PV_EREVOKED);
    assert_int_equal(pv_mail_date_check(20270311, nb, na, pv_date_to_unix(20270310)), PV_EREVOKED);
    /* A key without certificate: only revocation. */
    assert_int_equal(pv_mail_date_check(19991231, 0, 0, 0), PV_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ca_and_key_certificates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offline_chain_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_certificate_covers_older_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_signer_issues_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_rotate, setup, teardown),
        cmocka_unit_test(test_mail_date_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
