/*
 * card.c - local validation of payment cards (see include/stampd/card.h).
 *
 * Everything here is bounded: the number is read at most PV_CARD_MAX_INPUT
 * characters deep, CVC and ZIP a few more than their longest form. The
 * only copy of the number's digits lives on the stack and is wiped before
 * returning; nothing is logged. Brand ranges follow the networks' published
 * IIN tables as of 2024: Visa 4; Mastercard 51-55 and 2221-2720; American
 * Express 34 and 37; Discover 6011, 644-649, 65 and 622126-622925.
 */
#include "stampd/card.h"

#include "stampd/error.h"

#include <string.h>

/* A card expiring more than this many years ahead is a typo, not a card. */
#define MAX_YEARS_AHEAD 20

struct brand {
    const char *name;
    int min_len, max_len;
    int only_16_13_19; /* Visa: 13, 16 or 19 digits, not the lengths between */
    int cvc_len;
};

static const struct brand VISA = {"visa", 13, 19, 1, 3};
static const struct brand MASTERCARD = {"mastercard", 16, 16, 0, 3};
static const struct brand AMEX = {"amex", 15, 15, 0, 4};
static const struct brand DISCOVER = {"discover", 16, 19, 0, 3};

void pv_card_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (n--)
        *v++ = 0;
}

int pv_card_digits(const char *number, char *digits, size_t cap)
{
    size_t n = 0;

    if (!digits || cap < PV_CARD_MAX_DIGITS + 1)
        return PV_EINVAL;
    digits[0] = '\0';
    if (!number)
        return PV_EINVAL;
    for (size_t i = 0; number[i] != '\0'; i++) {
        char c = number[i];

        if (i >= PV_CARD_MAX_INPUT)
            goto bad;
        if (c == ' ' || c == '-')
            continue;
        if (c < '0' || c > '9' || n >= PV_CARD_MAX_DIGITS)
            goto bad;
        digits[n++] = c;
    }
    if (n < 12)
        goto bad;
    digits[n] = '\0';
    return PV_OK;
bad:
    pv_card_wipe(digits, cap);
    return PV_EINVAL;
}

/* The first k digits of d as a number; d has at least k digits. */
static int prefix(const char *d, int k)
{
    int v = 0;

    for (int i = 0; i < k; i++)
        v = v * 10 + (d[i] - '0');
    return v;
}

static const struct brand *brand_of(const char *d)
{
    int p2 = prefix(d, 2), p3 = prefix(d, 3), p4 = prefix(d, 4), p6 = prefix(d, 6);

    if (d[0] == '4')
        return &VISA;
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))
        return &MASTERCARD;
    if (p2 == 34 || p2 == 37)
        return &AMEX;
    if (p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65 || (p6 >= 622126 && p6 <= 622925))
        return &DISCOVER;
    return NULL;
}

static int luhn_ok(const char *d, size_t n)
{
    int sum = 0;

    for (size_t i = 0; i < n; i++) {
        int v = d[n - 1 - i] - '0';

        if (i % 2 == 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return sum % 10 == 0;
}

/* s is exactly n decimal digits (s may be NULL). */
static int all_digits(const char *s, size_t n)
{
    if (!s)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return s[n] == '\0';
}

static int zip_ok(const char *z)
{
    if (!z)
        return 0;
    if (all_digits(z, 5) || all_digits(z, 9))
        return 1;
    /* ZIP+4: five digits, a hyphen, four digits. Stops at the NUL. */
    for (int i = 0; i < 5; i++)
        if (z[i] < '0' || z[i] > '9')
            return 0;
    return z[5] == '-' && all_digits(z + 6, 4);
}

int pv_card_validate(const struct pv_card_input *in, int today_yyyymm, struct pv_card_info *out,
                     const char **field)
{
    char d[PV_CARD_MAX_DIGITS + 1];
    const struct brand *b = NULL;
    const char *bad = NULL;
    int rc = PV_EINVAL;
    int ty = today_yyyymm / 100, tm = today_yyyymm % 100;
    int year;
    size_t n;

    if (out)
        memset(out, 0, sizeof *out);
    if (field)
        *field = NULL;
    if (!in || ty < 2000 || ty > 9999 || tm < 1 || tm > 12)
        return PV_EINVAL;

    bad = "number";
    if (pv_card_digits(in->number, d, sizeof d) != PV_OK)
        goto out;
    n = strlen(d);
    b = brand_of(d);
    if (!b || (int) n < b->min_len || (int) n > b->max_len)
        goto out;
    if (b->only_16_13_19 && n != 13 && n != 16 && n != 19)
        goto out;
    if (!luhn_ok(d, n))
        goto out;

    bad = "exp_month";
    if (in->exp_month < 1 || in->exp_month > 12)
        goto out;
    bad = "exp_year";
    year = in->exp_year;
    if (year >= 0 && year <= 99)
        year += 2000;
    if (year < ty || year > ty + MAX_YEARS_AHEAD)
        goto out;
    bad = "exp_month";
    if (year == ty && in->exp_month < tm)
        goto out;

    bad = "cvc";
    if (!all_digits(in->cvc, (size_t) b->cvc_len))
        goto out;

    bad = "zip";
    if (!zip_ok(in->zip))
        goto out;

    bad = NULL;
    rc = PV_OK;
    if (out) {
        memcpy(out->brand, b->name, strlen(b->name) + 1);
        memcpy(out->last4, d + n - 4, 4);
        out->last4[4] = '\0';
        out->exp_month = in->exp_month;
        out->exp_year = year;
    }
out:
    pv_card_wipe(d, sizeof d);
    if (field)
        *field = bad;
    return rc;
}
