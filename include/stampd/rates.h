/*
 * rates.h - postage rate tables as data, each with its version and effective
 * date (docs/rates.md): letters, cards and flats by weight, parcels by weight
 * and zone, the non-machinable surcharge and the extra services.
 *
 * A table is a JSON document (format "stampd-rates/1"). The tables in use
 * are a process-wide set (rates.c): the shipped table built into the binary
 * until pv_rates_install replaces the set with the tables of the database
 * (domain/rates_store.c, pv_rates_refresh). A quote takes the table with the
 * latest effective date on or before the piece's mail date.
 */
#ifndef STAMPD_RATES_H
#define STAMPD_RATES_H

#include "stampd/money.h"

#include <stddef.h>
#include <stdint.h>

enum pv_mail_class {
    PV_MC_FIRST_CLASS_LETTER = 1, /* "first_class_letter", 1 .. 3.5 oz */
    PV_MC_POSTCARD = 2,           /* "postcard" */
    PV_MC_LARGE_ENVELOPE = 3,     /* "large_envelope" (flats), 1 .. 13 oz */
    PV_MC_GROUND_ADVANTAGE = 4,   /* "ground_advantage" parcel, by weight and zone */
    PV_MC_PRIORITY_MAIL = 5       /* "priority_mail" parcel, by weight and zone */
};
#define PV_MC_COUNT 5 /* classes 1 .. PV_MC_COUNT */

/* A piece's priced options (struct pv_purchase_req.services, stored with the piece). */
#define PV_SVC_CERTIFIED      0x01 /* "certified_mail" */
#define PV_SVC_RETURN_RECEIPT 0x02 /* "return_receipt" (with certified_mail) */
#define PV_SVC_NONMACHINABLE  0x04 /* "non_machinable": the letter surcharge */
#define PV_SVC_ALL            0x07

#define PV_RATE_VERSION_MAX 48  /* a table's version, with its NUL */
#define PV_RATE_SOURCE_MAX  256 /* its source line, with its NUL */

/*
 * pv_mail_class_parse - name -> class. Returns PV_OK or PV_EMAILCLASS.
 */
int pv_mail_class_parse(const char *name, int *out);

/* pv_mail_class_name - class -> static name, or NULL for an unknown class. */
const char *pv_mail_class_name(int mail_class);

/* pv_mail_class_is_parcel - 1 for the classes priced by zone. */
int pv_mail_class_is_parcel(int mail_class);

/* pv_service_name - PV_SVC_CERTIFIED or PV_SVC_RETURN_RECEIPT -> static
 * "certified_mail" / "return_receipt"; NULL for anything else. */
const char *pv_service_name(uint8_t svc);

/* A piece to price: zone 1-9 for a parcel (0 for the others, ignored). */
struct pv_rate_piece {
    int mail_class;
    uint32_t weight_tenth_oz;
    uint32_t mail_date; /* YYYYMMDD */
    uint8_t services;   /* PV_SVC_* */
    int zone;
};

/* Its price, broken down; total = postage + surcharge + certified + return_receipt. */
struct pv_rate_price {
    pv_mills postage;   /* the class's price for the weight (and zone) */
    pv_mills surcharge; /* non-machinable surcharge, or 0 */
    pv_mills certified; /* Certified Mail fee, or 0 */
    pv_mills return_receipt;
    pv_mills total;
    uint32_t effective; /* the table's effective date */
    char version[PV_RATE_VERSION_MAX];
};

/*
 * pv_rate_price - price p from the table in effect on its mail date.
 * Errors: PV_EMAILCLASS (unknown class, or none in that table), PV_EWEIGHT
 * (zero, or above the class maximum), PV_ENORATE (mail date before the
 * first table), PV_EZONE (a parcel without a zone 1-9), PV_ESERVICE (an
 * option the class does not take: the surcharge is for letters only, a
 * return receipt needs Certified Mail), PV_EOVERFLOW.
 */
int pv_rate_price(const struct pv_rate_piece *p, struct pv_rate_price *out);

/*
 * pv_rate_quote - postage for a piece without options of weight_tenth_oz
 * mailed on mail_date (YYYYMMDD); *effective (may be NULL) gets the table's
 * effective date. pv_rate_price's errors (a parcel class: PV_EZONE).
 */
int pv_rate_quote(int mail_class, uint32_t weight_tenth_oz, uint32_t mail_date, pv_mills *postage,
                  uint32_t *effective);

/*
 * pv_rate_max_weight - the class's maximum weight in tenths of an ounce in
 * the newest table that has the class, or 0 for an unknown class.
 */
uint32_t pv_rate_max_weight(int mail_class);

/* ---- tables ---- */

struct pv_rate_table; /* one parsed table (rates.c), immutable */

/*
 * pv_rate_table_parse - parse and validate a whole table document (text,
 * len bytes, borrowed). On PV_ERATETABLE, err (size errlen) says what and
 * where. *out is owned by the caller (pv_rate_table_free) or by
 * pv_rates_install. PV_ENOMEM.
 */
int pv_rate_table_parse(const char *text, size_t len, struct pv_rate_table **out, char *err,
                        size_t errlen);
void pv_rate_table_free(struct pv_rate_table *t);
/* Its version (borrowed from t), effective date, source line (borrowed). */
const char *pv_rate_table_version(const struct pv_rate_table *t);
uint32_t pv_rate_table_effective(const struct pv_rate_table *t);
const char *pv_rate_table_source(const struct pv_rate_table *t);
/* Whether t prices mail_class (1) or not (0). */
int pv_rate_table_has_class(const struct pv_rate_table *t, int mail_class);

/*
 * pv_rates_install - make tables[0 .. n) (taken, any order; n >= 1) the
 * set every quote uses, replacing the current set (freed once no quote
 * uses it). Thread-safe. PV_EINVAL when two share a version or an
 * effective date (nothing taken then: the caller frees them), PV_ENOMEM.
 */
int pv_rates_install(struct pv_rate_table **tables, size_t n);

/* The shipped tables built into the binary (data/rates/): count, and the
 * text of table i (static) with its length. */
size_t pv_rates_builtin_count(void);
const char *pv_rates_builtin(size_t i, size_t *len);

/* What GET /v1/rates and `stampd rates list` tell of one table in use. */
struct pv_rate_info {
    char version[PV_RATE_VERSION_MAX];
    char source[PV_RATE_SOURCE_MAX];
    uint32_t effective;
    uint32_t until;  /* the next table's effective date, or 0 */
    uint8_t classes; /* bit (1 << mail_class) for each class it prices */
};

/* pv_rates_info - the tables in use, oldest first, into *out (owned,
 * free()). PV_ENOMEM. */
int pv_rates_info(struct pv_rate_info **out, size_t *n);

/* The mail dates a piece may be bought for (YYYYMMDD around today, UTC): from
 * yesterday - still today somewhere in the US - to 30 days ahead. The front
 * refuses others; a processor allows one more day each side for clocks. */
#define PV_MAIL_DATE_BEHIND 1
#define PV_MAIL_DATE_AHEAD  30

#endif
