/*
 * card.h - payment-card validation before anything is sent to a gateway.
 *
 * pv_card_validate checks what a careful vendor checks locally: the number's
 * characters, length, brand (from the IIN ranges of Visa, Mastercard,
 * American Express and Discover) and Luhn digit; an expiry that is not in
 * the past; a CVC of the brand's length; a billing ZIP. What it hands back
 * (struct pv_card_info) is what may be kept: brand, last four digits and
 * expiry. The full number and the CVC never leave the caller's input.
 *
 * Errors: there is no card-specific code in error.h yet, so every failure
 * is PV_EINVAL with *field naming the bad part. The API maps that pair to
 * {"error":{"code":"card_invalid","field":...}} (docs/payments.md).
 */
#ifndef STAMPD_CARD_H
#define STAMPD_CARD_H

#include <stddef.h>

/* Longest card number (digits), and the longest input before separators go. */
#define PV_CARD_MAX_DIGITS 19
#define PV_CARD_MAX_INPUT  40

/*
 * The card as the customer typed it. Every pointer is borrowed and may be
 * NULL (reported as that field being invalid). exp_year is the full year
 * (2031) or two digits (31 means 2031).
 */
struct pv_card_input {
    const char *number; /* digits, optionally grouped with spaces or hyphens */
    int exp_month;      /* 1-12 */
    int exp_year;
    const char *cvc; /* 3 digits, 4 for American Express */
    const char *zip; /* billing ZIP: "12345", "12345-6789" or "123456789" */
};

/* What may be stored about a card: never the number or the CVC. */
struct pv_card_info {
    char brand[12]; /* "visa", "mastercard", "amex", "discover" */
    char last4[5];  /* last four digits, NUL-terminated */
    int exp_month;  /* 1-12 */
    int exp_year;   /* four digits */
};

/*
 * pv_card_validate - check a card against today_yyyymm (e.g. 202611: the
 * current year and month; a card is valid through the end of its expiry
 * month). Borrows in; fills *out (may be NULL) on success and zeroes it on
 * every error. *field (may be NULL) is set to NULL on success, or to a
 * static string naming the first bad part in this order: "number",
 * "exp_month", "exp_year", "cvc", "zip". An expiry in the past is reported
 * on "exp_year" when the year is over and on "exp_month" when only the
 * month is. Returns PV_OK or PV_EINVAL (with *field NULL only when in is
 * NULL or today_yyyymm is not a valid YYYYMM).
 */
int pv_card_validate(const struct pv_card_input *in, int today_yyyymm, struct pv_card_info *out,
                     const char **field);

/*
 * pv_card_digits - the digits of a card number with spaces and hyphens
 * removed, into digits (borrowed, cap >= PV_CARD_MAX_DIGITS + 1), for
 * backends that must look at the number (a gateway). Checks characters and
 * length (12-19 digits) only, not brand or Luhn. The caller must wipe
 * digits (pv_card_wipe) when done. Returns PV_OK or PV_EINVAL; digits holds
 * "" on error.
 */
int pv_card_digits(const char *number, char *digits, size_t cap);

/* pv_card_wipe - zero n bytes in a way the compiler does not remove. */
void pv_card_wipe(void *p, size_t n);

#endif
