/*
 * test_indicium_v2.c - the indicium format, version 2: the shared vectors
 * (tests/vectors/indicium-v2-vectors.txt, printed in docs/indicium.md) byte
 * by byte, every decode error in the documented order, the encoder's
 * version 2 domains, the date and ZIP packing over their whole range, the
 * piece id, and canonical decoding under random damage. Version 1 keeps its
 * own tests and vectors (test_indicium.c), unchanged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "crypto/primitives.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/indicium.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NV       3
#define LINE_CAP 1024

struct vec {
    char name[64];
    struct pv_indicium ind;
    uint8_t body[PV_INDICIUM_MAX], full[PV_INDICIUM_MAX];
    size_t body_len, full_len;
};

static struct vec vecs[NV];
static char test_pub[4096];

/* ---- loading ------------------------------------------------------------------- */

static uint64_t num(const char *v)
{
    uint64_t u = 0;

    assert_int_equal(pv_parse_u64(v, 0, UINT64_MAX, &u), PV_OK);
    return u;
}

static void hex(const char *v, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(v) / 2;

    assert_true(n <= cap);
    assert_int_equal(pv_hex_decode(v, out, n), PV_OK);
    *len = n;
}

static void field(struct vec *v, const char *k, const char *val)
{
    struct pv_indicium *p = &v->ind;
    size_t n = 0;

    if (!strcmp(k, "name"))
        snprintf(v->name, sizeof v->name, "%s", val);
    else if (!strcmp(k, "flags"))
        p->flags = (uint8_t) num(val);
    else if (!strcmp(k, "vendor"))
        p->vendor_id = (uint8_t) num(val);
    else if (!strcmp(k, "model"))
        p->model_id = (uint8_t) num(val);
    else if (!strcmp(k, "device_id"))
        p->device_id = (uint32_t) num(val);
    else if (!strcmp(k, "key_id"))
        p->key_id = (uint32_t) num(val);
    else if (!strcmp(k, "serial"))
        p->serial = (uint32_t) num(val);
    else if (!strcmp(k, "ascending"))
        p->ascending_mills = (int64_t) num(val);
    else if (!strcmp(k, "descending"))
        p->descending_mills = (int64_t) num(val);
    else if (!strcmp(k, "postage"))
        p->postage_mills = (int64_t) num(val);
    else if (!strcmp(k, "mail_date"))
        p->mail_date = (uint32_t) num(val);
    else if (!strcmp(k, "mail_class"))
        p->mail_class = (uint8_t) num(val);
    else if (!strcmp(k, "services"))
        p->services = (uint8_t) num(val);
    else if (!strcmp(k, "weight"))
        p->weight_tenth_oz = (uint16_t) num(val);
    else if (!strcmp(k, "from_zip"))
        snprintf(p->from_zip, sizeof p->from_zip, "%s", val);
    else if (!strcmp(k, "to_zip"))
        snprintf(p->to_zip, sizeof p->to_zip, "%s", val);
    else if (!strcmp(k, "license"))
        snprintf(p->license, sizeof p->license, "%s", val);
    else if (!strcmp(k, "software_id"))
        snprintf(p->software_id, sizeof p->software_id, "%s", val);
    else if (!strcmp(k, "medium_serial"))
        snprintf(p->medium_serial, sizeof p->medium_serial, "%s", val);
    else if (!strcmp(k, "piece")) {
        if (!strncmp(val, "ind_", 4))
            assert_int_equal(pv_indicium_set_piece(p, val), PV_OK);
        else {
            hex(val, p->piece_id, sizeof p->piece_id, &n);
            p->piece_id_len = (uint8_t) n;
        }
    } else if (!strcmp(k, "body"))
        hex(val, v->body, sizeof v->body, &v->body_len);
    else if (!strcmp(k, "signature")) {
        hex(val, p->signature, sizeof p->signature, &n);
        assert_int_equal(n, PV_SIG_LEN);
    } else if (!strcmp(k, "indicium"))
        hex(val, v->full, sizeof v->full, &v->full_len);
    else
        fail_msg("unknown vector key %s", k);
}

static int setup(void **state)
{
    const char *dir = getenv("STAMPD_SOURCE_DIR");
    char path[LINE_CAP], line[LINE_CAP];
    struct vec *v = NULL;
    int n = 0;
    size_t got;
    FILE *f;

    (void) state;
    snprintf(path, sizeof path, "%s/tests/vectors/indicium-v2-vectors.txt", dir ? dir : ".");
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof line, f)) {
        char *eq;

        line[strcspn(line, "\n")] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        if (!strcmp(line, "end")) {
            v = NULL;
            n++;
            continue;
        }
        if (!v) {
            if (n == NV)
                break;
            v = &vecs[n];
            memset(v, 0, sizeof *v);
            v->ind.version = PV_INDICIUM_V2;
            v->ind.sig_alg = PV_SIGALG_P256_SHA256;
        }
        if (!(eq = strchr(line, '=')))
            break;
        *eq = '\0';
        field(v, line, eq + 1);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/tests/vectors/indicium-test-key.pub.pem", dir ? dir : ".");
    if (n != NV || !(f = fopen(path, "r")))
        return -1;
    got = fread(test_pub, 1, sizeof test_pub - 1, f);
    test_pub[got] = '\0';
    fclose(f);
    return got > 0 ? 0 : -1;
}

static void assert_same(const struct pv_indicium *a, const struct pv_indicium *b)
{
    /* Every field of both versions: the struct has no padding holes that
     * the decoder leaves unset, since both sides start zeroed. */
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->vendor_id, b->vendor_id);
    assert_int_equal(a->model_id, b->model_id);
    assert_int_equal(a->device_id, b->device_id);
    assert_int_equal(a->key_id, b->key_id);
    assert_int_equal(a->serial, b->serial);
    assert_true(a->ascending_mills == b->ascending_mills);
    assert_true(a->descending_mills == b->descending_mills);
    assert_true(a->postage_mills == b->postage_mills);
    assert_int_equal(a->mail_date, b->mail_date);
    assert_int_equal(a->mail_class, b->mail_class);
    assert_int_equal(a->services, b->services);
    assert_int_equal(a->weight_tenth_oz, b->weight_tenth_oz);
    assert_string_equal(a->from_zip, b->from_zip);
    assert_string_equal(a->to_zip, b->to_zip);
    assert_string_equal(a->license, b->license);
    assert_string_equal(a->software_id, b->software_id);
    assert_string_equal(a->medium_serial, b->medium_serial);
    assert_int_equal(a->piece_id_len, b->piece_id_len);
    assert_memory_equal(a->piece_id, b->piece_id, a->piece_id_len);
    assert_memory_equal(a->signature, b->signature, PV_SIG_LEN);
}

/* ---- vectors ------------------------------------------------------------------- */

static void test_vectors(void **state)
{
    uint8_t buf[PV_INDICIUM_MAX];
    struct pv_indicium got;
    size_t len, body_len;
    int i;

    (void) state;
    for (i = 0; i < NV; i++) {
        const struct vec *v = &vecs[i];

        assert_int_equal(pv_indicium_encode_body(&v->ind, buf, sizeof buf, &len), PV_OK);
        assert_int_equal(len, v->body_len);
        assert_memory_equal(buf, v->body, len);
        assert_int_equal(pv_indicium_encode(&v->ind, buf, sizeof buf, &len), PV_OK);
        assert_int_equal(len, v->full_len);
        assert_memory_equal(buf, v->full, len);
        assert_int_equal(pv_indicium_decode(v->full, v->full_len, &got, &body_len), PV_OK);
        assert_int_equal(body_len, v->body_len);
        assert_same(&got, &v->ind);
        assert_int_equal(pv_indicium_verify(v->full, v->full_len, test_pub, &got), PV_OK);
        assert_same(&got, &v->ind);
    }
    /* The sizes docs/indicium.md gives: 139 with a stampd piece id (v1 of the
     * same piece: 137), 142 with ZIP+4 and a medium serial (v1: 160), and the
     * largest indicium version 2 allows. */
    assert_int_equal(vecs[0].full_len, 139);
    assert_int_equal(vecs[1].full_len, 142);
    assert_int_equal(vecs[2].full_len, PV_IND2_MAX);
}

/* ---- decoder errors -------------------------------------------------------------- */

static int dec(const uint8_t *b, size_t n)
{
    struct pv_indicium got;
    size_t bl = 9;
    int rc = pv_indicium_decode(b, n, &got, &bl);

    if (rc != PV_OK) {
        assert_int_equal(bl, 0);
        assert_int_equal(got.version, 0);
    }
    return rc;
}

/* Decode vector i with byte off set to val. */
static int with(int i, size_t off, uint8_t val)
{
    uint8_t b[PV_INDICIUM_MAX];

    memcpy(b, vecs[i].full, vecs[i].full_len);
    b[off] = val;
    return dec(b, vecs[i].full_len);
}

/* ... with n bytes at off set to the big-endian val. */
static int with_n(int i, size_t off, size_t n, uint64_t val)
{
    uint8_t b[PV_INDICIUM_MAX];

    memcpy(b, vecs[i].full, vecs[i].full_len);
    while (n-- > 0) {
        b[off + n] = (uint8_t) val;
        val >>= 8;
    }
    return dec(b, vecs[i].full_len);
}

static void test_decode_structure(void **state)
{
    static const uint8_t v2_only[] = {2}, v2_alg0[] = {2, 0}, v3[] = {3};
    uint8_t b[PV_INDICIUM_MAX + 2];
    size_t cut;
    int i;

    (void) state;
    /* Version, then the algorithm, before anything else. */
    assert_int_equal(dec(v3, 1), PV_EVERSION);
    assert_int_equal(with(0, 0, 3), PV_EVERSION);
    assert_int_equal(with(0, 0, 0xff), PV_EVERSION);
    assert_int_equal(dec(v2_only, 1), PV_ETRUNCATED);
    assert_int_equal(dec(v2_alg0, 2), PV_EALGORITHM);
    assert_int_equal(with(0, 1, 2), PV_EALGORITHM);
    /* Every proper prefix is truncated; one byte more is trailing. */
    for (i = 0; i < NV; i++) {
        for (cut = 1; cut < vecs[i].full_len; cut++)
            assert_int_equal(dec(vecs[i].full, cut), PV_ETRUNCATED);
        memcpy(b, vecs[i].full, vecs[i].full_len);
        b[vecs[i].full_len] = b[vecs[i].full_len + 1] = 0;
        assert_int_equal(dec(b, vecs[i].full_len + 1), PV_ETRAILING);
        assert_int_equal(dec(b, vecs[i].full_len + 2), PV_ETRAILING);
    }
    /* A length byte above its maximum is malformed whatever follows; one
     * that disagrees with the data is truncated or trailing. Vector 0:
     * license count at 44, software at 53, medium at 60, piece id at 61. */
    assert_int_equal(with(0, 44, 17), PV_EMALFORMED);
    assert_int_equal(with(0, 53, 9), PV_EMALFORMED);
    assert_int_equal(with(0, 60, 33), PV_EMALFORMED);
    assert_int_equal(with(0, 61, 17), PV_EMALFORMED);
    assert_int_equal(with(0, 61, 0xff), PV_EMALFORMED);
    assert_int_equal(with(0, 61, 14), PV_ETRUNCATED);
    assert_int_equal(with(0, 61, 12), PV_ETRAILING);
    memcpy(b, vecs[0].full, PV_IND2_FIXED);
    assert_int_equal(dec(b, PV_IND2_FIXED), PV_ETRUNCATED);
    b[44] = 200;
    assert_int_equal(dec(b, PV_IND2_FIXED + 1), PV_EMALFORMED);
}

static void test_decode_fields(void **state)
{
    (void) state;
    /* Flags: bits 0 and 1 only. */
    assert_int_equal(with(0, 2, 0x01), PV_OK);
    assert_int_equal(with(0, 2, 0x04), PV_EMALFORMED);
    assert_int_equal(with(0, 2, 0x80), PV_EMALFORMED);
    /* Date: at most 36524 days (2099-12-31). */
    assert_int_equal(with_n(0, 31, 2, 36524), PV_OK);
    assert_int_equal(with_n(0, 31, 2, 36525), PV_EMALFORMED);
    assert_int_equal(with_n(0, 31, 2, 0xffff), PV_EMALFORMED);
    assert_int_equal(with_n(0, 31, 2, 0), PV_OK);
    /* Mail class: one the rate table names. */
    assert_int_equal(with(0, 33, 0), PV_EMALFORMED);
    assert_int_equal(with(0, 33, 0xff), PV_EMALFORMED);
    /* Services: bits 0-2 only. */
    assert_int_equal(with(0, 34, 0x07), PV_OK);
    assert_int_equal(with(0, 34, 0x08), PV_EMALFORMED);
    assert_int_equal(with(0, 34, 0x80), PV_EMALFORMED);
    /* ZIPs: origin <= 99999; destination <= 99999, or <= 999999999 with
     * flag bit 1 (vector 1 has it). */
    assert_int_equal(with_n(0, 37, 3, 99999), PV_OK);
    assert_int_equal(with_n(0, 37, 3, 100000), PV_EMALFORMED);
    assert_int_equal(with_n(0, 40, 4, 99999), PV_OK);
    assert_int_equal(with_n(0, 40, 4, 100000), PV_EMALFORMED);
    assert_int_equal(with_n(1, 40, 4, 999999999), PV_OK);
    assert_int_equal(with_n(1, 40, 4, 1000000000), PV_EMALFORMED);
    assert_int_equal(with_n(1, 40, 4, 0), PV_OK); /* 00000-0000 is a shape, not a ZIP */
    /* Packed text: an empty license or software id; a group >= 64000; the
     * codes 38 and 39; a pad inside; a character after the count. Vector 0:
     * license "PV-TEST-0001" at 45..52, software "STAMPD01" at 54..59. */
    assert_int_equal(with(0, 44, 0), PV_EMALFORMED);
    assert_int_equal(with(0, 53, 0), PV_EMALFORMED);
    assert_int_equal(with_n(0, 45, 2, 64000), PV_EMALFORMED);
    assert_int_equal(with_n(0, 45, 2, 0xffff), PV_EMALFORMED);
    assert_int_equal(with_n(0, 45, 2, 38 * 1600 + 1 * 40 + 1), PV_EMALFORMED);
    assert_int_equal(with_n(0, 45, 2, 1 * 1600 + 39 * 40 + 1), PV_EMALFORMED);
    assert_int_equal(with_n(0, 45, 2, 1 * 1600 + 0 * 40 + 1), PV_EMALFORMED);
    assert_int_equal(with_n(0, 45, 2, 37 * 1600 + 37 * 40 + 37), PV_OK); /* "---" */
    /* "STAMPD01" is 8 of 9 places: the ninth must stay a pad. */
    assert_int_equal(with_n(0, 58, 2, (28 * 40 + 28) * 40 + 1), PV_EMALFORMED);
    assert_int_equal(with_n(0, 58, 2, (28 * 40 + 28) * 40), PV_OK); /* "11" */
    /* No forbidden value: registers, postage, weight, ids, the piece id. */
    assert_int_equal(with_n(0, 17, 6, 0), PV_OK);
    assert_int_equal(with_n(0, 23, 5, 0), PV_OK);
    assert_int_equal(with_n(0, 28, 3, 0xffffff), PV_OK);
    assert_int_equal(with(0, 3, 0), PV_OK);
    assert_int_equal(with(0, 62, 0xff), PV_OK);
}

/* Whatever decodes re-encodes to the same bytes; random damage never
 * crashes and never gives an error outside the five. */
static void test_canonical_under_damage(void **state)
{
    uint64_t x = 0x2545f4914f6cdd1du;
    uint8_t b[PV_INDICIUM_MAX], again[PV_INDICIUM_MAX];
    struct pv_indicium got;
    int round, ok = 0;

    (void) state;
    for (round = 0; round < 20000; round++) {
        const struct vec *v = &vecs[round % NV];
        size_t len = v->full_len, alen = 0;
        int f, rc;

        memcpy(b, v->full, len);
        for (f = 0; f < 1 + round % 3; f++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b[(x >> 8) % len] ^= (uint8_t) (1u << ((x >> 40) % 8));
        }
        rc = pv_indicium_decode(b, len, &got, NULL);
        if (rc != PV_OK) {
            assert_true(rc == PV_EMALFORMED || rc == PV_EVERSION || rc == PV_EALGORITHM ||
                        rc == PV_ETRUNCATED || rc == PV_ETRAILING);
            continue;
        }
        ok++;
        assert_int_equal(pv_indicium_encode(&got, again, sizeof again, &alen), PV_OK);
        assert_int_equal(alen, len);
        assert_memory_equal(again, b, len);
    }
    assert_true(ok > 1000);
}

/* ---- encoder -------------------------------------------------------------------- */

static int enc(const struct pv_indicium *p)
{
    uint8_t b[PV_INDICIUM_MAX];
    size_t len = 9;
    int rc = pv_indicium_encode(p, b, sizeof b, &len);

    if (rc != PV_OK)
        assert_int_equal(len, 0);
    return rc;
}

static void test_encode_domains(void **state)
{
    struct pv_indicium p;

    (void) state;
#define BAD(stmt)                                                                                  \
    do {                                                                                           \
        p = vecs[1].ind;                                                                           \
        stmt;                                                                                      \
        assert_int_equal(enc(&p), PV_EMALFORMED);                                                  \
    } while (0)
    BAD(p.ascending_mills = PV_IND2_ASC_MAX + 1);
    BAD(p.descending_mills = PV_IND2_DESC_MAX + 1);
    BAD(p.descending_mills = -1);
    BAD(p.postage_mills = PV_IND2_POSTAGE_MAX + 1);
    BAD(p.services = 0x08);
    BAD(p.piece_id_len = PV_PIECE_ID_MAX + 1);
    BAD(p.flags = PV_IND_FLAG_ZIP4); /* on the wire only */
    BAD(p.software_id[2] = ' ');     /* version 1 allows it, version 2 has no code */
    BAD(p.license[0] = 'p');
    BAD(p.mail_date = 20250229);
    BAD(p.to_zip[3] = 'A');
    BAD(p.version = 3);
    /* A version 1 indicium has nowhere to put the version 2 fields. */
    BAD((p.version = PV_INDICIUM_V1, p.services = 0));
    p = vecs[1].ind;
    p.version = PV_INDICIUM_V1;
    p.vendor_id = p.model_id = 0;
    p.descending_mills = 0;
    p.services = 0;
    assert_int_equal(enc(&p), PV_OK);
#undef BAD
    /* Buffers: exactly the body, then 64 more. */
    {
        uint8_t b[PV_INDICIUM_MAX];
        size_t len;

        p = vecs[2].ind;
        assert_int_equal(pv_indicium_encode_body(&p, b, PV_IND2_MAX - PV_SIG_LEN - 1, &len),
                         PV_EINVAL);
        assert_int_equal(pv_indicium_encode_body(&p, b, PV_IND2_MAX - PV_SIG_LEN, &len), PV_OK);
        assert_int_equal(pv_indicium_encode(&p, b, PV_IND2_MAX - 1, &len), PV_EINVAL);
    }
}

/* Every date of 2000..2099 and a spread of ZIPs survive the packing. */
static void test_dates_and_zips(void **state)
{
    static const uint8_t dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    uint8_t b[PV_INDICIUM_MAX];
    struct pv_indicium p = vecs[0].ind, got;
    unsigned y, m, d, days = 0, zip;
    size_t len;

    (void) state;
    for (y = 2000; y <= 2099; y++)
        for (m = 1; m <= 12; m++)
            for (d = 1; d <= dim[m - 1] + (unsigned) (m == 2 && y % 4 == 0); d++) {
                p.mail_date = y * 10000 + m * 100 + d;
                assert_int_equal(pv_indicium_encode(&p, b, sizeof b, &len), PV_OK);
                assert_int_equal(b[31] << 8 | b[32], days++);
                assert_int_equal(pv_indicium_decode(b, len, &got, NULL), PV_OK);
                assert_int_equal(got.mail_date, p.mail_date);
            }
    assert_int_equal(days, 36525);
    for (zip = 0; zip <= 99999; zip += 997) {
        snprintf(p.from_zip, sizeof p.from_zip, "%05u", zip);
        snprintf(p.to_zip, sizeof p.to_zip, "%05u%04u", 99999 - zip, zip % 10000);
        assert_int_equal(pv_indicium_encode(&p, b, sizeof b, &len), PV_OK);
        assert_int_equal(pv_indicium_decode(b, len, &got, NULL), PV_OK);
        assert_string_equal(got.from_zip, p.from_zip);
        assert_string_equal(got.to_zip, p.to_zip);
    }
}

/* ---- piece ids ------------------------------------------------------------------ */

static void test_piece_id(void **state)
{
    struct pv_indicium p;
    char out[25];

    (void) state;
    memset(&p, 0, sizeof p);
    assert_int_equal(pv_indicium_set_piece(&p, "ind_0123456789abcdefghjk"), PV_OK);
    assert_int_equal(p.piece_id_len, 13);
    assert_int_equal(p.piece_id[0], 0x00);
    assert_int_equal(pv_indicium_piece_public(&p, out), PV_OK);
    assert_string_equal(out, "ind_0123456789abcdefghjk");
    assert_int_equal(pv_indicium_set_piece(&p, "ind_zzzzzzzzzzzzzzzzzzzz"), PV_OK);
    assert_int_equal(p.piece_id[0], 0x0f);
    assert_int_equal(p.piece_id[12], 0xff);
    assert_int_equal(pv_indicium_piece_public(&p, out), PV_OK);
    assert_string_equal(out, "ind_zzzzzzzzzzzzzzzzzzzz");
    /* Not a stampd id: refused, and the piece id is left empty. */
    assert_int_equal(pv_indicium_set_piece(&p, "ind_0123456789abcdefghj"), PV_EINVAL);
    assert_int_equal(p.piece_id_len, 0);
    assert_int_equal(pv_indicium_set_piece(&p, "ind_0123456789abcdefghju"), PV_EINVAL);
    assert_int_equal(pv_indicium_set_piece(&p, "cus_0123456789abcdefghjk"), PV_EINVAL);
    assert_int_equal(pv_indicium_set_piece(&p, NULL), PV_EINVAL);
    /* Bytes that are no stampd id have no public id. */
    assert_int_equal(pv_indicium_piece_public(&vecs[2].ind, out), PV_ENOTFOUND);
    assert_string_equal(out, "");
    assert_int_equal(pv_indicium_piece_public(&vecs[1].ind, out), PV_ENOTFOUND);
}

static void test_tampered(void **state)
{
    uint8_t b[PV_INDICIUM_MAX];
    int i;

    (void) state;
    for (i = 0; i < NV; i++) {
        const struct vec *v = &vecs[i];

        memcpy(b, v->full, v->full_len);
        b[34] ^= 0x01; /* services: decodes, does not verify */
        assert_int_equal(pv_indicium_verify(b, v->full_len, test_pub, NULL), PV_ESIGNATURE);
        memcpy(b, v->full, v->full_len);
        b[27] ^= 0x01; /* descending register */
        assert_int_equal(pv_indicium_verify(b, v->full_len, test_pub, NULL), PV_ESIGNATURE);
        memcpy(b, v->full, v->full_len);
        b[v->full_len - 1] ^= 0x01;
        assert_int_equal(pv_indicium_verify(b, v->full_len, test_pub, NULL), PV_ESIGNATURE);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),        cmocka_unit_test(test_decode_structure),
        cmocka_unit_test(test_decode_fields),  cmocka_unit_test(test_canonical_under_damage),
        cmocka_unit_test(test_encode_domains), cmocka_unit_test(test_dates_and_zips),
        cmocka_unit_test(test_piece_id),       cmocka_unit_test(test_tampered),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
