/*
 * crypto.h - the cryptographic module interface, and the few primitives
 * (hash, HMAC, random, public-key verification) the core needs.
 *
 * A module holds private keys and signs with them; callers never see a
 * private key. Backends embed struct pv_crypto first and provide a const
 * struct pv_crypto_ops. The OpenSSL backend keeps one PEM file per key
 * (mode 0600) in a directory; a PKCS#11 backend will implement the same ops.
 * Only backend files include openssl/ or pkcs11 headers.
 */
#ifndef STAMPD_CRYPTO_H
#define STAMPD_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

struct pv_crypto;

struct pv_crypto_ops {
    int version;      /* 1 */
    const char *name; /* "openssl" */

    /*
     * generate_key - make a new ECDSA P-256 key labelled label (borrowed,
     * e.g. "psd-1"). *key_ref gets an owned string (free()) that sign()
     * accepts later, *public_pem an owned PEM "PUBLIC KEY" (free()).
     * Errors: PV_ECRYPTO, PV_EIO, PV_ENOMEM.
     */
    int (*generate_key)(struct pv_crypto *cm, const char *label, char **key_ref, char **public_pem);

    /*
     * sign - ECDSA P-256 over SHA-256(msg), raw r||s into sig (64 bytes).
     * key_ref and msg are borrowed. Safe to call from several threads on one
     * module instance. Errors: PV_ECRYPTO, PV_ENOTFOUND (no such key or a
     * key_ref outside the module), PV_EIO.
     */
    int (*sign)(struct pv_crypto *cm, const char *key_ref, const uint8_t *msg, size_t len,
                uint8_t sig[64]);

    /* close - release the module and everything it cached. */
    void (*close)(struct pv_crypto *cm);
};

struct pv_crypto {
    const struct pv_crypto_ops *ops;
};

/*
 * pv_crypto_open - open a module from a borrowed spec: "openssl:DIR" (keys
 * are files in DIR, created 0700 if missing). *out is owned; release with
 * pv_crypto_close(). Errors: PV_ECONFIG (unknown spec), PV_EIO, PV_ENOMEM.
 */
int pv_crypto_open(const char *spec, struct pv_crypto **out);

/* pv_crypto_close - close a module; NULL is fine. */
void pv_crypto_close(struct pv_crypto *cm);

/* Convenience wrappers over cm->ops. */
int pv_crypto_generate_key(struct pv_crypto *cm, const char *label, char **key_ref,
                           char **public_pem);
int pv_crypto_sign(struct pv_crypto *cm, const char *key_ref, const uint8_t *msg, size_t len,
                   uint8_t sig[64]);

/*
 * pv_crypto_verify - check a raw r||s P-256/SHA-256 signature over msg
 * with a borrowed PEM public key. Returns PV_OK, PV_ESIGNATURE (does not
 * verify), or PV_ECRYPTO (the PEM is not a P-256 public key).
 */
int pv_crypto_verify(const char *public_pem, const uint8_t *msg, size_t len, const uint8_t sig[64]);

/*
 * pv_sig_raw_to_der - DER ECDSA-Sig-Value of a raw r||s signature, for
 * tools such as `openssl dgst -verify`. der (borrowed, >= 72 bytes).
 * Returns PV_OK or PV_ECRYPTO.
 */
int pv_sig_raw_to_der(const uint8_t sig[64], uint8_t *der, size_t cap, size_t *der_len);

/* pv_sha256 - SHA-256 of len borrowed bytes into out. */
void pv_sha256(const void *data, size_t len, uint8_t out[32]);

/* pv_hmac_sha256 - HMAC-SHA256(key, data) into out. */
int pv_hmac_sha256(const void *key, size_t klen, const void *data, size_t len, uint8_t out[32]);

/* pv_random - n cryptographically strong random bytes. PV_OK or PV_ECRYPTO. */
int pv_random(uint8_t *buf, size_t n);

/*
 * pv_memeq_ct - constant-time comparison of n bytes; 1 when equal.
 */
int pv_memeq_ct(const void *a, const void *b, size_t n);

#endif
