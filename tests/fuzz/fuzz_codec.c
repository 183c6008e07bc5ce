/*
 * fuzz_codec.c - the text codecs of stampd/codec.h: base64 (indicia and
 * keys in request bodies), hex (signatures, hashes, the front-processor
 * MAC) and pv_parse_u64 (query arguments such as ?limit=).
 *
 * The input is one text; every codec reads it. Properties: base64 accepts
 * only the canonical spelling (decode then encode gives the input back),
 * hex decodes what it accepts to bytes that encode to the input in lower
 * case, and pv_parse_u64 agrees with a plain reference parser.
 */
#include "fuzz.h"

#include "stampd/codec.h"
#include "stampd/error.h"

#include <ctype.h>

/* The reference: digits only, 1..20 of them, no overflow. */
static int ref_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t n = strlen(s), i;

    if (n == 0 || n > 20)
        return PV_EINVAL;
    for (i = 0; i < n; i++) {
        unsigned d = (unsigned) (s[i] - '0');
        if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - d) / 10)
            return PV_EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return PV_OK;
}

static void check_base64(const char *text, size_t len)
{
    uint8_t *bytes = NULL;
    size_t n = 0;
    char *again;
    int rc = pv_base64_decode(text, len, &bytes, &n);

    FUZZ_CHECK(rc == PV_OK || rc == PV_EBASE64);
    if (rc != PV_OK)
        return;
    FUZZ_CHECK(n <= len / 4 * 3);
    FUZZ_CHECK((again = pv_base64_encode(bytes, n)) != NULL);
    FUZZ_CHECK(strlen(again) == len && memcmp(again, text, len) == 0);
    free(again);
    free(bytes);
}

static void check_hex(const char *text)
{
    size_t len = strlen(text) / 2, i;
    uint8_t *bytes = malloc(len + 1);
    char *again = malloc(2 * len + 1);

    FUZZ_CHECK(bytes && again);
    if (pv_hex_decode(text, bytes, len) == PV_OK) {
        pv_hex_encode(bytes, len, again);
        FUZZ_CHECK(strlen(again) == strlen(text));
        for (i = 0; i < 2 * len; i++)
            FUZZ_CHECK(again[i] == tolower((unsigned char) text[i]));
    }
    free(bytes);
    free(again);
}

static void check_u64(const char *text)
{
    uint64_t got = 0, want = 0, lo, hi;
    int rc = pv_parse_u64(text, 0, UINT64_MAX, &got), ref = ref_u64(text, &want);

    FUZZ_CHECK(rc == ref);
    if (rc != PV_OK)
        return;
    FUZZ_CHECK(got == want);
    /* The range is checked at both ends. */
    lo = want == UINT64_MAX ? want : want + 1;
    hi = want == 0 ? 0 : want - 1;
    FUZZ_CHECK((pv_parse_u64(text, lo, UINT64_MAX, &got) == PV_OK) == (lo <= want));
    FUZZ_CHECK((pv_parse_u64(text, 0, hi, &got) == PV_OK) == (hi >= want));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);

    /* base64 takes a length: it must not read past it (the replay and
     * libFuzzer give a buffer of exactly size bytes). */
    check_base64((const char *) data, size);
    check_hex(text);
    check_u64(text);
    free(text);
    return 0;
}
