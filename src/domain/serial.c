/*
 * serial.c - serial numbers of label media, format version 1: packing the
 * fields and a truncated HMAC-SHA256 into 22 Crockford base32 symbols, the
 * GF(32) check symbol, lenient parsing of what people type, and verification
 * under a set of (key id -> secret) entries so that old batches keep
 * verifying after the vendor secret rotates. docs/serials.md is the spec.
 */
#include "stampd/serial.h"

#include "crypto/primitives.h"
#include "stampd/error.h"

#include <string.h>

#define DATA_SYMBOLS  (PV_SERIAL_SYMBOLS - 1) /* 22: payload + auth code */
#define PAYLOAD_BITS  70
#define MAC_TAG       "stampd serial"
#define MAC_TAG_LEN   13
#define MAC_MSG_LEN   (MAC_TAG_LEN + 1 + 15)
#define GF32_POLY     0x25u /* x^5 + x^2 + 1 */
#define GROUP_SYMBOLS 4

static const char alphabet[32] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Value of one typed character, or -1. Folds case, I/L to 1, O to 0; U is not a symbol. */
static int symbol_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        c = (unsigned char) (c - 'a' + 'A');
    if (c == 'I' || c == 'L')
        return 1;
    if (c == 'O')
        return 0;
    for (int i = 10; i < 32; i++)
        if (alphabet[i] == (char) c)
            return i;
    return -1;
}

/* Multiply by x (2) in GF(32) = GF(2)[x] / (x^5 + x^2 + 1). */
static unsigned gf_mul2(unsigned r)
{
    r <<= 1;
    if (r & 0x20u)
        r ^= GF32_POLY;
    return r;
}

/*
 * Damm-style running value over GF(32): r <- 2r + v. The quasigroup
 * a*b = 2a + b is totally anti-symmetric, so the final value changes under
 * any single substitution and any adjacent transposition (docs/serials.md).
 */
static unsigned check_fold(const uint8_t *sym, size_t n)
{
    unsigned r = 0;
    for (size_t i = 0; i < n; i++)
        r = gf_mul2(r) ^ sym[i];
    return r;
}

/* Write the low n bits of v, most significant first, at bit *pos of sym (MSB-first). */
static void put_bits(uint8_t *sym, unsigned *pos, uint32_t v, unsigned n)
{
    while (n-- > 0) {
        unsigned bit = (v >> n) & 1u;
        sym[*pos / 5] |= (uint8_t) (bit << (4 - *pos % 5));
        (*pos)++;
    }
}

static uint32_t get_bits(const uint8_t *sym, unsigned *pos, unsigned n)
{
    uint32_t v = 0;
    while (n-- > 0) {
        v = (v << 1) | ((sym[*pos / 5] >> (4 - *pos % 5)) & 1u);
        (*pos)++;
    }
    return v;
}

static int fields_valid(const struct pv_serial *s)
{
    return s->version == PV_SERIAL_VERSION && s->key_id <= PV_SERIAL_MAX_KEY_ID &&
           s->batch <= PV_SERIAL_MAX_BATCH && s->product <= PV_SERIAL_MAX_PRODUCT &&
           s->group <= PV_SERIAL_MAX_GROUP && s->sheet <= PV_SERIAL_MAX_SHEET &&
           s->position <= PV_SERIAL_MAX_POSITION;
}

/* auth = first 5 bytes of HMAC-SHA256(secret, tag || 0x00 || fields, big-endian). */
static int compute_auth(const struct pv_serial *s, const uint8_t *secret, size_t secret_len,
                        uint8_t auth[PV_SERIAL_AUTH_BYTES])
{
    uint8_t msg[MAC_MSG_LEN];
    uint8_t mac[32];
    uint8_t *p = msg;
    int rc;

    memcpy(p, MAC_TAG, MAC_TAG_LEN);
    p += MAC_TAG_LEN;
    *p++ = 0;
    *p++ = (uint8_t) s->version;
    *p++ = (uint8_t) s->key_id;
    *p++ = (uint8_t) (s->batch >> 24);
    *p++ = (uint8_t) (s->batch >> 16);
    *p++ = (uint8_t) (s->batch >> 8);
    *p++ = (uint8_t) s->batch;
    *p++ = (uint8_t) (s->product >> 8);
    *p++ = (uint8_t) s->product;
    *p++ = (uint8_t) (s->group >> 8);
    *p++ = (uint8_t) s->group;
    *p++ = (uint8_t) (s->sheet >> 24);
    *p++ = (uint8_t) (s->sheet >> 16);
    *p++ = (uint8_t) (s->sheet >> 8);
    *p++ = (uint8_t) s->sheet;
    *p++ = (uint8_t) s->position;

    rc = pv_hmac_sha256(secret, secret_len, msg, sizeof msg, mac);
    if (rc == PV_OK)
        memcpy(auth, mac, PV_SERIAL_AUTH_BYTES);
    else
        rc = PV_ECRYPTO;
    memset(mac, 0, sizeof mac);
    return rc;
}

/* Canonical text of 23 symbol values: groups of four joined by hyphens. */
static int write_text(const uint8_t sym[PV_SERIAL_SYMBOLS], char *out, size_t cap)
{
    size_t o = 0;

    if (cap < PV_SERIAL_TEXT_SIZE)
        return PV_EINVAL;
    for (size_t i = 0; i < PV_SERIAL_SYMBOLS; i++) {
        if (i > 0 && i % GROUP_SYMBOLS == 0)
            out[o++] = '-';
        out[o++] = alphabet[sym[i] & 31u];
    }
    out[o] = '\0';
    return PV_OK;
}

/* Symbols of typed text, hyphens skipped. PV_OK or PV_EINVAL. Bounded by PV_SERIAL_INPUT_MAX. */
static int read_symbols(const char *text, uint8_t sym[PV_SERIAL_SYMBOLS])
{
    size_t n = 0;

    if (!text)
        return PV_EINVAL;
    for (size_t i = 0;; i++) {
        unsigned char c = (unsigned char) text[i];
        int v;

        if (c == '\0')
            break;
        if (i >= PV_SERIAL_INPUT_MAX)
            return PV_EINVAL;
        if (c == '-')
            continue;
        v = symbol_value(c);
        if (v < 0 || n >= PV_SERIAL_SYMBOLS)
            return PV_EINVAL;
        sym[n++] = (uint8_t) v;
    }
    return n == PV_SERIAL_SYMBOLS ? PV_OK : PV_EINVAL;
}

/* parse + the authentication code carried by the text. */
static int parse_full(const char *text, struct pv_serial *s, uint8_t auth[PV_SERIAL_AUTH_BYTES])
{
    uint8_t sym[PV_SERIAL_SYMBOLS];
    unsigned pos = 0;
    int rc;

    memset(s, 0, sizeof *s);
    rc = read_symbols(text, sym);
    if (rc != PV_OK)
        return rc;
    if (check_fold(sym, PV_SERIAL_SYMBOLS) != 0)
        return PV_EMALFORMED;

    s->version = get_bits(sym, &pos, 5);
    s->key_id = get_bits(sym, &pos, 4);
    s->batch = get_bits(sym, &pos, 18);
    s->product = get_bits(sym, &pos, 8);
    s->group = get_bits(sym, &pos, 12);
    s->sheet = get_bits(sym, &pos, 16);
    s->position = get_bits(sym, &pos, 7);
    for (size_t i = 0; i < PV_SERIAL_AUTH_BYTES; i++)
        auth[i] = (uint8_t) get_bits(sym, &pos, 8);
    if (!fields_valid(s)) {
        memset(s, 0, sizeof *s);
        return PV_EINVAL;
    }
    return PV_OK;
}

/*
 * pv_serial_encode - see serial.h.
 */
int pv_serial_encode(const struct pv_serial *fields, const uint8_t *secret, size_t secret_len,
                     char *out, size_t cap)
{
    uint8_t sym[PV_SERIAL_SYMBOLS] = {0};
    uint8_t auth[PV_SERIAL_AUTH_BYTES];
    unsigned pos = 0;
    int rc;

    if (out && cap > 0)
        out[0] = '\0';
    if (!fields || !secret || !out || cap < PV_SERIAL_TEXT_SIZE ||
        secret_len < PV_SERIAL_MIN_SECRET || !fields_valid(fields))
        return PV_EINVAL;
    rc = compute_auth(fields, secret, secret_len, auth);
    if (rc != PV_OK)
        return rc;

    put_bits(sym, &pos, fields->version, 5);
    put_bits(sym, &pos, fields->key_id, 4);
    put_bits(sym, &pos, fields->batch, 18);
    put_bits(sym, &pos, fields->product, 8);
    put_bits(sym, &pos, fields->group, 12);
    put_bits(sym, &pos, fields->sheet, 16);
    put_bits(sym, &pos, fields->position, 7);
    for (size_t i = 0; i < PV_SERIAL_AUTH_BYTES; i++)
        put_bits(sym, &pos, auth[i], 8);
    /* pos == 110 == DATA_SYMBOLS * 5: the payload and code fill the symbols exactly. */
    sym[DATA_SYMBOLS] = (uint8_t) gf_mul2(check_fold(sym, DATA_SYMBOLS));
    return write_text(sym, out, cap);
}

/*
 * pv_serial_parse - see serial.h.
 */
int pv_serial_parse(const char *text, struct pv_serial *out)
{
    struct pv_serial s;
    uint8_t auth[PV_SERIAL_AUTH_BYTES];
    int rc = parse_full(text, &s, auth);

    if (out)
        *out = s;
    return rc;
}

/*
 * pv_serial_verify - see serial.h.
 */
int pv_serial_verify(const char *text, const struct pv_serial_key *keys, size_t nkeys,
                     struct pv_serial *out)
{
    struct pv_serial s;
    uint8_t got[PV_SERIAL_AUTH_BYTES];
    uint8_t want[PV_SERIAL_AUTH_BYTES];
    const struct pv_serial_key *key = NULL;
    int rc;

    if (out)
        memset(out, 0, sizeof *out);
    rc = parse_full(text, &s, got);
    if (rc != PV_OK)
        return rc;
    for (size_t i = 0; keys && i < nkeys; i++) {
        if (keys[i].key_id == s.key_id) {
            key = &keys[i];
            break;
        }
    }
    if (!key || !key->secret || key->secret_len < PV_SERIAL_MIN_SECRET)
        return PV_EUNKNOWNKEY;
    rc = compute_auth(&s, key->secret, key->secret_len, want);
    if (rc != PV_OK)
        return rc;
    if (!pv_memeq_ct(got, want, PV_SERIAL_AUTH_BYTES))
        return PV_ESIGNATURE;
    if (out)
        *out = s;
    return PV_OK;
}

/*
 * pv_serial_normalize - see serial.h.
 */
int pv_serial_normalize(const char *text, char *out, size_t cap)
{
    uint8_t sym[PV_SERIAL_SYMBOLS];
    int rc;

    if (out && cap > 0)
        out[0] = '\0';
    if (!out)
        return PV_EINVAL;
    rc = read_symbols(text, sym);
    if (rc != PV_OK)
        return rc;
    return write_text(sym, out, cap);
}
