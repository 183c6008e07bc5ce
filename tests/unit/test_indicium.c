/*
 * test_indicium.c - the indicium format, version 1: the shared test vectors
 * (tests/vectors/indicium-vectors.txt, also printed in docs/indicium.md),
 * one distinct error per kind of damage in the decoder's documented order,
 * the encoder's field domains, calendar dates, signature tampering, and a
 * sign + verify round trip with a key generated for the run. Vectors are
 * found under $STAMPD_SOURCE_DIR (CTest sets it; "." otherwise).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "crypto/primitives.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/indicium.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_VECTORS 8
#define LINE_CAP    1024

struct vector {
    char name[64];
    struct pv_indicium ind;
    uint8_t body[PV_INDICIUM_MAX];
    size_t body_len;
    uint8_t full[PV_INDICIUM_MAX];
    size_t full_len;
};

/* Loaded once by the group setup; read-only afterwards. */
static struct vector vectors[MAX_VECTORS];
static int nvectors;
static char *test_pub; /* owned: the committed test public key PEM */

/* A P-256 public key that did not sign the vectors, and a P-384 one. */
static const char other_p256_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9LagHsGRW7ytwaVz0OMAwBa4sTmW\n"
    "LzgYVnIXYlJbc+TeoWywZo8NPLbWdVM/jHOlUewwPZ33p4L/ffuKa9jaPA==\n"
    "-----END PUBLIC KEY-----\n";
static const char p384_pub[] = "-----BEGIN PUBLIC KEY-----\n"
                               "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEzt62NV3ZjUuea6ppAShi1c1VpFfzx2J6\n"
                               "x/X9FbyQ7R0oxiQH73RkiPDU1SWgrmUprgpxRVt9F+cA3L3wwzWmnhzReyho64Xd\n"
                               "scHaPFrYNHzBHz388KqrkFnLBEpLpQAJ\n"
                               "-----END PUBLIC KEY-----\n";

/* ---- loading the vectors --------------------------------------------------- */

static const char *source_dir(void)
{
    const char *s = getenv("STAMPD_SOURCE_DIR");
    return s && *s ? s : ".";
}

/* Copy NUL-terminated src into dst of cap bytes; -1 when it does not fit. */
static int copy_text(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);

    if (n >= cap)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

static int parse_u(const char *v, uint64_t max, uint64_t *out)
{
    return pv_parse_u64(v, 0, max, out) == PV_OK ? 0 : -1;
}

static int parse_hex(const char *v, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(v);

    if (n % 2 != 0 || n / 2 > cap)
        return -1;
    *len = n / 2;
    return pv_hex_decode(v, out, n / 2) == PV_OK ? 0 : -1;
}

/* One key=value line into *v; marks the key in *seen. -1 on any error. */
static int vector_field(struct vector *v, const char *key, const char *val, unsigned *seen)
{
    static const char *keys[] = {"name",   "flags",     "license", "device_id",   "key_id",
                                 "serial", "ascending", "postage", "mail_date",   "mail_class",
                                 "weight", "from_zip",  "to_zip",  "software_id", "medium_serial",
                                 "body",   "signature", "indicium"};
    struct pv_indicium *ind = &v->ind;
    uint64_t u = 0;
    size_t k, n = sizeof keys / sizeof keys[0], siglen = 0;
    uint8_t sig[PV_SIG_LEN];

    /* The cases below follow the order of keys[]. */
    for (k = 0; k < n && strcmp(keys[k], key) != 0; k++)
        ;
    if (k == n || (*seen & (1u << k)))
        return -1;
    *seen |= 1u << k;
    switch (k) {
    case 0:
        return copy_text(v->name, sizeof v->name, val);
    case 1:
        return parse_u(val, 255, &u) ? -1 : (ind->flags = (uint8_t) u, 0);
    case 2:
        return copy_text(ind->license, sizeof ind->license, val);
    case 3:
        return parse_u(val, UINT32_MAX, &u) ? -1 : (ind->device_id = (uint32_t) u, 0);
    case 4:
        return parse_u(val, UINT32_MAX, &u) ? -1 : (ind->key_id = (uint32_t) u, 0);
    case 5:
        return parse_u(val, UINT32_MAX, &u) ? -1 : (ind->serial = (uint32_t) u, 0);
    case 6:
        return parse_u(val, INT64_MAX, &u) ? -1 : (ind->ascending_mills = (int64_t) u, 0);
    case 7:
        return parse_u(val, UINT32_MAX, &u) ? -1 : (ind->postage_mills = (int64_t) u, 0);
    case 8:
        return parse_u(val, UINT32_MAX, &u) ? -1 : (ind->mail_date = (uint32_t) u, 0);
    case 9:
        return parse_u(val, 255, &u) ? -1 : (ind->mail_class = (uint8_t) u, 0);
    case 10:
        return parse_u(val, UINT16_MAX, &u) ? -1 : (ind->weight_tenth_oz = (uint16_t) u, 0);
    case 11:
        return copy_text(ind->from_zip, sizeof ind->from_zip, val);
    case 12:
        return copy_text(ind->to_zip, sizeof ind->to_zip, val);
    case 13:
        return copy_text(ind->software_id, sizeof ind->software_id, val);
    case 14:
        return copy_text(ind->medium_serial, sizeof ind->medium_serial, val);
    case 15:
        return parse_hex(val, v->body, sizeof v->body, &v->body_len);
    case 16:
        if (parse_hex(val, sig, sizeof sig, &siglen) || siglen != PV_SIG_LEN)
            return -1;
        memcpy(ind->signature, sig, PV_SIG_LEN);
        return 0;
    default:
        return parse_hex(val, v->full, sizeof v->full, &v->full_len);
    }
}

static int load_vectors(void)
{
    char path[LINE_CAP], line[LINE_CAP];
    unsigned seen = 0, all = (1u << 18) - 1;
    struct vector *v = NULL;
    FILE *f;
    int lineno = 0, rc = -1;

    snprintf(path, sizeof path, "%s/tests/vectors/indicium-vectors.txt", source_dir());
    f = fopen(path, "r");
    if (!f) {
        print_error("cannot open %s (set STAMPD_SOURCE_DIR)\n", path);
        return -1;
    }
    nvectors = 0;
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        char *eq;

        lineno++;
        if (n == 0 || line[n - 1] != '\n') {
            print_error("%s:%d: line too long or unterminated\n", path, lineno);
            goto out;
        }
        line[--n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        if (strcmp(line, "end") == 0) {
            if (!v || seen != all) {
                print_error("%s:%d: incomplete vector\n", path, lineno);
                goto out;
            }
            nvectors++;
            v = NULL;
            continue;
        }
        if (!v) {
            if (nvectors == MAX_VECTORS) {
                print_error("%s:%d: too many vectors\n", path, lineno);
                goto out;
            }
            v = &vectors[nvectors];
            memset(v, 0, sizeof *v);
            v->ind.version = PV_INDICIUM_V1;
            v->ind.sig_alg = PV_SIGALG_P256_SHA256;
            seen = 0;
        }
        eq = strchr(line, '=');
        if (!eq) {
            print_error("%s:%d: expected key=value\n", path, lineno);
            goto out;
        }
        *eq = '\0';
        if (vector_field(v, line, eq + 1, &seen) != 0) {
            print_error("%s:%d: bad or repeated field %s\n", path, lineno, line);
            goto out;
        }
    }
    rc = v || nvectors < 3 ? -1 : 0;
    if (rc)
        print_error("%s: expected at least 3 complete vectors\n", path);
out:
    fclose(f);
    return rc;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    if (!f)
        return NULL;
    buf = malloc(65536);
    if (buf) {
        n = fread(buf, 1, 65535, f);
        buf[n] = '\0';
    }
    fclose(f);
    return buf;
}

static int setup_suite(void **state)
{
    char path[LINE_CAP];

    (void) state;
    if (load_vectors() != 0)
        return -1;
    snprintf(path, sizeof path, "%s/tests/vectors/indicium-test-key.pub.pem", source_dir());
    test_pub = slurp(path);
    return test_pub ? 0 : -1;
}

static int teardown_suite(void **state)
{
    (void) state;
    free(test_pub);
    test_pub = NULL;
    return 0;
}

static const struct vector *find_vector(const char *name)
{
    int i;

    for (i = 0; i < nvectors; i++)
        if (strcmp(vectors[i].name, name) == 0)
            return &vectors[i];
    fail_msg("no vector %s", name);
    return &vectors[0]; /* not reached: fail_msg() jumps out of the test */
}

static void assert_ind_equal(const struct pv_indicium *a, const struct pv_indicium *b)
{
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->sig_alg, b->sig_alg);
    assert_int_equal(a->flags, b->flags);
    assert_string_equal(a->license, b->license);
    assert_int_equal(a->device_id, b->device_id);
    assert_int_equal(a->key_id, b->key_id);
    assert_int_equal(a->serial, b->serial);
    assert_true(a->ascending_mills == b->ascending_mills);
    assert_true(a->postage_mills == b->postage_mills);
    assert_int_equal(a->mail_date, b->mail_date);
    assert_int_equal(a->mail_class, b->mail_class);
    assert_int_equal(a->weight_tenth_oz, b->weight_tenth_oz);
    assert_string_equal(a->from_zip, b->from_zip);
    assert_string_equal(a->to_zip, b->to_zip);
    assert_string_equal(a->software_id, b->software_id);
    assert_string_equal(a->medium_serial, b->medium_serial);
    assert_memory_equal(a->signature, b->signature, PV_SIG_LEN);
}

/* ---- the vectors ------------------------------------------------------------- */

static void test_vectors_shape(void **state)
{
    (void) state;
    /* The three kinds docs/indicium.md promises. */
    assert_int_equal(find_vector("first-class-letter")->ind.flags, 0);
    assert_int_equal(strlen(find_vector("zip4-medium-postcard")->ind.to_zip), 9);
    assert_true(strlen(find_vector("zip4-medium-postcard")->ind.medium_serial) > 0);
    assert_int_equal(find_vector("test-piece-large-envelope")->ind.flags, PV_IND_FLAG_TEST);
}

static void test_vectors_encode(void **state)
{
    uint8_t buf[PV_INDICIUM_MAX];
    size_t len;
    int i;

    (void) state;
    for (i = 0; i < nvectors; i++) {
        const struct vector *v = &vectors[i];

        assert_int_equal(pv_indicium_encode_body(&v->ind, buf, sizeof buf, &len), PV_OK);
        assert_int_equal(len, v->body_len);
        assert_memory_equal(buf, v->body, len);
        assert_int_equal(pv_indicium_encode(&v->ind, buf, sizeof buf, &len), PV_OK);
        assert_int_equal(len, v->full_len);
        assert_memory_equal(buf, v->full, len);
        /* The signature is the last 64 bytes of the vector. */
        assert_int_equal(v->full_len, v->body_len + PV_SIG_LEN);
        assert_memory_equal(v->full, v->body, v->body_len);
    }
}

static void test_vectors_decode(void **state)
{
    struct pv_indicium got;
    size_t body_len;
    int i;

    (void) state;
    for (i = 0; i < nvectors; i++) {
        const struct vector *v = &vectors[i];

        assert_int_equal(pv_indicium_decode(v->full, v->full_len, &got, &body_len), PV_OK);
        assert_int_equal(body_len, v->body_len);
        assert_ind_equal(&got, &v->ind);
        assert_int_equal(pv_indicium_decode(v->full, v->full_len, NULL, NULL), PV_OK);
    }
}

static void test_vectors_verify(void **state)
{
    struct pv_indicium got;
    int i;

    (void) state;
    for (i = 0; i < nvectors; i++) {
        const struct vector *v = &vectors[i];

        assert_int_equal(pv_indicium_verify(v->full, v->full_len, test_pub, &got), PV_OK);
        assert_ind_equal(&got, &v->ind);
        assert_int_equal(pv_crypto_verify(test_pub, v->body, v->body_len, v->ind.signature), PV_OK);
        assert_int_equal(pv_indicium_verify(v->full, v->full_len, test_pub, NULL), PV_OK);
    }
}

/* ---- dates -------------------------------------------------------------------- */

static void test_date_valid(void **state)
{
    static const uint32_t good[] = {20000101, 20000229, 20240229, 20280229, 20991231,
                                    20250131, 20250430, 20251231, 20250228};
    static const uint32_t bad[] = {0,        19991231,  21000101,   20230229, 20250229,
                                   20210229, 20250001,  20251301,   20250100, 20250132,
                                   20250431, 20250631,  20250931,   20251131, 20250230,
                                   2025071,  202507140, UINT32_MAX, 20259999};
    size_t i;

    (void) state;
    for (i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(pv_date_valid(good[i]));
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(pv_date_valid(bad[i]));
}

/* ---- decoder errors ------------------------------------------------------------ */

/* Decode a copy of the vector with byte off set to val. */
static int decode_with(const struct vector *v, size_t off, uint8_t val)
{
    uint8_t buf[PV_INDICIUM_MAX];
    struct pv_indicium got;

    assert_true(off < v->full_len);
    memcpy(buf, v->full, v->full_len);
    buf[off] = val;
    return pv_indicium_decode(buf, v->full_len, &got, NULL);
}

/* Decode a copy with the 4-byte big-endian field at off set to val. */
static int decode_with_u32(const struct vector *v, size_t off, uint32_t val)
{
    uint8_t buf[PV_INDICIUM_MAX];

    memcpy(buf, v->full, v->full_len);
    buf[off] = (uint8_t) (val >> 24);
    buf[off + 1] = (uint8_t) (val >> 16);
    buf[off + 2] = (uint8_t) (val >> 8);
    buf[off + 3] = (uint8_t) val;
    return pv_indicium_decode(buf, v->full_len, NULL, NULL);
}

static void test_decode_truncated(void **state)
{
    struct pv_indicium got;
    size_t body_len = 99, cut;
    int i;

    (void) state;
    assert_int_equal(pv_indicium_decode(NULL, 0, &got, &body_len), PV_ETRUNCATED);
    assert_int_equal(body_len, 0);
    assert_int_equal(pv_indicium_decode(vectors[0].full, 0, &got, NULL), PV_ETRUNCATED);
    /* Every proper prefix of every vector is truncated: after the version,
     * after the algorithm, in the fixed part, at the medium serial length,
     * inside the medium serial, inside the signature. */
    for (i = 0; i < nvectors; i++)
        for (cut = 1; cut < vectors[i].full_len; cut++)
            assert_int_equal(pv_indicium_decode(vectors[i].full, cut, &got, &body_len),
                             PV_ETRUNCATED);
    /* Out-parameters are cleared on error. */
    assert_int_equal(body_len, 0);
    assert_int_equal(got.version, 0);
    assert_string_equal(got.license, "");
}

static void test_decode_trailing(void **state)
{
    uint8_t buf[PV_INDICIUM_MAX + 2];
    int i;

    (void) state;
    for (i = 0; i < nvectors; i++) {
        const struct vector *v = &vectors[i];

        memcpy(buf, v->full, v->full_len);
        buf[v->full_len] = 0;
        buf[v->full_len + 1] = 0;
        assert_int_equal(pv_indicium_decode(buf, v->full_len + 1, NULL, NULL), PV_ETRAILING);
        assert_int_equal(pv_indicium_decode(buf, v->full_len + 2, NULL, NULL), PV_ETRAILING);
    }
}

static void test_decode_version_and_algorithm(void **state)
{
    const struct vector *v = find_vector("first-class-letter");
    static const uint8_t v3[] = {3}, v0[] = {0}, alg2[] = {1, 2}, alg0[] = {1, 0};

    (void) state;
    /* The version is judged before the length, the algorithm next. Version
     * 2 exists now (test_indicium_v2.c); 3 is the first unknown one. */
    assert_int_equal(pv_indicium_decode(v3, 1, NULL, NULL), PV_EVERSION);
    assert_int_equal(pv_indicium_decode(v0, 1, NULL, NULL), PV_EVERSION);
    assert_int_equal(decode_with(v, 0, 3), PV_EVERSION);
    assert_int_equal(decode_with(v, 0, 0xff), PV_EVERSION);
    assert_int_equal(pv_indicium_decode(alg2, 2, NULL, NULL), PV_EALGORITHM);
    assert_int_equal(pv_indicium_decode(alg0, 2, NULL, NULL), PV_EALGORITHM);
    assert_int_equal(decode_with(v, 1, 2), PV_EALGORITHM);
    assert_int_equal(decode_with(v, 1, 0), PV_EALGORITHM);
}

static void test_decode_medium_length(void **state)
{
    const struct vector *v = find_vector("first-class-letter");
    uint8_t buf[PV_INDICIUM_MAX + 8];

    (void) state;
    memset(buf, 'A', sizeof buf);
    memcpy(buf, v->body, PV_INDICIUM_FIXED);
    buf[72] = 33;
    /* m > 32 is malformed whatever follows: judged before the length. */
    assert_int_equal(pv_indicium_decode(buf, PV_INDICIUM_MIN + 33, NULL, NULL), PV_EMALFORMED);
    assert_int_equal(pv_indicium_decode(buf, PV_INDICIUM_FIXED, NULL, NULL), PV_EMALFORMED);
    buf[72] = 0xff;
    assert_int_equal(pv_indicium_decode(buf, PV_INDICIUM_FIXED, NULL, NULL), PV_EMALFORMED);
    /* m = 32 is the longest allowed. */
    buf[72] = 32;
    assert_int_equal(pv_indicium_decode(buf, PV_INDICIUM_MIN + 32, NULL, NULL), PV_OK);
    assert_int_equal(pv_indicium_decode(buf, PV_INDICIUM_MIN + 31, NULL, NULL), PV_ETRUNCATED);
    assert_int_equal(pv_indicium_decode(buf, PV_INDICIUM_MIN + 33, NULL, NULL), PV_ETRAILING);
    /* A length that disagrees with the data: one byte short, one too many. */
    assert_int_equal(decode_with(v, 72, 1), PV_ETRUNCATED);
    assert_int_equal(decode_with(find_vector("zip4-medium-postcard"), 72, 22), PV_ETRAILING);
}

static void test_decode_malformed_fields(void **state)
{
    const struct vector *v1 = find_vector("first-class-letter");
    const struct vector *v2 = find_vector("zip4-medium-postcard");
    const struct vector *v3 = find_vector("test-piece-large-envelope");

    (void) state;
    /* Flags: only bit 0 is defined. */
    assert_int_equal(decode_with(v1, 2, 0x01), PV_OK);
    assert_int_equal(decode_with(v1, 2, 0x02), PV_EMALFORMED);
    assert_int_equal(decode_with(v1, 2, 0x80), PV_EMALFORMED);
    assert_int_equal(decode_with(v3, 2, 0x03), PV_EMALFORMED);

    /* License (offset 3, 16 bytes, "PV-TEST-0001" + 4 NULs). */
    assert_int_equal(decode_with(v1, 3, 'p'), PV_EMALFORMED);
    assert_int_equal(decode_with(v1, 5, ' '), PV_EMALFORMED);
    assert_int_equal(decode_with(v1, 3, 0), PV_EMALFORMED);    /* empty, then junk */
    assert_int_equal(decode_with(v1, 16, 'A'), PV_EMALFORMED); /* non-NUL after NUL */
    assert_int_equal(decode_with(v1, 15, 'A'), PV_OK);         /* 13 characters */
    {
        uint8_t buf[PV_INDICIUM_MAX];
        memcpy(buf, v1->full, v1->full_len);
        memset(buf + 3, 0, 16);
        assert_int_equal(pv_indicium_decode(buf, v1->full_len, NULL, NULL), PV_EMALFORMED);
        memset(buf + 3, '9', 16); /* all 16 used, no NUL at all */
        assert_int_equal(pv_indicium_decode(buf, v1->full_len, NULL, NULL), PV_OK);
    }

    /* Ascending register: u64 on the wire, but at most INT64_MAX. */
    assert_int_equal(decode_with(v1, 31, 0x80), PV_EMALFORMED);
    assert_int_equal(decode_with(v3, 31, 0x80), PV_EMALFORMED);

    /* Mail date (offset 43). */
    assert_int_equal(decode_with_u32(v1, 43, 20230229), PV_EMALFORMED);
    assert_int_equal(decode_with_u32(v1, 43, 20251301), PV_EMALFORMED);
    assert_int_equal(decode_with_u32(v1, 43, 20250431), PV_EMALFORMED);
    assert_int_equal(decode_with_u32(v1, 43, 19991231), PV_EMALFORMED);
    assert_int_equal(decode_with_u32(v1, 43, 0), PV_EMALFORMED);
    assert_int_equal(decode_with_u32(v1, 43, 20240229), PV_OK);

    /* Mail class (offset 47). */
    assert_int_equal(decode_with(v1, 47, 0), PV_EMALFORMED);
    assert_int_equal(decode_with(v1, 47, 6), PV_EMALFORMED);
    assert_int_equal(decode_with(v1, 47, 0xff), PV_EMALFORMED);
    assert_int_equal(decode_with(v1, 47, 3), PV_OK);

    /* Origin ZIP (offset 50, 5 digits). */
    assert_int_equal(decode_with(v1, 50, 'A'), PV_EMALFORMED);
    assert_int_equal(decode_with(v1, 54, 0), PV_EMALFORMED);
    assert_int_equal(decode_with(v1, 52, '/'), PV_EMALFORMED);
    /* Destination ZIP (offset 55): 5 digits, then 4 digits or 4 NULs. */
    assert_int_equal(decode_with(v1, 55, ':'), PV_EMALFORMED);
    assert_int_equal(decode_with(v1, 59, 0), PV_EMALFORMED);
    assert_int_equal(decode_with(v1, 60, '1'), PV_EMALFORMED); /* 1 digit then NULs */
    assert_int_equal(decode_with(v1, 63, '1'), PV_EMALFORMED);
    assert_int_equal(decode_with(v2, 63, 0), PV_EMALFORMED); /* 3 digits then NUL */
    assert_int_equal(decode_with(v2, 60, 'x'), PV_EMALFORMED);

    /* Software id (offset 64, printable ASCII, NUL-padded). */
    assert_int_equal(decode_with(v1, 64, 0x01), PV_EMALFORMED);
    assert_int_equal(decode_with(v1, 64, 0x7f), PV_EMALFORMED);
    assert_int_equal(decode_with(v1, 64, 0x80), PV_EMALFORMED);
    assert_int_equal(decode_with(v1, 64, 0), PV_EMALFORMED); /* empty, then junk */
    assert_int_equal(decode_with(v1, 68, 0), PV_EMALFORMED); /* NUL inside */
    assert_int_equal(decode_with(v1, 71, 0), PV_OK);         /* "STAMPD0" */
    assert_int_equal(decode_with(v3, 71, 'X'), PV_OK);       /* 8 characters */
    assert_int_equal(decode_with(v1, 64, ' '), PV_OK);

    /* Medium serial (offset 73, [A-Z0-9-]). */
    assert_int_equal(decode_with(v2, 73, 'b'), PV_EMALFORMED);
    assert_int_equal(decode_with(v2, 80, 0), PV_EMALFORMED);
    assert_int_equal(decode_with(v2, 95, ' '), PV_EMALFORMED);
    assert_int_equal(decode_with(v2, 95, '-'), PV_OK);

    /* Neither weight nor the identifiers have a forbidden value. */
    assert_int_equal(decode_with(v1, 48, 0xff), PV_OK);
    assert_int_equal(decode_with_u32(v1, 19, 0), PV_OK);
}

/* Whatever the decoder accepts, the encoder writes back byte for byte: the
 * format has exactly one encoding of each indicium. Random damage to the
 * vectors (fixed seed) must never crash and never break that. */
static void test_decode_canonical_under_damage(void **state)
{
    uint64_t x = 0x9e3779b97f4a7c15u;
    uint8_t buf[PV_INDICIUM_MAX], again[PV_INDICIUM_MAX];
    struct pv_indicium got;
    int round, accepted = 0;

    (void) state;
    for (round = 0; round < 20000; round++) {
        const struct vector *v = &vectors[round % nvectors];
        size_t len = v->full_len, again_len = 0;
        int flips, rc;

        memcpy(buf, v->full, len);
        for (flips = 0; flips < 1 + round % 3; flips++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            /* Bias towards bytes that stay printable, so that many damaged
             * copies still decode and get re-encoded. */
            buf[(x >> 8) % len] = (x & 1) ? (uint8_t) ('0' + (x >> 20) % 43) : (uint8_t) (x >> 32);
        }
        rc = pv_indicium_decode(buf, len, &got, NULL);
        if (rc != PV_OK) {
            assert_true(rc == PV_EMALFORMED || rc == PV_EVERSION || rc == PV_EALGORITHM ||
                        rc == PV_ETRUNCATED || rc == PV_ETRAILING);
            continue;
        }
        accepted++;
        assert_int_equal(pv_indicium_encode(&got, again, sizeof again, &again_len), PV_OK);
        assert_int_equal(again_len, len);
        assert_memory_equal(again, buf, len);
    }
    assert_true(accepted > 1000);
}

/* ---- encoder errors --------------------------------------------------------------- */

static int encode_mut(void (*mutate)(struct pv_indicium *))
{
    struct pv_indicium ind = find_vector("zip4-medium-postcard")->ind;
    uint8_t buf[PV_INDICIUM_MAX];
    size_t len = 99;
    int rc;

    mutate(&ind);
    rc = pv_indicium_encode(&ind, buf, sizeof buf, &len);
    if (rc != PV_OK)
        assert_int_equal(len, 0);
    return rc;
}

static void m_version(struct pv_indicium *p)
{
    p->version = 3;
}
static void m_alg(struct pv_indicium *p)
{
    p->sig_alg = 0;
}
static void m_flags(struct pv_indicium *p)
{
    p->flags = 0x02;
}
static void m_lic_empty(struct pv_indicium *p)
{
    p->license[0] = '\0';
}
static void m_lic_lower(struct pv_indicium *p)
{
    p->license[0] = 'p';
}
static void m_lic_space(struct pv_indicium *p)
{
    p->license[2] = ' ';
}
static void m_lic_long(struct pv_indicium *p)
{
    memset(p->license, 'A', sizeof p->license);
}
static void m_asc_neg(struct pv_indicium *p)
{
    p->ascending_mills = -1;
}
static void m_post_neg(struct pv_indicium *p)
{
    p->postage_mills = -1;
}
static void m_post_big(struct pv_indicium *p)
{
    p->postage_mills = (int64_t) UINT32_MAX + 1;
}
static void m_date(struct pv_indicium *p)
{
    p->mail_date = 20250230;
}
static void m_date_y(struct pv_indicium *p)
{
    p->mail_date = 21000101;
}
static void m_class0(struct pv_indicium *p)
{
    p->mail_class = 0;
}
static void m_class4(struct pv_indicium *p)
{
    p->mail_class = 6; /* classes 1-5 (rates.h) */
}
static void m_from_short(struct pv_indicium *p)
{
    p->from_zip[4] = '\0';
}
static void m_from_alpha(struct pv_indicium *p)
{
    p->from_zip[1] = 'O';
}
static void m_from_long(struct pv_indicium *p)
{
    memset(p->from_zip, '1', sizeof p->from_zip);
}
static void m_to_6(struct pv_indicium *p)
{
    p->to_zip[6] = '\0';
}
static void m_to_8(struct pv_indicium *p)
{
    p->to_zip[8] = '\0';
}
static void m_to_4(struct pv_indicium *p)
{
    p->to_zip[4] = '\0';
}
static void m_to_alpha(struct pv_indicium *p)
{
    p->to_zip[7] = '-';
}
static void m_to_long(struct pv_indicium *p)
{
    memset(p->to_zip, '1', sizeof p->to_zip);
}
static void m_sw_empty(struct pv_indicium *p)
{
    p->software_id[0] = '\0';
}
static void m_sw_ctrl(struct pv_indicium *p)
{
    p->software_id[3] = '\t';
}
static void m_sw_long(struct pv_indicium *p)
{
    memset(p->software_id, 'S', sizeof p->software_id);
}
static void m_med_lower(struct pv_indicium *p)
{
    p->medium_serial[0] = 'b';
}
static void m_med_long(struct pv_indicium *p)
{
    memset(p->medium_serial, 'M', sizeof p->medium_serial);
}

static void test_encode_malformed(void **state)
{
    static void (*const bad[])(struct pv_indicium *) = {
        m_version,    m_alg,        m_flags,     m_lic_empty, m_lic_lower, m_lic_space, m_lic_long,
        m_asc_neg,    m_post_neg,   m_post_big,  m_date,      m_date_y,    m_class0,    m_class4,
        m_from_short, m_from_alpha, m_from_long, m_to_6,      m_to_8,      m_to_4,      m_to_alpha,
        m_to_long,    m_sw_empty,   m_sw_ctrl,   m_sw_long,   m_med_lower, m_med_long};
    size_t i;

    (void) state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (encode_mut(bad[i]) != PV_EMALFORMED)
            fail_msg("mutation %zu was accepted", i);
    }
}

static void test_encode_limits_and_buffers(void **state)
{
    struct pv_indicium ind = find_vector("first-class-letter")->ind, got;
    uint8_t buf[PV_INDICIUM_MAX];
    size_t len = 99;

    (void) state;
    /* The largest values of every field round-trip. */
    memset(ind.license, 0, sizeof ind.license);
    memset(ind.license, 'Z', PV_LICENSE_LEN);
    memset(ind.medium_serial, 0, sizeof ind.medium_serial);
    memset(ind.medium_serial, '9', PV_MEDIUM_MAX);
    memset(ind.software_id, 0, sizeof ind.software_id);
    memset(ind.software_id, '~', PV_SOFTWARE_ID_LEN);
    ind.ascending_mills = INT64_MAX;
    ind.postage_mills = UINT32_MAX;
    ind.device_id = ind.key_id = ind.serial = UINT32_MAX;
    ind.weight_tenth_oz = UINT16_MAX;
    ind.mail_date = 20991231;
    memcpy(ind.to_zip, "999999999", 10);
    assert_int_equal(pv_indicium_encode(&ind, buf, sizeof buf, &len), PV_OK);
    assert_int_equal(len, PV_INDICIUM_MAX);
    assert_int_equal(pv_indicium_decode(buf, len, &got, NULL), PV_OK);
    assert_ind_equal(&got, &ind);

    /* Buffers: the body needs 73 + m, the whole indicium 64 more. */
    assert_int_equal(pv_indicium_encode_body(&ind, buf, PV_INDICIUM_FIXED + 31, &len), PV_EINVAL);
    assert_int_equal(len, 0);
    assert_int_equal(pv_indicium_encode_body(&ind, buf, PV_INDICIUM_FIXED + 32, &len), PV_OK);
    assert_int_equal(pv_indicium_encode(&ind, buf, PV_INDICIUM_MAX - 1, &len), PV_EINVAL);
    assert_int_equal(len, 0);
    assert_int_equal(pv_indicium_encode(NULL, buf, sizeof buf, &len), PV_EINVAL);
    assert_int_equal(pv_indicium_encode(&ind, NULL, sizeof buf, &len), PV_EINVAL);
    assert_int_equal(pv_indicium_encode_body(&ind, buf, sizeof buf, NULL), PV_EINVAL);
}

/* ---- signatures -------------------------------------------------------------------- */

static void test_verify_tampered(void **state)
{
    uint8_t buf[PV_INDICIUM_MAX];
    struct pv_indicium got;
    int i;

    (void) state;
    for (i = 0; i < nvectors; i++) {
        const struct vector *v = &vectors[i];
        size_t last = v->full_len - 1;

        /* A flipped signature bit, first and last byte. */
        memcpy(buf, v->full, v->full_len);
        buf[v->body_len] ^= 0x01;
        assert_int_equal(pv_indicium_verify(buf, v->full_len, test_pub, &got), PV_ESIGNATURE);
        /* The fields still come back when only the signature is bad. */
        assert_string_equal(got.license, v->ind.license);
        memcpy(buf, v->full, v->full_len);
        buf[last] ^= 0x80;
        assert_int_equal(pv_indicium_verify(buf, v->full_len, test_pub, NULL), PV_ESIGNATURE);

        /* A flipped body bit that still decodes: the serial's low bit, and
         * the test-piece flag. */
        memcpy(buf, v->full, v->full_len);
        buf[30] ^= 0x01;
        assert_int_equal(pv_indicium_verify(buf, v->full_len, test_pub, &got), PV_ESIGNATURE);
        assert_int_equal(got.serial, v->ind.serial ^ 1u);
        memcpy(buf, v->full, v->full_len);
        buf[2] ^= PV_IND_FLAG_TEST;
        assert_int_equal(pv_indicium_verify(buf, v->full_len, test_pub, NULL), PV_ESIGNATURE);

        /* Another P-256 key: does not verify. Not a P-256 key: crypto error. */
        assert_int_equal(pv_indicium_verify(v->full, v->full_len, other_p256_pub, NULL),
                         PV_ESIGNATURE);
        assert_int_equal(pv_indicium_verify(v->full, v->full_len, p384_pub, &got), PV_ECRYPTO);
        assert_int_equal(got.serial, v->ind.serial);
        assert_int_equal(pv_indicium_verify(v->full, v->full_len, "garbage", NULL), PV_ECRYPTO);
    }
    /* Decode errors win over signature checks. */
    assert_int_equal(pv_indicium_verify(vectors[0].full, 10, test_pub, &got), PV_ETRUNCATED);
    assert_int_equal(got.version, 0);
}

static void test_round_trip_fresh_key(void **state)
{
    const char *base = getenv("STAMPD_TEST_TMP");
    char dir[1024], spec[1100];
    struct pv_crypto *cm = NULL;
    struct pv_indicium ind = find_vector("zip4-medium-postcard")->ind, got;
    uint8_t body[PV_INDICIUM_MAX], full[PV_INDICIUM_MAX];
    size_t body_len, full_len;
    char *ref = NULL, *pub = NULL;
    struct stat st;

    (void) state;
    if (!base || !*base)
        base = "/tmp";
    if (mkdir(base, 0700) != 0 && errno != EEXIST)
        fail_msg("cannot create %s", base);
    assert_true(snprintf(dir, sizeof dir, "%s/test_indicium-XXXXXX", base) < (int) sizeof dir);
    assert_non_null(mkdtemp(dir));
    snprintf(spec, sizeof spec, "openssl:%s", dir);
    assert_int_equal(pv_crypto_open(spec, &cm), PV_OK);
    assert_int_equal(pv_crypto_generate_key(cm, "psd-test", &ref, &pub), PV_OK);
    assert_int_equal(stat(ref, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    ind.serial = 77;
    ind.flags = PV_IND_FLAG_TEST;
    assert_int_equal(pv_indicium_encode_body(&ind, body, sizeof body, &body_len), PV_OK);
    assert_int_equal(pv_crypto_sign(cm, ref, body, body_len, ind.signature), PV_OK);
    assert_int_equal(pv_indicium_encode(&ind, full, sizeof full, &full_len), PV_OK);
    assert_int_equal(full_len, body_len + PV_SIG_LEN);
    assert_memory_equal(full, body, body_len);

    assert_int_equal(pv_indicium_verify(full, full_len, pub, &got), PV_OK);
    assert_ind_equal(&got, &ind);
    /* Not under the published test key, of course. */
    assert_int_equal(pv_indicium_verify(full, full_len, test_pub, NULL), PV_ESIGNATURE);

    pv_crypto_close(cm);
    unlink(ref);
    assert_int_equal(rmdir(dir), 0);
    free(ref);
    free(pub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_shape),
        cmocka_unit_test(test_vectors_encode),
        cmocka_unit_test(test_vectors_decode),
        cmocka_unit_test(test_vectors_verify),
        cmocka_unit_test(test_date_valid),
        cmocka_unit_test(test_decode_truncated),
        cmocka_unit_test(test_decode_trailing),
        cmocka_unit_test(test_decode_version_and_algorithm),
        cmocka_unit_test(test_decode_medium_length),
        cmocka_unit_test(test_decode_malformed_fields),
        cmocka_unit_test(test_decode_canonical_under_damage),
        cmocka_unit_test(test_encode_malformed),
        cmocka_unit_test(test_encode_limits_and_buffers),
        cmocka_unit_test(test_verify_tampered),
        cmocka_unit_test(test_round_trip_fresh_key),
    };

    return cmocka_run_group_tests(tests, setup_suite, teardown_suite);
}
