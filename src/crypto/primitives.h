/*
 * primitives.h - the cryptographic primitives stampd needs apart from any
 * key module: public-key verification, raw<->DER signatures, SHA-256,
 * HMAC-SHA256, random bytes and constant-time comparison.
 *
 * None of them holds a private key, so none needs a module (crypto.h);
 * verifying needs only the signer's public key. Implemented with OpenSSL in
 * primitives.c, the only file outside the key modules that includes it.
 */
#ifndef STAMPD_CRYPTO_PRIMITIVES_H
#define STAMPD_CRYPTO_PRIMITIVES_H

#include <stddef.h>
#include <stdint.h>

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
