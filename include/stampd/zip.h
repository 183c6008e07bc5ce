/*
 * zip.h - US ZIP code data built into the binary (data/zip/, docs/rates.md):
 * which 3-digit prefixes were issued and to which state, the parcel zone
 * between two prefixes, and the states' names and codes.
 */
#ifndef STAMPD_ZIP_H
#define STAMPD_ZIP_H

/*
 * pv_zip_state - the state code ("NY", static) of the 5-digit ZIP's prefix
 * (zip borrowed, its first 3 characters are read), or NULL when that prefix
 * was never issued (000, 001, ...) or is not digits.
 */
const char *pv_zip_state(const char *zip);

/*
 * pv_zip_zone - the parcel zone 1-9 between the prefixes of from and to
 * (borrowed) into *zone. PV_OK; PV_EZIP for a prefix never issued; PV_EZONE
 * when the zone table has no zone for the pair (military APO/FPO/DPO prefixes).
 */
int pv_zip_zone(const char *from, const char *to, int *zone);

/*
 * pv_state_code - a state, district or territory's USPS code ("NY", static)
 * from its code in any case ("ny") or its name in any case ("New York"),
 * or NULL.
 */
const char *pv_state_code(const char *name);

#endif
