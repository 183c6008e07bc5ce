/*
 * x509.h - X.509 certificates for stampd's own CAs (x509.c, OpenSSL).
 *
 * Today: the internal CA of the front <-> processor channel (stampd tls
 * init, cmd_tls.c): a self-signed CA, a client certificate per front and a
 * server certificate per processor. The calls are general on purpose: "issue
 * a certificate for this public key, signed by this CA key" is also what a
 * PSD key's certificate from the vendor's CA needs (issue 14). Keys are
 * EC P-256 in PKCS#8 PEM; public keys PEM "PUBLIC KEY" (what crypto.h's
 * generate_key returns); certificates PEM. Nothing here touches a file.
 */
#ifndef STAMPD_CRYPTO_X509_H
#define STAMPD_CRYPTO_X509_H

#include <stddef.h>
#include <stdint.h>

/* What a certificate may be used for (pv_x509_spec.usage, OR-ed). */
#define PV_X509_CA      1u /* CA:TRUE, pathlen 0; keyCertSign, cRLSign */
#define PV_X509_SERVER  2u /* digitalSignature; extendedKeyUsage serverAuth */
#define PV_X509_CLIENT  4u /* digitalSignature; extendedKeyUsage clientAuth */
#define PV_X509_SIGNING 8u /* digitalSignature only (a PSD key signs indicia) */

#define PV_X509_SAN_MAX  8  /* subjectAltName entries */
#define PV_X509_NAME_MAX 64 /* characters of a CN, an O or one SAN entry */

/* A certificate to issue; every string borrowed. */
struct pv_x509_spec {
    const char *common_name;  /* subject CN (required; printable ASCII) */
    const char *organization; /* subject O, or NULL */
    uint64_t serial;          /* > 0; 0 = 16 random bytes */
    int64_t not_before;       /* unix seconds */
    int64_t not_after;        /* unix seconds, > not_before */
    /* DNS names ([A-Za-z0-9.-]) or IPv4/IPv6 addresses; NULL ends early. */
    const char *san[PV_X509_SAN_MAX];
    unsigned usage; /* PV_X509_* */
};

/* pv_x509_key_new - a new EC P-256 private key: *key_pem owned (PKCS#8 PEM,
 * free() after wiping). PV_ECRYPTO, PV_ENOMEM. */
int pv_x509_key_new(char **key_pem);

/* pv_x509_public_pem - the PEM "PUBLIC KEY" of a borrowed private key PEM;
 * *public_pem owned (free()). PV_ECRYPTO (not a key), PV_ENOMEM. */
int pv_x509_public_pem(const char *key_pem, char **public_pem);

/*
 * pv_x509_issue - a certificate for public_pem (a PEM "PUBLIC KEY") as spec
 * says, signed with SHA-256 by issuer_key_pem under the name of
 * issuer_cert_pem. issuer_cert_pem NULL: self-signed (public_pem may then be
 * NULL: the issuer key's own). All borrowed; *cert_pem owned (free()).
 * Adds subjectKeyIdentifier, authorityKeyIdentifier, basicConstraints
 * (critical), keyUsage (critical), extendedKeyUsage and subjectAltName.
 * Errors: PV_EINVAL (a bad spec: empty or odd name, SAN entry, validity),
 * PV_ECRYPTO (a key or certificate OpenSSL cannot read, a key that does
 * not match issuer_cert_pem), PV_ENOMEM.
 */
int pv_x509_issue(const struct pv_x509_spec *spec, const char *public_pem,
                  const char *issuer_cert_pem, const char *issuer_key_pem, char **cert_pem);

/*
 * pv_x509_check - PV_OK when cert_pem chains to a CA of ca_pem (one level;
 * ca_pem may hold several certificates, e.g. an old and a new CA), is valid
 * at now (unix seconds), allows usage (PV_X509_SERVER or PV_X509_CLIENT; 0:
 * any) and, when key_pem is not NULL, belongs to that private key. All
 * borrowed. Otherwise PV_ECONFIG with the reason in why (n bytes).
 */
int pv_x509_check(const char *cert_pem, const char *key_pem, const char *ca_pem, unsigned usage,
                  int64_t now, char *why, size_t n);

/*
 * A signer whose private key the caller never sees (issue 14: the vendor CA
 * key in a crypto module). sign makes an ECDSA P-256 signature over
 * SHA-256(msg), raw r||s (crypto.h's sign contract); ctx is the caller's.
 * public_pem is the signer's PEM "PUBLIC KEY" (borrowed): every signature is
 * checked with it before a certificate or CRL leaves x509.c.
 */
struct pv_x509_signer {
    int (*sign)(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64]);
    void *ctx;
    const char *public_pem;
};

/*
 * pv_x509_issue_by - pv_x509_issue with the issuer's key behind signer
 * (borrowed): the TBSCertificate is built here, signed by signer->sign and
 * the certificate assembled around that signature. issuer_cert_pem NULL:
 * self-signed (public_pem NULL: signer->public_pem). Errors as
 * pv_x509_issue, and signer's error as it returned it.
 */
int pv_x509_issue_by(const struct pv_x509_spec *spec, const char *public_pem,
                     const char *issuer_cert_pem, const struct pv_x509_signer *signer,
                     char **cert_pem);

/* One revoked certificate of a CRL. reason: an RFC 5280 CRLReason code
 * (0 unspecified, 1 keyCompromise, 4 superseded, 5 cessationOfOperation). */
struct pv_x509_revoked {
    uint64_t serial;
    int64_t revoked_at; /* unix seconds */
    int reason;
};

/*
 * pv_x509_crl - a v2 CRL of ca_cert_pem (borrowed) listing the n revoked
 * certificates of list (borrowed; n may be 0), thisUpdate this_update,
 * nextUpdate next_update, with a CRL number (crl_number > 0), signed by
 * signer (borrowed, the CA's key). *crl_pem owned (free()). PV_EINVAL,
 * PV_ECRYPTO, PV_ENOMEM, or signer's error.
 */
int pv_x509_crl(const char *ca_cert_pem, const struct pv_x509_revoked *list, size_t n,
                int64_t this_update, int64_t next_update, uint64_t crl_number,
                const struct pv_x509_signer *signer, char **crl_pem);

/* What a certificate says that verification needs. */
struct pv_x509_info {
    uint64_t serial;    /* 0 when it does not fit 64 bits */
    int64_t not_before; /* unix seconds */
    int64_t not_after;
    char common_name[PV_X509_NAME_MAX + 1];
    char organization[PV_X509_NAME_MAX + 1];
};

/*
 * pv_x509_psd_check - the checks of a PSD certificate that do not depend on
 * time: cert_pem is signed by the CA certificate ca_pem (one level; CA
 * constraints, keyUsage digitalSignature), and when public_pem is not NULL
 * its public key is that key. When crl_pem is not NULL, the CRL must be
 * signed by the same CA and *revoked_at (may be NULL) gets the revocation
 * time of cert_pem's serial in it, 0 when it is not listed. *info (may be
 * NULL) gets the certificate's fields. All borrowed. PV_OK, or PV_ECERT
 * with the reason in why (n bytes).
 */
int pv_x509_psd_check(const char *cert_pem, const char *ca_pem, const char *crl_pem,
                      const char *public_pem, struct pv_x509_info *info, int64_t *revoked_at,
                      char *why, size_t n);

/* pv_x509_cert_public - the PEM "PUBLIC KEY" of cert_pem (borrowed) into
 * *public_pem (owned, free()). PV_ECRYPTO, PV_ENOMEM. */
int pv_x509_cert_public(const char *cert_pem, char **public_pem);

/* pv_x509_info_of - the fields of cert_pem (borrowed) into *info. PV_ECRYPTO. */
int pv_x509_info_of(const char *cert_pem, struct pv_x509_info *info);

#endif
