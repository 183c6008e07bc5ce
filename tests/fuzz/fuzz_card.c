/*
 * fuzz_card.c - card data (stampd/card.h) as a customer types it, and the
 * sandbox gateway's tokenize that takes it (src/payment/gateway.h).
 *
 * Input: up to six lines, "number\nexp_month\nexp_year\ncvc\nzip\ntoday":
 * the text fields as given, the integers read with strtol (any text, so any
 * int); a missing line is a NULL field (months and years 0) and a missing
 * today is 202611. Properties: success fills every output and names no
 * field; an error zeroes the output and names a field unless the call
 * itself was bad; last4 is the last four of pv_card_digits; tokenize agrees
 * with validate.
 */
#include "fuzz.h"

#include "payment/gateway.h"
#include "stampd/card.h"
#include "stampd/error.h"

#include <limits.h>

/* The next line of *p (advanced past it), or NULL when none is left. */
static char *next_line(char **p)
{
    char *s = *p, *nl;

    if (!s)
        return NULL;
    if ((nl = strchr(s, '\n')) != NULL) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = NULL;
    }
    return s;
}

static int to_int(const char *s)
{
    long v;

    if (!s)
        return 0;
    v = strtol(s, NULL, 10);
    return v < INT_MIN ? INT_MIN : v > INT_MAX ? INT_MAX : (int) v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pv_gateway *gw;
    static const struct pv_card_info zero;
    char *text = fuzz_text(data, size), *p = text, digits[PV_CARD_MAX_DIGITS + 1], *token = NULL;
    struct pv_card_input in;
    struct pv_card_info info, tinfo;
    const char *field = "unset", *tfield = "unset", *today_s;
    int rc, trc, today;

    if (!gw && pv_gateway_open("sandbox", &gw) != PV_OK)
        abort();
    in.number = next_line(&p);
    in.exp_month = to_int(next_line(&p));
    in.exp_year = to_int(next_line(&p));
    in.cvc = next_line(&p);
    in.zip = next_line(&p);
    today_s = next_line(&p);
    today = today_s ? to_int(today_s) : 202611;

    rc = pv_card_validate(&in, today, &info, &field);
    if (rc == PV_OK) {
        size_t n;
        FUZZ_CHECK(field == NULL);
        FUZZ_CHECK(pv_card_digits(in.number, digits, sizeof digits) == PV_OK);
        n = strlen(digits);
        FUZZ_CHECK(n >= 12 && n <= PV_CARD_MAX_DIGITS);
        FUZZ_CHECK(strcmp(info.last4, digits + n - 4) == 0);
        FUZZ_CHECK(info.exp_month >= 1 && info.exp_month <= 12 && info.exp_year >= 1000);
        FUZZ_CHECK(info.brand[0] != '\0');
        pv_card_wipe(digits, sizeof digits);
    } else {
        FUZZ_CHECK(rc == PV_EINVAL);
        FUZZ_CHECK(memcmp(&info, &zero, sizeof info) == 0);
        if (in.number && pv_card_digits(in.number, digits, sizeof digits) != PV_OK)
            FUZZ_CHECK(digits[0] == '\0');
    }
    trc = pv_gateway_tokenize(gw, &in, today, &token, &tinfo, &tfield);
    FUZZ_CHECK(trc == rc);
    if (trc == PV_OK) {
        FUZZ_CHECK(token != NULL && strncmp(token, "tok_", 4) == 0);
        FUZZ_CHECK(memcmp(&tinfo, &info, sizeof info) == 0);
    } else {
        FUZZ_CHECK(token == NULL);
        FUZZ_CHECK(tfield == field || (tfield && field && strcmp(tfield, field) == 0));
    }
    free(token);
    free(text);
    return 0;
}
