/*
 * primitives.c - the primitives of primitives.h over OpenSSL 3, and the
 * OpenSSL helpers the key modules share (crypto_int.h): reading a P-256
 * key from PEM, DER<->raw signatures and the low-S rule.
 *
 * Every failure path clears OpenSSL's per-thread error queue so that a
 * stale error never shows up in a later, unrelated call (libpq, for one,
 * reads that queue).
 */
#include "crypto/primitives.h"

#include "crypto/crypto_int.h"
#include "stampd/error.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PEM_TEXT_MAX 16384 /* a P-256 public key PEM is 178 bytes */

/* ---- helpers shared with the key modules (crypto_int.h) --------------- */

/* A password callback that refuses: an encrypted key file must never make
 * OpenSSL prompt on the server's terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void) buf;
    (void) size;
    (void) rwflag;
    (void) u;
    return -1;
}

/* 1 when pkey is an EC key on the named curve P-256 (prime256v1). */
static int is_p256(const EVP_PKEY *pkey)
{
    char name[80];
    size_t nlen = 0;
    int nid;

    if (!EVP_PKEY_is_a(pkey, "EC"))
        return 0;
    if (EVP_PKEY_get_group_name(pkey, name, sizeof name, &nlen) != 1)
        return 0;
    nid = OBJ_sn2nid(name);
    if (nid == NID_undef)
        nid = EC_curve_nist2nid(name);
    return nid == NID_X9_62_prime256v1;
}

/* pv_ossl_pem_key - see crypto_int.h. The PEM is read in place, not copied. */
int pv_ossl_pem_key(const void *pem, size_t n, int is_private, EVP_PKEY **out)
{
    EVP_PKEY *pkey = NULL;
    BIO *bio = NULL;
    int rc = PV_ECRYPTO;

    *out = NULL;
    if (!pem || n == 0 || n > INT_MAX)
        goto out;
    bio = BIO_new_mem_buf(pem, (int) n);
    if (!bio) {
        rc = PV_ENOMEM;
        goto out;
    }
    pkey = is_private ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL)
                      : PEM_read_bio_PUBKEY(bio, NULL, no_password, NULL);
    if (!pkey || !is_p256(pkey))
        goto out;
    *out = pkey;
    pkey = NULL;
    rc = PV_OK;
out:
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    if (rc != PV_OK)
        ERR_clear_error();
    return rc;
}

/* pv_sig_der_to_raw - see crypto_int.h. Borrows der; fills raw. */
int pv_sig_der_to_raw(const uint8_t *der, size_t der_len, uint8_t raw[PV_SIG_RAW_LEN])
{
    const unsigned char *p = der;
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG *es = NULL;
    int rc = PV_ECRYPTO;

    if (der_len == 0 || der_len > PV_SIG_DER_MAX)
        goto out;
    es = d2i_ECDSA_SIG(NULL, &p, (long) der_len);
    if (!es || p != der + der_len)
        goto out;
    ECDSA_SIG_get0(es, &r, &s);
    if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
        goto out;
    rc = PV_OK;
out:
    ECDSA_SIG_free(es);
    if (rc != PV_OK)
        ERR_clear_error();
    return rc;
}

/* The P-256 group order n, big-endian, for low-S signatures. */
static const uint8_t p256_order[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

/* pv_sig_low_s - see crypto_int.h. Replaces s by n - s when s > n/2, so each signature has one
 * form: (r, s) and (r, n - s) both verify, and a copy with the other form must not pass for a
 * different piece. Works on the raw r||s in place. */
void pv_sig_low_s(uint8_t raw[PV_SIG_RAW_LEN])
{
    uint8_t half[32], *s = raw + 32;
    unsigned carry = 0, borrow = 0;
    int i;

    /* half = n >> 1 */
    for (i = 0; i < 32; i++) {
        half[i] = (uint8_t) ((p256_order[i] >> 1) | (carry << 7));
        carry = p256_order[i] & 1;
    }
    if (memcmp(s, half, 32) <= 0)
        return;
    for (i = 31; i >= 0; i--) {
        int d = (int) p256_order[i] - (int) s[i] - (int) borrow;
        borrow = d < 0;
        s[i] = (uint8_t) (d + (borrow ? 256 : 0));
    }
}

/* ---- the primitives of primitives.h ------------------------------------ */

/* Parse a borrowed PEM "PUBLIC KEY"; *out gets an owned P-256 key.
 * PV_OK, PV_ECRYPTO (not a P-256 public key), PV_ENOMEM. */
static int load_public(const char *pem, EVP_PKEY **out)
{
    size_t n = strnlen(pem, PEM_TEXT_MAX + 1);

    *out = NULL;
    if (n == 0 || n > PEM_TEXT_MAX)
        return PV_ECRYPTO;
    return pv_ossl_pem_key(pem, n, 0, out);
}

/*
 * pv_crypto_verify - see primitives.h. Borrows everything. Besides PV_OK,
 * PV_ESIGNATURE and PV_ECRYPTO (not a P-256 public key, or a PEM over
 * 16 KiB) it returns PV_EINVAL for NULL arguments and PV_ENOMEM.
 */
int pv_crypto_verify(const char *public_pem, const uint8_t *msg, size_t len, const uint8_t sig[64])
{
    EVP_PKEY *pkey = NULL;
    EVP_MD_CTX *ctx = NULL;
    uint8_t der[PV_SIG_DER_MAX];
    size_t der_len = 0;
    int rc;

    if (!public_pem || !sig || (!msg && len))
        return PV_EINVAL;
    rc = load_public(public_pem, &pkey);
    if (rc != PV_OK)
        goto out;
    rc = pv_sig_raw_to_der(sig, der, sizeof der, &der_len);
    if (rc != PV_OK)
        goto out;
    ctx = EVP_MD_CTX_new();
    if (!ctx) {
        rc = PV_ENOMEM;
        goto out;
    }
    if (EVP_DigestVerifyInit_ex(ctx, NULL, "SHA256", NULL, NULL, pkey, NULL) != 1) {
        rc = PV_ECRYPTO;
        goto out;
    }
    /* 0 is "does not verify"; a negative result on a well-formed DER
     * signature and a valid key (r or s out of range, say) is the same
     * thing to a verifier: the bytes were not signed by this key. */
    rc = EVP_DigestVerify(ctx, der, der_len, msg ? msg : (const uint8_t *) "", len) == 1
             ? PV_OK
             : PV_ESIGNATURE;
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    if (rc != PV_OK)
        ERR_clear_error();
    return rc;
}

/*
 * pv_sig_raw_to_der - see primitives.h. Borrows sig and der; *der_len is 0 on
 * error. PV_ECRYPTO also when cap is too small (72 always suffices).
 */
int pv_sig_raw_to_der(const uint8_t sig[64], uint8_t *der, size_t cap, size_t *der_len)
{
    ECDSA_SIG *es = NULL;
    BIGNUM *r = NULL, *s = NULL;
    unsigned char *p;
    int n, rc = PV_ECRYPTO;

    if (der_len)
        *der_len = 0;
    if (!sig || !der || !der_len)
        return PV_EINVAL;
    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, 32, NULL);
    s = BN_bin2bn(sig + 32, 32, NULL);
    if (!es || !r || !s)
        goto out;
    if (ECDSA_SIG_set0(es, r, s) != 1)
        goto out;
    r = s = NULL; /* es owns them now */
    n = i2d_ECDSA_SIG(es, NULL);
    if (n <= 0 || (size_t) n > cap)
        goto out;
    p = der;
    if (i2d_ECDSA_SIG(es, &p) != n)
        goto out;
    *der_len = (size_t) n;
    rc = PV_OK;
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    if (rc != PV_OK)
        ERR_clear_error();
    return rc;
}

/*
 * SHA-256 fetched once for the process: EVP_sha256() makes OpenSSL 3 look the
 * algorithm up in its provider store on every use (EVP_MD_fetch, a lock and a
 * hash-table walk), which showed in the profile of every authenticated
 * request. Kept for the life of the process (never freed: one object).
 */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_fetched;

static void sha256_fetch(void)
{
    sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
    ERR_clear_error();
}

/* The SHA-256 method: the fetched one, or the legacy handle if fetching failed. */
static const EVP_MD *sha256_md(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_fetched ? sha256_fetched : EVP_sha256();
}

/*
 * pv_sha256 - see primitives.h. Aborts if OpenSSL cannot hash (allocation
 * failure), because the interface has no way to report it.
 */
void pv_sha256(const void *data, size_t len, uint8_t out[32])
{
    unsigned int n = 0;

    if (EVP_Digest(len ? data : "", len, out, &n, sha256_md(), NULL) != 1 || n != 32) {
        /* primitives.h gives pv_sha256 no error path, and a wrong digest that
         * callers trust would be worse than stopping. Only allocation
         * failure inside OpenSSL gets here. */
        abort();
    }
}

/* One SHA-256 over the 64-byte pad followed by len bytes of data (RFC 2104's
 * inner and outer hashes). 0 on success. */
static int hash_padded(EVP_MD_CTX *ctx, const uint8_t pad[64], const void *data, size_t len,
                       uint8_t out[32])
{
    unsigned int n = 0;

    if (EVP_DigestInit_ex(ctx, sha256_md(), NULL) != 1 || EVP_DigestUpdate(ctx, pad, 64) != 1 ||
        (len && EVP_DigestUpdate(ctx, data, len) != 1) || EVP_DigestFinal_ex(ctx, out, &n) != 1 ||
        n != 32)
        return -1;
    return 0;
}

/*
 * pv_hmac_sha256 - see primitives.h. Borrows key and data (NULL only with a
 * zero length). PV_OK, PV_EINVAL, or PV_ECRYPTO (out zeroed). HMAC (RFC 2104)
 * over the fetched SHA-256: OpenSSL 3's HMAC() fetches the MAC and the digest
 * on every call.
 */
int pv_hmac_sha256(const void *key, size_t klen, const void *data, size_t len, uint8_t out[32])
{
    uint8_t k[64], pad[64], inner[32];
    EVP_MD_CTX *ctx;
    int bad;
    size_t i;

    if (!out || (!key && klen) || (!data && len) || klen > INT_MAX)
        return PV_EINVAL;
    memset(k, 0, sizeof k);
    if (klen > sizeof k)
        pv_sha256(key, klen, k); /* a long key is hashed first */
    else if (klen)
        memcpy(k, key, klen);
    if (!(ctx = EVP_MD_CTX_new())) {
        bad = 1;
    } else {
        for (i = 0; i < 64; i++)
            pad[i] = k[i] ^ 0x36;
        bad = hash_padded(ctx, pad, data, len, inner) != 0;
        for (i = 0; i < 64; i++)
            pad[i] = k[i] ^ 0x5c;
        bad = bad || hash_padded(ctx, pad, inner, sizeof inner, out) != 0;
        EVP_MD_CTX_free(ctx);
    }
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
    if (bad) {
        memset(out, 0, 32);
        ERR_clear_error();
        return PV_ECRYPTO;
    }
    return PV_OK;
}

/*
 * pv_random - see primitives.h. Any n (chunked for RAND_bytes' int length).
 */
int pv_random(uint8_t *buf, size_t n)
{
    if (!buf && n)
        return PV_EINVAL;
    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int) n;
        if (RAND_bytes(buf, chunk) != 1) {
            ERR_clear_error();
            return PV_ECRYPTO;
        }
        buf += chunk;
        n -= (size_t) chunk;
    }
    return PV_OK;
}

/*
 * pv_memeq_ct - see primitives.h. Time depends on n only, not on the contents.
 */
int pv_memeq_ct(const void *a, const void *b, size_t n)
{
    if (n == 0)
        return 1;
    return CRYPTO_memcmp(a, b, n) == 0;
}
