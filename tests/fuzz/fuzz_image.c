/*
 * fuzz_image.c - the label-image decoder of `stamp verify --image`
 * (src/cli/image.c): whatever a scanner, a camera or a stranger hands over
 * as PNG, JPEG or PDF. The input is the file.
 *
 * Properties: no crash, no sanitizer report, no leak; a symbol comes back
 * only as FOUND, with at least one byte; every other answer leaves *out
 * NULL; and the same bytes give the same answer twice (nothing depends on
 * state left by an earlier input).
 */
#include "fuzz.h"

#include "cli/image.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *out = NULL, *again = NULL;
    size_t len = 0, len2 = 0;
    const char *why = NULL;
    enum cli_image_status st, st2;

    st = cli_image_find(data, size, NULL, NULL, &out, &len, &why);
    FUZZ_CHECK(why != NULL);
    if (st == CLI_IMAGE_FOUND)
        FUZZ_CHECK(out != NULL && len > 0);
    else
        FUZZ_CHECK(out == NULL && len == 0);
    if (st == CLI_IMAGE_FOUND || st == CLI_IMAGE_NONE) {
        st2 = cli_image_find(data, size, NULL, NULL, &again, &len2, NULL);
        FUZZ_CHECK(st2 == st && len2 == len);
        FUZZ_CHECK(len == 0 || memcmp(out, again, len) == 0);
    }
    free(out);
    free(again);
    return 0;
}
