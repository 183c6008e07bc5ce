/*
 * x509.c - keys and certificates for stampd's own CAs, with OpenSSL
 * (x509.h).
 *
 * Everything is in memory, as PEM text: the caller decides where keys live
 * (cmd_tls.c writes files of mode 0600; a PSD's key stays in its crypto
 * module and only its public key comes here). A certificate is X.509 v3,
 * ECDSA with SHA-256, its extensions chosen by usage so that no key can
 * play another part: a processor's certificate (serverAuth) cannot log a
 * front in (clientAuth) and neither can sign certificates.
 */
#include "crypto/x509.h"

#include "crypto/primitives.h"
#include "stampd/codec.h"
#include "stampd/error.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The bytes of a memory BIO as an owned NUL-terminated string. */
static char *bio_text(BIO *b)
{
    char *data = NULL, *out;
    long len = BIO_get_mem_data(b, &data);

    if (len < 0 || !(out = malloc((size_t) len + 1)))
        return NULL;
    memcpy(out, data, (size_t) len);
    out[len] = '\0';
    return out;
}

static EVP_PKEY *read_private(const char *pem)
{
    BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;

    BIO_free(b);
    return k;
}

static EVP_PKEY *read_public(const char *pem)
{
    BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
    EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;

    BIO_free(b);
    return k;
}

static X509 *read_cert(const char *pem)
{
    BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

    BIO_free(b);
    return x;
}

int pv_x509_key_new(char **key_pem)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    BIO *b = NULL;
    int rc = PV_ECRYPTO;

    *key_pem = NULL;
    if (!k || !(b = BIO_new(BIO_s_mem())) ||
        PEM_write_bio_PKCS8PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1)
        goto out;
    rc = (*key_pem = bio_text(b)) ? PV_OK : PV_ENOMEM;
out:
    BIO_free(b);
    EVP_PKEY_free(k);
    ERR_clear_error();
    return rc;
}

static int public_of(EVP_PKEY *k, char **public_pem)
{
    BIO *b = BIO_new(BIO_s_mem());
    int rc = PV_ECRYPTO;

    *public_pem = NULL;
    if (b && PEM_write_bio_PUBKEY(b, k) == 1)
        rc = (*public_pem = bio_text(b)) ? PV_OK : PV_ENOMEM;
    BIO_free(b);
    return rc;
}

int pv_x509_public_pem(const char *key_pem, char **public_pem)
{
    EVP_PKEY *k = read_private(key_pem);
    int rc = k ? public_of(k, public_pem) : PV_ECRYPTO;

    if (!k)
        *public_pem = NULL;
    EVP_PKEY_free(k);
    ERR_clear_error();
    return rc;
}

/* A name part: 1..PV_X509_NAME_MAX printable ASCII characters, no quotes or
 * separators that would change its meaning in a config string. */
static int good_name(const char *s)
{
    size_t n = s ? strlen(s) : 0, i;

    if (n == 0 || n > PV_X509_NAME_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if (s[i] < ' ' || s[i] > '~' || strchr("\",\\/+=<>#;", s[i]))
            return 0;
    return 1;
}

/* A SAN entry as "IP:..." or "DNS:..." appended to buf; 0 when it is neither. */
static int san_entry(const char *s, char *buf, size_t cap)
{
    unsigned char addr[16];
    size_t n = s ? strlen(s) : 0, i, len = strlen(buf);
    const char *kind = "DNS";
    int w;

    if (n == 0 || n > PV_X509_NAME_MAX)
        return 0;
    if (inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1) {
        kind = "IP";
    } else {
        for (i = 0; i < n; i++)
            if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                  (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.'))
                return 0;
        if (s[0] == '.' || s[0] == '-' || s[n - 1] == '.' || strstr(s, ".."))
            return 0;
    }
    w = snprintf(buf + len, cap - len, "%s%s:%s", len ? "," : "", kind, s);
    return w > 0 && (size_t) w < cap - len;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    int ok = e && X509_add_ext(x, e, -1) == 1;

    X509_EXTENSION_free(e);
    return ok;
}

static int set_serial(X509 *x, uint64_t serial)
{
    ASN1_INTEGER *a = ASN1_INTEGER_new();
    BIGNUM *bn = NULL;
    int ok = 0;

    if (!a)
        return 0;
    if (serial) {
        ok = ASN1_INTEGER_set_uint64(a, serial) == 1;
    } else {
        /* 127 random bits: positive, unguessable, no collisions in practice. */
        ok = (bn = BN_new()) && BN_rand(bn, 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1 &&
             BN_to_ASN1_INTEGER(bn, a) != NULL;
    }
    ok = ok && X509_set_serialNumber(x, a) == 1;
    BN_free(bn);
    ASN1_INTEGER_free(a);
    return ok;
}

/* The extensions spec->usage calls for, with the subject alternative names. */
static int add_extensions(X509 *x, X509 *issuer, const struct pv_x509_spec *spec, const char *san)
{
    X509V3_CTX ctx;
    char ku[96] = "critical,digitalSignature", eku[64] = "";

    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    if (spec->usage & PV_X509_CA)
        snprintf(ku, sizeof ku, "critical,keyCertSign,cRLSign%s",
                 spec->usage & (PV_X509_SERVER | PV_X509_CLIENT | PV_X509_SIGNING)
                     ? ",digitalSignature"
                     : "");
    if ((spec->usage & PV_X509_SERVER) && (spec->usage & PV_X509_CLIENT))
        snprintf(eku, sizeof eku, "serverAuth,clientAuth");
    else if (spec->usage & PV_X509_SERVER)
        snprintf(eku, sizeof eku, "serverAuth");
    else if (spec->usage & PV_X509_CLIENT)
        snprintf(eku, sizeof eku, "clientAuth");
    if (!add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
        /* A self-signed CA names itself; the others name their issuer's key. */
        (issuer != x && !add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always")) ||
        !add_ext(x, &ctx, NID_basic_constraints,
                 spec->usage & PV_X509_CA ? "critical,CA:TRUE,pathlen:0" : "critical,CA:FALSE") ||
        !add_ext(x, &ctx, NID_key_usage, ku) ||
        (eku[0] && !add_ext(x, &ctx, NID_ext_key_usage, eku)) ||
        (san[0] && !add_ext(x, &ctx, NID_subject_alt_name, san)))
        return 0;
    return 1;
}

/* The checks of a spec, and its SANs into san (cap bytes). PV_OK or PV_EINVAL. */
static int spec_ok(const struct pv_x509_spec *spec, char *san, size_t cap)
{
    size_t i;

    if (!spec || !good_name(spec->common_name) ||
        (spec->organization && !good_name(spec->organization)) || spec->usage == 0 ||
        spec->not_after <= spec->not_before || spec->not_before < 0)
        return PV_EINVAL;
    for (i = 0; i < PV_X509_SAN_MAX && spec->san[i]; i++)
        if (!san_entry(spec->san[i], san, cap))
            return PV_EINVAL;
    return PV_OK;
}

/* An unsigned certificate for subj as spec says, issued by issuer (NULL:
 * itself). NULL when OpenSSL fails. */
static X509 *build_cert(const struct pv_x509_spec *spec, const char *san, EVP_PKEY *subj,
                        X509 *issuer)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    int ok = x && name;

    ok = ok && X509_set_version(x, X509_VERSION_3) == 1 && set_serial(x, spec->serial) &&
         ASN1_TIME_set(X509_getm_notBefore(x), (time_t) spec->not_before) &&
         ASN1_TIME_set(X509_getm_notAfter(x), (time_t) spec->not_after) &&
         X509_set_pubkey(x, subj) == 1 &&
         (!spec->organization ||
          X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
                                     (const unsigned char *) spec->organization, -1, -1, 0) == 1) &&
         X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                    (const unsigned char *) spec->common_name, -1, -1, 0) == 1 &&
         X509_set_subject_name(x, name) == 1 &&
         X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) == 1 &&
         add_extensions(x, issuer ? issuer : x, spec, san);
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static int cert_pem_of(X509 *x, char **cert_pem)
{
    BIO *b = BIO_new(BIO_s_mem());
    int rc = PV_ECRYPTO;

    if (b && PEM_write_bio_X509(b, x) == 1)
        rc = (*cert_pem = bio_text(b)) ? PV_OK : PV_ENOMEM;
    BIO_free(b);
    return rc;
}

int pv_x509_issue(const struct pv_x509_spec *spec, const char *public_pem,
                  const char *issuer_cert_pem, const char *issuer_key_pem, char **cert_pem)
{
    EVP_PKEY *ikey = NULL, *subj = NULL;
    X509 *x = NULL, *issuer = NULL;
    char san[PV_X509_SAN_MAX * (PV_X509_NAME_MAX + 8)] = "";
    int rc;

    *cert_pem = NULL;
    if ((rc = spec_ok(spec, san, sizeof san)) != PV_OK)
        return rc;
    rc = PV_ECRYPTO;
    if (!(ikey = read_private(issuer_key_pem)))
        goto out;
    if (issuer_cert_pem) {
        if (!(issuer = read_cert(issuer_cert_pem)) || X509_check_private_key(issuer, ikey) != 1)
            goto out;
    }
    if (public_pem)
        subj = read_public(public_pem);
    else if (!issuer && EVP_PKEY_up_ref(ikey) == 1)
        subj = ikey;
    if (!subj || !(x = build_cert(spec, san, subj, issuer)) ||
        X509_sign(x, ikey, EVP_sha256()) <= 0)
        goto out;
    rc = cert_pem_of(x, cert_pem);
out:
    X509_free(x);
    X509_free(issuer);
    EVP_PKEY_free(subj);
    EVP_PKEY_free(ikey);
    ERR_clear_error();
    return rc;
}

/* --- Signing through a signer (a key in a crypto module) --------------- */

/* A DER length field for len into out (at most 5 bytes); its size. */
static size_t der_len(size_t len, uint8_t *out)
{
    if (len < 0x80) {
        out[0] = (uint8_t) len;
        return 1;
    }
    if (len < 0x100) {
        out[0] = 0x81;
        out[1] = (uint8_t) len;
        return 2;
    }
    if (len < 0x10000) {
        out[0] = 0x82;
        out[1] = (uint8_t) (len >> 8);
        out[2] = (uint8_t) len;
        return 3;
    }
    out[0] = 0x83;
    out[1] = (uint8_t) (len >> 16);
    out[2] = (uint8_t) (len >> 8);
    out[3] = (uint8_t) len;
    return 4;
}

/* AlgorithmIdentifier { ecdsa-with-SHA256 } (RFC 5758: no parameters). */
static const uint8_t ALG_ECDSA_SHA256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                           0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};

/*
 * The outer SEQUENCE { tbs, ecdsa-with-SHA256, BIT STRING sig } of a
 * certificate or CRL (they have the same shape): tbs signed by signer, the
 * raw signature turned into an ECDSA-Sig-Value. *der owned (free()).
 */
static int signed_der(const uint8_t *tbs, size_t tbs_len, const struct pv_x509_signer *signer,
                      uint8_t **der, size_t *der_len_out)
{
    uint8_t raw[64], sigder[80], *p, *out, hdr[8], bhdr[8];
    size_t body, nh, nb, total, sl;
    int rc;

    *der = NULL;
    if ((rc = signer->sign(signer->ctx, tbs, tbs_len, raw)) != PV_OK)
        return rc;
    if (pv_sig_raw_to_der(raw, sigder, sizeof sigder, &sl) != PV_OK)
        return PV_ECRYPTO;
    nb = der_len(sl + 1, bhdr);
    body = tbs_len + sizeof ALG_ECDSA_SHA256 + 1 + nb + 1 + sl;
    nh = der_len(body, hdr);
    total = 1 + nh + body;
    if (!(out = malloc(total)))
        return PV_ENOMEM;
    p = out;
    *p++ = 0x30;
    memcpy(p, hdr, nh), p += nh;
    memcpy(p, tbs, tbs_len), p += tbs_len;
    memcpy(p, ALG_ECDSA_SHA256, sizeof ALG_ECDSA_SHA256), p += sizeof ALG_ECDSA_SHA256;
    *p++ = 0x03;
    memcpy(p, bhdr, nb), p += nb;
    *p++ = 0x00; /* no unused bits */
    memcpy(p, sigder, sl);
    *der = out;
    *der_len_out = total;
    return PV_OK;
}

/* A throwaway P-256 key: signing with it first makes OpenSSL fill both
 * AlgorithmIdentifiers (ecdsa-with-SHA256) in what it encodes. */
static EVP_PKEY *placeholder_key(void)
{
    return EVP_EC_gen("P-256");
}

int pv_x509_issue_by(const struct pv_x509_spec *spec, const char *public_pem,
                     const char *issuer_cert_pem, const struct pv_x509_signer *signer,
                     char **cert_pem)
{
    EVP_PKEY *subj = NULL, *ikey = NULL, *tmp = NULL;
    X509 *x = NULL, *issuer = NULL, *done = NULL;
    char san[PV_X509_SAN_MAX * (PV_X509_NAME_MAX + 8)] = "";
    uint8_t *tbs = NULL, *der = NULL;
    const uint8_t *dp;
    size_t dlen = 0;
    int tl, rc;

    *cert_pem = NULL;
    if (!signer || !signer->sign || !signer->public_pem)
        return PV_EINVAL;
    if ((rc = spec_ok(spec, san, sizeof san)) != PV_OK)
        return rc;
    rc = PV_ECRYPTO;
    if (!(ikey = read_public(signer->public_pem)))
        goto out;
    if (issuer_cert_pem) {
        EVP_PKEY *ik;
        if (!(issuer = read_cert(issuer_cert_pem)) || !(ik = X509_get0_pubkey(issuer)) ||
            EVP_PKEY_eq(ik, ikey) != 1)
            goto out;
    }
    subj = read_public(public_pem ? public_pem : signer->public_pem);
    if (!subj || !(x = build_cert(spec, san, subj, issuer)) || !(tmp = placeholder_key()) ||
        X509_sign(x, tmp, EVP_sha256()) <= 0 || (tl = i2d_re_X509_tbs(x, &tbs)) <= 0)
        goto out;
    if ((rc = signed_der(tbs, (size_t) tl, signer, &der, &dlen)) != PV_OK)
        goto out;
    rc = PV_ECRYPTO;
    dp = der;
    /* The module's signature must be the CA key's, or nothing is issued. */
    if (!(done = d2i_X509(NULL, &dp, (long) dlen)) || X509_verify(done, ikey) != 1)
        goto out;
    rc = cert_pem_of(done, cert_pem);
out:
    OPENSSL_free(tbs);
    free(der);
    X509_free(done);
    X509_free(x);
    X509_free(issuer);
    EVP_PKEY_free(tmp);
    EVP_PKEY_free(subj);
    EVP_PKEY_free(ikey);
    ERR_clear_error();
    return rc;
}

/* One revoked entry of a CRL: serial, date and reason. */
static int crl_add(X509_CRL *crl, const struct pv_x509_revoked *e)
{
    X509_REVOKED *rv = X509_REVOKED_new();
    ASN1_INTEGER *serial = ASN1_INTEGER_new();
    ASN1_TIME *t = ASN1_TIME_new();
    ASN1_ENUMERATED *why = ASN1_ENUMERATED_new();
    int ok = rv && serial && t && why && e->serial > 0 && e->revoked_at >= 0 &&
             ASN1_INTEGER_set_uint64(serial, e->serial) == 1 &&
             X509_REVOKED_set_serialNumber(rv, serial) == 1 &&
             ASN1_TIME_set(t, (time_t) e->revoked_at) &&
             X509_REVOKED_set_revocationDate(rv, t) == 1 &&
             ASN1_ENUMERATED_set(why, e->reason) == 1 &&
             X509_REVOKED_add1_ext_i2d(rv, NID_crl_reason, why, 0, 0) == 1 &&
             X509_CRL_add0_revoked(crl, rv) == 1;

    if (!ok)
        X509_REVOKED_free(rv);
    ASN1_INTEGER_free(serial);
    ASN1_TIME_free(t);
    ASN1_ENUMERATED_free(why);
    return ok;
}

int pv_x509_crl(const char *ca_cert_pem, const struct pv_x509_revoked *list, size_t n,
                int64_t this_update, int64_t next_update, uint64_t crl_number,
                const struct pv_x509_signer *signer, char **crl_pem)
{
    X509 *ca = NULL;
    X509_CRL *crl = NULL, *done = NULL;
    EVP_PKEY *tmp = NULL, *ikey = NULL;
    ASN1_TIME *t = NULL;
    ASN1_INTEGER *num = NULL;
    uint8_t *tbs = NULL, *der = NULL;
    const uint8_t *dp;
    BIO *b = NULL;
    X509V3_CTX ctx;
    X509_EXTENSION *aki = NULL;
    size_t i, dlen = 0;
    int tl, rc = PV_EINVAL;

    *crl_pem = NULL;
    if (!signer || !signer->sign || !signer->public_pem || (n && !list) ||
        next_update <= this_update || this_update < 0 || crl_number == 0)
        return PV_EINVAL;
    rc = PV_ECRYPTO;
    if (!(ca = read_cert(ca_cert_pem)) || !(ikey = read_public(signer->public_pem)) ||
        EVP_PKEY_eq(X509_get0_pubkey(ca), ikey) != 1 || !(crl = X509_CRL_new()) ||
        !(t = ASN1_TIME_new()) || !(num = ASN1_INTEGER_new()))
        goto out;
    if (X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) != 1 ||
        !ASN1_TIME_set(t, (time_t) this_update) || X509_CRL_set1_lastUpdate(crl, t) != 1 ||
        !ASN1_TIME_set(t, (time_t) next_update) || X509_CRL_set1_nextUpdate(crl, t) != 1 ||
        ASN1_INTEGER_set_uint64(num, crl_number) != 1 ||
        X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1)
        goto out;
    X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
    if (!(aki = X509V3_EXT_nconf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always")) ||
        X509_CRL_add_ext(crl, aki, -1) != 1)
        goto out;
    for (i = 0; i < n; i++)
        if (!crl_add(crl, &list[i])) {
            rc = PV_EINVAL;
            goto out;
        }
    X509_CRL_sort(crl);
    if (!(tmp = placeholder_key()) || X509_CRL_sign(crl, tmp, EVP_sha256()) <= 0 ||
        (tl = i2d_re_X509_CRL_tbs(crl, &tbs)) <= 0)
        goto out;
    if ((rc = signed_der(tbs, (size_t) tl, signer, &der, &dlen)) != PV_OK)
        goto out;
    rc = PV_ECRYPTO;
    dp = der;
    if (!(done = d2i_X509_CRL(NULL, &dp, (long) dlen)) || X509_CRL_verify(done, ikey) != 1 ||
        !(b = BIO_new(BIO_s_mem())) || PEM_write_bio_X509_CRL(b, done) != 1)
        goto out;
    rc = (*crl_pem = bio_text(b)) ? PV_OK : PV_ENOMEM;
out:
    BIO_free(b);
    X509_EXTENSION_free(aki);
    OPENSSL_free(tbs);
    free(der);
    X509_CRL_free(done);
    X509_CRL_free(crl);
    ASN1_TIME_free(t);
    ASN1_INTEGER_free(num);
    EVP_PKEY_free(tmp);
    EVP_PKEY_free(ikey);
    X509_free(ca);
    ERR_clear_error();
    return rc;
}

/* Every certificate of the PEM text ca_pem into store (a bundle: old and
 * new CA while one replaces the other). The number added, 0 on error. */
static int add_cas(X509_STORE *store, const char *ca_pem)
{
    BIO *b = BIO_new_mem_buf(ca_pem, -1);
    X509 *x;
    int added = 0;

    while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(store, x) != 1) {
            X509_free(x);
            added = 0;
            break;
        }
        X509_free(x);
        added++;
    }
    BIO_free(b);
    ERR_clear_error(); /* the end of the text reads as an error */
    return added;
}

int pv_x509_check(const char *cert_pem, const char *key_pem, const char *ca_pem, unsigned usage,
                  int64_t now, char *why, size_t n)
{
    X509 *cert = read_cert(cert_pem);
    EVP_PKEY *key = key_pem ? read_private(key_pem) : NULL;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = NULL;
    int rc = PV_ECONFIG, err;

    snprintf(why, n, "unknown");
    if (!store) {
        snprintf(why, n, "out of memory");
        goto out;
    }
    if (!cert || !ca_pem || add_cas(store, ca_pem) == 0) {
        snprintf(why, n, "not a PEM certificate");
        goto out;
    }
    if (key_pem && (!key || X509_check_private_key(cert, key) != 1)) {
        snprintf(why, n, "the key does not belong to the certificate");
        goto out;
    }
    if (!(ctx = X509_STORE_CTX_new()) || X509_STORE_CTX_init(ctx, store, cert, NULL) != 1) {
        snprintf(why, n, "out of memory");
        goto out;
    }
    X509_STORE_CTX_set_time(ctx, 0, (time_t) now);
    if (usage == PV_X509_SERVER)
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    else if (usage == PV_X509_CLIENT)
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    if (X509_verify_cert(ctx) != 1) {
        err = X509_STORE_CTX_get_error(ctx);
        pv_str_copy(why, n, X509_verify_cert_error_string(err));
        goto out;
    }
    rc = PV_OK;
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    EVP_PKEY_free(key);
    X509_free(cert);
    ERR_clear_error();
    return rc;
}

/* An ASN1_TIME as unix seconds; 0 when it cannot be read. */
static int64_t unix_time(const ASN1_TIME *t)
{
    ASN1_TIME *epoch = ASN1_TIME_new();
    int days = 0, secs = 0,
        ok = t && epoch && ASN1_TIME_set(epoch, 0) && ASN1_TIME_diff(&days, &secs, epoch, t) == 1;

    ASN1_TIME_free(epoch);
    return ok ? (int64_t) days * 86400 + secs : 0;
}

static void name_part(X509_NAME *name, int nid, char *out, size_t n)
{
    if (X509_NAME_get_text_by_NID(name, nid, out, (int) n) < 0)
        out[0] = '\0';
}

static int info_fill(X509 *x, struct pv_x509_info *info)
{
    const ASN1_INTEGER *sn = X509_get0_serialNumber(x);

    memset(info, 0, sizeof *info);
    if (!sn || ASN1_INTEGER_get_uint64(&info->serial, sn) != 1)
        info->serial = 0;
    info->not_before = unix_time(X509_get0_notBefore(x));
    info->not_after = unix_time(X509_get0_notAfter(x));
    name_part(X509_get_subject_name(x), NID_commonName, info->common_name,
              sizeof info->common_name);
    name_part(X509_get_subject_name(x), NID_organizationName, info->organization,
              sizeof info->organization);
    ERR_clear_error();
    return PV_OK;
}

int pv_x509_info_of(const char *cert_pem, struct pv_x509_info *info)
{
    X509 *x = read_cert(cert_pem);
    int rc = x ? info_fill(x, info) : PV_ECRYPTO;

    X509_free(x);
    ERR_clear_error();
    return rc;
}

static X509_CRL *read_crl(const char *pem)
{
    BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
    X509_CRL *c = b ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL;

    BIO_free(b);
    return c;
}

/* The CRL's word on x: its revocation time into *at (0: not listed). */
static int crl_lookup(const char *crl_pem, X509 *ca, X509 *x, int64_t *at, char *why, size_t n)
{
    X509_CRL *crl = read_crl(crl_pem);
    X509_REVOKED *rv = NULL;
    int rc = PV_ECERT;

    *at = 0;
    if (!crl) {
        snprintf(why, n, "the revocation list is not a PEM CRL");
    } else if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) != 0 ||
               X509_CRL_verify(crl, X509_get0_pubkey(ca)) != 1) {
        snprintf(why, n, "the revocation list is not signed by the CA");
    } else {
        if (X509_CRL_get0_by_cert(crl, &rv, x) == 1 && rv)
            *at = unix_time(X509_REVOKED_get0_revocationDate(rv));
        rc = PV_OK;
    }
    X509_CRL_free(crl);
    return rc;
}

int pv_x509_psd_check(const char *cert_pem, const char *ca_pem, const char *crl_pem,
                      const char *public_pem, struct pv_x509_info *info, int64_t *revoked_at,
                      char *why, size_t n)
{
    X509 *cert = read_cert(cert_pem), *ca = read_cert(ca_pem);
    EVP_PKEY *pub = public_pem ? read_public(public_pem) : NULL;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = NULL;
    int64_t at = 0;
    int rc = PV_ECERT;

    if (revoked_at)
        *revoked_at = 0;
    snprintf(why, n, "unknown");
    if (!store) {
        snprintf(why, n, "out of memory");
        goto out;
    }
    if (!cert || !ca || add_cas(store, ca_pem) == 0) {
        snprintf(why, n, cert ? "the CA certificate is not PEM" : "the certificate is not PEM");
        goto out;
    }
    if (public_pem && (!pub || EVP_PKEY_eq(X509_get0_pubkey(cert), pub) != 1)) {
        snprintf(why, n, "the certificate is for another public key");
        goto out;
    }
    if (!(ctx = X509_STORE_CTX_new()) || X509_STORE_CTX_init(ctx, store, cert, NULL) != 1) {
        snprintf(why, n, "out of memory");
        goto out;
    }
    /* The validity period is checked against the mail date by the caller. */
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME);
    if (X509_verify_cert(ctx) != 1) {
        pv_str_copy(why, n, X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto out;
    }
    if (!(X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE) || X509_check_ca(cert) != 0) {
        snprintf(why, n, "the certificate is not for signing");
        goto out;
    }
    if (crl_pem && crl_lookup(crl_pem, ca, cert, &at, why, n) != PV_OK)
        goto out;
    if (info)
        info_fill(cert, info);
    if (revoked_at)
        *revoked_at = at;
    rc = PV_OK;
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    EVP_PKEY_free(pub);
    X509_free(cert);
    X509_free(ca);
    ERR_clear_error();
    return rc;
}

int pv_x509_cert_public(const char *cert_pem, char **public_pem)
{
    X509 *x = read_cert(cert_pem);
    EVP_PKEY *k = x ? X509_get0_pubkey(x) : NULL;
    int rc = k ? public_of(k, public_pem) : PV_ECRYPTO;

    if (!k)
        *public_pem = NULL;
    X509_free(x);
    ERR_clear_error();
    return rc;
}
