/*
 * rates.h - postage rate tables as data, each with its effective date.
 */
#ifndef STAMPD_RATES_H
#define STAMPD_RATES_H

#include "stampd/money.h"

#include <stdint.h>

enum pv_mail_class {
    PV_MC_FIRST_CLASS_LETTER = 1, /* "first_class_letter", 1 .. 3.5 oz */
    PV_MC_POSTCARD = 2,           /* "postcard" */
    PV_MC_LARGE_ENVELOPE = 3      /* "large_envelope" (flats), 1 .. 13 oz */
};

/*
 * pv_mail_class_parse - name -> class. Returns PV_OK or PV_EMAILCLASS.
 */
int pv_mail_class_parse(const char *name, int *out);

/* pv_mail_class_name - class -> static name, or NULL for an unknown class. */
const char *pv_mail_class_name(int mail_class);

/*
 * pv_rate_quote - postage for a piece of weight_tenth_oz (tenths of an
 * ounce) mailed on mail_date (YYYYMMDD), from the table in effect that day.
 * *effective (may be NULL) gets that table's effective date.
 * Errors: PV_EMAILCLASS, PV_EWEIGHT (zero, or above the class maximum),
 * PV_ENORATE (mail date before the first table).
 */
int pv_rate_quote(int mail_class, uint32_t weight_tenth_oz, uint32_t mail_date, pv_mills *postage,
                  uint32_t *effective);

/*
 * pv_rate_max_weight - the class's maximum weight in tenths of an ounce, or
 * 0 for an unknown class.
 */
uint32_t pv_rate_max_weight(int mail_class);

/* The mail dates a piece may be bought for (YYYYMMDD around today, UTC): from
 * yesterday - still today somewhere in the US - to 30 days ahead. The front
 * refuses others; a processor allows one more day each side for clocks. */
#define PV_MAIL_DATE_BEHIND 1
#define PV_MAIL_DATE_AHEAD  30

#endif
