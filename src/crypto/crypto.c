/*
 * crypto.c - choosing a cryptographic module from its spec, and the thin
 * wrappers the rest of stampd calls instead of reaching into cm->ops.
 *
 * The spec names the backend and its argument ("openssl:/var/lib/stampd/keys").
 * This file knows the backends only by their open functions; it includes no
 * OpenSSL or PKCS#11 header, so the core stays free of them (STYLE.md).
 */
#include "crypto/crypto.h"

#include "stampd/error.h"

#include <stddef.h>
#include <string.h>

/*
 * Backend constructors. Each takes the part of the spec after its "name:"
 * prefix (borrowed) and sets *out to an owned module released through
 * ops->close. Defined in the backend's own file (openssl.c); declared here
 * because crypto.h is the public face and need not name the backends.
 */
int pv_crypto_openssl_open(const char *dir, struct pv_crypto **out);
int pv_crypto_pkcs11_open(const char *args, const char *pin, struct pv_crypto **out);

#define OPENSSL_PREFIX "openssl:"
#define PKCS11_PREFIX  "pkcs11:"

/*
 * pv_crypto_open_pin - see crypto.h. *out is NULL on every error path.
 */
int pv_crypto_open_pin(const char *spec, const char *pin, struct pv_crypto **out)
{
    size_t plen = sizeof OPENSSL_PREFIX - 1;

    if (!out)
        return PV_EINVAL;
    *out = NULL;
    if (!spec)
        return PV_ECONFIG;
    if (strncmp(spec, OPENSSL_PREFIX, plen) == 0 && spec[plen] != '\0')
        return pv_crypto_openssl_open(spec + plen, out);
    if (pv_crypto_is_pkcs11(spec))
        return pv_crypto_pkcs11_open(spec + sizeof PKCS11_PREFIX - 1, pin, out);
    return PV_ECONFIG;
}

/*
 * pv_crypto_open - see crypto.h: pv_crypto_open_pin without a PIN.
 */
int pv_crypto_open(const char *spec, struct pv_crypto **out)
{
    return pv_crypto_open_pin(spec, NULL, out);
}

/*
 * pv_crypto_is_pkcs11 - see crypto.h. Borrows spec.
 */
int pv_crypto_is_pkcs11(const char *spec)
{
    return spec && strncmp(spec, PKCS11_PREFIX, sizeof PKCS11_PREFIX - 1) == 0;
}

/*
 * pv_crypto_close - see crypto.h. Takes cm; NULL is fine.
 */
void pv_crypto_close(struct pv_crypto *cm)
{
    if (cm && cm->ops && cm->ops->close)
        cm->ops->close(cm);
}

/*
 * pv_crypto_generate_key - cm->ops->generate_key with the out-parameters
 * cleared first, so callers can free them unconditionally. Borrows cm and
 * label; *key_ref and *public_pem are owned by the caller (free()) on
 * success. Errors: those of the backend, PV_EINVAL for NULL arguments.
 */
int pv_crypto_generate_key(struct pv_crypto *cm, const char *label, char **key_ref,
                           char **public_pem)
{
    if (key_ref)
        *key_ref = NULL;
    if (public_pem)
        *public_pem = NULL;
    if (!cm || !cm->ops || !cm->ops->generate_key || !label || !key_ref || !public_pem)
        return PV_EINVAL;
    return cm->ops->generate_key(cm, label, key_ref, public_pem);
}

/*
 * pv_crypto_sign - cm->ops->sign. Borrows everything; writes 64 bytes of
 * raw r||s into sig. Errors: those of the backend, PV_EINVAL for NULL
 * arguments (msg may be NULL only when len is 0).
 */
int pv_crypto_sign(struct pv_crypto *cm, const char *key_ref, const uint8_t *msg, size_t len,
                   uint8_t sig[64])
{
    if (!cm || !cm->ops || !cm->ops->sign || !key_ref || !sig || (!msg && len))
        return PV_EINVAL;
    return cm->ops->sign(cm, key_ref, msg, len, sig);
}
