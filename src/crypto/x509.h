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

#endif
