/*
 * fuzz_money.c - money text (stampd/money.h): dollar amounts in request
 * bodies, the CLI and stampd's own options ("12.345", "$100").
 *
 * The input is the text. Properties: pv_money_parse answers only PV_OK,
 * PV_EINVAL or PV_EOVERFLOW; what it accepts lies in 0..PV_MILLS_MAX and
 * formats to a text that parses to the same mills; the checked addition and
 * subtraction of that amount with itself and its negation never leave the
 * range.
 */
#include "fuzz.h"

#include "stampd/error.h"
#include "stampd/money.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size), buf[32];
    pv_mills m = -1, back = -1, sum;
    int rc = pv_money_parse(text, &m);

    FUZZ_CHECK(rc == PV_OK || rc == PV_EINVAL || rc == PV_EOVERFLOW);
    if (rc == PV_OK) {
        FUZZ_CHECK(m >= 0 && m <= PV_MILLS_MAX);
        pv_money_format(m, buf, sizeof buf);
        FUZZ_CHECK(pv_money_parse(buf, &back) == PV_OK && back == m);
        pv_money_format(-m, buf, sizeof buf);
        FUZZ_CHECK(m == 0 || buf[0] == '-');
        FUZZ_CHECK(pv_money_parse(buf + (m != 0), &back) == PV_OK && back == m);
        if (pv_money_add(m, m, &sum) == PV_OK)
            FUZZ_CHECK(sum == 2 * m && sum <= PV_MILLS_MAX);
        else
            FUZZ_CHECK(2 * m > PV_MILLS_MAX);
        FUZZ_CHECK(pv_money_sub(0, m, &sum) == PV_OK && sum == -m);
        FUZZ_CHECK(pv_money_sub(-m, m, &sum) == PV_OK || 2 * m > PV_MILLS_MAX);
    } else {
        FUZZ_CHECK(m == -1); /* nothing half-written */
    }
    free(text);
    return 0;
}
