/*
 * indicium.h - the signed indicium, binary formats version 1 and 2.
 *
 * Big-endian throughout. docs/indicium.md has both byte tables, the order of
 * the decoder's checks and the test vectors. New pieces are signed as
 * version 2 (PV_INDICIUM_VERSION); version 1 pieces decode and verify
 * for ever. struct pv_indicium carries the fields of both: `version` says
 * which were on the wire (the version-2-only fields are 0 for version 1).
 *
 * Version 1, fixed layout:
 *
 *   off len field
 *     0   1 version (1)
 *     1   1 signature algorithm (1 = ECDSA P-256 / SHA-256, raw r||s)
 *     2   1 flags (bit 0: test piece; other bits must be 0)
 *     3  16 license number, ASCII [A-Z0-9-], NUL-padded, 1..16 chars
 *    19   4 PSD device id
 *    23   4 key id (certificate serial)
 *    27   4 indicium serial (PSD piece count after this piece)
 *    31   8 ascending register after the purchase, mills
 *    39   4 postage value, mills
 *    43   4 mail date, YYYYMMDD as an integer
 *    47   1 mail class / rate category (enum pv_mail_class)
 *    48   2 weight, tenths of an ounce
 *    50   5 origin ZIP, ASCII digits
 *    55   9 destination ZIP: 5 digits then 4 digits of ZIP+4, or 4 NULs
 *    64   8 software id, ASCII, NUL-padded
 *    72   1 medium serial length m (0..32)
 *    73   m medium serial, ASCII
 *  73+m  64 signature r||s over bytes [0, 73+m)
 *
 * Total 137 + m bytes.
 *
 * Version 2, compact: a 44-byte fixed part, four length-prefixed fields,
 * the signature. "Packed text" is a count byte n, then ceil(n/3) big-endian
 * u16 groups, each three characters in base 40 (0 pad, 1-26 A-Z, 27-36
 * 0-9, 37 '-'); positions >= n hold 0.
 *
 *   off len field
 *     0   1 version (2)
 *     1   1 signature algorithm (1)
 *     2   1 flags (bit 0: test piece; bit 1: destination has ZIP+4)
 *     3   1 device id: vendor id
 *     4   1 device id: model
 *     5   4 device id: serial (the PSD device id)
 *     9   4 key id
 *    13   4 indicium serial
 *    17   6 ascending register after the purchase, mills (u48)
 *    23   5 descending register after the purchase, mills (u40)
 *    28   3 postage value, mills (u24)
 *    31   2 mail date, days since 2000-01-01 (0 .. 36524 = 2099-12-31)
 *    33   1 mail class / rate category
 *    34   1 extra services (bits PV_IND_SVC_*)
 *    35   2 weight, tenths of an ounce
 *    37   3 origin ZIP as a number (u24, 0 .. 99999)
 *    40   4 destination: ZIP (flag bit 1 clear) or ZIP*10000+plus4
 *    44     license, packed text, 1..16 characters
 *     .     software id, packed text, 1..8 characters
 *     .     medium serial, packed text, 0..32 characters
 *     .     piece id: length byte p (0..16), then p bytes
 *     .  64 signature r||s over every byte before it
 *
 * Total 116 .. 168 bytes.
 */
#ifndef STAMPD_INDICIUM_H
#define STAMPD_INDICIUM_H

#include <stddef.h>
#include <stdint.h>

#define PV_INDICIUM_V1        1
#define PV_INDICIUM_V2        2
#define PV_INDICIUM_VERSION   PV_INDICIUM_V2 /* what new pieces are signed as */
#define PV_SIGALG_P256_SHA256 1
#define PV_IND_FLAG_TEST      0x01u
#define PV_LICENSE_LEN        16
#define PV_SOFTWARE_ID_LEN    8
#define PV_MEDIUM_MAX         32
#define PV_SIG_LEN            64
#define PV_INDICIUM_FIXED     73 /* version 1: bytes before the medium serial */
#define PV_INDICIUM_MIN       (PV_INDICIUM_FIXED + PV_SIG_LEN)                 /* version 1 */
#define PV_INDICIUM_MAX       (PV_INDICIUM_FIXED + PV_MEDIUM_MAX + PV_SIG_LEN) /* any version */
#define PV_SOFTWARE_ID        "STAMPD01"

/* Version 2. */
#define PV_IND_FLAG_ZIP4     0x02u /* on the wire only: the struct's to_zip says it */
#define PV_IND2_FIXED        44
#define PV_PIECE_ID_MAX      16
#define PV_IND2_MIN          (PV_IND2_FIXED + 3 + 3 + 1 + 1 + PV_SIG_LEN)    /* 116 */
#define PV_IND2_MAX          (PV_IND2_FIXED + 13 + 7 + 23 + 17 + PV_SIG_LEN) /* 168 */
#define PV_INDICIUM_SHORTEST PV_IND2_MIN                /* the shortest indicium of any version */
#define PV_IND2_ASC_MAX      ((int64_t) 0xffffffffffff) /* u48 */
#define PV_IND2_DESC_MAX     ((int64_t) 0xffffffffff)   /* u40 */
#define PV_IND2_POSTAGE_MAX  ((int64_t) 0xffffff)       /* u24 */

/* Extra services (version 2 byte 34); the same bits as rates.h's PV_SVC_*. */
#define PV_IND_SVC_CERTIFIED      0x01u
#define PV_IND_SVC_RETURN_RECEIPT 0x02u
#define PV_IND_SVC_NONMACHINABLE  0x04u
#define PV_IND_SVC_ALL            0x07u

/* The device id's vendor and model (docs/indicium.md): stampd has no
 * postal assignment, so the vendor id is 0xFE, "private / not assigned". */
#define PV_VENDOR_ID 0xFEu
#define PV_MODEL_ID  0x01u

struct pv_indicium {
    uint8_t version;
    uint8_t sig_alg;
    uint8_t flags;
    char license[PV_LICENSE_LEN + 1];
    uint32_t device_id;
    uint32_t key_id;
    uint32_t serial;
    int64_t ascending_mills; /* 0 .. INT64_MAX; u64 on the wire */
    int64_t postage_mills;   /* 0 .. UINT32_MAX; u32 on the wire */
    uint32_t mail_date;      /* YYYYMMDD */
    uint8_t mail_class;
    uint16_t weight_tenth_oz;
    char from_zip[6];
    char to_zip[10]; /* "10001" or "100011234" */
    char software_id[PV_SOFTWARE_ID_LEN + 1];
    char medium_serial[PV_MEDIUM_MAX + 1]; /* "" when none */
    uint8_t signature[PV_SIG_LEN];
    /* Version 2 only (0 / empty in a version 1 indicium). */
    uint8_t vendor_id;
    uint8_t model_id;
    uint8_t services;         /* PV_IND_SVC_* */
    int64_t descending_mills; /* 0 .. PV_IND2_DESC_MAX */
    uint8_t piece_id_len;     /* 0 .. PV_PIECE_ID_MAX */
    uint8_t piece_id[PV_PIECE_ID_MAX];
};

/*
 * pv_indicium_encode_body - serialise every field before the signature into
 * buf (borrowed, cap bytes; PV_INDICIUM_MAX always suffices). Sets *len.
 * Returns PV_OK or PV_EMALFORMED when a field is out of its domain (bad
 * license characters, non-digit ZIP, impossible date, ...).
 */
int pv_indicium_encode_body(const struct pv_indicium *ind, uint8_t *buf, size_t cap, size_t *len);

/*
 * pv_indicium_encode - body followed by ind->signature. Same rules.
 */
int pv_indicium_encode(const struct pv_indicium *ind, uint8_t *buf, size_t cap, size_t *len);

/*
 * pv_indicium_decode - parse len borrowed bytes into *out; *body_len (may be
 * NULL) gets the length of the signed part. Distinct errors: PV_ETRUNCATED,
 * PV_ETRAILING, PV_EVERSION, PV_EALGORITHM, PV_EMALFORMED. Does not check
 * the signature (see pv_indicium_verify).
 */
int pv_indicium_decode(const uint8_t *buf, size_t len, struct pv_indicium *out, size_t *body_len);

/*
 * pv_indicium_verify - decode buf and check its signature against the
 * borrowed PEM public key. Returns PV_OK, a decode error, or PV_ESIGNATURE.
 * *out (may be NULL) receives the decoded fields even when the signature
 * is bad, as long as decoding succeeded.
 */
int pv_indicium_verify(const uint8_t *buf, size_t len, const char *public_pem,
                       struct pv_indicium *out);

/*
 * pv_indicium_set_piece - put the public id "ind_" + 20 Crockford base32
 * characters (borrowed; what stampd's ids are) into ind->piece_id as 13
 * bytes (the 100 bits, big-endian, 4 leading zero bits). Returns PV_OK, or
 * PV_EINVAL (then piece_id_len is 0) for an id of another shape.
 */
int pv_indicium_set_piece(struct pv_indicium *ind, const char *id);

/*
 * pv_indicium_piece_public - the reverse: the public id the piece id holds
 * into out (caller's, 25 bytes). PV_OK, or PV_ENOTFOUND when the piece id
 * is not a stampd id (then out is "").
 */
int pv_indicium_piece_public(const struct pv_indicium *ind, char out[25]);

/*
 * pv_date_valid - 1 when yyyymmdd is a real calendar date in 2000..2099.
 */
int pv_date_valid(uint32_t yyyymmdd);

/*
 * pv_date_parse - a mail date "YYYY-MM-DD" (exactly, borrowed) into *out
 * as YYYYMMDD if pv_date_valid. Returns PV_OK or PV_EMAILDATE.
 */
int pv_date_parse(const char *s, uint32_t *out);

#endif
