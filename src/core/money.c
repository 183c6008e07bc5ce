/*
 * money.c - checked arithmetic, parsing and formatting for int64 mills.
 */
#include "stampd/money.h"

#include "stampd/error.h"

#include <stdio.h>

static int in_range(pv_mills v)
{
    return v >= -PV_MILLS_MAX && v <= PV_MILLS_MAX;
}

int pv_money_add(pv_mills a, pv_mills b, pv_mills *out)
{
    pv_mills r;

    if (!in_range(a) || !in_range(b))
        return PV_EOVERFLOW;
    /* Both operands are within +-1e15, so the sum cannot overflow int64. */
    r = a + b;
    if (!in_range(r))
        return PV_EOVERFLOW;
    *out = r;
    return PV_OK;
}

int pv_money_sub(pv_mills a, pv_mills b, pv_mills *out)
{
    if (!in_range(b))
        return PV_EOVERFLOW;
    return pv_money_add(a, -b, out);
}

int pv_money_parse(const char *s, pv_mills *out)
{
    pv_mills whole = 0, frac = 0;
    int ndig = 0, nfrac = 0;

    if (!s || !*s)
        return PV_EINVAL;
    if (*s == '$')
        s++;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (whole > PV_MILLS_MAX / 10)
            return PV_EOVERFLOW;
        whole = whole * 10 + (*s - '0');
        ndig++;
    }
    if (*s == '.') {
        s++;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (++nfrac > 3)
                return PV_EINVAL;
            frac = frac * 10 + (*s - '0');
        }
        if (nfrac == 0)
            return PV_EINVAL;
    }
    if (*s != '\0' || (ndig == 0 && nfrac == 0))
        return PV_EINVAL;
    for (; nfrac < 3; nfrac++)
        frac *= 10;
    if (whole > PV_MILLS_MAX / PV_MILLS_PER_DOLLAR)
        return PV_EOVERFLOW;
    whole = whole * PV_MILLS_PER_DOLLAR + frac;
    if (whole > PV_MILLS_MAX)
        return PV_EOVERFLOW;
    *out = whole;
    return PV_OK;
}

char *pv_money_format(pv_mills m, char *buf, size_t n)
{
    const char *sign = m < 0 ? "-" : "";
    /* PV_MILLS_MAX keeps -m representable; clamp anything wilder. */
    unsigned long long a = m < 0 ? (unsigned long long) -(m < -PV_MILLS_MAX ? -PV_MILLS_MAX : m)
                                 : (unsigned long long) m;

    if (a % 10 == 0)
        snprintf(buf, n, "%s%llu.%02llu", sign, a / 1000, (a % 1000) / 10);
    else
        snprintf(buf, n, "%s%llu.%03llu", sign, a / 1000, a % 1000);
    return buf;
}
