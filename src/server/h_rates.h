/*
 * h_rates.h - GET /v1/rates, and the checks purchases and quotes share
 * besides class, weight and date (h_rates.c). Every pv_* here that takes
 * rp sets it (field and message) when it refuses; root and its values are
 * borrowed.
 */
#ifndef STAMPD_H_RATES_H
#define STAMPD_H_RATES_H

#include "domain/address.h"
#include "server/job.h"
#include "server/reply.h"

#include <jansson.h>

/* Route handler (routes.c): GET /v1/rates, the rate tables in use. */
void pv_h_rates(struct pv_call *c);

/* PV_EZIP when the 3-digit prefix of zip (field's value) was never issued. */
int pv_check_zip_issued(const char *zip, const char *field, struct pv_reply *rp);

/* "extra_services" (a list of names) and "non_machinable" (a boolean) of
 * root into q->services (PV_SVC_*). PV_ETYPE, PV_EINVAL. */
int pv_parse_options(json_t *root, struct pv_purchase_req *q, struct pv_reply *rp);

/* "address_check": "on" (default) or "off" into *on. PV_EINVAL. */
int pv_parse_address_check(json_t *root, int *on, struct pv_reply *rp);

/* A structured address object in field name of root replaced (in root) by
 * the text block it stands for. PV_EINVAL, PV_ENOMEM. */
int pv_structured_address(json_t *root, const char *name, struct pv_reply *rp);

/* The address check of q's blocks against its ZIP fields (unless root says
 * "address_check": "off"), corrections applied to q and listed in
 * fixes[0 .. *nfixes), at most 2. PV_EADDRESS. */
int pv_check_addresses(json_t *root, struct pv_purchase_req *q, struct pv_address_fix *fixes,
                       int *nfixes, struct pv_reply *rp);

/* The corrections as an answer's "address_corrections" (new array; NULL: no memory). */
json_t *pv_fixes_json(const struct pv_address_fix *fixes, int n);

/* pv_check_addresses, its corrections as *fixes (owned: pv_fixes_json's array;
 * NULL when none), which a purchase in flight keeps for its answer instead of
 * two address blocks. PV_EADDRESS, PV_ENOMEM (rp set). */
int pv_check_addresses_json(json_t *root, struct pv_purchase_req *q, json_t **fixes,
                            struct pv_reply *rp);

/* A quote's extra_services=a,b query argument as the JSON list it stands for (new). */
json_t *pv_services_arg(const char *s);

#endif
