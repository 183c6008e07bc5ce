/*
 * fuzz_serial.c - media serials (stampd/serial.h): the text a customer types
 * or a scanner reads off a sheet of labels. The input is that text.
 *
 * Properties: pv_serial_parse, pv_serial_normalize and pv_serial_verify agree
 * (what parses normalises, what verifies parses to the same fields), the
 * normal spelling parses to the same fields again, and a serial that
 * verifies under the docs/serials.md test secrets (key ids 0 and 1:
 * secret A, 2: secret B) is exactly what
 * pv_serial_encode writes for its fields.
 */
#include "fuzz.h"

#include "stampd/error.h"
#include "stampd/serial.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t secret_a[32], secret_b[32];
    struct pv_serial_key keys[3] = {{0, secret_a, sizeof secret_a},
                                    {1, secret_a, sizeof secret_a},
                                    {2, secret_b, sizeof secret_b}};
    struct pv_serial f, g, v;
    char norm[PV_SERIAL_TEXT_SIZE], enc[PV_SERIAL_TEXT_SIZE], *text = fuzz_text(data, size);
    const uint8_t *secret;
    int prc, nrc, vrc;
    unsigned i;

    for (i = 0; i < 32; i++) { /* docs/serials.md: secret A is 00..1f, B is 20..3f */
        secret_a[i] = (uint8_t) i;
        secret_b[i] = (uint8_t) (0x20 + i);
    }
    prc = pv_serial_parse(text, &f);
    nrc = pv_serial_normalize(text, norm, sizeof norm);
    vrc = pv_serial_verify(text, keys, 3, &v);
    if (nrc != PV_OK)
        FUZZ_CHECK(norm[0] == '\0' && prc != PV_OK);
    if (prc != PV_OK) {
        FUZZ_CHECK(vrc == prc);
        goto out;
    }
    FUZZ_CHECK(nrc == PV_OK && strlen(norm) == PV_SERIAL_TEXT_LEN);
    FUZZ_CHECK(pv_serial_parse(norm, &g) == PV_OK && memcmp(&f, &g, sizeof f) == 0);
    FUZZ_CHECK(vrc == PV_OK || vrc == PV_EUNKNOWNKEY || vrc == PV_ESIGNATURE);
    if (vrc != PV_OK)
        goto out;
    FUZZ_CHECK(memcmp(&f, &v, sizeof f) == 0);
    secret = f.key_id == 2 ? secret_b : secret_a;
    FUZZ_CHECK(pv_serial_encode(&f, secret, 32, enc, sizeof enc) == PV_OK);
    FUZZ_CHECK(strcmp(enc, norm) == 0);
out:
    free(text);
    return 0;
}
