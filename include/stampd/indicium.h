/*
 * indicium.h - the signed indicium, binary format version 1.
 *
 * Big-endian, fixed layout (docs/indicium.md has the byte table and test
 * vectors):
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
 */
#ifndef STAMPD_INDICIUM_H
#define STAMPD_INDICIUM_H

#include <stddef.h>
#include <stdint.h>

#define PV_INDICIUM_VERSION   1
#define PV_SIGALG_P256_SHA256 1
#define PV_IND_FLAG_TEST      0x01u
#define PV_LICENSE_LEN        16
#define PV_SOFTWARE_ID_LEN    8
#define PV_MEDIUM_MAX         32
#define PV_SIG_LEN            64
#define PV_INDICIUM_FIXED     73 /* bytes before the medium serial */
#define PV_INDICIUM_MIN       (PV_INDICIUM_FIXED + PV_SIG_LEN)
#define PV_INDICIUM_MAX       (PV_INDICIUM_FIXED + PV_MEDIUM_MAX + PV_SIG_LEN)
#define PV_SOFTWARE_ID        "STAMPD01"

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
 * pv_date_valid - 1 when yyyymmdd is a real calendar date in 2000..2099.
 */
int pv_date_valid(uint32_t yyyymmdd);

/*
 * pv_date_parse - a mail date "YYYY-MM-DD" (exactly, borrowed) into *out
 * as YYYYMMDD if pv_date_valid. Returns PV_OK or PV_EMAILDATE.
 */
int pv_date_parse(const char *s, uint32_t *out);

#endif
