/*
 * fuzz_indicium.c - the indicium decoder (stampd/indicium.h), the parser of
 * the bytes a verifier scans off a stamp. The input is the raw indicium.
 *
 * Properties checked besides "no crash, no sanitizer report": whatever
 * decodes re-encodes to exactly the same bytes (the format has one spelling),
 * the signed part is everything but the 64 signature bytes, and
 * pv_indicium_verify under the test key answers the decoder's error for what
 * does not decode and OK or PV_ESIGNATURE for what does.
 */
#include "fuzz.h"

#include "stampd/error.h"
#include "stampd/indicium.h"

/* tests/vectors/indicium-test-key.pub.pem: the seeds verify under it. */
static const char test_pub[] = "-----BEGIN PUBLIC KEY-----\n"
                               "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZ+UriTwhLcvUGP/UT8ASeZy4VafL\n"
                               "hECjSG9SRiaMQyZeQh/nOoAUppcGTyIddKuRFc3ZVESdIPscxyK+tvWzTA==\n"
                               "-----END PUBLIC KEY-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pv_indicium ind, again;
    uint8_t buf[PV_INDICIUM_MAX];
    size_t body_len = 1, len = 0;
    int rc = pv_indicium_decode(data, size, &ind, &body_len), vrc;

    vrc = pv_indicium_verify(data, size, test_pub, &again);
    if (rc != PV_OK) {
        FUZZ_CHECK(body_len == 0);
        FUZZ_CHECK(vrc == rc);
        return 0;
    }
    FUZZ_CHECK(size >= PV_INDICIUM_SHORTEST && size <= PV_INDICIUM_MAX);
    FUZZ_CHECK(body_len == size - PV_SIG_LEN);
    FUZZ_CHECK(vrc == PV_OK || vrc == PV_ESIGNATURE);
    FUZZ_CHECK(memcmp(&ind, &again, sizeof ind) == 0);
    FUZZ_CHECK(pv_indicium_encode(&ind, buf, sizeof buf, &len) == PV_OK);
    FUZZ_CHECK(len == size && memcmp(buf, data, size) == 0);
    return 0;
}
