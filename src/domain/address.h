/*
 * address.h - checking a US address block before it is printed (issue 17,
 * docs/api.md "Address checking"): the structured form made into a block,
 * and the block's last line checked and put in the standard form
 * "CITY ST 12345[-6789]", agreeing with the ZIP code data (stampd/zip.h)
 * and with the purchase's ZIP field.
 */
#ifndef STAMPD_DOMAIN_ADDRESS_H
#define STAMPD_DOMAIN_ADDRESS_H

#include "store/store.h"

#include <jansson.h>
#include <stddef.h>

/* One correction made by the checker: the whole field before and after. */
struct pv_address_fix {
    char field[16]; /* "from_address", "to_address" */
    char from[PV_ADDRESS_MAX];
    char to[PV_ADDRESS_MAX];
};

/*
 * pv_address_from_json - the structured address o (borrowed: name,
 * company, street1, street2, city, state, zip; strings, street1, city,
 * state and zip required) as a block into out, lines joined by '\n'.
 * PV_OK; PV_EINVAL with msg (msglen bytes) saying which member.
 */
int pv_address_from_json(json_t *o, char out[PV_ADDRESS_MAX], char *msg, size_t msglen);

/*
 * pv_address_check - check the block (in place, NUL-terminated, at most
 * PV_ADDRESS_MAX) and put it in the standard form: whitespace trimmed and
 * collapsed in every line, the last line upper-cased as "CITY ST ZIP" with
 * the state's code for its name and ZIP+4 as 12345-6789. zip (the
 * purchase's 5 or 9 digit ZIP field, borrowed; NULL: none) must agree with
 * the block's ZIP. *changed is 1 when the block was changed. PV_OK, or
 * PV_EADDRESS with msg saying what is wrong (the block is then as given).
 */
int pv_address_check(char *block, const char *zip, int *changed, char *msg, size_t msglen);

#endif
