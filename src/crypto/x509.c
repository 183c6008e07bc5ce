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

int pv_x509_issue(const struct pv_x509_spec *spec, const char *public_pem,
                  const char *issuer_cert_pem, const char *issuer_key_pem, char **cert_pem)
{
    EVP_PKEY *ikey = NULL, *subj = NULL;
    X509 *x = NULL, *issuer = NULL;
    X509_NAME *name = NULL;
    BIO *b = NULL;
    char san[PV_X509_SAN_MAX * (PV_X509_NAME_MAX + 8)] = "";
    time_t nb, na;
    size_t i;
    int rc = PV_EINVAL;

    *cert_pem = NULL;
    if (!spec || !good_name(spec->common_name) ||
        (spec->organization && !good_name(spec->organization)) || spec->usage == 0 ||
        spec->not_after <= spec->not_before || spec->not_before < 0)
        return PV_EINVAL;
    for (i = 0; i < PV_X509_SAN_MAX && spec->san[i]; i++)
        if (!san_entry(spec->san[i], san, sizeof san))
            return PV_EINVAL;
    nb = (time_t) spec->not_before;
    na = (time_t) spec->not_after;
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
    if (!subj)
        goto out;
    rc = PV_ENOMEM;
    if (!(x = X509_new()) || !(name = X509_NAME_new()))
        goto out;
    rc = PV_ECRYPTO;
    if (X509_set_version(x, X509_VERSION_3) != 1 || !set_serial(x, spec->serial) ||
        !ASN1_TIME_set(X509_getm_notBefore(x), nb) || !ASN1_TIME_set(X509_getm_notAfter(x), na) ||
        X509_set_pubkey(x, subj) != 1 ||
        (spec->organization &&
         X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
                                    (const unsigned char *) spec->organization, -1, -1, 0) != 1) ||
        X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                   (const unsigned char *) spec->common_name, -1, -1, 0) != 1 ||
        X509_set_subject_name(x, name) != 1 ||
        X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) != 1 ||
        !add_extensions(x, issuer ? issuer : x, spec, san) ||
        X509_sign(x, ikey, EVP_sha256()) <= 0 || !(b = BIO_new(BIO_s_mem())) ||
        PEM_write_bio_X509(b, x) != 1)
        goto out;
    rc = (*cert_pem = bio_text(b)) ? PV_OK : PV_ENOMEM;
out:
    BIO_free(b);
    X509_NAME_free(name);
    X509_free(x);
    X509_free(issuer);
    EVP_PKEY_free(subj);
    EVP_PKEY_free(ikey);
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
        snprintf(why, n, "%s", X509_verify_cert_error_string(err));
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
