/*
 * crypto_int.h - OpenSSL helpers shared by the files of src/crypto: the
 * primitives (primitives.c) and the key modules (openssl.c, and the PKCS#11
 * module of issue 14). Private to src/crypto: it includes OpenSSL headers,
 * which nothing outside src/crypto may see (STYLE.md).
 */
#ifndef STAMPD_CRYPTO_INT_H
#define STAMPD_CRYPTO_INT_H

#include <openssl/evp.h>

#include <stddef.h>
#include <stdint.h>

#define PV_SIG_RAW_LEN 64 /* raw r||s of a P-256 signature */
#define PV_SIG_DER_MAX 72 /* SEQUENCE { INTEGER(33), INTEGER(33) } for P-256 */

/*
 * pv_ossl_pem_key - a P-256 key from n borrowed bytes of PEM: a "PUBLIC
 * KEY" when is_private is 0, else an unencrypted private key (an encrypted
 * one is refused, never prompted for). *out gets an owned key. PV_OK,
 * PV_ECRYPTO (not such a PEM, or not P-256), PV_ENOMEM.
 */
int pv_ossl_pem_key(const void *pem, size_t n, int is_private, EVP_PKEY **out);

/*
 * pv_sig_der_to_raw - DER ECDSA-Sig-Value (borrowed, at most 72 bytes) to
 * raw r||s in raw. PV_OK or PV_ECRYPTO.
 */
int pv_sig_der_to_raw(const uint8_t *der, size_t der_len, uint8_t raw[PV_SIG_RAW_LEN]);

/*
 * pv_sig_low_s - bring a raw r||s P-256 signature to its low-S form in
 * place, so that every signature a module makes has exactly one form.
 */
void pv_sig_low_s(uint8_t raw[PV_SIG_RAW_LEN]);

#endif
