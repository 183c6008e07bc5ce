/*
 * indicium.c - encoder, decoder and verifier of the binary indicium, format
 * version 1 (byte table in include/stampd/indicium.h and docs/indicium.md).
 *
 * The decoder reads bytes that come off a scanned label, so it trusts
 * nothing: the length is checked before every field is read, the checks run
 * in a fixed order so that each kind of damage has one distinct error
 * (truncated, trailing bytes, unknown version or algorithm, malformed
 * field), and every field is validated against the same domain the encoder
 * enforces. Encoding a struct that decodes back to itself is the contract
 * both directions are tested against.
 */
#include "stampd/indicium.h"

#include "crypto/primitives.h"
#include "stampd/error.h"
#include "stampd/rates.h"

#include <string.h>

/* Offsets of the fixed part, from the table in indicium.h. */
enum {
    OFF_VERSION = 0,
    OFF_ALG = 1,
    OFF_FLAGS = 2,
    OFF_LICENSE = 3,
    OFF_DEVICE = 19,
    OFF_KEY = 23,
    OFF_SERIAL = 27,
    OFF_ASCENDING = 31,
    OFF_POSTAGE = 39,
    OFF_DATE = 43,
    OFF_CLASS = 47,
    OFF_WEIGHT = 48,
    OFF_FROM_ZIP = 50,
    OFF_TO_ZIP = 55,
    OFF_SOFTWARE = 64,
    OFF_MEDIUM_LEN = 72,
    OFF_MEDIUM = 73
};

#define ZIP5_LEN   5
#define ZIP_TO_LEN 9

/* The fixed layout above must add up to the header's constants. */
_Static_assert(OFF_LICENSE + PV_LICENSE_LEN == OFF_DEVICE, "license field size");
_Static_assert(OFF_SOFTWARE + PV_SOFTWARE_ID_LEN == OFF_MEDIUM_LEN, "software id size");
_Static_assert(OFF_MEDIUM == PV_INDICIUM_FIXED, "fixed part size");
_Static_assert(PV_INDICIUM_MIN == 137, "minimum indicium size");

/* ---- big-endian helpers (callers have checked the bounds) ------------- */

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t) (v >> 32));
    put_u32(p + 4, (uint32_t) v);
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t) ((unsigned) p[0] << 8 | p[1]);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t) get_u32(p) << 32 | get_u32(p + 4);
}

/* ---- field domains, shared by encoder and decoder --------------------- */

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* License numbers and medium serials: [A-Z0-9-]. */
static int is_serial_char(int c)
{
    return (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-';
}

/* Software id: printable ASCII, space included. */
static int is_print(int c)
{
    return c >= 0x20 && c <= 0x7e;
}

static int all_of(const uint8_t *p, size_t n, int (*ok)(int))
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!ok(p[i]))
            return 0;
    return 1;
}

static int all_nul(const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

/* A NUL-padded text field of width w on the wire: 1..w characters that
 * satisfy ok, then only NULs. Sets *n to the text length. */
static int padded_ok(const uint8_t *p, size_t w, int (*ok)(int), size_t *n)
{
    const uint8_t *nul = memchr(p, 0, w);
    size_t k = nul ? (size_t) (nul - p) : w;

    *n = k;
    return k >= 1 && all_of(p, k, ok) && all_nul(p + k, w - k);
}

/* A C string held in an array of cap bytes: its length when it is
 * NUL-terminated within the array, else cap (which every caller rejects). */
static size_t field_len(const char *s, size_t cap)
{
    const char *nul = memchr(s, 0, cap);
    return nul ? (size_t) (nul - s) : cap;
}

int pv_date_valid(uint32_t yyyymmdd)
{
    static const uint8_t days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    uint32_t y = yyyymmdd / 10000, m = yyyymmdd / 100 % 100, d = yyyymmdd % 100;
    uint32_t dim;

    if (y < 2000 || y > 2099 || m < 1 || m > 12 || d < 1)
        return 0;
    dim = days[m - 1];
    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
        dim = 29;
    return d <= dim;
}

/* A class the one mail-class table (rates.c) names. */
static int class_ok(uint8_t c)
{
    return pv_mail_class_name(c) != NULL;
}

/* Every field of *ind in its domain; the lengths of the text fields. */
struct text_lens {
    size_t license, software, medium;
};

static int fields_ok(const struct pv_indicium *ind, struct text_lens *tl)
{
    size_t from_n, to_n;

    if (ind->version != PV_INDICIUM_VERSION || ind->sig_alg != PV_SIGALG_P256_SHA256)
        return 0;
    if (ind->flags & ~PV_IND_FLAG_TEST)
        return 0;
    tl->license = field_len(ind->license, sizeof ind->license);
    if (tl->license < 1 || tl->license > PV_LICENSE_LEN ||
        !all_of((const uint8_t *) ind->license, tl->license, is_serial_char))
        return 0;
    if (ind->ascending_mills < 0)
        return 0;
    if (ind->postage_mills < 0 || ind->postage_mills > (int64_t) UINT32_MAX)
        return 0;
    if (!pv_date_valid(ind->mail_date) || !class_ok(ind->mail_class))
        return 0;
    from_n = field_len(ind->from_zip, sizeof ind->from_zip);
    if (from_n != ZIP5_LEN || !all_of((const uint8_t *) ind->from_zip, from_n, is_digit))
        return 0;
    to_n = field_len(ind->to_zip, sizeof ind->to_zip);
    if ((to_n != ZIP5_LEN && to_n != ZIP_TO_LEN) ||
        !all_of((const uint8_t *) ind->to_zip, to_n, is_digit))
        return 0;
    tl->software = field_len(ind->software_id, sizeof ind->software_id);
    if (tl->software < 1 || tl->software > PV_SOFTWARE_ID_LEN ||
        !all_of((const uint8_t *) ind->software_id, tl->software, is_print))
        return 0;
    tl->medium = field_len(ind->medium_serial, sizeof ind->medium_serial);
    if (tl->medium > PV_MEDIUM_MAX ||
        !all_of((const uint8_t *) ind->medium_serial, tl->medium, is_serial_char))
        return 0;
    return 1;
}

/* ---- encoder ---------------------------------------------------------- */

/*
 * pv_indicium_encode_body - see indicium.h. Borrows ind and buf; *len is 0
 * on every error. Errors: PV_EMALFORMED (a field out of its domain, or
 * version / sig_alg not 1), PV_EINVAL (NULL argument, cap too small).
 */
int pv_indicium_encode_body(const struct pv_indicium *ind, uint8_t *buf, size_t cap, size_t *len)
{
    struct text_lens tl;
    size_t body;

    if (len)
        *len = 0;
    if (!ind || !buf || !len)
        return PV_EINVAL;
    if (!fields_ok(ind, &tl))
        return PV_EMALFORMED;
    body = PV_INDICIUM_FIXED + tl.medium;
    if (cap < body)
        return PV_EINVAL;

    memset(buf, 0, body);
    buf[OFF_VERSION] = ind->version;
    buf[OFF_ALG] = ind->sig_alg;
    buf[OFF_FLAGS] = ind->flags;
    memcpy(buf + OFF_LICENSE, ind->license, tl.license);
    put_u32(buf + OFF_DEVICE, ind->device_id);
    put_u32(buf + OFF_KEY, ind->key_id);
    put_u32(buf + OFF_SERIAL, ind->serial);
    put_u64(buf + OFF_ASCENDING, (uint64_t) ind->ascending_mills);
    put_u32(buf + OFF_POSTAGE, (uint32_t) ind->postage_mills);
    put_u32(buf + OFF_DATE, ind->mail_date);
    buf[OFF_CLASS] = ind->mail_class;
    put_u16(buf + OFF_WEIGHT, ind->weight_tenth_oz);
    memcpy(buf + OFF_FROM_ZIP, ind->from_zip, ZIP5_LEN);
    /* A 5-digit destination leaves the +4 part as the 4 NULs of memset. */
    memcpy(buf + OFF_TO_ZIP, ind->to_zip, field_len(ind->to_zip, sizeof ind->to_zip));
    memcpy(buf + OFF_SOFTWARE, ind->software_id, tl.software);
    buf[OFF_MEDIUM_LEN] = (uint8_t) tl.medium;
    memcpy(buf + OFF_MEDIUM, ind->medium_serial, tl.medium);
    *len = body;
    return PV_OK;
}

/*
 * pv_indicium_encode - see indicium.h: the body, then ind->signature.
 * Same ownership and errors as pv_indicium_encode_body.
 */
int pv_indicium_encode(const struct pv_indicium *ind, uint8_t *buf, size_t cap, size_t *len)
{
    size_t body = 0;
    int rc;

    if (len)
        *len = 0;
    if (!ind || !buf || !len)
        return PV_EINVAL;
    rc = pv_indicium_encode_body(ind, buf, cap, &body);
    if (rc != PV_OK)
        return rc;
    if (cap - body < PV_SIG_LEN)
        return PV_EINVAL;
    memcpy(buf + body, ind->signature, PV_SIG_LEN);
    *len = body + PV_SIG_LEN;
    return PV_OK;
}

/* ---- decoder ---------------------------------------------------------- */

/* Validate and copy the fields of a buffer whose length is already known to
 * be exactly PV_INDICIUM_MIN + m with m <= PV_MEDIUM_MAX. */
static int decode_fields(const uint8_t *buf, size_t m, struct pv_indicium *ind)
{
    const uint8_t *to = buf + OFF_TO_ZIP;
    uint64_t ascending;
    size_t n;

    ind->version = buf[OFF_VERSION];
    ind->sig_alg = buf[OFF_ALG];
    ind->flags = buf[OFF_FLAGS];
    if (ind->flags & ~PV_IND_FLAG_TEST)
        return PV_EMALFORMED;

    if (!padded_ok(buf + OFF_LICENSE, PV_LICENSE_LEN, is_serial_char, &n))
        return PV_EMALFORMED;
    memcpy(ind->license, buf + OFF_LICENSE, n);
    ind->license[n] = '\0';

    ind->device_id = get_u32(buf + OFF_DEVICE);
    ind->key_id = get_u32(buf + OFF_KEY);
    ind->serial = get_u32(buf + OFF_SERIAL);
    ascending = get_u64(buf + OFF_ASCENDING);
    if (ascending > (uint64_t) INT64_MAX)
        return PV_EMALFORMED;
    ind->ascending_mills = (int64_t) ascending;
    ind->postage_mills = (int64_t) get_u32(buf + OFF_POSTAGE);

    ind->mail_date = get_u32(buf + OFF_DATE);
    if (!pv_date_valid(ind->mail_date))
        return PV_EMALFORMED;
    ind->mail_class = buf[OFF_CLASS];
    if (!class_ok(ind->mail_class))
        return PV_EMALFORMED;
    ind->weight_tenth_oz = get_u16(buf + OFF_WEIGHT);

    if (!all_of(buf + OFF_FROM_ZIP, ZIP5_LEN, is_digit))
        return PV_EMALFORMED;
    memcpy(ind->from_zip, buf + OFF_FROM_ZIP, ZIP5_LEN);
    ind->from_zip[ZIP5_LEN] = '\0';

    if (!all_of(to, ZIP5_LEN, is_digit))
        return PV_EMALFORMED;
    if (all_of(to + ZIP5_LEN, 4, is_digit))
        n = ZIP_TO_LEN;
    else if (all_nul(to + ZIP5_LEN, 4))
        n = ZIP5_LEN;
    else
        return PV_EMALFORMED;
    memcpy(ind->to_zip, to, n);
    ind->to_zip[n] = '\0';

    if (!padded_ok(buf + OFF_SOFTWARE, PV_SOFTWARE_ID_LEN, is_print, &n))
        return PV_EMALFORMED;
    memcpy(ind->software_id, buf + OFF_SOFTWARE, n);
    ind->software_id[n] = '\0';

    if (!all_of(buf + OFF_MEDIUM, m, is_serial_char))
        return PV_EMALFORMED;
    memcpy(ind->medium_serial, buf + OFF_MEDIUM, m);
    ind->medium_serial[m] = '\0';

    memcpy(ind->signature, buf + OFF_MEDIUM + m, PV_SIG_LEN);
    return PV_OK;
}

/*
 * pv_indicium_decode - see indicium.h. Borrows buf. *out (zeroed on every
 * error) and *body_len (0 on error) are the caller's. The checks run in the
 * order documented in docs/indicium.md; tests pin each one.
 */
int pv_indicium_decode(const uint8_t *buf, size_t len, struct pv_indicium *out, size_t *body_len)
{
    struct pv_indicium ind;
    size_t m;
    int rc;

    if (body_len)
        *body_len = 0;
    if (out)
        memset(out, 0, sizeof *out);
    if (!buf && len)
        return PV_EINVAL;
    if (len == 0)
        return PV_ETRUNCATED;
    if (buf[OFF_VERSION] != PV_INDICIUM_VERSION)
        return PV_EVERSION;
    if (len < OFF_ALG + 1)
        return PV_ETRUNCATED;
    if (buf[OFF_ALG] != PV_SIGALG_P256_SHA256)
        return PV_EALGORITHM;
    if (len < PV_INDICIUM_FIXED)
        return PV_ETRUNCATED;
    m = buf[OFF_MEDIUM_LEN];
    if (m > PV_MEDIUM_MAX)
        return PV_EMALFORMED;
    if (len < PV_INDICIUM_MIN + m)
        return PV_ETRUNCATED;
    if (len > PV_INDICIUM_MIN + m)
        return PV_ETRAILING;

    memset(&ind, 0, sizeof ind);
    rc = decode_fields(buf, m, &ind);
    if (rc != PV_OK)
        return rc;
    if (out)
        *out = ind;
    if (body_len)
        *body_len = PV_INDICIUM_FIXED + m;
    return PV_OK;
}

/*
 * pv_indicium_verify - see indicium.h. Borrows buf and public_pem. Besides
 * the decode errors and PV_ESIGNATURE it returns PV_ECRYPTO when public_pem
 * is not a P-256 public key (then *out still holds the decoded fields).
 */
int pv_indicium_verify(const uint8_t *buf, size_t len, const char *public_pem,
                       struct pv_indicium *out)
{
    struct pv_indicium ind;
    size_t body_len = 0;
    int rc;

    rc = pv_indicium_decode(buf, len, &ind, &body_len);
    if (out)
        *out = ind; /* zeroed by the decoder when it failed */
    if (rc != PV_OK)
        return rc;
    if (!public_pem)
        return PV_EINVAL;
    return pv_crypto_verify(public_pem, buf, body_len, ind.signature);
}
