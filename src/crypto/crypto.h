/*
 * crypto.h - the cryptographic module interface: the holder of private keys.
 *
 * A module holds private keys and signs with them; callers never see a
 * private key. Backends embed struct pv_crypto first and provide a const
 * struct pv_crypto_ops. The OpenSSL backend keeps one PEM file per key
 * (mode 0600) in a directory (development-grade); the PKCS#11 backend keeps
 * them in a token (an HSM) they never leave (docs/internals/crypto.md).
 * Only backend files include openssl/ or pkcs11 headers.
 *
 * Each open module has an identity (cm->id): the PSDs whose keys it made are
 * bound to it, and a processor leases only PSDs bound to its module's
 * identity. Two modules opened on one token (or one keys directory) have
 * the same identity, and may share PSDs.
 *
 * The primitives that need no private key (verify, hashes, HMAC, random)
 * are apart, in primitives.h: code that signs nothing includes only that.
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

#define PV_CRYPTO_ID_MAX 512

struct pv_crypto {
    const struct pv_crypto_ops *ops;
    /* The module's identity, set by the backend at open: "openssl:DIR", or
     * "pkcs11:MANUFACTURER/MODEL/SERIAL" of the token. */
    char id[PV_CRYPTO_ID_MAX];
};

/*
 * pv_crypto_open - open a module from a borrowed spec: "openssl:DIR" (keys
 * are files in DIR, created 0700 if missing) or
 * "pkcs11:module=LIB;token=LABEL" (which needs a PIN: pv_crypto_open_pin).
 * *out is owned; release with pv_crypto_close(). Errors: PV_ECONFIG
 * (unknown spec, a DIR too long for an identity, a PKCS#11 module without
 * PIN), PV_EIO, PV_ENOMEM, and the PKCS#11 errors of pv_crypto_open_pin.
 */
int pv_crypto_open(const char *spec, struct pv_crypto **out);

/*
 * pv_crypto_open_pin - pv_crypto_open with the token's user PIN (borrowed;
 * may be NULL; the file module ignores it, the PKCS#11 module keeps a copy
 * to log in again when the token loses the login, wiped at close). PKCS#11 errors, each
 * also said on stderr: PV_EMODULE (library missing or not PKCS#11),
 * PV_ETOKEN (no initialised token with that label), PV_EPIN (wrong or
 * locked PIN), PV_ECRYPTO.
 */
int pv_crypto_open_pin(const char *spec, const char *pin, struct pv_crypto **out);

/* pv_crypto_is_pkcs11 - 1 when spec (borrowed, may be NULL) names a PKCS#11 module. */
int pv_crypto_is_pkcs11(const char *spec);

/* pv_crypto_close - close a module; NULL is fine. */
void pv_crypto_close(struct pv_crypto *cm);

/* Convenience wrappers over cm->ops. */
int pv_crypto_generate_key(struct pv_crypto *cm, const char *label, char **key_ref,
                           char **public_pem);
int pv_crypto_sign(struct pv_crypto *cm, const char *key_ref, const uint8_t *msg, size_t len,
                   uint8_t sig[64]);

#endif
