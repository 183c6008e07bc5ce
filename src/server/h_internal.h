/*
 * h_internal.h - the internal purchase route of stampd processor (h_internal.c).
 */
#ifndef STAMPD_H_INTERNAL_H
#define STAMPD_H_INTERNAL_H

#include "server/reply.h"

/* pv_h_internal_purchase - POST /internal/v1/purchase: a signed purchase
 * from a front becomes c->rp->job (owned), or c->rp is the error. */
void pv_h_internal_purchase(struct pv_call *c);

/*
 * pv_h_internal_seal - sign a processor's answer that is not signed yet (an
 * error: 401, 400, 404, 413, 503...) for the request whose
 * X-Stampd-Signature was req_sig (borrowed; NULL or malformed: bound to no
 * request), so a front can tell the processor's word from a forgery: rp's
 * JSON body becomes its raw bytes, and rp->signature signs them with the
 * status (pv_internal_sign_answer). Out of memory: rp is left unsigned,
 * which a front treats as no answer.
 */
void pv_h_internal_seal(const struct pv_app *app, const char *req_sig, struct pv_reply *rp);

#endif
