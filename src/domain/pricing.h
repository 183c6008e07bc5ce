/*
 * pricing.h - pricing a piece for sale, the same way on the front and on
 * every processor (docs/rates.md): the rate tables of the database made the
 * set in use (rates.h) and kept current, the parcel zone from the two ZIP
 * codes (zip.h), and loading a new table.
 */
#ifndef STAMPD_DOMAIN_PRICING_H
#define STAMPD_DOMAIN_PRICING_H

#include "stampd/rates.h"
#include "store/store.h"

#include <stdint.h>

/*
 * pv_pricing_refresh - make the database's rate tables the set in use when
 * they changed since the last look (st borrowed). Looks at most once a
 * second unless force. The shipped tables (data/rates/) that the database
 * lacks are stored first (loaded_by "shipped"; one whose effective date an
 * operator's table took is skipped). PV_OK; a store error or PV_ERATETABLE
 * (a stored document no longer parses) leaves the set as it was.
 */
int pv_pricing_refresh(struct pv_store *st, int force);

/*
 * pv_pricing_load - check the table document text (len bytes, borrowed)
 * and store it: PV_ERATETABLE (err, errlen bytes, says what), PV_ERATEPAST
 * when its effective date is not after today (the UTC day of now) and not
 * force, PV_ERATECONFLICT when its version or effective date is taken. The
 * stored tables are then the set in use of this process; others pick it up
 * within a second or two (pv_pricing_refresh). *version (PV_RATE_VERSION_MAX)
 * and *effective get the table's.
 */
int pv_pricing_load(struct pv_store *st, const char *text, size_t len, int force, int64_t now,
                    char *version, uint32_t *effective, char *err, size_t errlen);

/*
 * pv_price_piece - the price of a piece: class, weight (tenths of an
 * ounce), mail date, options (PV_SVC_*) and, for a parcel, the zone between
 * from_zip and to_zip (borrowed, 5 or 9 digits) into *out and *zone (0 for
 * the other classes). pv_rate_price's errors, and PV_EZIP / PV_EZONE from
 * the zone table.
 */
int pv_price_piece(int mail_class, uint32_t weight_tenth_oz, uint32_t mail_date, uint8_t services,
                   const char *from_zip, const char *to_zip, struct pv_rate_price *out, int *zone);

#endif
