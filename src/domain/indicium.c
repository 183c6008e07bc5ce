/*
 * indicium.c - encoder, decoder and verifier of the binary indicium, formats
 * version 1 and 2 (byte tables in include/stampd/indicium.h and
 * docs/indicium.md). Version 2 packs the same facts tighter (numbers in as
 * few bytes as their range needs, text in base 40) and adds the descending
 * register, the vendor and model of the device, the extra services and a
 * piece id.
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

#include <stdio.h>
#include <stdlib.h>
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

    if (ind->sig_alg != PV_SIGALG_P256_SHA256)
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

/* ---- version 2 -------------------------------------------------------- */

/* Offsets of the version 2 fixed part (indicium.h). */
enum {
    V2_FLAGS = 2,
    V2_VENDOR = 3,
    V2_MODEL = 4,
    V2_DEVICE = 5,
    V2_KEY = 9,
    V2_SERIAL = 13,
    V2_ASCENDING = 17,
    V2_DESCENDING = 23,
    V2_POSTAGE = 28,
    V2_DATE = 31,
    V2_CLASS = 33,
    V2_SERVICES = 34,
    V2_WEIGHT = 35,
    V2_FROM_ZIP = 37,
    V2_TO_ZIP = 40,
    V2_VAR = 44
};

_Static_assert(V2_VAR == PV_IND2_FIXED, "version 2 fixed part size");
_Static_assert(PV_IND2_MIN == 116 && PV_IND2_MAX == 168, "version 2 sizes");
_Static_assert(PV_IND2_MAX <= PV_INDICIUM_MAX, "PV_INDICIUM_MAX covers version 2");

#define DAYS_2099_12_31 36524u /* days from 2000-01-01 to 2099-12-31 */

/* The variable fields in wire order: their maximum count (characters, or
 * bytes for the piece id) and whether they are packed text. */
static const struct {
    uint8_t max;
    uint8_t packed;
} v2_var[4] = {
    {PV_LICENSE_LEN, 1}, {PV_SOFTWARE_ID_LEN, 1}, {PV_MEDIUM_MAX, 1}, {PV_PIECE_ID_MAX, 0}};

static size_t var_size(size_t i, size_t n)
{
    return v2_var[i].packed ? (n + 2) / 3 * 2 : n;
}

/* Big-endian unsigned of n (<= 8) bytes. */
static void put_un(uint8_t *p, size_t n, uint64_t v)
{
    while (n-- > 0) {
        p[n] = (uint8_t) v;
        v >>= 8;
    }
}

static uint64_t get_un(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Days since 2000-01-01 of a valid YYYYMMDD, and back (Howard Hinnant's
 * civil-from-days algorithm, shifted to the year-2000 epoch). */
static uint32_t days_from_date(uint32_t ymd)
{
    uint32_t y = ymd / 10000, m = ymd / 100 % 100, d = ymd % 100;
    uint32_t era, yoe, doy, doe;

    y -= m <= 2;
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 730425; /* 730425: days from 0000-03-01 to 2000-01-01 */
}

static uint32_t date_from_days(uint32_t days)
{
    uint32_t z = days + 730425, era = z / 146097, doe = z - era * 146097;
    uint32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    uint32_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    uint32_t y = yoe + era * 400 + (m <= 2);

    return y * 10000 + m * 100 + d;
}

/* Base 40: 0 pad, 1-26 A-Z, 27-36 0-9, 37 '-'; -1 for anything else. */
static int b40_code(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 1;
    if (is_digit(c))
        return c - '0' + 27;
    return c == '-' ? 37 : -1;
}

static char b40_char(unsigned code)
{
    static const char map[] = "?ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";
    return map[code];
}

/* n characters of s (all with a code, checked by the caller) into p. */
static void pack_text(uint8_t *p, const char *s, size_t n)
{
    size_t g, i;

    for (g = 0; g < (n + 2) / 3; g++) {
        unsigned v = 0;

        for (i = 0; i < 3; i++)
            v = v * 40 + (g * 3 + i < n ? (unsigned) b40_code((unsigned char) s[g * 3 + i]) : 0);
        put_u16(p + 2 * g, (uint16_t) v);
    }
}

/* The reverse into out (n + 1 bytes); 0 when a group holds an undefined
 * code, a pad before position n or a character after it. */
static int unpack_text(const uint8_t *p, size_t n, char *out)
{
    size_t g, i;

    for (g = 0; g < (n + 2) / 3; g++) {
        unsigned v = get_u16(p + 2 * g), c[3];

        if (v >= 40 * 40 * 40)
            return 0;
        c[0] = v / 1600;
        c[1] = v / 40 % 40;
        c[2] = v % 40;
        for (i = 0; i < 3; i++) {
            size_t at = g * 3 + i;

            if (at < n ? (c[i] == 0 || c[i] > 37) : c[i] != 0)
                return 0;
            if (at < n)
                out[at] = b40_char(c[i]);
        }
    }
    out[n] = '\0';
    return 1;
}

static int is_b40_char(int c)
{
    return b40_code(c) > 0;
}

/* The version 2 domains on top of fields_ok's. */
static int v2_fields_ok(const struct pv_indicium *ind, const struct text_lens *tl)
{
    return ind->ascending_mills <= PV_IND2_ASC_MAX && ind->descending_mills >= 0 &&
           ind->descending_mills <= PV_IND2_DESC_MAX && ind->postage_mills <= PV_IND2_POSTAGE_MAX &&
           !(ind->services & ~PV_IND_SVC_ALL) && ind->piece_id_len <= PV_PIECE_ID_MAX &&
           all_of((const uint8_t *) ind->software_id, tl->software, is_b40_char);
}

static int encode_v2(const struct pv_indicium *ind, const struct text_lens *tl, uint8_t *buf,
                     size_t cap, size_t *len)
{
    size_t to_n = field_len(ind->to_zip, sizeof ind->to_zip), body, at = V2_VAR;
    uint64_t to = 0;
    size_t i;

    if (!v2_fields_ok(ind, tl))
        return PV_EMALFORMED;
    body = V2_VAR + 4 + var_size(0, tl->license) + var_size(1, tl->software) +
           var_size(2, tl->medium) + ind->piece_id_len;
    if (cap < body)
        return PV_EINVAL;
    for (i = 0; i < to_n; i++)
        to = to * 10 + (uint64_t) (ind->to_zip[i] - '0');

    memset(buf, 0, body);
    buf[OFF_VERSION] = ind->version;
    buf[OFF_ALG] = ind->sig_alg;
    buf[V2_FLAGS] = (uint8_t) (ind->flags | (to_n == ZIP_TO_LEN ? PV_IND_FLAG_ZIP4 : 0));
    buf[V2_VENDOR] = ind->vendor_id;
    buf[V2_MODEL] = ind->model_id;
    put_u32(buf + V2_DEVICE, ind->device_id);
    put_u32(buf + V2_KEY, ind->key_id);
    put_u32(buf + V2_SERIAL, ind->serial);
    put_un(buf + V2_ASCENDING, 6, (uint64_t) ind->ascending_mills);
    put_un(buf + V2_DESCENDING, 5, (uint64_t) ind->descending_mills);
    put_un(buf + V2_POSTAGE, 3, (uint64_t) ind->postage_mills);
    put_u16(buf + V2_DATE, (uint16_t) days_from_date(ind->mail_date));
    buf[V2_CLASS] = ind->mail_class;
    buf[V2_SERVICES] = ind->services;
    put_u16(buf + V2_WEIGHT, ind->weight_tenth_oz);
    put_un(buf + V2_FROM_ZIP, 3, (uint64_t) strtoul(ind->from_zip, NULL, 10));
    put_u32(buf + V2_TO_ZIP, (uint32_t) to);

    buf[at++] = (uint8_t) tl->license;
    pack_text(buf + at, ind->license, tl->license);
    at += var_size(0, tl->license);
    buf[at++] = (uint8_t) tl->software;
    pack_text(buf + at, ind->software_id, tl->software);
    at += var_size(1, tl->software);
    buf[at++] = (uint8_t) tl->medium;
    pack_text(buf + at, ind->medium_serial, tl->medium);
    at += var_size(2, tl->medium);
    buf[at++] = ind->piece_id_len;
    memcpy(buf + at, ind->piece_id, ind->piece_id_len);
    *len = body;
    return PV_OK;
}

/* The structure of a version 2 indicium of len bytes (version and
 * algorithm already checked): the four length bytes within their maxima,
 * every field present, then exactly the signature. Sets *body_len. */
static int v2_structure(const uint8_t *buf, size_t len, size_t *body_len)
{
    size_t at = V2_VAR, i;

    if (len < V2_VAR)
        return PV_ETRUNCATED;
    for (i = 0; i < 4; i++) {
        if (len < at + 1)
            return PV_ETRUNCATED;
        if (buf[at] > v2_var[i].max)
            return PV_EMALFORMED;
        at += 1 + var_size(i, buf[at]);
        if (len < at)
            return PV_ETRUNCATED;
    }
    if (len < at + PV_SIG_LEN)
        return PV_ETRUNCATED;
    if (len > at + PV_SIG_LEN)
        return PV_ETRAILING;
    *body_len = at;
    return PV_OK;
}

/* One packed text field at *at into out; advances *at. */
static int v2_text(const uint8_t *buf, size_t *at, size_t min, char *out)
{
    size_t n = buf[*at];

    if (n < min || !unpack_text(buf + *at + 1, n, out))
        return 0;
    *at += 1 + var_size(0, n);
    return 1;
}

/* Validate and copy the fields of a buffer whose structure v2_structure
 * accepted, body_len bytes then the signature. */
static int decode_v2(const uint8_t *buf, size_t body_len, struct pv_indicium *ind)
{
    uint32_t days, to, from;
    size_t at = V2_VAR;

    ind->version = buf[OFF_VERSION];
    ind->sig_alg = buf[OFF_ALG];
    if (buf[V2_FLAGS] & ~(PV_IND_FLAG_TEST | PV_IND_FLAG_ZIP4))
        return PV_EMALFORMED;
    ind->flags = buf[V2_FLAGS] & PV_IND_FLAG_TEST;
    ind->vendor_id = buf[V2_VENDOR];
    ind->model_id = buf[V2_MODEL];
    ind->device_id = get_u32(buf + V2_DEVICE);
    ind->key_id = get_u32(buf + V2_KEY);
    ind->serial = get_u32(buf + V2_SERIAL);
    ind->ascending_mills = (int64_t) get_un(buf + V2_ASCENDING, 6);
    ind->descending_mills = (int64_t) get_un(buf + V2_DESCENDING, 5);
    ind->postage_mills = (int64_t) get_un(buf + V2_POSTAGE, 3);
    days = get_u16(buf + V2_DATE);
    if (days > DAYS_2099_12_31)
        return PV_EMALFORMED;
    ind->mail_date = date_from_days(days);
    ind->mail_class = buf[V2_CLASS];
    if (!class_ok(ind->mail_class))
        return PV_EMALFORMED;
    ind->services = buf[V2_SERVICES];
    if (ind->services & ~PV_IND_SVC_ALL)
        return PV_EMALFORMED;
    ind->weight_tenth_oz = get_u16(buf + V2_WEIGHT);
    from = (uint32_t) get_un(buf + V2_FROM_ZIP, 3);
    to = get_u32(buf + V2_TO_ZIP);
    if (from > 99999 || to > ((buf[V2_FLAGS] & PV_IND_FLAG_ZIP4) ? 999999999u : 99999u))
        return PV_EMALFORMED;
    snprintf(ind->from_zip, sizeof ind->from_zip, "%05u", (unsigned) from);
    snprintf(ind->to_zip, sizeof ind->to_zip, (buf[V2_FLAGS] & PV_IND_FLAG_ZIP4) ? "%09u" : "%05u",
             (unsigned) to);

    if (!v2_text(buf, &at, 1, ind->license) || !v2_text(buf, &at, 1, ind->software_id) ||
        !v2_text(buf, &at, 0, ind->medium_serial))
        return PV_EMALFORMED;
    ind->piece_id_len = buf[at];
    memcpy(ind->piece_id, buf + at + 1, ind->piece_id_len);
    memcpy(ind->signature, buf + body_len, PV_SIG_LEN);
    return PV_OK;
}

/* ---- piece ids -------------------------------------------------------- */

static const char crockford[] = "0123456789abcdefghjkmnpqrstvwxyz";
#define PIECE_BYTES 13 /* 20 characters of 5 bits, 4 zero bits in front */

int pv_indicium_set_piece(struct pv_indicium *ind, const char *id)
{
    uint8_t bits[PIECE_BYTES] = {0};
    size_t i, b;

    if (!ind)
        return PV_EINVAL;
    ind->piece_id_len = 0;
    if (!id || strncmp(id, "ind_", 4) != 0 || strlen(id) != 24)
        return PV_EINVAL;
    for (i = 0; i < 20; i++) {
        const char *c = id[4 + i] ? strchr(crockford, id[4 + i]) : NULL;
        unsigned v;

        if (!c)
            return PV_EINVAL;
        v = (unsigned) (c - crockford);
        for (b = 0; b < 5; b++) {
            size_t bit = 4 + i * 5 + b; /* from the most significant bit */

            if (v & (0x10u >> b))
                bits[bit / 8] |= (uint8_t) (0x80u >> (bit % 8));
        }
    }
    memcpy(ind->piece_id, bits, PIECE_BYTES);
    ind->piece_id_len = PIECE_BYTES;
    return PV_OK;
}

int pv_indicium_piece_public(const struct pv_indicium *ind, char out[25])
{
    size_t i, b;

    out[0] = '\0';
    if (!ind || ind->piece_id_len != PIECE_BYTES || (ind->piece_id[0] & 0xf0))
        return PV_ENOTFOUND;
    memcpy(out, "ind_", 4);
    for (i = 0; i < 20; i++) {
        unsigned v = 0;

        for (b = 0; b < 5; b++) {
            size_t bit = 4 + i * 5 + b;

            v = v << 1 | ((ind->piece_id[bit / 8] >> (7 - bit % 8)) & 1u);
        }
        out[4 + i] = crockford[v];
    }
    out[24] = '\0';
    return PV_OK;
}

/* ---- encoder ---------------------------------------------------------- */

/*
 * pv_indicium_encode_body - see indicium.h. Borrows ind and buf; *len is 0
 * on every error. Errors: PV_EMALFORMED (a field out of its domain of that
 * version, an unknown version, sig_alg not 1, a version 2 field set in a
 * version 1 indicium), PV_EINVAL (NULL argument, cap too small).
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
    if (ind->version == PV_INDICIUM_V2)
        return encode_v2(ind, &tl, buf, cap, len);
    /* Version 1 has no room for the version 2 fields: they must be empty. */
    if (ind->version != PV_INDICIUM_V1 || ind->vendor_id || ind->model_id || ind->services ||
        ind->descending_mills || ind->piece_id_len)
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
    if (buf[OFF_VERSION] != PV_INDICIUM_V1 && buf[OFF_VERSION] != PV_INDICIUM_V2)
        return PV_EVERSION;
    if (len < OFF_ALG + 1)
        return PV_ETRUNCATED;
    if (buf[OFF_ALG] != PV_SIGALG_P256_SHA256)
        return PV_EALGORITHM;
    if (buf[OFF_VERSION] == PV_INDICIUM_V2) {
        size_t blen = 0;

        if ((rc = v2_structure(buf, len, &blen)) != PV_OK)
            return rc;
        memset(&ind, 0, sizeof ind);
        if ((rc = decode_v2(buf, blen, &ind)) != PV_OK)
            return rc;
        if (out)
            *out = ind;
        if (body_len)
            *body_len = blen;
        return PV_OK;
    }
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
