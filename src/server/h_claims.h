/*
 * h_claims.h - the postal authority's orders over the API (docs/api.md,
 * "The postal authority"): refund claims it decides, holds it places on a
 * customer, and the pieces it has seen (domain/claims.h).
 */
#ifndef STAMPD_H_CLAIMS_H
#define STAMPD_H_CLAIMS_H

#include "server/reply.h"

/* GET /v1/authority/refund-claims[?status=] (postal keys). */
void pv_h_authority_claims(struct pv_call *c);
/* GET and POST /v1/authority/refund-claims/{id}: one claim, and its decision. */
void pv_h_authority_claim(struct pv_call *c);
/* GET /v1/admin/refund-claims[?status=] (operators): the same list. */
void pv_h_admin_claims(struct pv_call *c);
/* GET and POST /v1/authority/holds: the holds, and a new one. */
void pv_h_authority_holds(struct pv_call *c);
/* POST /v1/authority/holds/{id}/lift. */
void pv_h_authority_hold_lift(struct pv_call *c);
/* GET /v1/authority/presentations[?duplicates=true]: the pieces it has seen. */
void pv_h_authority_presentations(struct pv_call *c);

#endif
