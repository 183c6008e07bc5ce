/*
 * serial.h - serial numbers of label media (sheets and the labels on them),
 * format version 1, and their authentication.
 *
 * A serial is 23 Crockford base32 symbols (5 bits each, 115 bits):
 *
 *   bits  field
 *      5  version (1)            - the first symbol is always "1"
 *      4  key id (0..15)         - which vendor secret made the code
 *     18  batch (0..262143)
 *      8  product / layout code (0..255)
 *     12  affiliate group (0..4095)
 *     16  sheet within the batch (0..65535)
 *      7  position on the sheet (0 = the sheet itself, 1..99 = a label)
 *     40  authentication code: first 5 bytes of HMAC-SHA256(secret, payload)
 *      5  check symbol (Damm-style over GF(32); catches every single
 *         substitution and every adjacent transposition)
 *
 * Written in groups of four: "1XXX-XXXX-XXXX-XXXX-XXXX-XXX" (28 chars).
 * docs/serials.md is the specification, with the exact MAC message and test
 * vectors. Pure functions, no I/O, no allocation, thread-safe.
 */
#ifndef STAMPD_SERIAL_H
#define STAMPD_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#define PV_SERIAL_VERSION      1
#define PV_SERIAL_SYMBOLS      23 /* significant symbols, check included */
#define PV_SERIAL_TEXT_LEN     28 /* canonical text, hyphens included */
#define PV_SERIAL_TEXT_SIZE    29 /* ... plus the NUL */
#define PV_SERIAL_INPUT_MAX    64 /* longer input is rejected unread */
#define PV_SERIAL_MAX_KEY_ID   15u
#define PV_SERIAL_MAX_BATCH    262143u
#define PV_SERIAL_MAX_PRODUCT  255u
#define PV_SERIAL_MAX_GROUP    4095u
#define PV_SERIAL_MAX_SHEET    65535u
#define PV_SERIAL_MAX_POSITION 99u
#define PV_SERIAL_MIN_SECRET   16 /* bytes; a vendor secret is normally 32 */
#define PV_SERIAL_AUTH_BYTES   5  /* 40-bit authentication code */

/* The fields of one serial. A plain value; position 0 names the whole sheet. */
struct pv_serial {
    unsigned version;  /* PV_SERIAL_VERSION */
    unsigned key_id;   /* 0..PV_SERIAL_MAX_KEY_ID */
    uint32_t batch;    /* 0..PV_SERIAL_MAX_BATCH */
    unsigned product;  /* 0..PV_SERIAL_MAX_PRODUCT */
    unsigned group;    /* 0..PV_SERIAL_MAX_GROUP */
    uint32_t sheet;    /* 0..PV_SERIAL_MAX_SHEET */
    unsigned position; /* 0 = sheet serial, 1..PV_SERIAL_MAX_POSITION = label */
};

/* One vendor secret known to a verifier. secret is borrowed by the caller's array. */
struct pv_serial_key {
    unsigned key_id;
    const uint8_t *secret;
    size_t secret_len; /* >= PV_SERIAL_MIN_SECRET */
};

/*
 * pv_serial_encode - the canonical text of *fields, authenticated under
 * secret (which must be the secret of fields->key_id). fields and secret are
 * borrowed; out (cap >= PV_SERIAL_TEXT_SIZE) receives the NUL-terminated text.
 * Errors: PV_EINVAL (NULL argument, a field out of range, version other than
 * PV_SERIAL_VERSION, secret shorter than PV_SERIAL_MIN_SECRET, cap too
 * small), PV_ECRYPTO (HMAC failure). On error out is "" when cap > 0.
 */
int pv_serial_encode(const struct pv_serial *fields, const uint8_t *secret, size_t secret_len,
                     char *out, size_t cap);

/*
 * pv_serial_parse - syntax and check symbol only; no secret, so this does NOT
 * prove the serial genuine (use pv_serial_verify). text is borrowed; hyphens
 * anywhere are ignored, letters are case-insensitive, I/L read as 1, O as 0.
 * Errors, in the order they are checked:
 *   PV_EINVAL     NULL, longer than PV_SERIAL_INPUT_MAX bytes, a character
 *                 outside the alphabet, or not exactly 23 symbols;
 *   PV_EMALFORMED the check symbol does not match (a typo);
 *   PV_EINVAL     version is not 1, or position > 99.
 * *out (may be NULL) gets the fields on PV_OK and is zeroed otherwise.
 */
int pv_serial_parse(const char *text, struct pv_serial *out);

/*
 * pv_serial_verify - pv_serial_parse, then the authentication code is
 * recomputed under the key named by the serial's key id (first match in
 * keys[0..nkeys), borrowed) and compared in constant time (pv_memeq_ct).
 * Errors: those of pv_serial_parse; PV_EUNKNOWNKEY (no key with that id, or
 * its secret is shorter than PV_SERIAL_MIN_SECRET); PV_ESIGNATURE (the
 * authentication code is wrong: forged, altered, or another vendor's);
 * PV_ECRYPTO. *out (may be NULL) gets the fields on PV_OK only, else zeroed.
 */
int pv_serial_verify(const char *text, const struct pv_serial_key *keys, size_t nkeys,
                     struct pv_serial *out);

/*
 * pv_serial_normalize - the canonical spelling of text: upper case, I/L
 * folded to 1 and O to 0, hyphens after every fourth symbol. Checks the
 * alphabet and the length (23 symbols) only, not the check symbol, so a UI
 * can echo what was typed. text borrowed; out (cap >= PV_SERIAL_TEXT_SIZE)
 * gets the NUL-terminated text. Errors: PV_EINVAL (as pv_serial_parse's
 * syntax errors, or cap too small); out is "" on error when cap > 0.
 */
int pv_serial_normalize(const char *text, char *out, size_t cap);

#endif
