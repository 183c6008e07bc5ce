/*
 * money.h - amounts of money as int64_t mills (1/1000 dollar).
 *
 * Never floating point. Every addition goes through pv_money_add/sub, which
 * refuse to overflow. Parsing and formatting of dollar strings ("12.345",
 * "100", "0.73") are exact decimal operations.
 */
#ifndef STAMPD_MONEY_H
#define STAMPD_MONEY_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t pv_mills;

#define PV_MILLS_PER_DOLLAR 1000
/* Largest amount any single field may hold: $1e12, far from INT64_MAX so that
 * sums of a few of them cannot overflow before a check catches them. */
#define PV_MILLS_MAX ((pv_mills) 1000000000000000LL)

/*
 * pv_money_add - *out = a + b. Returns PV_OK, or PV_EOVERFLOW (and leaves
 * *out unchanged) when the sum leaves [-PV_MILLS_MAX, PV_MILLS_MAX].
 */
int pv_money_add(pv_mills a, pv_mills b, pv_mills *out);

/* pv_money_sub - *out = a - b, same rules as pv_money_add. */
int pv_money_sub(pv_mills a, pv_mills b, pv_mills *out);

/*
 * pv_money_parse - parse a non-negative dollar amount with at most three
 * decimals ("100", "0.73", "12.345") from the borrowed, NUL-terminated s.
 * Returns PV_OK, PV_EINVAL for bad syntax, PV_EOVERFLOW above PV_MILLS_MAX.
 */
int pv_money_parse(const char *s, pv_mills *out);

/*
 * pv_money_format - write "$1,234.567"-free plain form "1234.56" (cents when
 * the amount is whole cents, else three decimals) into buf (borrowed, size
 * n >= 32). Negative amounts get a leading '-'. Returns buf.
 */
char *pv_money_format(pv_mills m, char *buf, size_t n);

#endif
