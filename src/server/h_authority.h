/*
 * h_authority.h - the postal authority's routes (h_authority.c) and the
 * operator's view of the deposit.
 */
#ifndef STAMPD_H_AUTHORITY_H
#define STAMPD_H_AUTHORITY_H

#include "server/reply.h"

/* Route handlers (routes.c): GET and POST /v1/authority/deposits (postal
 * keys), GET /v1/admin/deposit (operator keys). */
void pv_h_authority_deposits(struct pv_call *c);
void pv_h_admin_deposit(struct pv_call *c);

/* Route handlers (routes.c): GET /v1/authority/key (anyone: the authority's
 * public key that signs resets), GET /v1/authority/resets (postal keys: a
 * page of the live PSDs' resets, newest first, each with its authorisation
 * and whether it verifies). */
void pv_h_authority_key(struct pv_call *c);
void pv_h_authority_resets(struct pv_call *c);

/* GET and PUT /v1/admin/deposit/threshold (operator keys): the low-deposit
 * threshold ({"threshold": "250.00"}; "0.00" turns it off) and whether the
 * deposit is below it. */
void pv_h_admin_deposit_threshold(struct pv_call *c);

#endif
